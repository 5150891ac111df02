"""The registry benchmark runs, its gates hold on 500 events, and every case is really
measured (the full numbers, 20,000 events, are in bench/results/registry.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.bench_run import REPORT_NAME, run_bench

# (case, unit) measured on each database backend
DB_CASES = (
    ("append (1 process)", "events/s"),
    ("concurrent append (2 processes)", "events/s"),
    ("verify_chain", "events/s"),
    ("merge 1000 (500 known)", "ms"),
)
OTHER_ROWS = (
    ("drive log append (fsync)", "local disk", "ms"),
    ("registry append_event", "SQLite", "ms"),
    ("drive log / registry append", "local disk", "x"),
    ("drive log read_all 1000", "local disk", "ms"),
)


def _value(table: str, case: str, backend: str, unit: str) -> float | None:
    row = re.search(
        rf"^\| {re.escape(case)} \| {backend} \| ([\d.]+) \| {re.escape(unit)} \|",
        table,
        re.MULTILINE,
    )
    return float(row.group(1)) if row else None


@pytest.mark.slow
def test_bench_registry_small(tmp_path: Path) -> None:
    table, stdout = run_bench("bench_registry.py", tmp_path, "--events", "500", "--runs", "1")
    assert table.strip() in stdout  # the same report is printed
    backends = ["SQLite"]
    if "PostgreSQL unavailable" not in table:
        backends.append("PostgreSQL")  # absent rows are allowed only with a stated reason
    expected = [(case, b, unit) for case, unit in DB_CASES for b in backends]
    for case, backend, unit in [*expected, *OTHER_ROWS]:
        value = _value(table, case, backend, unit)
        assert value is not None, f"no row for {case} on {backend}:\n{table}"
        assert value > 0, f"{case} on {backend} measured nothing:\n{table}"
    assert list(tmp_path.iterdir()) == [tmp_path / REPORT_NAME]  # the work folder is cleaned up
