"""The padding benchmark runs, and its byte figures hold small: format 1.1 writes more than
format 1.0 on every set, and at most 12 % more (the full figures are in
bench/results/padding.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO_ROOT

ROW = re.compile(r"^\| ([^|]+) \| ([\d,]+) \| ([\d,]+) \| ([\d.]+)x \|", re.M)


def test_bench_padding_small(tmp_path: Path) -> None:
    out = tmp_path / "padding.md"
    args = ["--small-files", "60", "--spread-files", "40", "--big-mib", "3", "--runs", "1"]
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "bench_padding.py"), *args,
         "--out", str(out), "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    # Exit 1 is the time gate on sets this small (noise); the bytes are exact.
    assert result.returncode in (0, 1), result.stdout + result.stderr
    rows = ROW.findall(out.read_text())
    assert [name for name, *_ in rows] == [
        "60 files of 4 KiB",
        "40 files of 1 B to 1 MiB",
        "one file of 3 MiB",
    ]
    for name, old, new, ratio in rows:
        old_bytes, new_bytes = int(old.replace(",", "")), int(new.replace(",", ""))
        assert old_bytes < new_bytes <= 1.12 * old_bytes, name
        assert ratio == f"{new_bytes / old_bytes:.3f}"
