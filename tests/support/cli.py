"""The medvault command line as a separate process, the way a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_medvault(
    env: dict[str, str], *args: str | Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m medvault ARGS` with ENV and no terminal (stdin is /dev/null, so a
    passphrase can come only from a file or a cached key), its output captured as text;
    a failure is returned, not raised."""
    return subprocess.run(
        [sys.executable, "-m", "medvault", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )
