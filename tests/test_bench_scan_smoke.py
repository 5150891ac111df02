"""The scan benchmark runs, its gates hold on a small corpus, and every row is really
measured (the full numbers are in bench/results/scan.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ("ordinary corpus", "installed packages", "planted PHI", "one 4 MiB log")


def test_bench_scan_small(tmp_path: Path) -> None:
    out = tmp_path / "scan.md"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_scan.py"),
            "--ordinary",
            "150",
            "--planted",
            "24",
            "--log-mib",
            "4",
            "--runs",
            "1",
            "--out",
            str(out),
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    table = out.read_text()
    assert table.strip() in result.stdout  # the same report is printed
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
    assert list(tmp_path.iterdir()) == [out]  # the work folder is cleaned up
