"""engine/helper_process.py: the helper works ahead of a parent busy with other things, and
a parent that waits for a slow helper takes part of the work on itself."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from medvault.engine import helper_process

ANSWER = bytes(4096)  # a small file's plaintext, as extract's helper answers it


def _needs_helper(items: int) -> None:
    if not helper_process.worth_it(items):
        pytest.skip("working ahead needs Linux and a second core")


def _marking(folder: Path) -> Callable[[bytes], bytes]:
    def work(task: bytes) -> bytes:
        (folder / task.decode()).touch()  # in the helper: how far it got
        return ANSWER

    return work


def test_the_helper_works_ahead_while_the_parent_holds_the_first_answer(
    tmp_path: Path,
) -> None:
    """While the parent works on the first answers, the helper goes on with the batches it
    was asked for until its pipe is full. With Linux's default 64 KiB pipe, a batch of 32
    answers of 4 KiB filled it and the helper stopped within its second batch."""
    max_pipe = Path("/proc/sys/fs/pipe-max-size")
    _needs_helper(1000)
    if not max_pipe.exists() or int(max_pipe.read_text()) < helper_process.PIPE_BYTES:
        pytest.skip("this system limits pipes below the helper's PIPE_BYTES")
    tasks = [str(n).encode() for n in range(1000)]
    asked = (helper_process.IN_FLIGHT + 1) * helper_process.BATCH
    # Half a wide pipe of answers beyond the batch the parent read: past any 64 KiB pipe.
    ahead = helper_process.BATCH + helper_process.PIPE_BYTES // 2 // len(ANSWER)
    assert ahead < asked
    results = helper_process.in_order(
        tasks, len(tasks), lambda task: task, _marking(tmp_path), lambda _t, a: a
    )
    try:
        first = next(results)  # the parent holds it, reading no further answers
        assert first == (b"0", ANSWER)
        mark = tmp_path / str(ahead - 1)
        deadline = time.monotonic() + 20
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert mark.exists(), f"the helper stopped at {len(list(tmp_path.iterdir()))} tasks"
        assert not (tmp_path / str(asked)).exists()  # only what was asked for
        assert list(results) == [(task, ANSWER) for task in tasks[1:]]
    finally:
        results.close()


def _by_pid(
    count: int, helper_delay: float, parent_delay: float, share: bool
) -> tuple[list[bytes], int]:
    """Run COUNT tasks; WORK answers the task with the pid that ran it, sleeping HELPER_DELAY
    in the helper; the parent sleeps PARENT_DELAY per result. The results, in order, and
    how many tasks the parent ran itself."""
    parent = os.getpid()

    def work(task: bytes) -> bytes:
        if os.getpid() != parent:
            time.sleep(helper_delay)
        return task + b"@" + str(os.getpid()).encode()

    tasks = [str(n).encode() for n in range(count)]
    got: list[bytes] = []
    for task, answer in helper_process.in_order(
        tasks, len(tasks), lambda t: t, work, lambda _t, a: a, share=share
    ):
        assert answer is not None
        name, _at, pid = answer.partition(b"@")
        assert name == task
        got.append(pid)
        time.sleep(parent_delay)
    assert len(got) == len(tasks)
    return got, sum(pid == str(parent).encode() for pid in got)


def test_a_parent_waiting_for_a_slow_helper_does_part_of_the_work_itself() -> None:
    """Add's sealing: the parent runs WORK for part of the items, never more than its
    MAX_SHARE of a batch, and every result still comes in order."""
    _needs_helper(2000)
    got, by_parent = _by_pid(2000, helper_delay=0.0005, parent_delay=0, share=True)
    assert len(got) == 2000
    assert by_parent > 2000 // 10
    assert by_parent <= 2000 * helper_process.MAX_SHARE // helper_process.BATCH
    assert len(set(got)) == 2


def test_a_parent_slower_than_its_helper_leaves_the_work_to_it() -> None:
    _needs_helper(600)
    _got, by_parent = _by_pid(600, helper_delay=0, parent_delay=0.001, share=True)
    assert by_parent <= 2 * helper_process.BATCH  # at most the start, while it forks


def test_without_share_the_parent_never_runs_the_work() -> None:
    """Extract's work keeps packs open: only its helper runs it."""
    _needs_helper(300)
    _got, by_parent = _by_pid(300, helper_delay=0.002, parent_delay=0, share=False)
    assert by_parent == 0


def test_an_error_in_the_parents_share_comes_after_every_item_before_it() -> None:
    """The parent runs its share of a batch before it waits for the helper's answers to
    the batch's first items, but an error from it is raised in its place: every item
    before it has been yielded, in order, and none after it."""
    _needs_helper(2000)
    parent = os.getpid()

    def work(task: bytes) -> bytes:
        if os.getpid() == parent:
            raise ValueError(task)
        time.sleep(0.0005)  # a slow helper: the parent soon takes a share
        return task

    tasks = [str(n).encode() for n in range(2000)]
    got: list[bytes] = []

    def collect() -> None:
        for task, answer in helper_process.in_order(
            tasks, len(tasks), lambda t: t, work, lambda _t, a: a, share=True
        ):
            assert answer == task
            got.append(task)

    with pytest.raises(ValueError) as raised:
        collect()
    failed = raised.value.args[0]
    assert got == tasks[: tasks.index(failed)]
    assert len(got) >= helper_process.BATCH  # the first batch was the helper's alone
