"""A forked helper process that does per-file crypto ahead of the parent, in order.

Each small file costs tens of microseconds of Python crypto calls, and cryptography holds
the GIL for buffers this small, so threads cannot share the work. On Linux with a spare
core, a command with many small files forks one helper: the parent sends it tasks (bytes)
in order, the helper answers each with WORK(task) (bytes; b"" when it could not), and the
parent takes the answers in the same order while it does the rest. The helper only saves
time, it never decides: an item it did not or could not do (no task for it, an empty
answer, the helper gone) is done by the parent itself, the usual way, in its place.

Where WORK keeps nothing open between tasks (add's sealing), the parent may also run WORK
itself for the last items of a batch (before it waits for the helper's answers to the
first ones), more of each batch while it finds itself waiting for the helper: the two
processes then share the work in whatever proportion keeps both busy (the helper is the
slower side of an add of small files, the parent of an extract). An error the parent's
share raises comes in its place, after every item before it.

The helper writes nothing but its pipe. It ignores Ctrl-C (the parent stops it by closing
the pipe), runs none of the caller's signal handlers and never returns into the caller's
code, and exits when the parent does; one that answers nothing for STALLED_S (stuck on
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
from typing import BinaryIO, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
BATCH = 32  # tasks in one message: a few batches fit in a pipe's buffer
# Batches asked for before the oldest one's answers are read: deep enough that the parent's
# pauses (a commit's fsyncs) do not leave the helper idle.
IN_FLIGHT = 8
MAX_SHARE = BATCH // 2  # at most this many items of a batch run WORK in the parent
MIN_ITEMS = 64  # fewer items than this for the helper: the fork costs more than it saves
# A helper that answers nothing for this long is stopped and the parent goes on alone.
STALLED_S = 60.0
LENGTH = struct.Struct(">I")
# Pipe buffers this large let the helper work a few batches ahead of the parent; with the
# default 64 KiB, one batch of 4 KiB answers filled it and the helper waited for the parent.
PIPE_BYTES = 1 << 20
READ_BYTES = 1 << 16  # os.read allocates this much whatever comes: the pipe is read in small pieces


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
        # Signals wait until each process is ready for them: a Ctrl-C or SIGTERM landing
        # just after the fork ran the caller's handler in the child, whose exception then
        # unwound the caller's code there, a second copy of the command.
        callers_mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, callers_mask)
            for fd in (task_read, task_write, answer_read, answer_write):
                os.close(fd)
            raise
        if pid == 0:
            try:
                os.close(task_write)
                os.close(answer_read)
                _leave_the_callers_signals(callers_mask)
                _serve(work, task_read, answer_write)
            finally:
                os._exit(1)  # whatever happened, the child never returns into the caller's code
        try:
            os.close(task_read)
            os.close(answer_write)
            self.pid = pid
            self._tasks: BinaryIO = os.fdopen(task_write, "wb")
            self._answers = answer_read
            self._buffer = bytearray()
            # poll, not select: select cannot watch a descriptor numbered above 1023.
            self._poller = select.poll()
            self._poller.register(answer_read, select.POLLIN)
        finally:
            # Whatever happened, this process takes signals again; one that came meanwhile
            # is handled here (if its handler raises, the Helper is dropped: the pipe to the
            # helper closes and the helper exits).
            signal.pthread_sigmask(signal.SIG_SETMASK, callers_mask)

    def ask(self, tasks: list[bytes]) -> None:
        """Send one batch of tasks."""
        frames = [LENGTH.pack(len(tasks))]
        for task in tasks:
            frames += (LENGTH.pack(len(task)), task)
        self._tasks.write(b"".join(frames))
        self._tasks.flush()

    def ready(self) -> bool:
        """Whether some of the next answers are here already (the helper is not behind)."""
        return bool(self._buffer) or bool(self._poller.poll(0))

    def answers(self, count: int) -> list[bytes]:
        """The answers to the oldest batch asked for (COUNT tasks)."""
        return [self._read(LENGTH.unpack(self._read(LENGTH.size))[0]) for _ in range(count)]

    def _read(self, length: int) -> bytes:
        """LENGTH bytes of answers; EOFError when the helper is gone or has sent nothing
        for STALLED_S (it is then killed)."""
        while len(self._buffer) < length:
            ready = self._poller.poll(STALLED_S * 1000)
            piece = os.read(self._answers, READ_BYTES) if ready else b""
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
    share: bool = False,
) -> Generator[tuple[T, R | None], None, None]:
    """ITEMS in their order, each with the helper's result for it, or None: the caller
    does that one itself. TASK_OF(item) is the task to send (None: not for the helper);
    WORK runs in the helper (and, with SHARE, in the parent for its share: see the module
    doc); RESULT_OF(item, answer) reads a non-empty answer. HELPED: how many items the
    helper could do (no helper below MIN_ITEMS, or off Linux)."""
    if not worth_it(helped):
        yield from ((item, None) for item in items)
        return
    helper: Helper | None = None
    with contextlib.suppress(OSError):  # no fork (no memory, too many processes): no help
        helper = Helper(work)
    flow = _Flow(helper, work, result_of, share)
    batch: list[tuple[T, bytes]] = []
    try:
        for item in _errors_last(items):
            if isinstance(item, _Raised):
                # The items' own error comes after everything before it, as without help.
                batch = flow.ask(batch)
                yield from flow.drain(0)
                raise item.error
            task = task_of(item) if flow.helper is not None else None
            if task is not None:
                batch.append((item, task))
                if len(batch) == BATCH:
                    batch = flow.ask(batch)
                yield from flow.drain(IN_FLIGHT)
                continue
            # Not for the helper: everything before it first, so the order is kept.
            batch = flow.ask(batch)
            yield from flow.drain(0)
            yield item, None
        flow.ask(batch)
        yield from flow.drain(0)
    finally:
        if flow.helper is not None:
            flow.helper.close()


@dataclass
class _Batch(Generic[T]):
    """Items with their tasks; the helper was asked for those before `local`, the parent
    runs WORK for the rest itself."""

    tasks: list[tuple[T, bytes]]
    local: int


class _Flow(Generic[T, R]):
    """The batches asked for and not yet answered, oldest first, and how many items of
    each the parent takes on (more while it waits for the helper, fewer while the
    helper's answers are there when it looks)."""

    def __init__(
        self,
        helper: Helper | None,
        work: Callable[[bytes], bytes],
        result_of: Callable[[T, bytes], R | None],
        share: bool,
    ) -> None:
        self.helper = helper
        self.work = work
        self.result_of = result_of
        self.share = share
        self.taken = 0  # items of each batch the parent runs WORK for
        # Batches still to drain that were asked for before `taken` last changed: they
        # say nothing of the change, so it is judged only once they are through.
        self.settling = 0
        self.calm = 0  # batches in a row whose answers were there when looked for
        self.pending: deque[_Batch[T]] = deque()

    def ask(self, tasks: list[tuple[T, bytes]]) -> list[tuple[T, bytes]]:
        """Ask for TASKS (if any; they join the pending batches either way); returns a
        new empty batch."""
        if not tasks:
            return tasks
        local = len(tasks) - min(self.taken, len(tasks) - 1) if self.share else len(tasks)
        self.pending.append(_Batch(tasks, local))
        if self.helper is not None:
            try:
                self.helper.ask([task for _item, task in tasks[:local]])
            except OSError:
                self._gone()
        return []

    def drain(self, keep: int) -> Generator[tuple[T, R | None], None, None]:
        """Answer the oldest batches until KEEP are left pending."""
        while len(self.pending) > keep:
            yield from self._answered(self.pending.popleft())

    def _answered(self, batch: _Batch[T]) -> Generator[tuple[T, R | None], None, None]:
        """BATCH's items with their results (None: the helper could not, is gone, or was
        not asked)."""
        asked = batch.tasks[: batch.local]
        answers = [b""] * len(asked)
        # The parent's share of the batch is done first, while the helper may still be on
        # the batch's first part, rather than after waiting for it; yielded in its place.
        mine = [(item, self._ahead(task, item)) for item, task in batch.tasks[batch.local :]]
        if self.helper is not None:
            if self.share:
                self._rebalance(behind=not self.helper.ready())
            try:
                answers = self.helper.answers(len(asked))
            except (OSError, EOFError):
                self._gone()
        for (item, _task), answer in zip(asked, answers, strict=True):
            yield item, (self.result_of(item, answer) if answer else None)
        for item, result in mine:
            if isinstance(result, _Raised):
                raise result.error  # in its place: everything before it comes first
            yield item, result

    def _rebalance(self, behind: bool) -> None:
        """Take more of each batch when the helper is behind; less only after more batches
        in a row than are in flight found it ahead: the parent's own pauses (a commit's
        fsyncs) let it get ahead by at most that many, which says nothing of its speed.
        Each change is judged once the batches asked for before it are through."""
        self.calm = 0 if behind else self.calm + 1
        if self.settling:
            self.settling -= 1
        elif behind and self.taken < MAX_SHARE:
            self.taken, self.settling = min(self.taken + 2, MAX_SHARE), IN_FLIGHT
        elif self.calm > IN_FLIGHT and self.taken:
            self.taken, self.settling, self.calm = self.taken - 1, IN_FLIGHT, 0

    def _ahead(self, task: bytes, item: T) -> R | _Raised | None:
        try:
            return self._here(task, item)
        except Exception as exc:
            return _Raised(exc)

    def _here(self, task: bytes, item: T) -> R | None:
        answer = self.work(task)  # as the helper would; b"": the caller does it the usual way
        return self.result_of(item, answer) if answer else None

    def _gone(self) -> None:
        if self.helper is not None:
            self.helper.close()
            self.helper = None


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


def _widen(pipe_fd: int) -> None:
    """Grow the pipe's buffer to PIPE_BYTES where Linux allows it (the system's limit may be
    lower: the pipe then keeps its size, which only costs speed)."""
    with contextlib.suppress(OSError, AttributeError):
        import fcntl

        fcntl.fcntl(pipe_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _exactly(stream: BinaryIO, length: int) -> bytes:
    data = stream.read(length)
    if len(data) != length:
        raise EOFError("the parent stopped")
    return data


def _leave_the_callers_signals(callers_mask: Iterable[int]) -> None:
    """In the child, with every signal blocked: none of the caller's handlers runs here
    (the default action instead, and Ctrl-C is ignored), then the caller's mask again."""
    for signum in signal.valid_signals():
        if callable(signal.getsignal(signum)):
            signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, callers_mask)


def _serve(work: Callable[[bytes], bytes], task_fd: int, answer_fd: int) -> None:
    """The helper: answer each task, in order, until the parent closes the pipe."""
    status = 0
    try:
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
