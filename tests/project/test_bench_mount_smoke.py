"""The mount benchmark runs small and its gates hold: a far 4 KiB read through `medvault
mount` takes under 1 s, the whole file reads through the mount and extracts, and a pulled
FAT32 stick (fusefat killed) ends `medvault mount` with exit 23 within 5 s, idle and with a
file held open (the full figures are in bench/results/mount.md). Skips, with the reason,
without FUSE."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.bench_run import run_bench
from tests.support.media import FAT32, bad_medium_missing, missing_tools

pytestmark = pytest.mark.fuse


def test_bench_mount_small(tmp_path: Path) -> None:
    """16 MiB, one run, two pulled sticks: the report has the far read, the mount and the
    extract rows and the pulled-stick rows (where fusefat is installed; else it says why
    they were not measured), and no gate fails."""
    reason = bad_medium_missing()
    if reason is not None:
        pytest.skip(reason)
    table, _stdout = run_bench(
        "bench_mount.py", tmp_path, "--size-mib", "16", "--runs", "1", "--pull-runs", "2"
    )
    assert "**PASS**" in table and "**FAIL**" not in table, table
    assert re.search(r"^\| 4 KiB read at 10 MiB .* ms \|", table, re.M), table
    assert re.search(r"^\| whole file through the mount .* \| \d+ \|$", table, re.M), table
    assert re.search(r"^\| `medvault extract` of it .* \| \d+ \|$", table, re.M), table
    assert re.search(r"takes [\d.]+x the time of extracting it", table), table
    no_fat = missing_tools(FAT32)
    if no_fat is not None:
        assert f"Not measured: {no_fat}." in table, table
        return
    for what in ("idle", "a file held open in it", "all"):
        assert re.search(
            rf"^\| {what} \| \d+ \| [\d.]+ s \| [\d.]+ s \| .* s \| 23 \|$", table, re.M
        ), table
    assert "**PASS** every pulled stick ends `medvault mount` with exit 23 within 5 s" in table
