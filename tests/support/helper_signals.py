"""Signals for the helper process a command forks (engine/helper_process.py), sent from
the command's own progress callback, so that they arrive while it is at work."""

from __future__ import annotations

import os
import signal

import psutil


class SignalAt:
    """A progress callback that sends SIGNUM to the helper at its 40th call."""

    def __init__(self, signum: signal.Signals) -> None:
        self.signum, self.calls = signum, 0

    def __call__(self, _size: int) -> None:
        self.calls += 1
        if self.calls == 40:
            for child in psutil.Process().children():
                os.kill(child.pid, self.signum)
