"""Run as a script by tests/unit/engine/test_helper_signal_storm.py: fork helpers again and
again (engine/helper_process.py) while the test sends SIGNAL to this process group as fast
as it can. This process's handler for SIGNAL does nothing here; run in any other process
(a forked helper), it notes that in MARKER and raises, as a command's Ctrl-C or SIGTERM
handler does. A forked copy that comes back into this loop notes that too.

usage: python -m tests.support.signal_storm SIGNAL ROUNDS MARKER
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

from medvault.engine.helper_process import Helper

ME = os.getpid()


def _note(marker: str, what: str) -> None:
    fd = os.open(marker, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, f"{what} {os.getpid()}\n".encode())
    os.close(fd)


def _echo(task: bytes) -> bytes:
    return task


def main() -> None:
    signum, rounds, marker = signal.Signals[sys.argv[1]], int(sys.argv[2]), sys.argv[3]

    def handler(_signum: int, _frame: FrameType | None) -> None:
        if os.getpid() != ME:
            _note(marker, "handler-ran-in")
            raise KeyboardInterrupt

    signal.signal(signum, handler)
    print("ready", flush=True)
    for _ in range(rounds):
        try:
            helper = Helper(_echo)
            try:
                helper.ask([b"task"])
                helper.answers(1)
            finally:
                helper.close()
        except (KeyboardInterrupt, EOFError, OSError):
            pass  # the helper stopped by the signal: the caller would go on alone
        if os.getpid() != ME:
            _note(marker, "returned-into-caller")
            os._exit(0)
    print("done", flush=True)


if __name__ == "__main__":
    main()
