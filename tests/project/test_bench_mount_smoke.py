"""The mount benchmark runs small and its gate holds: a far 4 KiB read through `medvault
mount` takes under 1 s, and the whole file reads through the mount and extracts (the full
1 GiB figures are in bench/results/mount.md). Skips, with the reason, without FUSE."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.bench_run import run_bench
from tests.support.media import bad_medium_missing

pytestmark = pytest.mark.fuse


def test_bench_mount_small(tmp_path: Path) -> None:
    """16 MiB, one run: the report has the far read, the mount and the extract rows and
    the gate passes."""
    reason = bad_medium_missing()
    if reason is not None:
        pytest.skip(reason)
    table, _stdout = run_bench("bench_mount.py", tmp_path, "--size-mib", "16", "--runs", "1")
    assert "**PASS**" in table, table
    assert re.search(r"^\| 4 KiB read at 10 MiB .* ms \|", table, re.M), table
    assert re.search(r"^\| whole file through the mount .* \| \d+ \|$", table, re.M), table
    assert re.search(r"^\| `medvault extract` of it .* \| \d+ \|$", table, re.M), table
    assert re.search(r"takes [\d.]+x the time of extracting it", table), table
