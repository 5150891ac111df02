"""The helper process a command forks (engine/helper_process.py), told apart from any
other child of the test process (a mount or server another test left running), and
signals for it sent from the command's own progress callback, so that they arrive while
it is at work."""

from __future__ import annotations

import os
import signal

import psutil


def children() -> set[int]:
    """This process's children now."""
    return {child.pid for child in psutil.Process().children()}


class SignalAt:
    """A progress callback that sends SIGNUM to the helper (any child of this process
    that was not there when it was made) at its 40th call."""

    def __init__(self, signum: signal.Signals) -> None:
        self.signum, self.calls = signum, 0
        self.others = children()

    def __call__(self, _size: int) -> None:
        self.calls += 1
        if self.calls == 40:
            for pid in children() - self.others:
                os.kill(pid, self.signum)
