"""The core benchmark runs, and its memory gate holds on a small file (the 2 GiB numbers are
in bench/results/core.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_core_small(tmp_path: Path) -> None:
    out = tmp_path / "core.md"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_core.py"),
            "--size-mib",
            "48",
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
    for case in ("medvault add", "medvault extract"):
        row = re.search(rf"^\| {case} \| (\d+) \| ([\d.]+)x \| ([\d.]+) \|$", table, re.M)
        assert row, table
        assert float(row.group(3)) < 100.0
        assert float(row.group(3)) > 10.0  # a real measurement, not a zero
