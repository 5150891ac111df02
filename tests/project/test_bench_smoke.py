"""The core benchmark runs, and its memory gate holds on a small file (the 2 GiB numbers are
in bench/results/core.md)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.bench_run import run_bench


def test_bench_core_small(tmp_path: Path) -> None:
    table, _stdout = run_bench("bench_core.py", tmp_path, "--size-mib", "48", "--runs", "1")
    for case in ("medvault add", "medvault extract"):
        row = re.search(rf"^\| {case} \| (\d+) \| ([\d.]+)x \| ([\d.]+) \|$", table, re.M)
        assert row, table
        assert float(row.group(3)) < 100.0
        assert float(row.group(3)) > 10.0  # a real measurement, not a zero
