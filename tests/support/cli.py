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


def run_medvault_bytes(
    env: dict[str, str], *args: str | Path, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """run_medvault with stdout kept as bytes (plaintext written by `cat` and `extract --to
    -`), stderr as text, run in CWD when given."""
    result = subprocess.run(
        [sys.executable, "-m", "medvault", *map(str, args)],
        env=env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout, result.stderr.decode(errors="replace")
    )


def tree_state(*roots: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and folder under ROOTS (and ROOTS themselves): path -> (mode, size,
    mtime_ns). Two states differ when anything was created, removed, written or touched."""
    state: dict[str, tuple[int, int, int]] = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            info = path.lstat()
            state[str(path)] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return state
