"""The read-back benchmark runs tiny: every medium and workload has its row, measured (or
skipped with the reason when FUSE is missing here), no add failed, and the gate line is
there and agrees with the exit status (the full figures are in bench/results/readback.md).
The ratio itself is gated on the full run only: on 9 MB and 100 files this shared machine's
noise is as large as the read-back."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.bench_run import REPORT_NAME, ROOT
from tests.support.media import EXFAT, FAT32, missing_tools

MEDIA_ROWS = {
    "exFAT, exfat-fuse": EXFAT,
    "FAT32 4 KiB clusters (mkfs default), fusefat": FAT32,
    "FAT32 512-B clusters, fusefat": FAT32,
    "local disk": None,
}
SMALL_ARGS = (
    "--big-bytes", "9000000", "--small-files", "100", "--runs", "1",
)  # fmt: skip
WORKLOADS = ("1 file, 9,000,000 B", "100 files, 4 KiB")
MEASURED = re.compile(
    r"^\| (?P<medium>[^|]+) \| (?P<workload>[^|]+) \| (?P<without>[\d.]+) \| (?P<with>[\d.]+) "
    r"\| (?P<ratio>[\d.]+)x \| (?:\+[\d.]+ s, [\d.]+ (?:MB/s|ms per file)|nothing measurable) "
    r"\| (?P<verdict>PASS|FAIL) \(<= [\d.]+x\) \|$",
    re.M,
)
NOT_MEASURED = re.compile(r"^\| (?P<medium>[^|]+) \| (?P<workload>[^|]+) \| - \| - \| - \| - \| "
                          r"(?P<why>.+) \|$", re.M)  # fmt: skip
FAT32_4K = "FAT32 4 KiB clusters (mkfs default), fusefat"
GATE = re.compile(r"^\*\*(PASS|FAIL)\*\* read-back costs at most [\d.]+x the add on the FUSE "
                  r"media and [\d.]+x on the local disk", re.M)  # fmt: skip


@pytest.mark.slow
def test_bench_readback_small(tmp_path: Path) -> None:
    out = tmp_path / REPORT_NAME
    script = ROOT / "bench" / "bench_readback.py"
    result = subprocess.run(
        [sys.executable, str(script), *SMALL_ARGS, "--out", str(out), "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = out.read_text()
    assert report.strip() in result.stdout  # the same report is printed
    measured = {(m["medium"], m["workload"]): m for m in MEASURED.finditer(report)}
    not_measured = {(m["medium"], m["workload"]): m["why"] for m in NOT_MEASURED.finditer(report)}
    for medium, kind in MEDIA_ROWS.items():
        for workload in WORKLOADS:
            if kind is not None and missing_tools(kind) is not None:
                assert not_measured[medium, workload].startswith("skipped: "), report
                continue
            row = measured.get((medium, workload))
            assert row is not None, f"{medium}, {workload} not measured\n{report}"
            assert float(row["without"]) > 0 and float(row["with"]) > 0, report
    assert len(measured) + len(not_measured) == len(MEDIA_ROWS) * len(WORKLOADS), report
    assert "\nFailed: " not in report, report  # every other add that ran added its files
    gate = GATE.search(report)
    assert gate is not None, report
    over = [m for m in measured.values() if m["verdict"] == "FAIL"]
    assert (gate.group(1) == "PASS") == (not over) == (result.returncode == 0), report
    assert list(tmp_path.iterdir()) == [out]  # images, vaults and sources are cleaned up
