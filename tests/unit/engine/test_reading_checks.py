"""The reading side's checks (vault/reading.py) pinned one decision at a time: the index's
lengths against the entry's own header, finding a misplaced entry by its header (and what
that walk keeps), the read-back after a compact, the sizes at and just past each threshold
between the in-memory and the streamed paths, progress, what extract returns and records
in custody, --force and what is already at DEST, and names FAT/exFAT cannot hold.

Found by the mutation campaign's method: each test fails with one small change
to reading.py that the campaign's quick pool did not notice.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from medvault.crypto.payload import ciphertext_length
from medvault.engine import entry_reading, landing
from medvault.engine.catalog import Located, load_catalog
from medvault.engine.entry_reading import (
    HASH_ON_WORKER,
    WALKED_KEEP,
    ReaderCache,
    found_by_header,
    open_reader,
    plaintext_sha256,
    stream_entry,
)
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.engine.writing import digest_of_digests
from medvault.errors import AlreadyExists, IntegrityError, UnsafePath
from medvault.format import entry as efmt
from medvault.format.padding import padded_length
from medvault.keys.passphrase import to_secret
from medvault.registry.sql import Registry
from medvault.vault import reading
from medvault.vault.add import add_files
from medvault.vault.env import Env
from medvault.vault.maintenance import compact, remove_paths
from medvault.vault.reading import LAND_IN_MEMORY, Destinations, extract
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace

PRELUDE = 56  # pack part prelude (FORMAT.md): entry offsets count from its end
SUITE_AT = 13  # low byte of the entry header's u16 suite (after 8 magic, 4 length bytes)
MTIME_NS = 1_700_000_000_123_456_789
# The largest plaintext size whose (format 1.1, padded) payload is read in one piece, at or
# under HASH_ON_WORKER; one byte more pads to the next 16 KiB bucket, past it. (No padded
# payload is exactly HASH_ON_WORKER long.)
AT_WORKER = 1_032_192
assert padded_length(AT_WORKER) == AT_WORKER
assert (
    ciphertext_length(AT_WORKER) <= HASH_ON_WORKER < ciphertext_length(padded_length(AT_WORKER + 1))
)


def _unlock(drive: Path) -> UnlockedVault:
    return unlock(open_headers(drive), to_secret(PASSPHRASE))


def _env() -> Env:
    return Env(kdf=FAST_KDF, warn=lambda _m: None)


def _add(vault: UnlockedVault, src: Path, files: dict[str, bytes]) -> None:
    """FILES (names under SRC) added by one add: one pack."""
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
        os.utime(src / name, ns=(MTIME_NS, MTIME_NS))
    add_files(vault, [src], False, Registry("sqlite://"), _env())


def _located(vault: UnlockedVault) -> dict[str, Located]:
    return {x.path: x for x in load_catalog(vault).live()}


def _pack_file(drive: Path, pack: str) -> Path:
    return drive / "MEDVAULT" / "objects" / pack[:2] / f"{pack}.mvo"


def _poke(drive: Path, loc: Located, at: int, value: int | None = None) -> None:
    """Byte AT of LOC's entry (header first) set to VALUE, or flipped."""
    path = _pack_file(drive, loc.pack)
    data = bytearray(path.read_bytes())
    where = PRELUDE + loc.offset + at
    data[where] = data[where] ^ 1 if value is None else value
    path.write_bytes(bytes(data))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def walked(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], dict[str, Located]]:
    """found_by_header's cache of walked packs, empty for this test only."""
    fresh: dict[tuple[str, str], dict[str, Located]] = {}
    monkeypatch.setattr(entry_reading, "WALKED_PACKS", fresh)
    return fresh


def test_a_folder_name_with_spaces_lands_as_one_folder(tmp_path: Path) -> None:
    """A stored path's folders are split on "/" only: spaces belong to the name; a path
    that leaves DEST through a link is refused, naming it."""
    landed = Destinations(tmp_path).of("my folder/a b/c d.txt")
    assert landed.path == tmp_path / "my folder" / "a b" / "c d.txt"
    assert os.fspath(landed) == str(landed) == str(landed.path)
    destinations = Destinations(tmp_path)
    assert destinations.of("x y/z").path == tmp_path / "x y" / "z"
    assert destinations.of("x y/w").folder is destinations.of("x y/z").folder  # once a folder
    (tmp_path / "out").symlink_to("/")
    with pytest.raises(UnsafePath) as caught:
        Destinations(tmp_path).of("out/etc/passwd")
    assert caught.value.message == (
        f"stored path 'out/etc/passwd' would be written outside {tmp_path}"
    )


def test_index_lengths_that_disagree_with_the_header_are_refused_by_name(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """stream_entry refuses an index payload length other than the authenticated header's,
    longer or shorter, before decrypting anything."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"a.txt": b"a" * 300, "b.txt": b"b" * 300})
    a = _located(vault)["src/a.txt"]
    for wrong in (a.payload_len + 1, a.payload_len - 1):
        with open_reader(vault, a.pack) as reader, pytest.raises(IntegrityError) as caught:
            stream_entry(vault, reader, a._replace(payload_len=wrong), lambda _b: None)
        assert caught.value.message == "object payload length does not match its size"


def test_a_misplaced_entry_is_found_with_its_own_offset_and_lengths(
    ws: Workspace, tmp_path: Path, drive: Path, walked: dict[tuple[str, str], dict[str, Located]]
) -> None:
    """found_by_header returns the entry's place from its pack's headers (offset, header and
    payload length all taken from there), None where the index is right, for a file id the
    pack does not hold, and for an entry of another kind; the read-back follows it."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"a.txt": b"a" * 300, "b.txt": b"b" * 500})
    a = _located(vault)["src/a.txt"]
    for wrong in (
        a._replace(offset=a.offset + 3),
        a._replace(header_len=a.header_len + 1),
        a._replace(payload_len=a.payload_len + 16),
        a._replace(offset=0, header_len=1, payload_len=1),
    ):
        assert found_by_header(vault, wrong) == a
        assert plaintext_sha256(vault, wrong) == _sha(b"a" * 300)
    assert found_by_header(vault, a) is None  # nothing to correct
    assert found_by_header(vault, a._replace(file_id="ff" * 16, offset=a.offset + 3)) is None
    tomb = a._replace(kind=efmt.Kind.TOMBSTONE, offset=a.offset + 3)
    assert found_by_header(vault, tomb) is None
    assert list(walked) == [(str(vault.paths.root), a.pack)]


def test_the_walk_cache_is_per_pack_and_keeps_the_most_recent(
    ws: Workspace, tmp_path: Path, drive: Path, walked: dict[tuple[str, str], dict[str, Located]]
) -> None:
    """Each pack is walked for its own entries, and WALKED_KEEP walks are kept, the oldest
    dropped first."""
    vault = ws.create_unlocked(drive)
    for number in range(WALKED_KEEP + 1):  # one pack per add
        _add(vault, tmp_path / f"src{number}", {"f.txt": bytes([number]) * 100})
    at = _located(vault)
    packs = []
    for number in range(WALKED_KEEP + 1):
        loc = at[f"src{number}/f.txt"]
        assert found_by_header(vault, loc._replace(offset=loc.offset + 1)) == loc
        packs.append(loc.pack)
    assert len(set(packs)) == WALKED_KEEP + 1
    assert list(walked) == [(str(vault.paths.root), p) for p in packs[1:]]


def test_the_walk_cache_is_per_vault_folder(
    ws: Workspace, tmp_path: Path, drive: Path, walked: dict[tuple[str, str], dict[str, Located]]
) -> None:
    """A copy of a drive has the same pack names: what a walk found on one drive (here a
    damaged header) says nothing about the other."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"a.txt": b"a" * 300})
    copy = tmp_path / "copy"
    shutil.copytree(drive, copy)
    a = _located(vault)["src/a.txt"]
    _poke(drive, a, a.header_len - 1)  # the header's MAC: the walk stops there
    misplaced = a._replace(offset=a.offset + 5)
    assert found_by_header(vault, misplaced) is None
    assert found_by_header(_unlock(copy), misplaced) == a
    assert len(walked) == 2


def test_a_pack_that_cannot_be_opened_finds_nothing(
    ws: Workspace, tmp_path: Path, drive: Path, walked: dict[tuple[str, str], dict[str, Located]]
) -> None:
    """A pack whose prelude is damaged is no place to look: None, not an error."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"a.txt": b"a" * 300})
    a = _located(vault)["src/a.txt"]
    path = _pack_file(drive, a.pack)
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF  # the prelude's magic
    path.write_bytes(bytes(data))
    assert found_by_header(vault, a._replace(offset=a.offset + 1)) is None


def test_the_read_back_follows_an_entry_a_compact_moved(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """plaintext_sha256 of a location listed before a compact rewrote its pack reads the
    entry where the index places it now."""
    vault = ws.create_unlocked(drive)
    kept = b"kept" * 100
    _add(vault, tmp_path / "src", {"keep.txt": kept, "gone.txt": b"gone" * 1000})
    before = _located(vault)["src/keep.txt"]
    remove_paths(vault, ["src/gone.txt"], Registry("sqlite://"), _env())
    compact(vault, Registry("sqlite://"), _env())
    assert not _pack_file(drive, before.pack).exists()
    assert plaintext_sha256(_unlock(drive), before) == _sha(kept)


def _threshold_files() -> dict[str, bytes]:
    sizes = {
        "worker-at": AT_WORKER,  # payload at most HASH_ON_WORKER: read in one piece
        "worker-past": AT_WORKER + 1,  # streamed, hashed on a worker
        "memory-at": LAND_IN_MEMORY,  # streamed, landed from memory
        "memory-past": LAND_IN_MEMORY + 1,  # streamed into a partial file
        "tiny": 1,
        "empty": 0,
    }
    return {f"{name}.bin": os.urandom(size) for name, size in sizes.items()}


def test_sizes_at_and_past_each_threshold_extract_with_progress(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """Files at and one byte past HASH_ON_WORKER (payload) and LAND_IN_MEMORY (plaintext)
    extract whole with their times; progress is told every payload byte, on every path;
    the read-back gives each one's SHA-256."""
    vault = ws.create_unlocked(drive)
    files = _threshold_files()
    _add(vault, tmp_path / "src", files)
    at = _located(vault)
    told: list[int] = []
    out = tmp_path / "out"
    result = extract(vault, [], out, False, Registry("sqlite://"), _env(), progress=told.append)
    assert not result.failed and not result.refused and not result.untimed
    assert sum(told) == sum(loc.payload_len for loc in at.values())
    for name, data in files.items():
        landed = out / "src" / name
        assert landed.read_bytes() == data, name
        assert landed.stat().st_mtime_ns == MTIME_NS, name
        assert plaintext_sha256(vault, at[f"src/{name}"]) == _sha(data)
    assert result.bytes == sum(len(data) for data in files.values())
    assert not list(out.rglob(f"*{landing.PARTIAL_SUFFIX}"))


def test_extract_returns_and_records_what_it_did(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """A damaged file and one from a newer format are failed (the newer named as such), the
    others written; the custody event, under the caller's action and the vault's id, holds
    the caller's details and the counts and digest of what was written."""
    vault = ws.create_unlocked(drive)
    files = {
        "a.txt": b"alpha\n" * 50,
        "bad.txt": b"bravo\n" * 50,
        "big.bin": os.urandom(LAND_IN_MEMORY + 10),
        "new.txt": b"newer\n" * 50,
    }
    _add(vault, tmp_path / "src", files)
    at = _located(vault)
    bad = at["src/bad.txt"]
    _poke(drive, bad, bad.header_len + 40)  # a payload byte
    _poke(drive, at["src/new.txt"], SUITE_AT, 3)
    registry = Registry("sqlite://")
    out = tmp_path / "out"
    result = extract(
        vault, [], out, False, registry, _env(), action="test-extract", details={"why": "audit"}
    )
    assert set(result.failed) == {"src/bad.txt", "src/new.txt"}
    assert all(isinstance(message, str) and message for message in result.failed.values())
    assert result.failed["src/new.txt"].startswith("object suite 3 is not supported")
    assert result.newer == ["src/new.txt"]
    assert result.written == [out / "src" / "a.txt", out / "src" / "big.bin"]
    assert result.bytes == len(files["a.txt"]) + len(files["big.bin"])
    assert result.files == 2
    digests = [result.digests[at : at + 32].hex() for at in range(0, len(result.digests), 32)]
    assert sorted(digests) == sorted([_sha(files["a.txt"]), _sha(files["big.bin"])])
    assert result.refused == {} and result.untimed == []
    assert sorted(p.name for p in (out / "src").iterdir()) == ["a.txt", "big.bin"]
    (event,) = [s.event for s in registry.events() if s.event.action == "test-extract"]
    assert event.vault_id == vault.vault_id_hex
    assert event.details == {
        "why": "audit",
        "files": 2,
        "bytes": result.bytes,
        "failed": 2,
        "sha256_of_digests": digest_of_digests(digests),
    }
    assert result.sha256_of_digests() == digest_of_digests(digests)


def test_a_damaged_large_file_fails_alone_and_leaves_no_partial_file(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """A file above LAND_IN_MEMORY decrypted into a partial file that fails its check is
    reported failed, its partial file removed; the default action is "extract"."""
    vault = ws.create_unlocked(drive)
    big = os.urandom(LAND_IN_MEMORY + 1)
    _add(vault, tmp_path / "src", {"big.bin": big, "z.txt": b"z"})
    loc = _located(vault)["src/big.bin"]
    _poke(drive, loc, loc.header_len + loc.payload_len - 20)  # near the end
    registry = Registry("sqlite://")
    out = tmp_path / "out"
    result = extract(vault, [], out, False, registry, _env())
    assert list(result.failed) == ["src/big.bin"]
    assert [p.name for p in (out / "src").iterdir()] == ["z.txt"]
    (event,) = [s.event for s in registry.events() if s.event.action == "extract"]
    assert event.details["failed"] == 1 and event.details["files"] == 1


def test_a_failed_read_drops_the_pack_reader(ws: Workspace, tmp_path: Path, drive: Path) -> None:
    """After an entry fails its check, its pack is reopened for the next file (a compact may
    have replaced the pack), not read through the reader that failed."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"a.txt": b"a" * 300})
    a = _located(vault)["src/a.txt"]
    _poke(drive, a, a.header_len + 10)
    cache = ReaderCache(vault)
    first = cache.get(a.pack)
    with pytest.raises(IntegrityError):
        reading.decrypt_entry(vault, cache, a, lambda _b: None, None)
    assert cache.get(a.pack) is not first
    cache.close()


def test_something_at_a_name_stops_the_extract_before_anything_is_written(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """A dangling link at a file's name is already there: without --force nothing is
    written, and the error names it and says --force."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"a.txt": b"a", "b.txt": b"b"})
    out = tmp_path / "out"
    (out / "src").mkdir(parents=True)
    (out / "src" / "b.txt").symlink_to(tmp_path / "nowhere")
    with pytest.raises(AlreadyExists) as caught:
        extract(vault, [], out, False, Registry("sqlite://"), _env())
    assert caught.value.message == f"{out / 'src' / 'b.txt'} already exists"
    assert caught.value.hint == "use --force to overwrite"
    assert [p.name for p in (out / "src").iterdir()] == ["b.txt"]


def test_force_replaces_a_file_that_is_there(ws: Workspace, tmp_path: Path, drive: Path) -> None:
    """With --force a file already at a name is replaced, small or large; only the files
    named are extracted."""
    vault = ws.create_unlocked(drive)
    big = os.urandom(LAND_IN_MEMORY + 1)
    _add(vault, tmp_path / "src", {"a.txt": b"new", "big.bin": big, "c.txt": b"c"})
    out = tmp_path / "out"
    (out / "src").mkdir(parents=True, mode=0o700)
    out.chmod(0o700)
    (out / "src" / "a.txt").write_bytes(b"old")
    (out / "src" / "big.bin").write_bytes(b"old")
    named = ["src/a.txt", "src/big.bin"]
    result = extract(vault, named, out, True, Registry("sqlite://"), _env())
    assert not result.refused and not result.failed
    assert sorted(p.name for p in (out / "src").iterdir()) == ["a.txt", "big.bin"]
    assert (out / "src" / "a.txt").read_bytes() == b"new"
    assert (out / "src" / "big.bin").read_bytes() == big


def _refuse_every_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system that refuses every name when landing tries it first (no real disk
    does that for these names)."""

    def refuse(_fd: int, name: str) -> None:
        raise OSError(errno.EINVAL, "Invalid argument", name)

    monkeypatch.setattr(landing, "probe", refuse)


@pytest.mark.parametrize(("kind", "probed"), [("", False), ("nfs4", True)])
def test_names_are_tried_first_only_off_posix_file_systems(
    ws: Workspace,
    tmp_path: Path,
    drive: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    probed: bool,
) -> None:
    """On ext4 (and the other POSIX_NAMES) names are not created empty first; on a file
    system medvault does not know to take every name (NFS), they are."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"a:b.txt": b"a"})
    _refuse_every_name(monkeypatch)
    if kind:
        monkeypatch.setattr(reading, "filesystem_of", lambda _p: kind)
    out = tmp_path / "out"
    if probed:
        with pytest.raises(UnsafePath, match="a name this file system refuses"):
            extract(vault, [], out, False, Registry("sqlite://"), _env())
        assert not (out / "src" / "a:b.txt").exists()
    else:
        extract(vault, [], out, False, Registry("sqlite://"), _env())
        assert (out / "src" / "a:b.txt").read_bytes() == b"a"


FAT_BAD = {
    "CON": "'CON' is a reserved device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9)",
    "a:b.txt": "'a:b.txt' has a character FAT/exFAT does not allow "
    '(" * : < > ? \\ | or a control character)',
}


@pytest.mark.parametrize("bad", [["a:b.txt"], ["CON", "a:b.txt"], ["CON", "a:b.txt", "e."]])
def test_names_fat_cannot_hold_stop_the_extract_first(
    ws: Workspace, tmp_path: Path, drive: Path, monkeypatch: pytest.MonkeyPatch, bad: list[str]
) -> None:
    """Onto FAT/exFAT every part of every path is checked, short paths too: the first
    refused name is given with how many more, and nothing is written. (The file system
    type is what /proc says; FAT is stood in for, as nothing reaches the disk.)"""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"ok.txt": b"ok", **dict.fromkeys(bad, b"x")})
    monkeypatch.setattr(reading, "filesystem_of", lambda _p: "vfat")
    out = tmp_path / "out"
    with pytest.raises(UnsafePath) as caught:
        extract(vault, [], out, False, Registry("sqlite://"), _env())
    first = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    assert caught.value.message == (
        f"src/{first} cannot be written to vfat at {out}: {FAT_BAD[first]}{more}"
    )
    assert caught.value.hint == (
        "nothing was extracted; extract to a Linux file system (ext4, tmpfs), or name only "
        "the other files"
    )
    assert not out.exists() or not list(out.rglob("*"))


def test_a_folder_fat_cannot_hold_stops_the_extract_for_every_file_under_it(
    ws: Workspace, tmp_path: Path, drive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder's name is checked like a file's, once however many files it holds, and
    each file under it counts."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"ok.txt": b"ok", "a:b/x.txt": b"x", "a:b/y.txt": b"y"})
    monkeypatch.setattr(reading, "filesystem_of", lambda _p: "vfat")
    out = tmp_path / "out"
    with pytest.raises(UnsafePath) as caught:
        extract(vault, [], out, False, Registry("sqlite://"), _env())
    assert caught.value.message == (
        f"src/a:b/x.txt cannot be written to vfat at {out}: 'a:b' has a character FAT/exFAT "
        'does not allow (" * : < > ? \\ | or a control character) (and 1 more)'
    )
    assert not out.exists() or not list(out.rglob("*"))


def test_names_only_fat_refuses_extract_elsewhere(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """On a Linux file system the FAT rules do not apply."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"CON": b"c", "a:b.txt": b"a", "e.": b"e"})
    out = tmp_path / "out"
    result = extract(vault, [], out, False, Registry("sqlite://"), _env())
    assert sorted(p.name for p in result.written) == ["CON", "a:b.txt", "e."]


def test_an_extract_that_keeps_no_paths_makes_no_path_per_file(
    ws: Workspace, tmp_path: Path, drive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file's Path (whose names Python 3.11's pathlib interns for the life of the process)
    is made only to be shown or kept: an extract with keep_written=False asks no landed
    file for one; with it, one per file."""
    vault = ws.create_unlocked(drive)
    files = {f"d{i % 3}/f{i:02d}.txt": os.urandom(100 + i) for i in range(40)}
    files["big.bin"] = os.urandom(LAND_IN_MEMORY + 10)  # the streamed path lands one too
    _add(vault, tmp_path / "src", files)
    asked: list[str] = []
    real = landing.Target.path

    def counted(self: landing.Target) -> Path:
        asked.append(self.name)
        return real.fget(self)  # type: ignore[misc, no-any-return]

    monkeypatch.setattr(landing.Target, "path", property(counted))
    result = extract(vault, [], tmp_path / "out", False, Registry("sqlite://"), _env(),
                     keep_written=False)  # fmt: skip
    assert result.files == len(files) and result.written == []
    assert asked == []
    kept = extract(vault, [], tmp_path / "again", False, Registry("sqlite://"), _env())
    assert len(kept.written) == len(files)
    assert len(asked) == len(files)
