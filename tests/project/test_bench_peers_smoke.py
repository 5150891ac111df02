"""The peers benchmark runs on tiny data sets, every medvault row is really measured, and
the memory gate holds (the full numbers are in bench/results/peers.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.bench_run import REPORT_NAME, run_bench
from tests.support.media import FAT32, missing_tools

SMALL_ARGS = (
    "--big-mib", "16", "--small", "300", "--vault-files", "2000", "--runs", "1",
    "--age-sample", "100",
)  # fmt: skip
NUMBER = re.compile(r"[\d,]+(?:\.\d+)?")
# The medvault rows every run has, as (table row start, operation); FAT32 ones when FUSE works.
ROWS = [
    "| medvault | encrypt |",
    "| medvault | decrypt |",
    "| medvault | ls (whole process) |",
    "| medvault | extract of one file (whole process) |",
    "| medvault | library: ls after unlock |",
    "| medvault | library: one-file extract after unlock |",
    "| medvault | library: unlock minus the KDF |",
]
FAT_ROWS = ["| medvault | add big file |", "| medvault | add small files |"]


def _numbers(row: str) -> list[float]:
    cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
    return [float(cell.replace(",", "")) for cell in cells if NUMBER.fullmatch(cell)]


@pytest.mark.slow
def test_bench_peers_small(tmp_path: Path) -> None:
    # --no-install: a test never installs packages; a peer missing here is reported as such.
    report, stdout = run_bench("bench_peers.py", tmp_path, *SMALL_ARGS, "--no-install")
    assert report.strip() in stdout  # the same report is printed
    medvault_rows = [line for line in report.splitlines() if line.startswith("| medvault |")]
    fat_reason = missing_tools(FAT32)
    expected = ROWS + (FAT_ROWS if fat_reason is None else [])
    for start in expected:
        rows = [row for row in medvault_rows if row.startswith(start)]
        assert rows, f"no row {start}\n{report}"
    for row in medvault_rows:
        if fat_reason is not None and "skipped:" in row:
            continue  # FAT32 rows, when FUSE is truly missing here
        numbers = _numbers(row)
        assert numbers and all(n > 0 for n in numbers), f"not measured: {row}\n{report}"
    # The RSS gate held (the script exits 1 otherwise) and the report says so with a number.
    goal = re.search(r"^3\. \*\*(\w+)\*\* .*: highest ([\d.]+) MiB", report, re.M)
    assert goal and goal.group(1) == "PASS" and 10 < float(goal.group(2)) < 100, report
    assert "## Problems" not in report, report
    for number in range(1, 7):
        assert re.search(rf"^{number}\. \*\*(PASS|FAIL|n/a)\*\* ", report, re.M), report
    assert list(tmp_path.iterdir()) == [tmp_path / REPORT_NAME]  # the work folder is cleaned up
