"""Resumable adds. `add --skip-existing` skips a path already in the
vault with the same size and SHA-256 (counted, not stored twice); one with other contents
is still refused unless --replace. A real `medvault add` killed with SIGKILL at the k-th
file, then run again with --skip-existing, ends with every file present once and
byte-identical."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Workspace

# Runs the real CLI with an I/O-point observer that sends SIGKILL to its own process just
# before the K-th point of KIND (store/io_points.py): a kill -9 at a chosen moment.
KILLER = """
import os, signal, sys
from medvault.store import io_points
kind, k = sys.argv[1], int(sys.argv[2])
seen = 0
def observe(what, path, source):
    global seen
    if what == kind:
        seen += 1
        if seen == k:
            os.kill(os.getpid(), signal.SIGKILL)
sys.argv = ["medvault", *sys.argv[3:]]
from medvault.cli.main import main
with io_points.observed(observe):
    main()
"""


def _source(root: Path) -> Path:
    """Large files (each committed on its own) and small ones (committed in groups)."""
    src = root / "exports"
    (src / "big").mkdir(parents=True)
    (src / "small").mkdir()
    for n in range(6):
        (src / "big" / f"scan-{n}.bin").write_bytes(os.urandom(1024 * 1024 + 4096 * n + 1))
    for n in range(40):
        (src / "small" / f"note-{n:02d}.txt").write_bytes(os.urandom(100 + n))
    return src


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _added_once(ws: Workspace, drive: Path, tmp_path: Path) -> Path:
    """A new vault on DRIVE with the _source tree (made in TMP_PATH) added; returns it."""
    ws.create_fast(drive)
    src = _source(tmp_path)
    ws.cli("add", drive, src, check=True)
    return src


def _listed(ws: Workspace, drive: Path) -> list[str]:
    result = ws.cli("ls", drive, "--json", check=True)
    return [f["path"] for f in json.loads(result.stdout)]


def test_an_add_run_again_skips_what_is_in_and_counts_it(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    src = _added_once(ws, drive, tmp_path)
    again = ws.cli("add", drive, src)
    assert again.returncode == 9  # without the flag: a clash, and it says what to do
    assert "--skip-existing" in again.stderr
    skipped = ws.cli("add", drive, src, "--skip-existing", "--json")
    assert skipped.returncode == 0, skipped.stderr
    said = json.loads(skipped.stdout)
    assert said["added"] == []
    assert said["skipped"] == 46
    assert said["skipped_bytes"] == sum(len(b) for b in _files(src).values())
    listed = _listed(ws, drive)
    assert len(listed) == len(set(listed)) == 46  # nothing stored twice


def test_a_path_with_other_contents_is_still_refused(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    src = _added_once(ws, drive, tmp_path)
    (src / "small" / "note-07.txt").write_bytes(b"a different note of another length")
    (src / "small" / "new.txt").write_bytes(b"new")
    refused = ws.cli("add", drive, src, "--skip-existing")
    assert refused.returncode == 9
    assert "exports/small/note-07.txt is already in the vault with other contents" in (
        refused.stderr
    )
    assert "exports/small/new.txt" not in _listed(ws, drive)  # nothing was added
    # Same size, other bytes: the digest decides, not the size.
    (src / "small" / "note-07.txt").write_bytes(os.urandom(107))
    assert ws.cli("add", drive, src, "--skip-existing").returncode == 9
    replaced = ws.cli("add", drive, src, "--skip-existing", "--replace", "--json")
    assert replaced.returncode == 0, replaced.stderr
    added = sorted(f["path"] for f in json.loads(replaced.stdout)["added"])
    assert added == ["exports/small/new.txt", "exports/small/note-07.txt"]


@pytest.mark.parametrize(
    ("kind", "k"),
    [
        ("index-append", 3),  # two groups indexed; the third pack on the drive, unindexed
        ("rename", 4),  # a pack's parts half renamed into objects/
        ("write", 9),  # in the middle of writing a pack in tmp/
    ],
)
def test_an_add_killed_at_the_kth_file_then_skip_existing_finishes_it(
    ws: Workspace, drive: Path, tmp_path: Path, kind: str, k: int
) -> None:
    ws.create_fast(drive)
    src = _source(tmp_path)
    env = ws.env | {"MEDVAULT_PASSPHRASE_FILE": str(ws.passfile)}
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, kind, str(k), "add", "-v", str(drive), str(src)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    reported = [line for line in killed.stdout.splitlines() if line.startswith("added ")]
    assert 0 < len(reported) < 46 or kind == "write"
    finished = ws.cli("add", drive, src, "--skip-existing", "--json")
    assert finished.returncode == 0, finished.stderr
    said = json.loads(finished.stdout)
    assert said["skipped"] >= len(reported)
    assert said["skipped"] + len(said["added"]) == 46
    listed = _listed(ws, drive)
    assert len(listed) == len(set(listed)) == 46  # every file once
    out = tmp_path / "out"
    ws.cli("extract", drive, "--to", out, check=True)
    assert _files(out / "exports") == _files(src)
    assert ws.cli("verify", drive).returncode == 0
