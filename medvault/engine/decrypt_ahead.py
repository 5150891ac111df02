"""Small files decrypted ahead by a second process, for an extract of many small files.

Each small file costs about 100 us of Python crypto calls (key unwrap, key derivation,
header and payload authentication, SHA-256), and cryptography holds the GIL for buffers
this small, so threads cannot share the work. On Linux with a spare core, an extract of
many small files forks one helper that reads and decrypts them in listing order with the
very function extract uses (entry_reading.stream_entry: nothing unauthenticated leaves
it) and sends each plaintext back through a pipe, while the parent names and writes the
files. The helper only saves time, it never decides: for a file it could not decrypt (a
damaged entry, a pack a compact moved, a read error) it sends no plaintext, and the parent
extracts that file itself, the usual way, which reports what is wrong as it always has.

The helper writes nothing but the pipe: plaintext stays in memory and in the kernel's pipe
buffer, never in a file. It ignores Ctrl-C (the parent stops it by closing the pipe) and
exits when the parent does. Messages are fixed binary frames, not pickles. Linux only:
macOS frameworks are not safe to fork, and Windows has no fork.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import struct
import sys
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from medvault.engine.catalog import Located
from medvault.engine.entry_reading import ReaderCache, stream_entry
from medvault.engine.session import UnlockedVault
from medvault.format import entry as efmt

BATCH = 32  # files a message asks for: a few batches of tasks fit in a pipe's buffer
IN_FLIGHT = 3  # batches asked for before the oldest one's answers are read
MIN_FILES = 64  # fewer small files than this: the fork costs more than it saves
# A helper that answers nothing for this long is stopped and the parent goes on alone
# (a helper stuck on a lock another thread held when it was forked must not hang extract).
STALLED_S = 60.0
TASK = struct.Struct(">16sQII")  # file id, offset, header length, payload length
ANSWER = struct.Struct(">B32sqI")  # decrypted?, SHA-256, mtime_ns, plaintext length
DONE = 1


@dataclass(frozen=True)
class Decrypted:
    """A file's whole plaintext, authenticated, with what its metadata says of it."""

    plaintext: bytes
    sha256: str
    mtime_ns: int


def worth_it(small_files: int) -> bool:
    """Whether to fork a helper for an extract of SMALL_FILES small files."""
    return sys.platform == "linux" and (os.cpu_count() or 1) > 1 and small_files >= MIN_FILES


class Helper:
    """The forked helper and the two pipes to it (tasks out, answers back)."""

    def __init__(self, vault: UnlockedVault) -> None:
        task_read, task_write = os.pipe()
        answer_read, answer_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(task_write)
            os.close(answer_read)
            _serve(vault, task_read, answer_write)  # never returns
        os.close(task_read)
        os.close(answer_write)
        self.pid = pid
        self._tasks: BinaryIO = os.fdopen(task_write, "wb")
        self._answers = answer_read
        self._buffer = bytearray()

    def ask(self, batch: list[Located]) -> None:
        """Send one batch of tasks (all of BATCH's entries from one message)."""
        frames = [struct.pack(">H", len(batch))]
        for loc in batch:
            frames.append(struct.pack(">B", len(loc.pack.encode())) + loc.pack.encode())
            frames.append(
                TASK.pack(bytes.fromhex(loc.file_id), loc.offset, loc.header_len, loc.payload_len)
            )
        self._tasks.write(b"".join(frames))
        self._tasks.flush()

    def answers(self, count: int) -> list[Decrypted | None]:
        """The answers to the oldest batch asked for (COUNT files). OSError or EOFError
        when the helper is gone."""
        out: list[Decrypted | None] = []
        for _ in range(count):
            done, sha256, mtime_ns, length = ANSWER.unpack(self._read(ANSWER.size))
            plaintext = self._read(length) if done == DONE else b""
            out.append(Decrypted(plaintext, sha256.hex(), mtime_ns) if done == DONE else None)
        return out

    def _read(self, length: int) -> bytes:
        """LENGTH bytes of answers; EOFError when the helper is gone or has sent nothing
        for STALLED_S (it is then stopped: the parent does the rest itself)."""
        while len(self._buffer) < length:
            ready, _, _ = select.select([self._answers], [], [], STALLED_S)
            piece = os.read(self._answers, 1 << 20) if ready else b""
            if not piece:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                raise EOFError("the decrypting helper stopped")
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


def decrypted_in_order(
    vault: UnlockedVault, items: Iterable[tuple[Located, Path]], small_files: int, limit: int
) -> Iterator[tuple[Located, Path, Decrypted | None]]:
    """ITEMS in their order, each with its plaintext when the helper decrypted it (files of
    at most LIMIT bytes, when SMALL_FILES of them make a helper worth it), else None: the
    caller extracts those itself."""
    if not worth_it(small_files):
        yield from ((loc, target, None) for loc, target in items)
        return
    helper: Helper | None = Helper(vault)
    pending: deque[list[tuple[Located, Path]]] = deque()
    batch: list[tuple[Located, Path]] = []
    try:
        for loc, target in items:
            if helper is not None and loc.size <= limit:
                batch.append((loc, target))
                if len(batch) == BATCH:
                    helper, batch = _asked(helper, batch, pending), []
                while len(pending) > IN_FLIGHT:
                    helper = yield from _answered(helper, pending.popleft())
                continue
            # A large file, or the helper is gone: everything before it first, in order.
            if batch:
                helper, batch = _asked(helper, batch, pending), []
            while pending:
                helper = yield from _answered(helper, pending.popleft())
            yield loc, target, None
        if batch:
            helper = _asked(helper, batch, pending)
        while pending:
            helper = yield from _answered(helper, pending.popleft())
    finally:
        if helper is not None:
            helper.close()


Items = deque[list[tuple[Located, Path]]]


def _asked(
    helper: Helper | None, batch: list[tuple[Located, Path]], pending: Items
) -> Helper | None:
    """Ask for BATCH (it joins PENDING either way); None once the helper is gone."""
    pending.append(batch)
    if helper is None:
        return None
    try:
        helper.ask([loc for loc, _target in batch])
    except OSError:
        helper.close()
        return None
    return helper


def _answered(
    helper: Helper | None, batch: list[tuple[Located, Path]]
) -> Generator[tuple[Located, Path, Decrypted | None], None, Helper | None]:
    """BATCH's files with the helper's answers (None: the helper is gone, or was not
    asked); returns the helper, or None once it is gone (the rest is done in-process)."""
    answers: list[Decrypted | None] = [None] * len(batch)
    if helper is not None:
        try:
            answers = helper.answers(len(batch))
        except (OSError, EOFError):
            helper.close()
            helper = None
    for (loc, target), answer in zip(batch, answers, strict=True):
        yield loc, target, answer
    return helper


def _exactly(stream: BinaryIO, length: int) -> bytes:
    data = stream.read(length)
    if len(data) != length:
        raise EOFError("the decrypting helper stopped")
    return data


def _serve(vault: UnlockedVault, task_fd: int, answer_fd: int) -> None:
    """The helper: answer each task, in order, until the parent closes the pipe."""
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        readers = ReaderCache(vault)
        with os.fdopen(task_fd, "rb") as tasks, os.fdopen(answer_fd, "wb") as answers:
            while head := tasks.read(2):
                (count,) = struct.unpack(">H", head)
                frames = [_answer(vault, readers, _task(tasks)) for _ in range(count)]
                answers.write(b"".join(frames))
                answers.flush()
    except BaseException:  # the parent went away, or anything else: the parent carries on
        status = 1
    finally:
        os._exit(status)


def _task(tasks: BinaryIO) -> Located:
    (length,) = struct.unpack(">B", _exactly(tasks, 1))
    pack = _exactly(tasks, length).decode()
    file_id, offset, header_len, payload_len = TASK.unpack(_exactly(tasks, TASK.size))
    return Located(file_id.hex(), pack, offset, header_len, payload_len, int(efmt.Kind.FILE))


def _answer(vault: UnlockedVault, readers: ReaderCache, loc: Located) -> bytes:
    pieces: list[bytes] = []
    try:
        meta = stream_entry(vault, readers.get(loc.pack), loc, lambda d: pieces.append(bytes(d)))
    except Exception:  # the parent extracts this one itself, and says what is wrong
        readers.drop(loc.pack)
        return ANSWER.pack(0, bytes(32), 0, 0)
    plaintext = b"".join(pieces)
    return ANSWER.pack(DONE, bytes.fromhex(meta.sha256), meta.mtime_ns, len(plaintext)) + plaintext
