"""The fixed-cost benchmark runs (one round, its gate off: timing is judged by the full
run, never by a test) and every case is really measured (the figures are in
bench/results/fixed_cost.md)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.bench_run import run_bench

CASES = ("Argon2id alone", "medvault ls (whole process)", "python -c pass", "medvault --version")


def test_bench_fixed_cost_small(tmp_path: Path) -> None:
    table, _stdout = run_bench("bench_fixed_cost.py", tmp_path, "--runs", "1", "--no-gate")
    for case in CASES:
        row = re.search(rf"^\| {re.escape(case)} \| [^|]+ \| ([\d.]+) \|", table, re.M)
        assert row, table
        assert float(row.group(1)) > 0.0  # a real measurement
    verdict = r"\*\*Goal 3 \(issue 23\): (PASS|FAIL)\.\*\* `medvault ls` took [\d.]+ s"
    assert re.search(verdict, table), table
    assert "t=3, m=64 MiB, p=4" in table  # the vault's own Argon2id parameters were read
    assert re.search(r"Loaded of sqlalchemy, alembic, [^:]+: none\.", table), table
