"""Whether a process recorded in a lock or staging folder still runs on this machine."""

from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """True while PID names a process here (another user's too: it cannot be signalled,
    but it exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
