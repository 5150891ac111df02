"""This machine's name, as lock files and custody events record it."""

from __future__ import annotations

import os


def host_name() -> str:
    """What socket.gethostname() answers: on POSIX that is uname's node name, read here
    without importing the socket module (and selectors), ~0.5 MiB every command kept."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket  # Windows: no uname

    return socket.gethostname()
