"""10,000 small files make only a few dozen files on the drive, and
`rm` + `compact` reclaims the space of removed packed files (and they stay removed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.support.files import write_tree


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _pack_bytes(drive: Path) -> int:
    return sum(p.stat().st_size for p in (drive / "MEDVAULT" / "objects").rglob("*") if p.is_file())


@pytest.mark.slow
def test_ten_thousand_small_files_are_packed(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    src = tmp_path / "many"
    for folder in range(100):
        sub = src / f"dir{folder:03d}"
        sub.mkdir(parents=True)
        for i in range(100):
            (sub / f"f{i:03d}.dat").write_bytes(os.urandom(4096))
    ws.create_fast(drive)
    before = len(_files_under(drive))
    ws.cli("add", drive, src, check=True, timeout=300)
    on_drive = _files_under(drive)
    created = len(on_drive) - before
    # 10 packs (at most 1,024 files each), the index and its segments, the path index.
    assert created <= 16, f"10,000 files became {created} files on the drive"
    listing = json.loads(ws.cli("ls", drive, "--json", check=True).stdout)
    assert len(listing) == 10_000

    # Remove 90 % of them; compact must give most of the space back.
    size_before = _pack_bytes(drive)
    doomed = [f"many/dir{f:03d}" for f in range(90)]
    removed = ws.cli("rm", drive, *doomed, check=True)
    assert "removed 9000 file(s)" in removed.stdout
    assert len(json.loads(ws.cli("ls", drive, "--json", check=True).stdout)) == 1000
    ws.cli("compact", drive, check=True, timeout=300)
    size_after = _pack_bytes(drive)
    assert size_after < size_before * 0.2, (size_before, size_after)

    # Removed files stay removed even when the index is rebuilt from the objects alone.
    (drive / "MEDVAULT" / "index" / "journal.mvi").unlink()
    ws.cli("repair", drive, check=True)
    remaining = json.loads(ws.cli("ls", drive, "--json", check=True).stdout)
    assert len(remaining) == 1000
    assert all(x["path"].startswith(("many/dir09",)) for x in remaining)
    assert ws.cli("verify", drive).returncode == 0
    out = tmp_path / "out"
    ws.cli("extract", drive, "many/dir095", "--to", out, check=True)
    assert (out / "many/dir095/f007.dat").read_bytes() == (src / "dir095/f007.dat").read_bytes()


def test_rm_then_repair_without_compact_keeps_files_removed(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    src = write_tree(tmp_path / "few", {f"r{i}.txt": f"record {i}\n" for i in range(5)})
    ws.create_fast(drive)
    ws.cli("add", drive, src, check=True)
    ws.cli("rm", drive, "few/r1.txt", "few/r3.txt", check=True)
    (drive / "MEDVAULT" / "index" / "journal.mvi").unlink()
    ws.cli("repair", drive, check=True)
    paths = [x["path"] for x in json.loads(ws.cli("ls", drive, "--json", check=True).stdout)]
    assert paths == ["few/r0.txt", "few/r2.txt", "few/r4.txt"]
    gone = ws.cli("rm", drive, "few/r1.txt")
    assert gone.returncode == 16
