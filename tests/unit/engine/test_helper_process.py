"""engine/helper_process.py: the helper works ahead of a parent busy with other things."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from medvault.engine import helper_process

ANSWER = bytes(4096)  # a small file's plaintext, as extract's helper answers it


def _marking(folder: Path) -> Callable[[bytes], bytes]:
    def work(task: bytes) -> bytes:
        (folder / task.decode()).touch()  # in the helper: how far it got
        return ANSWER

    return work


def test_the_helper_answers_every_batch_asked_without_waiting_for_the_parent(
    tmp_path: Path,
) -> None:
    """While the parent works on the first answers, the helper finishes every batch it was
    asked for: its answers wait in the pipe. With Linux's default 64 KiB pipe, a batch of
    32 answers of 4 KiB filled it and the helper stopped until the parent read on."""
    max_pipe = Path("/proc/sys/fs/pipe-max-size")
    if not helper_process.worth_it(1000) or not max_pipe.exists():
        pytest.skip("working ahead needs Linux and a second core")
    if int(max_pipe.read_text()) < helper_process.PIPE_BYTES:
        pytest.skip("this system limits pipes below the helper's PIPE_BYTES")
    tasks = [str(n).encode() for n in range(1000)]
    asked = (helper_process.IN_FLIGHT + 1) * helper_process.BATCH
    results = helper_process.in_order(
        tasks, len(tasks), lambda task: task, _marking(tmp_path), lambda _t, a: a
    )
    try:
        first = next(results)  # the parent holds it, reading no further answers
        assert first == (b"0", ANSWER)
        last = tmp_path / str(asked - 1)
        deadline = time.monotonic() + 20
        while not last.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert last.exists(), f"the helper stopped at {len(list(tmp_path.iterdir()))} tasks"
        assert not (tmp_path / str(asked)).exists()  # only what was asked for
        assert list(results) == [(task, ANSWER) for task in tasks[1:]]
    finally:
        results.close()
