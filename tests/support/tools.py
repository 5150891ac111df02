"""External programs the report tests run (Chromium, pdftotext, tesseract)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

TIMEOUT = 120  # seconds per external tool; a cold Chromium start on CI can take a while


def find_chromium() -> str:
    """The path of an installed Chromium; the test is skipped, with the reason, without one."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium, chromium-browser or google-chrome on PATH (apt-get install chromium)")


def run_tool(
    argv: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """ARGV run to completion (within TIMEOUT), its output captured as text; it must exit 0."""
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False
    )
    assert result.returncode == 0, f"{argv[0]} exited {result.returncode}: {result.stderr}"
    return result
