"""An add that stops part-way, without -v: the files it had committed are kept, and a
warning on stderr says how many and which was the last, as `ls` then shows."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.support.files import write_tree
from tests.support.terminal import spawn_medvault, wait_for_exit

# A file whose size says 0 bytes but which reads as more: like a file still being
# written when add reaches it, it passes the check before anything is written and is
# refused as it is read ("changed while it was being read", exit 8), after the files
# before it were committed.
GROWING = Path("/proc/version")
MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(
    not GROWING.is_file() or GROWING.stat().st_size != 0,
    reason="needs Linux /proc (a file whose stat size is 0 but which reads as more)",
)


def _listed(ws: Workspace, drive: Path) -> list[str]:
    shown = ws.cli("ls", drive, "--json", check=True)
    return sorted(entry["path"] for entry in json.loads(shown.stdout))


def test_an_add_stopped_midway_says_how_many_were_added(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """Two small files, then a large one (a commit of its own, so the small ones are
    committed before it), then a file that cannot be stored, then one more: exit 8, and
    without -v the warning counts the 3 files added and names the last; `ls` lists those
    3 and nothing else."""
    ws.create_fast(drive)
    src = write_tree(
        tmp_path / "src",
        {"a.txt": "first", "b.txt": "second", "big.bin": os.urandom(2 * MIB), "z.txt": "after"},
    )
    result = ws.cli(
        "add", drive, src / "a.txt", src / "b.txt", src / "big.bin", GROWING, src / "z.txt"
    )
    assert result.returncode == 8, result.stderr
    assert result.stdout == ""  # no per-file lines without -v
    warning = [line for line in result.stderr.splitlines() if "before this stopped" in line]
    assert len(warning) == 1, result.stderr
    assert warning[0].startswith("medvault: warning: 3 file(s) were added before this stopped")
    assert "the last: big.bin" in warning[0]
    assert "--skip-existing" in warning[0]
    assert "version changed while it was being read" in result.stderr
    assert "files reported as added are kept" in result.stderr
    assert _listed(ws, drive) == ["a.txt", "b.txt", "big.bin"]


def test_with_verbose_each_added_file_is_listed_instead(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """With -v the same stopped add lists each file it added on stdout, and the count
    warning is left out (the lines already say it)."""
    ws.create_fast(drive)
    src = write_tree(tmp_path / "src", {"a.txt": "first", "big.bin": os.urandom(2 * MIB)})
    result = ws.cli("add", "-v", drive, src / "a.txt", src / "big.bin", GROWING)
    assert result.returncode == 8, result.stderr
    assert result.stdout == "added a.txt\nadded big.bin\n"
    assert "before this stopped" not in result.stderr
    assert _listed(ws, drive) == ["a.txt", "big.bin"]


def test_an_add_that_stops_before_any_commit_gives_no_count(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """Small files still pending in their group when the add stops are not committed:
    nothing was added, and no warning claims otherwise."""
    ws.create_fast(drive)
    src = write_tree(tmp_path / "src", {"a.txt": "first"})
    result = ws.cli("add", drive, src / "a.txt", GROWING)
    assert result.returncode == 8, result.stderr
    assert "before this stopped" not in result.stderr
    assert "files reported as added are kept" not in result.stderr
    assert _listed(ws, drive) == []


@pytest.mark.tty
def test_on_a_terminal_the_warning_does_not_join_the_progress_bar(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """On a terminal, where the progress bar is drawn on stderr, the warning starts a line
    of its own: the bar is gone before it is written."""
    ws.create_fast(drive)
    src = write_tree(tmp_path / "src", {"big.bin": os.urandom(2 * MIB)})
    env = {**ws.env, "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile)}
    child = spawn_medvault(env, "add", drive, src / "big.bin", GROWING, dimensions=(40, 160))
    child.expect("encrypting")
    status, rest = wait_for_exit(child)
    assert status == 8, rest
    before, found, _after = rest.partition("medvault: warning: 1 file(s) were added")
    assert found, rest
    assert before == "" or before[-1] in "\r\n", repr(before[-80:])
