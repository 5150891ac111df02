"""Running a benchmark script small, as the smoke tests do: its own process, the report
written under the test's folder, exit status checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
REPORT_NAME = "report.md"  # written under the test's folder


def run_bench(script: str, tmp_path: Path, *args: str) -> tuple[str, str]:
    """Run bench/SCRIPT with ARGS, --out and --workdir in TMP_PATH; returns (the report
    file's text, stdout) after checking the script exited 0."""
    out = tmp_path / REPORT_NAME
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / script),
            *args,
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
    return out.read_text(), result.stdout
