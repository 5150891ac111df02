"""Extraction cannot be redirected: what another local user (uid
65534, through setpriv) or a same-user process does to DEST while an extract runs never
makes medvault write outside DEST, nor replace a file without --force; DEST and the folders
extract makes are 0700.

The races are made deterministic: the attacker acts from a hook between the plan (every
path checked) and the landing of the file it aims at.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from medvault.engine import landing
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.errors import AlreadyExists, UnsafePath
from medvault.keys.passphrase import to_secret
from medvault.vault import reading
from medvault.vault.add import add_files
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from medvault.vault.reading import ExtractResult, extract
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace, open_under
from tests.support.media import mounted_exfat, mounted_fat32

NOBODY = 65534
BIG = 2 * 1024 * 1024  # above landing's in-memory limit: written by a SequentialWriter
VICTIM = b"victim's existing file\n"
FILES = {
    "a/1.txt": b"first file\n",
    "a/2.bin": os.urandom(BIG),
    "b/secret.txt": b"top secret PHI\n",
    "late.txt": b"medvault's late.txt\n",
    "secret.txt": b"top-level PHI\n",
}


def _vault(ws: Workspace, tmp_path: Path, files: dict[str, bytes] = FILES) -> UnlockedVault:
    env = Env(kdf=FAST_KDF, warn=lambda _m: None)
    drive = tmp_path / "drive"
    drive.mkdir()
    create_vault(drive, "t", to_secret(PASSPHRASE), ws.org, ws.registry(), env)
    src = tmp_path / "src"
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    add_files(vault, sorted(src.iterdir()), False, ws.registry(), env)
    return vault


def _extract(ws: Workspace, vault: UnlockedVault, out: Path, force: bool = False) -> ExtractResult:
    return extract(vault, [], out, force, ws.registry(), Env(kdf=FAST_KDF))


@pytest.fixture
def arena() -> Iterator[Path]:
    """A folder the second uid can reach (pytest's tmp_path is under a 0700 folder), with
    outside/secret.txt (the victim's file an attack aims at) and shared/, a sticky,
    world-writable folder of ours: the DEST that M2's attacker can plant links in."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as a second user")
    root = Path(tempfile.mkdtemp(prefix="medvault-race-"))
    try:
        root.chmod(0o755)
        (root / "outside").mkdir(mode=0o755)
        (root / "outside" / "secret.txt").write_bytes(VICTIM)
        shared = root / "shared"
        shared.mkdir()
        shared.chmod(0o1777)
        yield root
    finally:
        shutil.rmtree(root)


def _as_nobody(*argv: str | Path) -> None:
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    subprocess.run([*prefix, *map(str, argv)], check=True, capture_output=True)


def _before_file(monkeypatch: pytest.MonkeyPatch, stored: str, act: Callable[[], None]) -> None:
    """Run ACT once, after the plan, just before the file STORED is landed."""
    real = reading.extract_one

    def hooked(*args: object, **kwargs: object) -> None:
        if any(getattr(a, "path", None) == stored for a in args):
            act()
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reading, "extract_one", hooked)


def _plant(path: Path, data: bytes) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)


def _outside_untouched(arena: Path) -> None:
    assert sorted(p.name for p in (arena / "outside").iterdir()) == ["secret.txt"]
    assert (arena / "outside" / "secret.txt").read_bytes() == VICTIM


def test_a_folder_swapped_for_a_link_by_another_user_is_not_followed(
    ws: Workspace, tmp_path: Path, arena: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """M2 as reproduced: uid 65534 plants shared/b -> outside after the plan checked every
    path; b's file is refused (exit 14 in the CLI), the others are extracted."""
    vault = _vault(ws, tmp_path)
    dest = arena / "shared"
    _before_file(
        monkeypatch, "b/secret.txt", lambda: _as_nobody("ln", "-s", arena / "outside", dest / "b")
    )
    result = _extract(ws, vault, dest)
    _outside_untouched(arena)
    assert (dest / "b").is_symlink()
    assert set(result.refused) == {"b/secret.txt"}
    error = result.refused["b/secret.txt"]
    assert isinstance(error, UnsafePath)
    assert "is a symbolic link, not a folder" in error.message
    assert sorted(str(p.relative_to(dest)) for p in result.written) == sorted(
        set(FILES) - {"b/secret.txt"}
    )
    for name in result.written:
        assert name.read_bytes() == FILES[str(name.relative_to(dest))]


@pytest.mark.parametrize("force", [False, True])
def test_a_file_name_swapped_for_a_link_by_another_user_is_not_replaced(
    ws: Workspace, tmp_path: Path, arena: Path, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    """The neighbour case: the file's own name becomes a link to the victim's file. It is
    neither written through nor replaced, even with --force."""
    vault = _vault(ws, tmp_path)
    dest = arena / "shared"
    link = dest / "secret.txt"
    _before_file(
        monkeypatch,
        "secret.txt",
        lambda: _as_nobody("ln", "-s", arena / "outside" / "secret.txt", link),
    )
    result = _extract(ws, vault, dest, force=force)
    _outside_untouched(arena)
    assert link.is_symlink() and os.readlink(link) == str(arena / "outside" / "secret.txt")
    assert set(result.refused) == {"secret.txt"}
    assert isinstance(result.refused["secret.txt"], UnsafePath if force else AlreadyExists)
    assert not list(dest.rglob(f"*{landing.PARTIAL_SUFFIX}"))
    assert len(result.written) == len(FILES) - 1


RENAMES = ["renameat2", "link", "check"]


def _only(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Make landing give names the way HOW says: as on a C library without renameat2
    ("link"), or a file system with neither RENAME_NOREPLACE nor hard links ("check", as
    fusefat and exfat-fuse answer: EINVAL, then EPERM; test_a_file_appearing_on_fat32...
    shows it on a real one)."""
    if how != "renameat2":
        monkeypatch.setattr(landing, "libc_renameat2", lambda: None)
    if how == "check":

        def no_links(*_args: object, **_kwargs: object) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(landing.os, "link", no_links)


@pytest.mark.parametrize("how", RENAMES)
@pytest.mark.parametrize("force", [False, True])
def test_a_file_appearing_at_a_name_during_the_extract_is_replaced_only_with_force(
    ws: Workspace,
    tmp_path: Path,
    arena: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    force: bool,
) -> None:
    """The plan found no late.txt; uid 65534 creates one before it lands. Without --force
    it is refused at the rename (exit 9) and kept; with --force it is replaced."""
    vault = _vault(ws, tmp_path)
    dest = arena / "shared"
    _only(monkeypatch, how)
    late = dest / "late.txt"
    _before_file(monkeypatch, "late.txt", lambda: _as_nobody("sh", "-c", f"echo theirs > {late}"))
    result = _extract(ws, vault, dest, force=force)
    if force:
        assert late.read_bytes() == FILES["late.txt"]
        assert result.refused == {}
    else:
        assert late.read_bytes() == b"theirs\n"
        assert set(result.refused) == {"late.txt"}
        assert isinstance(result.refused["late.txt"], AlreadyExists)
    assert not list(dest.rglob(f"*{landing.PARTIAL_SUFFIX}"))
    landed = {str(p.relative_to(dest)) for p in result.written}
    assert landed == set(FILES) - set(result.refused)
    for name in landed:
        assert (dest / name).read_bytes() == FILES[name]


def test_a_folder_swapped_by_the_same_user_after_it_was_opened_changes_nothing(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process of the same user renames DEST/a away and puts a link to another folder in
    its place after a/1.txt landed: a/2.bin (a large file) still goes into the folder
    extract opened, never through the link."""
    vault = _vault(ws, tmp_path)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()

    def swap() -> None:
        (out / "a").rename(out / "a-moved")
        (out / "a").symlink_to(elsewhere)

    _before_file(monkeypatch, "a/2.bin", swap)
    result = _extract(ws, vault, out)
    assert list(elsewhere.iterdir()) == []
    assert (out / "a-moved" / "2.bin").read_bytes() == FILES["a/2.bin"]
    assert (out / "a-moved" / "1.txt").read_bytes() == FILES["a/1.txt"]
    assert result.refused == {}


def test_a_folder_another_user_made_in_a_sticky_dest_is_refused(
    ws: Workspace, tmp_path: Path, arena: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a sticky DEST others may make folders; files are never put into theirs (they could
    list, move or delete them)."""
    vault = _vault(ws, tmp_path)
    dest = arena / "shared"
    _before_file(monkeypatch, "a/1.txt", lambda: _as_nobody("mkdir", "-m", "0777", dest / "a"))
    result = _extract(ws, vault, dest)
    assert set(result.refused) == {"a/1.txt", "a/2.bin"}
    assert all("belongs to another user (uid 65534)" in e.message for e in result.refused.values())
    assert list((dest / "a").iterdir()) == []
    assert (dest / "b" / "secret.txt").read_bytes() == FILES["b/secret.txt"]


# L2 and DEST itself ------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_dest_and_its_missing_parents_are_made_0700_and_others_cannot_list_them(
    ws: Workspace, tmp_path: Path, arena: Path
) -> None:
    """L2 through the CLI: `extract --to x/y/z` makes x, y and z 0700, and uid 65534 cannot
    list the names of the extracted files."""
    _vault(ws, tmp_path)
    out = arena / "x" / "y" / "z"
    ws.cli("extract", tmp_path / "drive", "--to", out, check=True)
    for folder in (arena / "x", arena / "x" / "y", out, out / "a", out / "b"):
        assert _mode(folder) == 0o700, folder
    assert _mode(out / "secret.txt") == 0o600
    listing = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "ls", out],
        capture_output=True,
        text=True,
        check=False,
    )
    assert listing.returncode != 0 and "secret.txt" not in listing.stdout


def test_a_dest_others_can_write_is_refused_before_anything_is_written(
    ws: Workspace, tmp_path: Path
) -> None:
    vault = _vault(ws, tmp_path, {"f.txt": b"x"})
    out = tmp_path / "open"
    out.mkdir()
    out.chmod(0o777)
    with pytest.raises(UnsafePath, match=r"can be written by other users \(mode 0777\)"):
        _extract(ws, vault, out)
    out.chmod(0o775)  # group-writable is refused too
    with pytest.raises(UnsafePath, match="can be written by other users"):
        _extract(ws, vault, out)
    assert list(out.iterdir()) == []
    out.chmod(0o1777)  # sticky and ours: others cannot move or remove what extract makes
    assert len(_extract(ws, vault, out).written) == 1


def test_a_dest_that_is_a_link_or_another_users_is_refused(ws: Workspace, tmp_path: Path) -> None:
    vault = _vault(ws, tmp_path, {"f.txt": b"x"})
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(UnsafePath, match="is a symbolic link or not a folder"):
        _extract(ws, vault, link)
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    if os.geteuid() == 0:
        os.chown(theirs, NOBODY, NOBODY)
        with pytest.raises(UnsafePath, match=r"belongs to another user \(uid 65534\)"):
            _extract(ws, vault, theirs)
        assert list(theirs.iterdir()) == []
    assert list(real.iterdir()) == []


def test_the_cli_names_a_refused_file_and_exits_14(
    ws: Workspace, tmp_path: Path, arena: Path
) -> None:
    """What a user sees when a folder where files go is a link: the others are extracted,
    the refused ones named on stderr, exit 14."""
    _vault(ws, tmp_path)
    dest = arena / "shared"
    (dest / "b").symlink_to(arena / "outside")  # there from the start: the plan refuses it
    result = ws.cli("extract", tmp_path / "drive", "--to", dest)
    assert result.returncode == 14, result.stderr
    _outside_untouched(arena)
    (dest / "b").unlink()
    (dest / "b").mkdir()
    os.chown(dest / "b", NOBODY, NOBODY)
    result = ws.cli("extract", tmp_path / "drive", "--to", dest)
    assert result.returncode == 14, result.stderr
    assert "medvault: not extracted: b/secret.txt: " in result.stderr
    assert "1 file(s) were not extracted" in result.stderr
    assert (dest / "a" / "1.txt").read_bytes() == FILES["a/1.txt"]
    assert list((dest / "b").iterdir()) == []


def test_folder_descriptors_stay_few_and_are_all_closed(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many folders: the batch is renamed early once files wait in MAX_BUSY_FOLDERS
    folders, unused folders are closed beyond KEEP_FOLDERS, and nothing stays open."""
    files = {f"d{i:02d}/sub/f{i}.txt": f"file {i}\n".encode() for i in range(40)}
    vault = _vault(ws, tmp_path, files)
    monkeypatch.setattr(landing, "KEEP_FOLDERS", 3)
    monkeypatch.setattr(landing, "MAX_BUSY_FOLDERS", 5)
    syncs: list[int] = []
    real_sync = landing.sync_filesystem
    monkeypatch.setattr(landing, "sync_filesystem", lambda p: (syncs.append(1), real_sync(p)))
    registry = ws.registry()
    out = tmp_path / "out"
    result = extract(vault, [], out, False, registry, Env(kdf=FAST_KDF))
    # Only descriptors on the extract's folders count: a long-lived test worker opens and
    # closes others of its own meanwhile.
    assert open_under(out) == []
    assert len(result.written) == len(files)
    assert len(syncs) > 2  # flushed early, not once for all 40
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data


def test_large_files_land_without_proc(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where /proc is missing a large file is written through its folder's descriptor by a
    plain writer instead."""
    vault = _vault(ws, tmp_path, {"a/2.bin": FILES["a/2.bin"]})
    monkeypatch.setattr(landing, "PROC_FD", tmp_path / "no-proc")
    result = _extract(ws, vault, tmp_path / "out")
    assert [p.read_bytes() for p in result.written] == [FILES["a/2.bin"]]
    assert _mode(result.written[0]) == 0o600


# FAT32 and exFAT: no links, no hard links, no RENAME_NOREPLACE ----------------------


@pytest.mark.parametrize("force", [False, True])
def test_a_file_appearing_on_fat32_is_replaced_only_with_force(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    """fusefat refuses RENAME_NOREPLACE (EINVAL) and hard links (EPERM): the name is checked
    just before the rename, so a file there by then is kept without --force."""
    vault = _vault(ws, tmp_path, {"late.txt": FILES["late.txt"], "z.txt": b"z\n"})
    with mounted_fat32(tmp_path) as fat:
        out = fat.mountpoint / "out"
        late = out / "late.txt"
        _before_file(monkeypatch, "late.txt", lambda: _plant(late, b"theirs\n"))
        result = _extract(ws, vault, out, force=force)
        assert late.read_bytes() == (FILES["late.txt"] if force else b"theirs\n")
        assert set(result.refused) == (set() if force else {"late.txt"})
        assert (out / "z.txt").read_bytes() == b"z\n"
        assert not list(out.rglob(f"*{landing.PARTIAL_SUFFIX}"))


def test_a_new_dest_on_exfat_is_taken_although_its_mode_shows_0777(
    ws: Workspace, tmp_path: Path
) -> None:
    """exfat-fuse shows every folder 0777 (the mount's mode): exFAT holds no links, so the
    private-DEST rule does not apply there; files still land whole."""
    vault = _vault(ws, tmp_path, {"a/1.txt": FILES["a/1.txt"]})
    with mounted_exfat(tmp_path) as stick:
        out = stick.mountpoint / "out"
        result = _extract(ws, vault, out)
        assert _mode(out) == 0o777
        assert [p.read_bytes() for p in result.written] == [FILES["a/1.txt"]]


def test_a_file_where_a_folder_goes_refuses_only_the_files_under_it(
    ws: Workspace, tmp_path: Path
) -> None:
    vault = _vault(ws, tmp_path, {"a/1.txt": b"1\n", "b/2.txt": b"2\n"})
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    (out / "a").write_bytes(b"a plain file\n")
    result = _extract(ws, vault, out)
    assert set(result.refused) == {"a/1.txt"}
    assert "is a file, not a folder" in result.refused["a/1.txt"].message
    assert (out / "a").read_bytes() == b"a plain file\n"
    assert (out / "b" / "2.txt").read_bytes() == b"2\n"


def test_recover_lands_files_the_same_way(ws: Workspace, tmp_path: Path) -> None:
    """`recover --to` goes through the same landing: a new DEST is 0700, and a DEST others
    can write is refused before anything is recovered (exit 14)."""
    _vault(ws, tmp_path, {"a/1.txt": b"1\n"})
    shares = [
        arg for name in ("alice", "bob") for arg in ("--share", ws.home / "shares" / f"{name}.txt")
    ]
    out = tmp_path / "new" / "out"
    recover = ("recover", tmp_path / "drive", "--reason", "test")
    ws.cli(*recover, "--to", out, *shares, passphrase=False, check=True)
    assert _mode(out) == _mode(out.parent) == _mode(out / "a") == 0o700
    assert (out / "a" / "1.txt").read_bytes() == b"1\n"
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    result = ws.cli(*recover, "--to", shared, *shares, passphrase=False)
    assert result.returncode == 14, result.stderr
    assert "can be written by other users" in result.stderr
    assert list(shared.iterdir()) == []
