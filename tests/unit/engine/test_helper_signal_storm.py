"""A signal that lands while a helper is being forked (engine/helper_process.py) is handled
by the caller alone: the forked copy never runs the caller's signal handlers and never
comes back into the caller's code. Before the fix, a Ctrl-C or SIGTERM just after the fork
ran the caller's handler in the child, whose KeyboardInterrupt unwound the command's own
code there (its clean-up on the vault) beside the real command: 5 of 500 forks under
SIGINT, 1 of 500 under SIGTERM; the handler ran in the child far more often."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medvault.engine.helper_process import Helper

ROUNDS = 300
PAUSE_S = 0.0002  # between signals: several land in every fork


def _storm(signum: signal.Signals, marker: Path) -> tuple[int, int]:
    """Run tests/support/signal_storm.py under a storm of SIGNUM; its exit status and the
    number of signals sent."""
    storm = subprocess.Popen(
        [sys.executable, "-m", "tests.support.signal_storm", signum.name, str(ROUNDS), str(marker)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert storm.stdout is not None
    assert storm.stdout.readline().strip() == "ready"
    group = storm.pid
    assert group > 1  # never signal a group this test does not own
    sent, deadline = 0, time.monotonic() + 120
    try:
        while storm.poll() is None and time.monotonic() < deadline:
            try:
                os.killpg(group, signum)
            except ProcessLookupError:
                break
            sent += 1
            time.sleep(PAUSE_S)
        finished = storm.stdout.read()
    finally:
        if storm.poll() is None:
            os.killpg(group, signal.SIGKILL)
        storm.wait()
    assert "done" in finished, "the storm's loop did not finish"
    return storm.returncode, sent


@pytest.mark.skipif(sys.platform != "linux", reason="the helper is forked on Linux only")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_at_the_fork_is_the_callers_alone(signum: signal.Signals, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _status, sent = _storm(signum, marker)
    assert sent > ROUNDS  # the storm really blew: more signals than forks
    noted = marker.read_text() if marker.exists() else ""
    assert noted == "", f"a forked helper ran the caller's code:\n{noted}"


def _echo(task: bytes) -> bytes:
    return task


def test_the_caller_takes_signals_again_once_the_helper_is_forked() -> None:
    """The signals blocked across the fork are unblocked in the caller before Helper()
    returns: its mask is what it was."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    helper = Helper(_echo)
    try:
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
        helper.ask([b"task"])
        assert helper.answers(1) == [b"task"]
    finally:
        helper.close()
