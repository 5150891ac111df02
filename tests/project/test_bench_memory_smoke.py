"""The memory benchmark runs on small vaults (its gate off: memory is judged by the full
run in bench/results/memory.md, never by a test) and every case is really measured. Its
vaults are big enough to have a path index (path_index.REBUILD_MIN_ENTRIES), so a
one-file command there takes the path it takes on a big drive."""

from __future__ import annotations

import re
from pathlib import Path

from bench.bench_memory import CASES
from medvault.engine.path_index import REBUILD_MIN_ENTRIES
from tests.support.bench_run import run_bench


def test_bench_memory_small(tmp_path: Path) -> None:
    files = REBUILD_MIN_ENTRIES + 100
    table, _stdout = run_bench("bench_memory.py", tmp_path, "--files", str(files), "--no-gate")
    for case in CASES:
        row = re.search(rf"^\| {re.escape(case.label)} \| ([\d.]+) \| ([\d.]+) \|", table, re.M)
        assert row, table
        assert float(row.group(1)) > 20.0 and float(row.group(2)) > 20.0  # real processes
    assert re.search(r"^\*\*(PASS|FAIL)\*\*: ", table, re.M), table
