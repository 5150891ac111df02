"""The scan benchmark runs, its gates hold on a small corpus, and every row is really
measured (the full numbers are in bench/results/scan.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.bench_run import REPORT_NAME, run_bench

CASES = ("ordinary corpus", "installed packages", "planted PHI", "one 4 MiB log")


@pytest.mark.slow
def test_bench_scan_small(tmp_path: Path) -> None:
    table, stdout = run_bench(
        "bench_scan.py", tmp_path, "--ordinary", "150", "--planted", "24", "--log-mib", "4",
        "--runs", "1",
    )  # fmt: skip
    assert table.strip() in stdout  # the same report is printed
    for case in CASES:
        row = re.search(
            rf"^\| {case} \| (\d+) \| ([\d.]+) \| ([\d.]+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \|$",
            table,
            re.M,
        )
        assert row, f"no row for {case}:\n{table}"
        assert int(row.group(1)) > 0 and float(row.group(3)) > 0, table
        assert 10.0 < float(row.group(6)) < 200.0, table  # a real, bounded peak RSS
    assert re.search(r"False-positive rate\*\* .*: 0\.0% \(0/\d+\)", table), table
    assert re.search(r"Installed packages .*: [\d.]+% \(\d+/\d+\)", table), table
    detection = re.search(r"Detection rate\*\* .*: ([\d.]+)% \((\d+)/(\d+)\)", table)
    assert detection and float(detection.group(1)) >= 95.0, table
    for indicator in ("ssn", "dob_with_name", "mrn", "icd10", "hl7", "phi_header"):
        assert re.search(rf"^\| {indicator} \| [\d.]+% \(\d+/\d+\) \|$", table, re.M), table
    for fmt in ("csv", "docx", "txt", "xlsx"):
        assert re.search(rf"^\| {fmt} \| [\d.]+% \(\d+/\d+\) \|$", table, re.M), table
    assert list(tmp_path.iterdir()) == [tmp_path / REPORT_NAME]  # the work folder is cleaned up
