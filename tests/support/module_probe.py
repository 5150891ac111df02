"""Which modules a medvault command loads, run as a user runs it (a process of its own)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# `python -m medvault ARGS` that writes the names in sys.modules, as the process exits, to
# the file named first: every module the command loaded, on any thread.
WITH_MODULES_AT_EXIT = (
    "import atexit, runpy, sys\n"
    "out = sys.argv.pop(1)\n"
    "atexit.register(lambda: open(out, 'w').write('\\n'.join(sorted(sys.modules))))\n"
    "sys.argv[0] = 'medvault'\n"
    "runpy.run_module('medvault', run_name='__main__', alter_sys=True)\n"
)


def run_listing_modules(
    env: dict[str, str], listed: Path, *args: str | Path
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`medvault ARGS` in ENV, and the modules it had loaded when it exited (LISTED is
    the file they are written to)."""
    listed.unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", WITH_MODULES_AT_EXIT, str(listed), *map(str, args)],
        env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
        check=False,
    )  # fmt: skip
    loaded = set(listed.read_text().split()) if listed.exists() else set()
    return result, loaded
