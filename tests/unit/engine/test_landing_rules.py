"""The decisions of engine/landing.py, one rule a test, on real folders and files: when a
batch is flushed (BATCH_FILES, BATCH_BYTES, MAX_BUSY_FOLDERS), which folder descriptors
stay open (KEEP_FOLDERS), modes, what is refused rather than followed, how a name is given
without replacing anything (renameat2, link + unlink, check + rename, and the errnos that
switch between them), which errnos refuse a name or a time, and how a partial is scrubbed.

Everything runs in process on Landing's public calls. monkeypatch stands in only for what a
real disk here cannot be made to answer (an errno from rename/link/utime/mkdir, a short
write), for another user's uid (the tests run as root, whose folders are always taken), for
an attacker acting in a race window, and for sync_filesystem (recorded, not run: syncing a
shared disk is slow and its effect invisible).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import re
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from medvault.engine import landing
from medvault.engine.landing import Landing, Refused, Spot, Staged
from medvault.engine.names import shown
from medvault.errors import AlreadyExists, UnsafePath
from tests.conftest import open_under

MTIME = 1_600_000_000_123_456_789
ME = 1000  # the uid the tests pretend to run as where root's exemption would hide a rule
OTHER = 2000  # neither ME nor root
PARTIAL = re.compile(r"\.[0-9a-f]{17,}\.medvault-partial")  # random prefix, then a counter
# landing's errno sets, spelled out here: a member dropped from one must fail a test.
NAME_ERRNOS = [errno.EINVAL, errno.EPERM, errno.EILSEQ, errno.ENAMETOOLONG, errno.ENOENT]
TIME_ERRNOS = [errno.EINVAL, errno.EPERM, errno.EOVERFLOW, errno.ERANGE]
NO_LINK_ERRNOS = [errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK, errno.EXDEV]


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    monkeypatch.setattr(landing, "sync_filesystem", calls.append)
    return calls


@pytest.fixture
def umask0() -> Iterator[None]:
    """Modes exactly as medvault asks for them (umask 022 would hide a 0o644)."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _open(dest: Path, probe: bool = False, force: bool = False, shared_ok: bool = False) -> Landing:
    return Landing.open(dest, probe_names=probe, force=force, shared_ok=shared_ok)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _small(land: Landing, stored: str, data: bytes | None = None) -> Spot:
    data = stored.encode() if data is None else data
    spot = land.prepare(stored, land.dest / stored)
    land.write_small(spot, data, _sha(data), MTIME)
    return spot


def _partial(land: Landing, stored: str, data: bytes) -> Staged:
    """A large file's partial, written and closed, not staged yet."""
    item, out = land.open_partial(land.prepare(stored, land.dest / stored))
    with out:
        out.write(data)
    return item


def _large(land: Landing, stored: str, data: bytes, size: int | None = None) -> Staged:
    item = _partial(land, stored, data)
    land.stage(item, len(data) if size is None else size, _sha(data), MTIME)
    return item


def _path(land: Landing, item: Staged) -> Path:
    return item.target.parent / item.partial


def _partials(folder: Path) -> list[Path]:
    return list(folder.rglob(f"*{landing.PARTIAL_SUFFIX}"))


def _names(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if not p.is_dir() and not p.name.endswith(landing.PARTIAL_SUFFIX)
    }


def _writers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("medvault-land")}


def _wait_for_writers(land: Landing) -> None:
    for item in land.staged:
        if item.written is not None:
            item.written.result()


def _no_renameat2(monkeypatch: pytest.MonkeyPatch) -> None:
    """A C library without renameat2 (set before Landing.open: its Namer asks once)."""
    monkeypatch.setattr(landing, "libc_renameat2", lambda: None)


def _no_links(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Neither renameat2 nor hard links (fusefat): names are checked, then renamed."""
    _no_renameat2(monkeypatch)
    calls: list[str] = []

    def refused(src: str, dst: str, **_kw: object) -> None:
        calls.append(dst)
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", refused)
    return calls


# Batches ------------------------------------------------------------------------------


def test_a_full_chunk_of_32_small_files_goes_to_a_writer_at_once(
    tmp_path: Path, syncs: list[Path], umask0: None
) -> None:
    """CHUNK: the 32nd small file hands the chunk to a writer thread, whose partials are
    hidden (.<16 hex><counter>.medvault-partial), 0600, and have no name before the batch's sync."""
    land = _open(tmp_path / "out")
    for i in range(31):
        _small(land, f"f{i}")
    assert all(item.written is None for item in land.staged)
    assert _partials(land.dest) == []
    _small(land, "f31")
    assert {item.written for item in land.staged} != {None}
    futures = {item.written for item in land.staged}
    assert len(futures) == 1
    for future in futures:
        assert future is not None
        future.result()
    partials = _partials(land.dest)
    assert sorted(p.name for p in partials) == sorted(item.partial for item in land.staged)
    assert all(PARTIAL.fullmatch(p.name) for p in partials)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in partials)
    assert _names(land.dest) == set()
    assert syncs == []
    land.finish()
    assert _names(land.dest) == {f"f{i}" for i in range(32)}


def test_small_files_holding_256_kib_go_to_a_writer_before_32_of_them(
    tmp_path: Path, syncs: list[Path]
) -> None:
    """CHUNK_BYTES: four files of 64 KiB make a chunk, not waiting for 32."""
    assert landing.CHUNK_BYTES == 256 * 1024
    land = _open(tmp_path / "out")
    for i in range(3):
        _small(land, f"f{i}", bytes(64 * 1024))
    assert all(item.written is None for item in land.staged)
    _small(land, "f3", bytes(64 * 1024))
    assert len({item.written for item in land.staged}) == 1
    assert None not in {item.written for item in land.staged}
    land.finish()
    assert _names(land.dest) == {f"f{i}" for i in range(4)}


def test_small_files_wait_while_512_kib_of_them_is_not_written_yet(
    tmp_path: Path, syncs: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """UNWRITTEN_BYTES: with the writers stuck (a slow drive), write_small hands over
    chunks until more than 512 KiB waits, then blocks until the oldest is written: plaintext
    does not pile up in memory for a whole batch. Nothing is lost."""
    assert landing.UNWRITTEN_BYTES == 512 * 1024
    stuck = threading.Event()
    real_open = os.open

    def slow_open(path: str, flags: int, mode: int = 0o777, **kw: int | None) -> int:
        if str(path).endswith(landing.PARTIAL_SUFFIX):
            assert stuck.wait(30)
        return real_open(path, flags, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", slow_open)
    land = _open(tmp_path / "out")
    returned: list[int] = []
    piece = 64 * 1024  # 4 to a chunk of 256 KiB

    def produce() -> None:
        for i in range(40):
            _small(land, f"f{i:02d}", bytes([i]) * piece)
            returned.append(i)

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(timeout=2.0)  # unbounded, 40 writes into memory take milliseconds
    try:
        assert producer.is_alive()
        # The 3rd chunk (files 8-11) takes the unwritten bytes past 512 KiB: the 12th call waits.
        assert returned == list(range(11))
    finally:
        stuck.set()
        producer.join(timeout=30)
    assert returned == list(range(40))
    land.finish()
    assert _names(land.dest) == {f"f{i:02d}" for i in range(40)}
    assert (land.dest / "f39").read_bytes() == bytes([39]) * piece


def test_the_1000th_staged_file_flushes_the_batch(tmp_path: Path, syncs: list[Path]) -> None:
    """BATCH_FILES is 1000, reached by a large file's stage as well as by write_small: 999
    files wait unnamed; the 1000th syncs once and names all of them."""
    land = _open(tmp_path / "out")
    for i in range(999):
        _small(land, f"f{i}", b"x")
    assert syncs == []
    assert len(land.staged) == 999
    _large(land, "big", b"large file")
    assert len(syncs) == 1
    assert land.staged == []
    assert len(land.landed) == 1000
    assert len(_names(land.dest)) == 1000
    land.finish()


def test_64_mib_staged_flushes_the_batch(tmp_path: Path, syncs: list[Path]) -> None:
    """BATCH_BYTES is 64 MiB, counted over large and small files alike: a byte short of it
    nothing is named; the byte that reaches it flushes; the count starts again after."""
    limit = 64 * 1024 * 1024
    land = _open(tmp_path / "out")
    _large(land, "a", b"a", size=limit - 1)
    _large(land, "b", b"b", size=0)
    assert syncs == []
    _large(land, "c", b"c", size=1)
    assert len(syncs) == 1
    assert _names(land.dest) == {"a", "b", "c"}
    _large(land, "d", b"d", size=limit - 1)
    _small(land, "e", b"")
    assert len(syncs) == 1
    _small(land, "f", b"f")  # write_small counts bytes too
    assert len(syncs) == 2
    assert land.staged == []
    _small(land, "g", b"g")
    assert len(syncs) == 2  # nothing left over from the batches before
    land.finish()
    assert _names(land.dest) == set("abcdefg")


def test_files_waiting_in_256_folders_flush_before_a_257th_folder_is_opened(
    tmp_path: Path, syncs: list[Path]
) -> None:
    """MAX_BUSY_FOLDERS is 256: prepare flushes once files wait in that many folders; after
    the flush no folder is busy, so the next files do not flush again."""
    land = _open(tmp_path / "out")
    for i in range(256):
        _small(land, f"d{i:03d}/f")
    assert land.folders.busy == 256
    assert syncs == []
    spot = land.prepare("d256/f", land.dest / "d256/f")
    assert len(syncs) == 1
    assert len(land.landed) == 256
    assert land.folders.busy == 0
    land.write_small(spot, b"x", _sha(b"x"), MTIME)
    for i in range(257, 261):
        _small(land, f"d{i}/f")
    assert land.folders.busy == 5
    assert len(syncs) == 1
    land.finish()
    assert len(_names(land.dest)) == 261


def test_nothing_staged_syncs_nothing(tmp_path: Path, syncs: list[Path]) -> None:
    """A flush or finish with nothing staged or landed costs no sync (each sync of a USB
    stick is slow); an abandoned partial leaves no trace and no busy folder."""
    land = _open(tmp_path / "out")
    item = _partial(land, "a/big", b"never authenticated")
    land.abandon(item)
    assert land.folders.busy == 0
    land.flush()
    land.finish()
    assert syncs == []
    assert list((tmp_path / "out" / "a").iterdir()) == []


# Folder descriptors ---------------------------------------------------------------------


def test_at_most_64_unused_folders_stay_open_least_recently_used_closed_first(
    tmp_path: Path,
) -> None:
    """KEEP_FOLDERS is 64: beyond it the folders used longest ago (and without waiting
    files) are closed; a folder used again moves to the back of the queue."""
    land = _open(tmp_path / "out")
    dest = str(land.dest)

    def open_folders() -> set[str]:
        return {p[len(dest) + 1 :] for p in open_under(land.dest) if p != dest}

    for i in range(64):
        land.prepare(f"d{i:02d}/f", land.dest / f"d{i:02d}/f")
    assert len(open_folders()) == 64
    land.prepare("d00/g", land.dest / "d00/g")
    land.prepare("d64/f", land.dest / "d64/f")
    assert open_folders() == {f"d{i:02d}" for i in range(65)} - {"d01"}
    for i in range(65, 70):
        land.prepare(f"d{i}/f", land.dest / f"d{i}/f")
    assert len(open_folders()) == 64
    land.finish()
    assert open_under(land.dest) == []


def test_a_folder_with_waiting_files_is_never_closed(tmp_path: Path, syncs: list[Path]) -> None:
    """Folders with files waiting in the batch stay open past KEEP_FOLDERS, and so does the
    folder just asked for when every other one is busy."""
    land = _open(tmp_path / "out")
    for i in range(70):
        _small(land, f"d{i:02d}/f", b"%d" % i)
    _wait_for_writers(land)  # a writer's open partial is under DEST too
    assert len(open_under(land.dest)) == 71
    land.finish()
    for i in range(70):
        assert (land.dest / f"d{i:02d}/f").read_bytes() == b"%d" % i
    assert open_under(land.dest) == []


# Modes, DEST and the folders under it --------------------------------------------------


def test_folders_are_made_0700_and_files_land_0600(tmp_path: Path, umask0: None) -> None:
    """DEST, its missing parents and every folder under it are made 0700; partials and the
    files they become are 0600 (small, large, and large without /proc)."""
    dest = tmp_path / "x" / "y" / "z"
    land = _open(dest)
    _small(land, "a/b/small.txt")
    big = _partial(land, "a/big.bin", b"big")
    assert stat.S_IMODE(_path(land, big).stat().st_mode) == 0o600
    land.stage(big, 3, _sha(b"big"), MTIME)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(landing, "PROC_FD", tmp_path / "no-proc")
        plain = _partial(land, "a/plain.bin", b"plain")
    assert stat.S_IMODE(_path(land, plain).stat().st_mode) == 0o600
    land.stage(plain, 5, _sha(b"plain"), MTIME)
    land.finish()
    for folder in (tmp_path / "x", tmp_path / "x" / "y", dest, dest / "a", dest / "a" / "b"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for name in ("a/b/small.txt", "a/big.bin", "a/plain.bin"):
        assert stat.S_IMODE((dest / name).stat().st_mode) == 0o600, name


def test_the_existing_part_of_dest_may_hold_links_dest_may_not(tmp_path: Path) -> None:
    """Only the part of DEST medvault makes is opened without following links: a link in
    the existing part is the user's choice; DEST itself a link, a file, or under a file is
    refused, and so is a link in the existing part that loops (ELOOP); a dangling link
    there is followed (lexists, not exists, finds the existing part), so it is not found."""
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    land = _open(tmp_path / "link" / "new" / "deeper")
    _small(land, "f.txt")
    land.finish()
    assert (real / "new" / "deeper" / "f.txt").read_bytes() == b"f.txt"
    (tmp_path / "file").write_bytes(b"a file")
    (tmp_path / "loop").symlink_to("loop")
    bad = ("link", "file", "file/new", "loop/new")
    for dest in (tmp_path / name for name in bad):
        with pytest.raises(UnsafePath, match="is a symbolic link or not a folder"):
            _open(dest)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError):
        _open(tmp_path / "dangling" / "new")
    assert not (tmp_path / "nowhere").exists()
    assert open_under(tmp_path) == []


def test_a_link_made_at_a_missing_part_of_dest_meanwhile_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open_dest makes DEST's missing folders one at a time and opens each without following
    a link another process put there between the check and the mkdir."""
    outside = tmp_path / "outside"
    outside.mkdir()
    real_mkdir = os.mkdir

    def racing(name: str, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        if name == "new":
            os.symlink(outside, name, dir_fd=dir_fd)
        real_mkdir(name, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "mkdir", racing)
    with pytest.raises(UnsafePath, match="is a symbolic link or not a folder"):
        _open(tmp_path / "new" / "deeper")
    assert list(outside.iterdir()) == []
    assert open_under(tmp_path) == []  # the refusal leaves no descriptor open


def test_a_dest_that_cannot_be_made_leaves_no_descriptor_open(tmp_path: Path) -> None:
    """A missing folder of DEST the file system refuses (a name too long): the error is
    raised and the folders opened on the way are closed."""
    for _ in range(3):
        with pytest.raises(OSError) as caught:
            _open(tmp_path / "new" / ("x" * 256))
        assert caught.value.errno == errno.ENAMETOOLONG
    assert open_under(tmp_path) == []


@pytest.mark.parametrize(
    ("mode", "taken"),
    [(0o700, True), (0o755, True), (0o1777, True), (0o702, False), (0o720, False)],
)
def test_dest_others_can_write_is_refused(tmp_path: Path, mode: int, taken: bool) -> None:
    """private_problem: group- or other-writable DEST is refused (either bit alone), unless
    sticky and ours; the descriptor is closed when it is refused."""
    dest = tmp_path / "dest"
    dest.mkdir()
    dest.chmod(mode)
    if taken:
        _open(dest).finish()
    else:
        with pytest.raises(UnsafePath, match=f"can be written by other users \\(mode {mode:04o}"):
            _open(dest)
        _open(dest, shared_ok=True).finish()  # FAT/exFAT: the mount's mode, taken
    assert open_under(dest) == []


@pytest.mark.parametrize(
    ("owner", "mode", "problem"),
    [
        (0, 0o755, None),
        (ME, 0o700, None),
        (ME, 0o1777, None),
        (OTHER, 0o700, f"belongs to another user \\(uid {OTHER}\\)"),
        (0, 0o1777, "can be written by other users"),  # a sticky folder not ours (/tmp)
    ],
)
def test_dest_owner_rules_for_a_user_other_than_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, owner: int, mode: int, problem: str | None
) -> None:
    """private_problem as a user (uid ME) sees it: DEST may be ours or root's; a sticky
    world-writable DEST only if it is ours."""
    dest = tmp_path / "dest"
    dest.mkdir()
    os.chown(dest, owner, owner)
    dest.chmod(mode)
    monkeypatch.setattr(os, "geteuid", lambda: ME)
    if problem is None:
        _open(dest).finish()
    else:
        with pytest.raises(UnsafePath, match=problem):
            _open(dest)
    assert open_under(dest) == []


def test_folders_of_another_user_are_refused_unless_on_fat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Folders under DEST must be ours or root's (as uid ME here), each refusal for the files
    under it only, its descriptor closed; with shared_ok (FAT/exFAT) owners are not checked."""
    monkeypatch.setattr(os, "geteuid", lambda: ME)
    dest = tmp_path / "dest"
    for name, owner in (("mine", ME), ("roots", 0), ("theirs", OTHER)):
        (dest / name).mkdir(parents=True)
        os.chown(dest / name, owner, owner)
    land = _open(dest)
    for name in ("mine", "roots"):
        _small(land, f"{name}/f")
    with pytest.raises(Refused) as refused:
        land.prepare("theirs/f", dest / "theirs/f")
    assert isinstance(refused.value.error, UnsafePath)
    assert f"belongs to another user (uid {OTHER})" in refused.value.error.message
    assert not any(p.endswith("/theirs") for p in open_under(dest))
    land.finish()
    assert _names(dest) == {"mine/f", "roots/f"}
    land = _open(dest, shared_ok=True)
    _small(land, "theirs/f")
    land.finish()
    assert (dest / "theirs/f").read_bytes() == b"theirs/f"


def test_a_special_file_where_a_folder_or_a_forced_name_goes_is_refused(
    tmp_path: Path, syncs: list[Path]
) -> None:
    """A special file is named for what it is: not a folder (prepare refuses: a socket, which
    open(2) without O_DIRECTORY would not hang on as on a FIFO) and, even with force, not a
    file to replace (a FIFO: its file is refused at the rename, the others land)."""
    dest = tmp_path / "out"
    dest.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(dest / "pipe"))
    os.mkfifo(dest / "fifo.txt")
    land = _open(dest, force=True)
    with pytest.raises(Refused) as refused:
        land.prepare("pipe/f", dest / "pipe/f")
    assert "is a special file, not a folder" in refused.value.error.message
    _small(land, "fifo.txt")
    _small(land, "ok.txt")
    land.finish()
    [(item, error)] = land.refused
    assert item.spot.stored == "fifo.txt"
    assert isinstance(error, UnsafePath)
    assert "taken by a special file" in error.message
    assert stat.S_ISFIFO((dest / "fifo.txt").lstat().st_mode)
    assert (dest / "ok.txt").read_bytes() == b"ok.txt"
    assert _partials(dest) == []


# Names: probe, force, and the ways a name is given ------------------------------------------


def test_a_name_refused_by_the_file_system_fails_in_prepare_when_probing(
    tmp_path: Path, syncs: list[Path]
) -> None:
    """probe_names: a name the file system refuses (ENAMETOOLONG, a NAME_ERRNO) fails in
    prepare, before any plaintext is written; without probing it fails at the rename, as the
    same UnsafePath, and the partial is scrubbed by discard."""
    long = "x" * 256
    land = _open(tmp_path / "probed", probe=True)
    with pytest.raises(UnsafePath, match=r"a name this file system refuses\?"):
        land.prepare(long, land.dest / long)
    assert list(land.dest.iterdir()) == []
    land.finish()
    land = _open(tmp_path / "plain")
    _small(land, long)
    with pytest.raises(UnsafePath, match=r"cannot create .*a name this file system refuses\?"):
        land.flush()
    land.discard()
    assert list(land.dest.iterdir()) == []


def test_probing_keeps_an_existing_file_and_leaves_no_trace(
    tmp_path: Path, syncs: list[Path]
) -> None:
    """The probe creates a new name empty and removes it; a name that exists is left alone
    (without force it is then refused at the rename, never emptied)."""
    dest = tmp_path / "out"
    dest.mkdir(mode=0o700)
    (dest / "old.txt").write_bytes(b"theirs")
    land = _open(dest, probe=True)
    land.prepare("new/probed.txt", dest / "new/probed.txt")
    assert list((dest / "new").iterdir()) == []
    _small(land, "old.txt")
    _small(land, "new.txt")
    land.finish()
    assert (dest / "old.txt").read_bytes() == b"theirs"
    assert [(item.spot.stored, type(e)) for item, e in land.refused] == [("old.txt", AlreadyExists)]
    assert (dest / "new.txt").read_bytes() == b"new.txt"
    assert _partials(dest) == []


def test_force_replaces_files_only(tmp_path: Path, syncs: list[Path]) -> None:
    """With force a regular file at the name is replaced; a folder is refused for that file
    only; without force a file is refused (AlreadyExists) and kept."""
    dest = tmp_path / "out"
    dest.mkdir(mode=0o700)
    (dest / "file.txt").write_bytes(b"theirs")
    (dest / "dir.txt").mkdir()
    land = _open(dest, force=True)
    _small(land, "file.txt")
    _small(land, "dir.txt")
    land.finish()
    assert (dest / "file.txt").read_bytes() == b"file.txt"
    [(item, error)] = land.refused
    assert item.spot.stored == "dir.txt"
    assert isinstance(error, UnsafePath)
    assert "its name is taken by a folder" in error.message
    assert (dest / "dir.txt").is_dir()
    land = _open(dest)
    _small(land, "file.txt", b"again")
    land.finish()
    assert [type(e) for _item, e in land.refused] == [AlreadyExists]
    assert (dest / "file.txt").read_bytes() == b"file.txt"
    assert _partials(dest) == []


def _planting(dest: Path, name: str, real: Callable[..., object]) -> Callable[..., object]:
    """REAL, after another process put a file at NAME in DEST: the last moment."""

    def call(*args: object, **kwargs: object) -> object:
        if not (dest / name).exists():
            (dest / name).write_bytes(b"theirs")
        return real(*args, **kwargs)

    return call


@pytest.mark.parametrize("how", ["renameat2", "link"])
def test_a_file_appearing_at_the_last_moment_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncs: list[Path], how: str
) -> None:
    """renameat2(RENAME_NOREPLACE), or link where renameat2 is missing (hard links are
    tried first, not the check + rename that has a window), never replace a file that
    appears just before the call."""
    dest = tmp_path / "out"
    dest.mkdir(mode=0o700)
    if how == "renameat2":
        real = landing.libc_renameat2()
        assert real is not None
        call = _planting(dest, "late.txt", real)
        monkeypatch.setattr(landing, "libc_renameat2", lambda: call)
    else:
        _no_renameat2(monkeypatch)
        monkeypatch.setattr(os, "link", _planting(dest, "late.txt", os.link))
        monkeypatch.setattr(os, "rename", _planting(dest, "late.txt", os.rename))
    land = _open(dest)
    _small(land, "late.txt")
    land.finish()
    assert (dest / "late.txt").read_bytes() == b"theirs"
    assert [(item.spot.stored, type(e)) for item, e in land.refused] == [
        ("late.txt", AlreadyExists)
    ]
    assert _partials(dest) == []


def test_with_force_a_name_taken_then_freed_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncs: list[Path]
) -> None:
    """With force, a name found taken that is gone again by the time it is looked at (None)
    is simply given, not refused."""
    dest = tmp_path / "out"
    dest.mkdir(mode=0o700)
    _no_renameat2(monkeypatch)
    real_link = os.link

    def taken_for_a_moment(src: str, dst: str, **kwargs: object) -> None:
        (dest / dst).write_bytes(b"theirs")
        try:
            real_link(src, dst, **kwargs)  # type: ignore[arg-type]
        finally:
            (dest / dst).unlink()

    monkeypatch.setattr(os, "link", taken_for_a_moment)
    land = _open(dest, force=True)
    _small(land, "f.txt")
    land.finish()
    assert land.refused == []
    assert (dest / "f.txt").read_bytes() == b"f.txt"
    assert _partials(dest) == []


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EIO])
def test_renameat2_refusing_its_flag_falls_back_to_link_once_for_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncs: list[Path], code: int
) -> None:
    """EINVAL, ENOSYS, EOPNOTSUPP from renameat2 mean the flag is not taken: it is not tried
    again, and names are given by link + unlink (no partial left); another errno is an
    error."""
    calls: list[bytes] = []

    def refusing(fd: int, src: bytes, dst_fd: int, dst: bytes, flags: int) -> int:
        calls.append(dst)
        ctypes.set_errno(code)
        return -1

    monkeypatch.setattr(landing, "libc_renameat2", lambda: refusing)
    land = _open(tmp_path / "out")
    for name in ("a", "b", "c"):
        _small(land, name)
    if code == errno.EIO:
        with pytest.raises(OSError, match="Input/output error") as raised:
            land.flush()
        assert raised.value.errno == errno.EIO
        land.discard()
        assert list(land.dest.iterdir()) == []
        return
    land.finish()
    assert calls == [b"a"]
    assert _names(land.dest) == {"a", "b", "c"}
    assert all((land.dest / n).stat().st_nlink == 1 for n in "abc")
    assert _partials(land.dest) == []


@pytest.mark.parametrize("code", [*NO_LINK_ERRNOS, errno.EIO])
def test_no_hard_links_falls_back_to_check_and_rename_once_for_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncs: list[Path], code: int
) -> None:
    """NO_LINK_ERRNOS from link(2) mean no hard links here: link is not tried again and
    names are given by check + rename (which still refuses a file already at its name);
    another errno is an error."""
    _no_renameat2(monkeypatch)
    calls: list[str] = []

    def no_link(src: str, dst: str, **_kw: object) -> None:
        calls.append(dst)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", no_link)
    land = _open(tmp_path / "out")
    (land.dest / "d").write_bytes(b"theirs")
    for name in ("a", "b", "c", "d"):
        _small(land, name)
    if code == errno.EIO:
        with pytest.raises(OSError, match="Input/output error"):
            land.flush()
        land.discard()
        assert _names(land.dest) == {"d"}
        assert _partials(land.dest) == []
        return
    land.finish()
    assert calls == ["a"]
    assert _names(land.dest) == {"a", "b", "c", "d"}
    assert (land.dest / "d").read_bytes() == b"theirs"
    assert [(item.spot.stored, type(e)) for item, e in land.refused] == [("d", AlreadyExists)]
    assert _partials(land.dest) == []


@pytest.mark.parametrize("code", [*NAME_ERRNOS, errno.EIO])
def test_name_errnos_refuse_the_name_others_are_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncs: list[Path], code: int
) -> None:
    """NAME_ERRNOS (what FAT drivers answer for a name they refuse), at a folder's mkdir in
    prepare or at the rename, become UnsafePath naming the file; other errnos stay OSError."""
    land = _open(tmp_path / "out")

    def failing(*_args: object, **_kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    expected: type[Exception] = OSError if code == errno.EIO else UnsafePath
    with monkeypatch.context() as patch:
        patch.setattr(os, "mkdir", failing)
        with pytest.raises(expected) as raised:
            land.prepare("a/f", land.dest / "a/f")
    if expected is UnsafePath:
        assert "(a name this file system refuses?)" in str(raised.value)
    _no_links(monkeypatch)
    land = _open(tmp_path / "out2")
    _small(land, "f")
    monkeypatch.setattr(os, "rename", failing)
    with pytest.raises(expected) as raised:
        land.flush()
    if expected is UnsafePath:
        assert f"cannot create {land.dest / 'f'}" in str(raised.value)
    else:
        assert isinstance(raised.value, OSError)
        assert raised.value.errno == code
    land.discard()
    assert list(land.dest.iterdir()) == []


def test_a_failed_rename_keeps_that_file_staged_and_the_others_landed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncs: list[Path]
) -> None:
    """An OSError at one file's rename does not stop the others in the batch: they land
    and are reported; the failed one stays staged (its bytes counted) for discard to
    scrub."""
    _no_links(monkeypatch)
    real_rename = os.rename

    def failing_b(src: str, dst: str, **kwargs: object) -> None:
        if dst == "b":
            raise OSError(errno.EIO, "Input/output error")
        real_rename(src, dst, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", failing_b)
    land = _open(tmp_path / "out")
    for name in ("a", "b", "c"):
        _small(land, name, name.encode() * 10)
    with pytest.raises(OSError, match="Input/output error"):
        land.flush()
    assert [item.spot.stored for item in land.landed] == ["a", "c"]
    assert [item.spot.stored for item in land.staged] == ["b"]
    assert land._staged_bytes == 10
    assert land.folders.busy == 1
    land.discard()
    assert land.staged == []
    assert _names(land.dest) == {"a", "c"}
    assert _partials(land.dest) == []


def test_link_never_follows_a_link_at_the_partial_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncs: list[Path]
) -> None:
    """If the partial was swapped for a symbolic link, link(2) (follow_symlinks=False) and
    utime (no follow) act on the link, never on the file it points to."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"victim")
    os.utime(victim, ns=(5, 5))
    _no_renameat2(monkeypatch)
    land = _open(tmp_path / "out")
    item = _partial(land, "f", b"ours")
    _path(land, item).unlink()
    _path(land, item).symlink_to(victim)
    land.stage(item, 4, _sha(b"ours"), MTIME)
    land.finish()
    assert victim.stat().st_nlink == 1
    assert victim.stat().st_mtime_ns == 5
    assert victim.read_bytes() == b"victim"


# Partials: exclusive creation, short writes, scrub ---------------------------------------


@pytest.mark.parametrize("how", ["small", "large", "large without /proc"])
def test_a_partial_is_never_written_through_something_already_at_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncs: list[Path], how: str
) -> None:
    """Partials are created exclusively (O_EXCL): a hard link or a symbolic link to another
    file planted at the partial's name is an error, and that file is untouched, by the
    write and by the scrub that follows (only partials medvault created are zeroed); the
    folder is released."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"victim")
    if how == "large without /proc":
        monkeypatch.setattr(landing, "PROC_FD", tmp_path / "no-proc")
    dest = tmp_path / "out"
    dest.mkdir(mode=0o700)
    name = ".planted.medvault-partial"
    monkeypatch.setattr(landing, "partial_name", lambda: name)
    if how == "large":
        (dest / name).symlink_to(victim)
    else:
        os.link(victim, dest / name)
    land = _open(dest)
    if how == "small":
        _small(land, "f", b"plaintext")
        with pytest.raises(FileExistsError):
            land.flush()
        assert victim.read_bytes() == b"victim"
        land.discard()  # scrubs only what it created: not the file planted at the name
        assert victim.read_bytes() == b"victim" and (dest / name).exists()
    else:
        with pytest.raises(FileExistsError):
            land.open_partial(land.prepare("f", dest / "f"))
        assert land.folders.busy == 0
        land.finish()
        assert victim.read_bytes() == b"victim"
    assert not (dest / "f").exists()


def test_short_writes_are_continued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.write may write less than asked: small files and the plain (no /proc) large-file
    writer go on until every byte is written."""
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:1000]))
    monkeypatch.setattr(landing, "PROC_FD", tmp_path / "no-proc")
    monkeypatch.setattr(landing, "sync_filesystem", lambda _path: None)
    data = os.urandom(5000)
    land = _open(tmp_path / "out")
    _small(land, "small", data)
    item = _partial(land, "large", data)
    land.stage(item, len(data), _sha(data), MTIME)
    land.finish()
    assert (land.dest / "small").read_bytes() == data
    assert (land.dest / "large").read_bytes() == data


def test_abandon_zeroes_a_partial_and_syncs_the_zeros_before_deleting_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scrub: every byte of the partial (over more than one ZERO_BLOCK) is overwritten with
    zeros and fsynced while it still has its name, then the name is removed; the folder is
    released."""
    data = os.urandom(landing.ZERO_BLOCK + 12345)
    land = _open(tmp_path / "out")
    item = _partial(land, "big", data)
    peek = tmp_path / "peek"
    os.link(_path(land, item), peek)  # the same clusters, seen after the name is gone
    at_fsync: list[tuple[bool, bool]] = []
    real_fsync = os.fsync

    def recording(fd: int) -> None:
        at_fsync.append((peek.read_bytes() == bytes(len(data)), _path(land, item).exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    land.abandon(item)
    assert at_fsync == [(True, True)]
    assert peek.read_bytes() == bytes(len(data))
    assert not _path(land, item).exists()
    assert land.folders.busy == 0
    land.finish()


def test_abandon_never_zeroes_through_a_link_at_the_partial_name(tmp_path: Path) -> None:
    """scrub opens the partial with O_NOFOLLOW: a symbolic link put in its place is removed,
    the file it points to is not zeroed."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"victim")
    land = _open(tmp_path / "out")
    item = _partial(land, "f", b"ours")
    _path(land, item).unlink()
    _path(land, item).symlink_to(victim)
    land.abandon(item)
    assert victim.read_bytes() == b"victim"
    assert not os.path.lexists(_path(land, item))
    land.finish()


def test_discard_stops_the_writers_then_zeroes_and_deletes_every_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """discard waits for the writer threads (none is left running to create a partial after
    the scrub), zeroes every written partial, leaves nothing staged and no descriptor."""
    before = _writers()
    land = _open(tmp_path / "out")
    for i in range(32):
        _small(land, f"a/{i}", b"PHI %d" % i)
    first = land.staged[0]
    assert first.written is not None
    first.written.result()
    peek = tmp_path / "peek"
    os.link(_path(land, first), peek)
    for i in range(32, 320):
        _small(land, f"b/{i}", os.urandom(16384))
    land.discard()
    assert _writers() - before == set()
    assert peek.read_bytes() == bytes(len(b"PHI 0"))
    assert land.staged == []
    assert _partials(land.dest) == []
    assert _names(land.dest) == set()
    assert open_under(land.dest) == []


def test_discard_waits_for_a_writer_still_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """discard waits for a writer in the middle of a chunk (a slow disk here): the partials it
    creates after that moment are scrubbed too, and no writer is left running."""
    before = _writers()
    real_utime = os.utime
    slow = threading.Event()

    def slow_utime(*args: object, **kwargs: object) -> None:
        if not slow.is_set():
            slow.set()
            threading.Event().wait(0.3)
        real_utime(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "utime", slow_utime)
    land = _open(tmp_path / "out")
    for i in range(32):
        _small(land, f"f{i}")
    assert slow.wait(5)  # the writer is inside the chunk's first file
    land.discard()
    assert _writers() - before == set()
    assert _partials(land.dest) == []
    assert _names(land.dest) == set()


def test_finish_stops_the_writers_and_closes_every_descriptor(
    tmp_path: Path, syncs: list[Path]
) -> None:
    """finish names the last batch, syncs once more for those renames, stops the writer
    threads and closes DEST's and every folder's descriptor."""
    before = _writers()
    land = _open(tmp_path / "out")
    for i in range(40):
        _small(land, f"d{i % 4}/sub/{i}")
    land.finish()
    assert len(syncs) == 2
    assert _writers() - before == set()
    assert open_under(land.dest) == []
    assert len(_names(land.dest)) == 40


# Times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["small", "large"])
@pytest.mark.parametrize(
    "fault",
    [
        *(OSError(code, os.strerror(code)) for code in TIME_ERRNOS),
        OverflowError("timestamp too large"),
        ValueError("bad time"),
        OSError(errno.EIO, "Input/output error"),
    ],
    ids=repr,
)
def test_a_time_that_cannot_be_set_marks_the_file_untimed_other_errors_stop_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncs: list[Path], how: str, fault: Exception
) -> None:
    """TIME_ERRNOS, OverflowError and ValueError from utime: the file lands, untimed;
    another errno is an error and the partial is scrubbed (a large file's at once)."""

    def utime(*_args: object, **_kwargs: object) -> None:
        raise fault

    monkeypatch.setattr(os, "utime", utime)
    land = _open(tmp_path / "out")
    fatal = isinstance(fault, OSError) and fault.errno == errno.EIO
    if how == "small":
        _small(land, "f")
        if fatal:
            with pytest.raises(OSError, match="Input/output error"):
                land.flush()
    elif fatal:
        with pytest.raises(OSError, match="Input/output error"):
            _large(land, "f", b"f")
        assert _partials(land.dest) == []
        assert land.folders.busy == 0
    else:
        _large(land, "f", b"f")
    if fatal:
        land.discard()
        assert list(land.dest.iterdir()) == []
        return
    land.finish()
    assert [(item.spot.stored, item.untimed) for item in land.landed] == [("f", True)]
    assert (land.dest / "f").read_bytes() == b"f"


def test_landed_files_carry_their_size_digest_and_stored_time(
    tmp_path: Path, syncs: list[Path]
) -> None:
    """What the report and custody event take from landed items: size, SHA-256, target and
    whether the time was set (it was: the stored time, on small and large files)."""
    land = _open(tmp_path / "out")
    _small(land, "d/small", b"small data")
    _large(land, "d/large", b"large data!")
    land.finish()
    got = [(i.spot.stored, i.target, i.size, i.sha256, i.untimed) for i in land.landed]
    assert got == [
        ("d/small", land.dest / "d/small", 10, _sha(b"small data"), False),
        ("d/large", land.dest / "d/large", 11, _sha(b"large data!"), False),
    ]
    for name in ("d/small", "d/large"):
        assert (land.dest / name).stat().st_mtime_ns == MTIME


# What a failure leaves: named files, no stray descriptors, no exception from cleanup ---------


def test_writer_threads_are_named_and_gone_after_finish(tmp_path: Path, syncs: list[Path]) -> None:
    """The writer threads run as medvault-land-N (the name the leak checks look for) while a
    chunk is written, and none is left after finish."""
    before = _writers()
    land = _open(tmp_path / "out")
    for i in range(landing.CHUNK):
        _small(land, f"f{i}")
    assert all(t.name.startswith("medvault-land_") for t in _writers() - before)
    assert _writers() - before
    land.finish()
    assert _writers() - before == set()


def test_a_file_refused_in_a_writer_thread_names_that_file(
    tmp_path: Path, syncs: list[Path]
) -> None:
    """A small file the writer thread cannot create (its folder was removed meanwhile:
    ENOENT, one of NAME_ERRNOS): the error names that file (its place under DEST), with the
    hint to extract elsewhere."""
    land = _open(tmp_path / "plain")
    spot = land.prepare("sub/x.txt", land.dest / "sub/x.txt")
    (land.dest / "sub").rmdir()
    land.write_small(spot, b"data", _sha(b"data"), MTIME)
    with pytest.raises(UnsafePath) as caught:
        land.flush()
    land.discard()
    assert caught.value.message == (
        f"cannot create {shown(land.dest / 'sub/x.txt')}: No such file or directory "
        "(a name this file system refuses?)"
    )
    assert caught.value.hint == (
        "extract to a Linux file system (ext4, tmpfs), or leave that file out; files reported "
        "as extracted are complete (fusefat also says this when the drive is full)"
    )


def test_probing_happens_in_the_destination_folder_not_the_working_folder(
    tmp_path: Path, syncs: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe asks DEST's file system (through the folder's descriptor): it works with
    a working folder that no longer exists, and leaves nothing there or in DEST."""
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    land = _open(tmp_path / "out", probe=True)
    spot = land.prepare("a/b.txt", land.dest / "a/b.txt")
    land.write_small(spot, b"data", _sha(b"data"), MTIME)
    land.finish()
    assert _names(land.dest) == {"a/b.txt"}


def test_folders_are_keyed_by_their_whole_path(tmp_path: Path, syncs: list[Path]) -> None:
    """a/b is opened on the way to a/b/x: a later top-level b is a folder of its own, not
    a/b reached by its last name."""
    land = _open(tmp_path / "out")
    _small(land, "a/b/x", b"deep")
    _small(land, "b/y", b"top")
    _small(land, "a/b/c/z", b"deeper")
    _small(land, "c/z", b"top c")
    land.finish()
    assert (land.dest / "a/b/x").read_bytes() == b"deep"
    assert (land.dest / "b/y").read_bytes() == b"top"
    assert (land.dest / "a/b/c/z").read_bytes() == b"deeper"
    assert (land.dest / "c/z").read_bytes() == b"top c"
    assert _names(land.dest) == {"a/b/x", "b/y", "a/b/c/z", "c/z"}


def test_discard_after_a_finish_that_failed_late_does_not_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """finish stops the writers, then syncs the last renames: if that sync fails (a drive
    pulled), the caller's discard must not raise over the real error."""
    calls: list[Path] = []

    def sync(path: Path) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(landing, "sync_filesystem", sync)
    land = _open(tmp_path / "out")
    for i in range(landing.CHUNK):
        _small(land, f"f{i}")
    with pytest.raises(OSError, match="Input/output error"):
        land.finish()
    land.discard()  # never raises
    assert open_under(land.dest) == []


@pytest.fixture
def spare_stdin() -> Iterator[None]:
    """Descriptor 0 free for the test (the lowest number, so the next open takes it);
    stdin put back after."""
    saved = os.dup(0)
    os.close(0)
    try:
        yield
    finally:
        os.dup2(saved, 0)
        os.close(saved)


def test_a_refused_dest_closes_what_it_opened_even_descriptor_0(
    tmp_path: Path, spare_stdin: None
) -> None:
    """open_dest's cleanup closes the folder it reached even when that is descriptor 0."""
    with pytest.raises(OSError) as caught:
        landing.open_dest(tmp_path / ("x" * 256), shared_ok=False)
    assert caught.value.errno == errno.ENAMETOOLONG
    with pytest.raises(OSError) as closed:
        os.fstat(0)
    assert closed.value.errno == errno.EBADF


def test_a_dest_that_is_a_link_closes_no_descriptor_it_did_not_open(tmp_path: Path) -> None:
    """DEST a symbolic link: refused before anything is opened, and nothing of the
    process's (stdout included) is closed by the cleanup."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    kept = os.dup(1)
    try:
        with pytest.raises(UnsafePath) as caught:
            landing.open_dest(tmp_path / "link", shared_ok=False)
        os.fstat(1)  # still open
    finally:
        os.dup2(kept, 1)
        os.close(kept)
    assert caught.value.hint == (
        "name the folder itself, or a new folder (medvault creates it, mode 0700)"
    )


def test_a_shared_dest_is_refused_with_the_way_out(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UnsafePath) as caught:
        landing.open_dest(shared, shared_ok=False)
    assert caught.value.hint == (
        "name a new folder (medvault creates it, mode 0700), or `chmod go-w` this one"
    )


def test_a_file_appearing_at_its_name_is_refused_with_the_way_out(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir(mode=0o700)
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        (dest / ".p").write_bytes(b"new")
        (dest / "name").write_bytes(b"theirs")
        with pytest.raises(AlreadyExists) as caught:
            landing.Namer().give(fd, ".p", "name", force=False)
    finally:
        os.close(fd)
    assert caught.value.hint == "use --force to overwrite"
    assert (dest / "name").read_bytes() == b"theirs"


def test_a_linked_name_whose_partial_cannot_be_unlinked_still_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """link(2) gave the file its name; if removing the hidden partial name then fails, the
    file has landed all the same (a second hidden name is left, nothing is raised)."""
    dest = tmp_path / "out"
    dest.mkdir(mode=0o700)
    (dest / ".p").write_bytes(b"complete")
    namer = landing.Namer()
    namer.use_renameat2 = False
    real_unlink = os.unlink

    def failing(path: str, *args: object, **kwargs: object) -> None:
        if path == ".p":
            raise OSError(errno.EIO, "Input/output error")
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", failing)
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        namer.give(fd, ".p", "name", force=False)
    finally:
        os.close(fd)
    assert (dest / "name").read_bytes() == b"complete"
    assert (dest / ".p").exists()


def test_the_plain_writer_counts_what_it_wrote_and_closes_quietly(tmp_path: Path) -> None:
    """PlainWriter (systems without /proc): position is the bytes written so far; closing a
    descriptor the system already dropped (a drive gone) does not raise."""
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    writer = landing.PlainWriter(fd)
    assert writer.position == 0
    writer.write(b"abc")
    writer.write(memoryview(b"defgh"))
    assert writer.position == 8
    os.close(fd)
    with writer:
        pass
    assert (tmp_path / "f").read_bytes() == b"abcdefgh"


def test_scrub_never_raises(tmp_path: Path) -> None:
    """scrub with a folder the system no longer knows (a bad descriptor): nothing raised."""
    landing.scrub(-1, "missing.medvault-partial")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    os.close(fd)
    landing.scrub(fd, "missing.medvault-partial")


def test_partial_names_are_unique_here_and_drawn_afresh_in_a_forked_child() -> None:
    """A random prefix per process (drawn again after a fork) and a counter: no two
    partials of a process share a name, and another process cannot guess them."""
    names = [landing.partial_name() for _ in range(1000)]
    assert len(set(names)) == 1000
    assert all(PARTIAL.fullmatch(name) for name in names)
    prefix = names[0][1:17]
    assert {name[1:17] for name in names} == {prefix}
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first partial name, through the pipe
        os.write(write_end, landing.partial_name().encode())
        os._exit(0)
    os.close(write_end)
    child_name = os.read(read_end, 200).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert PARTIAL.fullmatch(child_name)
    assert child_name[1:17] != prefix
