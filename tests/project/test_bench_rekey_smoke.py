"""The re-key benchmark runs, and its gate holds small: re-keying a large file costs about
what a small one does (the full figures are in bench/results/rekey.md)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.bench_run import run_bench


def test_bench_rekey_small(tmp_path: Path) -> None:
    table, _stdout = run_bench(
        "bench_rekey.py", tmp_path, "--big-mib", "48", "--small-files", "200", "--runs", "1"
    )
    assert "**PASS**" in table, table
    rows = dict(re.findall(r"^\| ([^|]+) \| (\d+) \| [\d.]+ \| [\d.]+x \|$", table, re.M))
    assert rows == {"1 file, 1 MiB": "1", "1 file, 48 MiB": "1", "200 files, 4 KiB": "200"}
