"""A guard: every command that writes to a drive writes each file the one way
fusefat 0.1a handles on every cluster size: each open handle writes one contiguous run from
byte 0 (or one in-place patch inside the file), with no read on that handle first.

Each case sets its vault up on a plain folder, then runs ONE command through
tests/support/badmedium.py --strict over that folder and asserts the shim logged no breach (seek
back, append, second patch, read then write, ftruncate). The first test shows the shim
flags each of those patterns, so an empty log means something.

Cases marked xfail(strict) break the rule today; each turns into a failure (an
XPASS) when its writer is fixed, and then loses its marker.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.support import media

pytestmark = pytest.mark.fuse

NEW_PASSPHRASE = "violet harbour quantum pickle drum 93"
LARGE = 5_000_000  # several write blocks (1 MiB): the large-file pack writer
PART_SIZE = 65_536


class DisciplineBroken(AssertionError):
    """The strict shim logged a write fusefat can lose (the only failure xfail accepts)."""


def _strict_run(
    tmp_path: Path, backing: Path, run: Callable[[Path], subprocess.CompletedProcess[str]]
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = tmp_path / "strict.log"
    log.write_text("")
    with media.mounted_bad_medium(tmp_path, backing, strict_log=log) as mnt:
        result = run(mnt)
    return result, log.read_text().splitlines()


def test_the_strict_shim_flags_each_write_fusefat_loses(tmp_path: Path) -> None:
    """Every pattern the design measured losing data is flagged; the safe ones are not."""
    backing = tmp_path / "back"
    backing.mkdir()
    (backing / "old.bin").write_bytes(b"o" * 5000)  # already there before the mount

    def patterns(mnt: Path) -> subprocess.CompletedProcess[str]:
        _safe_patterns(mnt)
        _unsafe_patterns(mnt)
        return subprocess.CompletedProcess([], 0, "", "")

    _, lines = _strict_run(tmp_path, backing, patterns)
    flagged = sorted({line.split(":", 1)[0] for line in lines})
    assert flagged == ["/append", "/ftruncate", "/patch-grows", "/read-write", "/seek-back",
                       "/truncate-up", "/two-patches"], lines  # fmt: skip


def _safe_patterns(mnt: Path) -> None:
    (mnt / "new.bin").write_bytes(os.urandom(300_000))  # front to back
    with open(mnt / "old.bin", "r+b") as handle:  # the vault header's rewrite from 0
        handle.write(b"n" * 5000)
    with open(mnt / "old.bin", "r+b") as handle:  # one in-place patch, fresh handle
        handle.seek(100)
        handle.write(b"p" * 40)
    with open(mnt / "old.bin", "wb") as handle:  # O_TRUNC, then a run from 0
        handle.write(b"t" * 100)


def _unsafe_patterns(mnt: Path) -> None:
    with open(mnt / "seek-back", "wb") as handle:  # the pack writer's header patch
        handle.write(b"a" * 4096)
        handle.seek(56)
        handle.write(b"h" * 10)
        handle.flush()
    (mnt / "append").write_bytes(b"j" * 600)
    with open(mnt / "append", "ab") as handle:  # the journal's append
        handle.write(b"r" * 300)
    (mnt / "two-patches").write_bytes(b"x" * 3000)
    with open(mnt / "two-patches", "r+b", buffering=0) as handle:  # redo.apply
        handle.seek(100)
        handle.write(b"1" * 10)
        handle.seek(2000)
        handle.write(b"2" * 10)
    (mnt / "read-write").write_bytes(b"y" * 100)
    with open(mnt / "read-write", "r+b", buffering=0) as handle:
        handle.read(10)
        handle.seek(0)
        handle.write(b"z" * 5)
    (mnt / "patch-grows").write_bytes(b"g" * 100)
    with open(mnt / "patch-grows", "r+b", buffering=0) as handle:
        handle.seek(50)
        handle.write(b"G" * 100)
    with open(mnt / "ftruncate", "wb") as handle:  # the journal's torn-tail cut
        handle.write(b"f" * 100)
        handle.flush()
        handle.truncate(50)
    (mnt / "truncate-up").write_bytes(b"u" * 10)
    os.truncate(mnt / "truncate-up", 1000)


# -- every writing command ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """PREPARE sets the vault up on the plain folder; RUN is the one command under the shim."""

    prepare: Callable[[Workspace, Path, Path], None]
    run: Callable[..., object]
    says: str = ""  # in stdout: the command did the writing this case is about
    on_destination: bool = False  # the shim is over the extract destination, not the vault


def _files(root: Path, count: int, size: int = 300) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (root / f"m{n:05d}.txt").write_bytes(os.urandom(size + n % 97))
    return root


def _large(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "large.bin").write_bytes(os.urandom(LARGE))
    return root


def _vault(ws: Workspace, back: Path, src: Path) -> None:
    ws.create_fast(back, "strict")


def _vault_with_files(ws: Workspace, back: Path, src: Path) -> None:
    ws.create_fast(back, "strict")
    ws.cli("add", back, _files(src / "batch", 30), check=True)


def _multipart_vault(ws: Workspace, back: Path, src: Path) -> None:
    ws.create_fast(back, "strict", part_size=PART_SIZE)


def _vault_to_compact(ws: Workspace, back: Path, src: Path) -> None:
    _vault_with_files(ws, back, src)
    ws.cli("rm", back, *[f"batch/m{n:05d}.txt" for n in range(25)], check=True)


def _vault_to_repair(ws: Workspace, back: Path, src: Path) -> None:
    """A lost header copy and a lost index: repair rewrites both."""
    _vault_with_files(ws, back, src)
    (back / "MEDVAULT" / "vault.mvh.bak").unlink()
    (back / "MEDVAULT" / "index" / "journal.mvi").unlink()


def _create(ws: Workspace, mnt: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    return ws.cli("create", mnt, "--label", "strict")


def _add(what: Callable[[Path], Path], *flags: str) -> Callable[..., object]:
    def run(ws: Workspace, mnt: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
        return ws.cli("add", mnt, what(tmp / "src" / "batch"), *flags)

    return run


_add_path_index = _add(lambda p: _files(p, 1100, size=50))  # over REBUILD_MIN_ENTRIES


def _add_replace(ws: Workspace, mnt: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    return ws.cli("add", mnt, _files(tmp / "src" / "batch", 30, size=700), "--replace")


def _rm(ws: Workspace, mnt: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    return ws.cli("rm", mnt, "batch/m00001.txt", "batch/m00002.txt")


def _passwd(ws: Workspace, mnt: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    new = tmp / "new-passphrase.txt"
    new.write_text(NEW_PASSPHRASE + "\n")
    return ws.cli("passwd", mnt, "--new-passphrase-file", new)


def _command(*words: str, then: tuple[str, ...] = ()) -> Callable[..., object]:
    """`medvault WORDS VAULT THEN...`"""

    def run(ws: Workspace, mnt: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
        return ws.cli(*words, mnt, *then)

    return run


def _erase(ws: Workspace, mnt: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    return ws.cli("erase", mnt, "--yes", "--out", tmp / "certificate")


def _extract(ws: Workspace, mnt: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    return ws.cli("extract", tmp / "back", "--to", mnt / "out")


def _vault_with_large(ws: Workspace, back: Path, src: Path) -> None:
    _vault_with_files(ws, back, src)
    ws.cli("add", back, _large(src / "big"), check=True)


RESEAL = ("--reason", "write discipline")
REKEY = (*RESEAL, "--rekey")


def _case(case: Case, name: str, *marks: pytest.MarkDecorator) -> object:
    return pytest.param(case, id=name, marks=marks)


CASES = [
    _case(Case(lambda *_: None, _create, "Created vault"), "create"),
    _case(Case(_vault, _add(lambda p: _files(p, 30))), "add-small"),
    _case(Case(_vault, _add(_large)), "add-large"),
    _case(Case(_multipart_vault, _add(lambda p: _files(_large(p), 10))), "add-multipart"),
    _case(Case(_vault, _add_path_index), "add-path-index"),
    _case(Case(_vault_with_files, _add_replace), "add-replace"),
    _case(Case(_vault_with_files, _rm), "rm"),
    _case(Case(_vault_to_compact, _command("compact"), "rewrote 1 pack(s)"), "compact"),
    _case(Case(_vault_with_files, _passwd), "passwd"),
    _case(Case(_vault_with_files, _command("escrow", "reseal", then=RESEAL)), "reseal"),
    _case(Case(_vault_with_files, _command("escrow", "reseal", then=REKEY), "Re-keyed"), "rekey"),
    _case(Case(_vault_to_repair, _command("repair"), "rebuilt the index"), "repair"),
    _case(Case(_vault_with_files, _erase), "erase"),
    _case(Case(_vault_with_large, _extract, on_destination=True), "extract"),
]


@pytest.mark.parametrize("case", CASES)
def test_each_command_writes_each_file_front_to_back(
    ws: Workspace, tmp_path: Path, case: Case
) -> None:
    back = tmp_path / "back"
    back.mkdir()
    case.prepare(ws, back, tmp_path / "setup")
    shimmed = back
    if case.on_destination:
        shimmed = tmp_path / "destination"
        shimmed.mkdir()
    result, lines = _strict_run(tmp_path, shimmed, lambda mnt: case.run(ws, mnt, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert case.says in result.stdout
    if case.run is _add_path_index:
        assert (back / "MEDVAULT" / "index" / "paths.mvs").is_file()  # the snapshot was written
    if lines:
        raise DisciplineBroken(f"{len(lines)} write(s) fusefat can lose:\n" + "\n".join(lines[:20]))
