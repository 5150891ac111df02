"""engine/helper_process.py's Helper, one message at a time: the forked child answers each
task with WORK(task), in order, through length-prefixed frames of any size; `ready` says
whether an answer is waiting; the caller stays the process it was; a helper that dies, is
stuck or is told Ctrl-C is handled as the module says; and in_order hands every item, with
its result, back in order whoever did it."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from medvault.engine import helper_process
from medvault.engine.helper_process import Helper
from tests.support.helper_signals import children

WAIT_S = 30.0  # the longest any wait here is allowed before the test fails


@pytest.fixture(autouse=True)
def _linux_with_fork() -> None:
    if not helper_process.worth_it(helper_process.MIN_ITEMS):
        pytest.skip("the helper process needs Linux and a second core")


@pytest.fixture
def helpers() -> Iterator[list[Helper]]:
    """Helpers a test made, closed at its end whatever happened."""
    made: list[Helper] = []
    yield made
    for helper in made:
        helper.close()


def _tagged(task: bytes) -> bytes:
    """An answer that shows which task it is for and which process made it."""
    return b"<" + task[::-1] + b">" + str(os.getpid()).encode()


def _until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _signal(helper: Helper, signum: int) -> None:
    """Signal the helper alone: never a pid of 0 or less (a process group, or every
    process), which a Helper whose fork roles were swapped would hold."""
    assert 0 < helper.pid != os.getpid()
    os.kill(helper.pid, signum)


def _zombie_or_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_each_answer_is_the_childs_work_on_its_task_in_order(helpers: list[Helper]) -> None:
    """Tasks and answers of every size (empty; one byte; longer than one read of the pipe,
    READ_BYTES; longer than the pipe itself, PIPE_BYTES), several batches asked before the
    first is read: each answer is WORK of its task, made in the child."""
    me = os.getpid()
    helper = Helper(_tagged)
    helpers.append(helper)
    sizes = [0, 1, 100, helper_process.READ_BYTES + 1, helper_process.PIPE_BYTES + 3]
    batches = [[os.urandom(size) for size in sizes], [b"a", b""], [os.urandom(30_000)]]
    for batch in batches:
        helper.ask(batch)
    for batch in batches:
        answers = helper.answers(len(batch))
        assert [a.rpartition(b">")[0] + b">" for a in answers] == [
            b"<" + task[::-1] + b">" for task in batch
        ]
        assert {a.rpartition(b">")[2] for a in answers} == {str(helper.pid).encode()}
    assert helper.pid != me


def test_the_caller_stays_itself_and_the_helper_is_its_child(helpers: list[Helper]) -> None:
    """Only the child serves. Were the roles swapped (the caller serving, the child going
    on as the caller), WORK would run in the caller's process and refuse, ending it with
    the helper's failure status; the child going on would fail the first check, before it
    reads an answer."""
    me = os.getpid()

    def work(task: bytes) -> bytes:
        if os.getpid() == me:
            raise RuntimeError("WORK ran in the caller's process")
        return task

    helper = Helper(work)
    helpers.append(helper)
    helper.ask([b"x"])
    assert os.getpid() == me
    assert helper.pid != me and psutil.Process(helper.pid).ppid() == me
    assert helper.answers(1) == [b"x"]


def test_ready_says_whether_an_answer_is_waiting(helpers: list[Helper], tmp_path: Path) -> None:
    """In the pipe, or already read into the caller's buffer with an earlier answer; not
    while the helper is still at work."""
    go = tmp_path / "go"

    def work(task: bytes) -> bytes:
        if task == b"c":  # held until the test says: nothing more reaches the pipe
            (tmp_path / "c-started").touch()
            _until(go.exists)
        return task

    helper = Helper(work)
    helpers.append(helper)
    assert not helper.ready()  # nothing asked
    helper.ask([b"a"])
    assert _until(helper.ready)  # a's answer is in the pipe, none read yet
    helper.ask([b"b"])
    helper.ask([b"c"])
    # The helper works in order and sends each batch's answers before it reads the next
    # batch: once it is on c, the answers to a and b are both in the pipe.
    assert _until((tmp_path / "c-started").exists)
    assert helper.answers(1) == [b"a"]  # one read of the pipe takes b's answer too
    assert helper.ready()  # b's, from the buffer: the pipe is empty while c is held
    assert helper.answers(1) == [b"b"]
    assert not helper.ready()
    go.touch()
    assert helper.answers(1) == [b"c"]


def test_closing_twice_and_closing_after_the_helper_died(helpers: list[Helper]) -> None:
    """close() reaps the helper; a second close, or one after a task could not be sent to
    a dead helper (the unsent bytes stay in the task stream's buffer), raises nothing."""
    helper = Helper(_tagged)
    helper.close()
    helper.close()
    assert helper.pid not in children()

    dead = Helper(_tagged)
    _signal(dead, signal.SIGKILL)
    assert _until(lambda: _zombie_or_gone(dead.pid))
    with pytest.raises(BrokenPipeError):
        dead.ask([b"never read"])
    dead.close()
    assert dead.pid not in children()


def test_a_helper_that_sends_nothing_is_killed_and_the_read_fails(
    helpers: list[Helper], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stuck for STALLED_S (a lock held at fork time, say): the caller kills it and gets
    EOFError, which in_order takes as the helper gone."""
    monkeypatch.setattr(helper_process, "STALLED_S", 0.3)

    def stuck(_task: bytes) -> bytes:
        time.sleep(WAIT_S * 10)
        return b"late"

    helper = Helper(stuck)
    helpers.append(helper)
    helper.ask([b"x"])
    with pytest.raises(EOFError):
        helper.answers(1)
    assert _until(lambda: _zombie_or_gone(helper.pid))  # killed, not left sleeping
    _pid, status = os.waitpid(helper.pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_a_helper_that_died_makes_the_read_fail_at_once(helpers: list[Helper]) -> None:
    helper = Helper(_tagged)
    helpers.append(helper)
    helper.ask([b"x"])
    assert helper.answers(1)[0].startswith(b"<x>")
    _signal(helper, signal.SIGKILL)
    assert _until(lambda: _zombie_or_gone(helper.pid))
    started = time.monotonic()
    with pytest.raises(EOFError):
        helper.answers(1)
    assert time.monotonic() - started < helper_process.STALLED_S  # not after a stall


def test_the_helper_ignores_ctrl_c(helpers: list[Helper]) -> None:
    """A Ctrl-C reaches the whole foreground process group; the helper goes on (the parent
    stops it by closing the pipe)."""
    helper = Helper(_tagged)
    helpers.append(helper)
    helper.ask([b"before"])  # answered: the helper is serving, its handler set
    assert helper.answers(1)[0].startswith(b"<erofeb>")
    _signal(helper, signal.SIGINT)
    helper.ask([b"after"])
    assert helper.answers(1)[0].startswith(b"<retfa>")


def test_a_task_the_helper_fails_on_is_left_to_the_caller_and_the_rest_go_on(
    tmp_path: Path,
) -> None:
    """WORK raising in the helper ends it before it answers that item's batch: the
    batch's items and every later one come with None (the caller does them, the usual
    way), all in order, and the dead helper is reaped as soon as its failure is seen, not
    at the end. (Answers it sent before it died may be dropped too, when the parent finds
    it gone while still asking: those items also come with None, never a wrong result.)"""
    me = os.getpid()
    bad = helper_process.BATCH  # the second batch's first item

    def work(task: bytes) -> bytes:
        if int(task) == bad and os.getpid() != me:
            raise ValueError("the helper cannot do this one")
        return task

    others = children()
    tasks = [str(n).encode() for n in range(300)]
    got: list[tuple[bytes, bytes | None]] = []
    for item, result in helper_process.in_order(tasks, len(tasks), lambda t: t, work, _pair):
        got.append((item, None if result is None else result[1]))
        if result is not None:
            assert result[0] == item  # result_of was given the item itself
        if int(item) == 250:
            # Long after the failure was seen: the helper is reaped already (a child not
            # reaped would still be listed, as a zombie).
            assert not children() - others
    assert [item for item, _ in got] == tasks
    assert all(result in (None, item) for item, result in got[:bad])
    assert all(result is None for _item, result in got[bad:])


def _pair(item: bytes, answer: bytes) -> tuple[bytes, bytes]:
    return item, answer


def test_results_of_the_callers_share_are_made_from_their_own_items() -> None:
    """With share, the parent runs WORK for part of each batch itself: RESULT_OF gets each
    item with its answer, whichever process made it."""
    parent = os.getpid()

    def work(task: bytes) -> bytes:
        if os.getpid() != parent:
            time.sleep(0.0005)  # a slow helper: the parent soon takes a share
        return task + b"@" + str(os.getpid()).encode()

    tasks = [str(n).encode() for n in range(1500)]
    by_parent = 0
    for item, result in helper_process.in_order(
        tasks, len(tasks), lambda t: t, work, _pair, share=True
    ):
        assert result is not None
        assert result[0] is item
        name, _at, pid = result[1].partition(b"@")
        assert name == item
        by_parent += pid == str(parent).encode()
    assert by_parent > 0


def test_a_helper_ahead_when_the_parent_first_looks_is_counted_calm(tmp_path: Path) -> None:
    """With share, the parent first looks at the helper once IN_FLIGHT + 1 batches are
    asked. Items held back until the helper has sent the first batch's answers make that
    first look find it ahead (a calm batch): every item still comes, in order, with its
    result."""
    parent = os.getpid()
    batch = helper_process.BATCH

    def work(task: bytes) -> bytes:
        if os.getpid() != parent:
            (tmp_path / task.decode()).touch()  # how far the helper got
        return task

    last_before_the_first_look = (helper_process.IN_FLIGHT + 1) * batch - 1

    def items() -> Iterator[bytes]:
        for number in range(last_before_the_first_look + 1 + 10 * batch):
            if number == last_before_the_first_look:
                # The helper is on the second batch: the first one's answers are sent.
                assert _until((tmp_path / str(batch)).exists)
            yield str(number).encode()

    got = list(helper_process.in_order(items(), 10**6, lambda t: t, work, _pair, share=True))
    assert [item for item, _result in got] == list(items())
    assert all(result == (item, item) for item, result in got)
