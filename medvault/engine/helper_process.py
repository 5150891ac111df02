"""A forked helper process that does per-file crypto ahead of the parent, in order.

Each small file costs tens of microseconds of Python crypto calls, and cryptography holds
the GIL for buffers this small, so threads cannot share the work. On Linux with a spare
core, a command with many small files forks one helper: the parent sends it tasks (bytes)
in order, the helper answers each with WORK(task) (bytes; b"" when it could not), and the
parent takes the answers in the same order while it does the rest. The helper only saves
time, it never decides: an item it did not or could not do (no task for it, an empty
answer, the helper gone) is done by the parent itself, the usual way, in its place.

The helper writes nothing but its pipe. It ignores Ctrl-C (the parent stops it by closing
the pipe) and exits when the parent does; one that answers nothing for STALLED_S (stuck on
a lock another thread held when it was forked) is killed and the parent goes on alone.
Messages are length-prefixed bytes, never pickles. Linux only: macOS frameworks are not
safe to fork, and Windows has no fork. A forked child starts with an empty random pool
(crypto/symmetric.py), so it never repeats the parent's keys or nonces.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import struct
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

T = TypeVar("T")
R = TypeVar("R")
BATCH = 32  # tasks in one message: a few batches fit in a pipe's buffer
IN_FLIGHT = 3  # batches asked for before the oldest one's answers are read
MIN_ITEMS = 64  # fewer items than this for the helper: the fork costs more than it saves
# A helper that answers nothing for this long is stopped and the parent goes on alone.
STALLED_S = 60.0
LENGTH = struct.Struct(">I")
# Pipe buffers this large let the helper work a few batches ahead of the parent; with the
# default 64 KiB, one batch of 4 KiB answers filled it and the helper waited for the parent.
PIPE_BYTES = 1 << 20


def worth_it(items: int) -> bool:
    """Whether to fork a helper for ITEMS items it could do."""
    return sys.platform == "linux" and (os.cpu_count() or 1) > 1 and items >= MIN_ITEMS


class Helper:
    """The forked helper and the two pipes to it (tasks out, answers back)."""

    def __init__(self, work: Callable[[bytes], bytes]) -> None:
        task_read, task_write = os.pipe()
        answer_read, answer_write = os.pipe()
        _widen(task_write)
        _widen(answer_write)
        try:
            pid = os.fork()
        except OSError:
            for fd in (task_read, task_write, answer_read, answer_write):
                os.close(fd)
            raise
        if pid == 0:
            os.close(task_write)
            os.close(answer_read)
            _serve(work, task_read, answer_write)  # never returns
        os.close(task_read)
        os.close(answer_write)
        self.pid = pid
        self._tasks: BinaryIO = os.fdopen(task_write, "wb")
        self._answers = answer_read
        self._buffer = bytearray()
        # poll, not select: select cannot watch a descriptor numbered above 1023.
        self._poller = select.poll()
        self._poller.register(answer_read, select.POLLIN)

    def ask(self, tasks: list[bytes]) -> None:
        """Send one batch of tasks."""
        frames = [LENGTH.pack(len(tasks))]
        for task in tasks:
            frames += (LENGTH.pack(len(task)), task)
        self._tasks.write(b"".join(frames))
        self._tasks.flush()

    def answers(self, count: int) -> list[bytes]:
        """The answers to the oldest batch asked for (COUNT tasks)."""
        return [self._read(LENGTH.unpack(self._read(LENGTH.size))[0]) for _ in range(count)]

    def _read(self, length: int) -> bytes:
        """LENGTH bytes of answers; EOFError when the helper is gone or has sent nothing
        for STALLED_S (it is then killed)."""
        while len(self._buffer) < length:
            ready = self._poller.poll(STALLED_S * 1000)
            piece = os.read(self._answers, 1 << 20) if ready else b""
            if not piece:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                raise EOFError("the helper process stopped")
            self._buffer += piece
        data = bytes(self._buffer[:length])
        del self._buffer[:length]
        return data

    def close(self) -> None:
        """Stop the helper (it exits at the end of its tasks) and wait for it."""
        with contextlib.suppress(OSError):
            self._tasks.close()
        with contextlib.suppress(OSError):
            os.close(self._answers)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def in_order(
    items: Iterable[T],
    helped: int,
    task_of: Callable[[T], bytes | None],
    work: Callable[[bytes], bytes],
    result_of: Callable[[T, bytes], R | None],
) -> Generator[tuple[T, R | None], None, None]:
    """ITEMS in their order, each with the helper's result for it, or None: the caller
    does that one itself. TASK_OF(item) is the task to send (None: not for the helper);
    WORK runs in the helper; RESULT_OF(item, answer) reads a non-empty answer. HELPED: how
    many items the helper could do (no helper below MIN_ITEMS, or off Linux)."""
    if not worth_it(helped):
        yield from ((item, None) for item in items)
        return
    helper: Helper | None = None
    with contextlib.suppress(OSError):  # no fork (no memory, too many processes): no help
        helper = Helper(work)
    pending: deque[Batch[T]] = deque()
    batch: Batch[T] = []
    try:
        for item in _errors_last(items):
            if isinstance(item, _Raised):
                # The items' own error comes after everything before it, as without help.
                if batch:
                    helper, batch = _asked(helper, batch, pending), []
                while pending:
                    helper = yield from _answered(helper, pending.popleft(), result_of)
                raise item.error
            task = task_of(item) if helper is not None else None
            if task is not None:
                batch.append((item, task))
                if len(batch) == BATCH:
                    helper, batch = _asked(helper, batch, pending), []
                while len(pending) > IN_FLIGHT:
                    helper = yield from _answered(helper, pending.popleft(), result_of)
                continue
            # Not for the helper: everything before it first, so the order is kept.
            if batch:
                helper, batch = _asked(helper, batch, pending), []
            while pending:
                helper = yield from _answered(helper, pending.popleft(), result_of)
            yield item, None
        if batch:
            helper = _asked(helper, batch, pending)
        while pending:
            helper = yield from _answered(helper, pending.popleft(), result_of)
    finally:
        if helper is not None:
            helper.close()


Batch = list[tuple[T, bytes]]  # items with their tasks


def _widen(pipe_fd: int) -> None:
    """Grow the pipe's buffer to PIPE_BYTES where Linux allows it (the system's limit may be
    lower: the pipe then keeps its size, which only costs speed)."""
    with contextlib.suppress(OSError, AttributeError):
        import fcntl

        fcntl.fcntl(pipe_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


@dataclass(frozen=True)
class _Raised:
    error: Exception


def _errors_last(items: Iterable[T]) -> Iterator[T | _Raised]:
    """ITEMS, then the error that ended them, if one did, as an item (so that the items
    before it are finished first)."""
    try:
        yield from items
    except Exception as exc:
        yield _Raised(exc)


def _asked(helper: Helper | None, batch: Batch[T], pending: deque[Batch[T]]) -> Helper | None:
    """Ask for BATCH (it joins PENDING either way); None once the helper is gone."""
    pending.append(batch)
    if helper is None:
        return None
    try:
        helper.ask([task for _item, task in batch])
    except OSError:
        helper.close()
        return None
    return helper


def _answered(
    helper: Helper | None,
    batch: Batch[T],
    result_of: Callable[[T, bytes], R | None],
) -> Generator[tuple[T, R | None], None, Helper | None]:
    """BATCH's items with the helper's results (None: it could not, it is gone, or it was
    not asked); returns the helper, or None once it is gone."""
    answers = [b""] * len(batch)
    if helper is not None:
        try:
            answers = helper.answers(len(batch))
        except (OSError, EOFError):
            helper.close()
            helper = None
    for (item, _task), answer in zip(batch, answers, strict=True):
        yield item, (result_of(item, answer) if answer else None)
    return helper


def _exactly(stream: BinaryIO, length: int) -> bytes:
    data = stream.read(length)
    if len(data) != length:
        raise EOFError("the parent stopped")
    return data


def _serve(work: Callable[[bytes], bytes], task_fd: int, answer_fd: int) -> None:
    """The helper: answer each task, in order, until the parent closes the pipe."""
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with os.fdopen(task_fd, "rb") as tasks, os.fdopen(answer_fd, "wb") as answers:
            while head := tasks.read(LENGTH.size):
                (count,) = LENGTH.unpack(head)
                frames: list[bytes] = []
                for _ in range(count):
                    (length,) = LENGTH.unpack(_exactly(tasks, LENGTH.size))
                    answer = work(_exactly(tasks, length))
                    frames += (LENGTH.pack(len(answer)), answer)
                answers.write(b"".join(frames))
                answers.flush()
    except BaseException:  # the parent went away, or anything else: the parent carries on
        status = 1
    finally:
        os._exit(status)
