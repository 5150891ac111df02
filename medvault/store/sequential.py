"""Large files written front to back in big aligned blocks, past the page cache where the
file system is known to allow it (O_DIRECT).

Everything medvault writes in bulk (packs, extracted files) is written once, front to back,
and fsynced before anyone relies on it, so keeping it in the page cache buys nothing. It
costs a lot: on this class of machine putting a gigabyte through the page cache took 2.3 s
of kernel time, against 0.5 s for the same gigabyte written with O_DIRECT and fsynced
(bench/results/peers.md), and on a USB stick a page cache full of dirty data is what makes
a copy look finished long before it is. Blocks are handed to a writer thread (the write
system call releases the GIL), so the device works while the caller encrypts the next block,
and the final fsync has almost nothing left to do.

Only whole BLOCKs at block-aligned offsets from page-aligned buffers (anonymous mmap) go
out with O_DIRECT; the tail goes through the page cache with O_DIRECT cleared. Nothing
already written is ever written again (fusefat loses a file extended after a seek back).
File systems not in DIRECT_FILESYSTEMS (FUSE drivers, tmpfs, network file systems) get
the same class through the page cache; a write that O_DIRECT refuses with EINVAL falls
back to that too.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

from medvault.store import io_points
from medvault.store.fsio import filesystem_type, fsync_ignored
from medvault.store.io_points import reached

# 512 KiB: as fast as 1 or 4 MiB here (dd O_DIRECT, and 1 GiB add/extract alternating), and
# every buffer a large add or extract holds is one (issue 23, goal 5: peak memory).
BLOCK = 512 * 1024
BUFFERS = 3  # one being filled, two queued for or being written
# A read ahead needs less: reading is several times faster than what consumes it.
READ_BUFFERS = 2  # one being consumed, one being filled
# Kernel file systems whose O_DIRECT path takes aligned block writes (fusefat and
# exfat-fuse are FUSE: their direct I/O would turn every write into small requests).
DIRECT_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "vfat", "msdos", "exfat", "f2fs"})
# Of those, the ones where a block may be written after the blocks past it (leave_hole) at no
# cost: FAT and exFAT have no sparse files, so writing past a gap first writes zeros into it.
HOLE_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "f2fs"})
O_DIRECT = getattr(os, "O_DIRECT", 0)
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


class SequentialWriter:
    """A file being written front to back; `close()` (or `fsync()`) writes what is left.

    OSError from the writer thread is raised by the next call that hands it a block, or by
    `close`/`fsync`, so the caller's error mapping (fsio.media_errors) sees it as if the
    write had been made in its own thread.
    """

    def __init__(self, path: Path, mode: int = 0o666, exclusive: bool = False) -> None:
        reached(io_points.CREATE, path)
        flags = CREATE_FLAGS | (os.O_EXCL if exclusive else 0)
        self.path = path
        self._fd = os.open(path, flags, mode)
        self.position = 0  # bytes accepted so far
        self._flushed = 0  # bytes handed to the writer (always a multiple of BLOCK)
        self._direct = False
        self._takes_holes = False
        try:
            kind = filesystem_type(os.fstat(self._fd).st_dev)
            if O_DIRECT and kind in DIRECT_FILESYSTEMS:
                self._direct = _set_direct(self._fd, True)
                self._takes_holes = self._direct and kind in HOLE_FILESYSTEMS
        except OSError:
            self._direct = False
        self._buffers = [mmap.mmap(-1, BLOCK) for _ in range(BUFFERS)]
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(1, BUFFERS):
            self._free.put(index)
        self._current = 0
        self._fill = 0
        self._todo: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._failure: OSError | None = None
        self._failed = False  # a write failed: nothing more goes to this file
        self._hole: tuple[int, int] | None = None  # (start, length) left by leave_hole
        self._held: list[tuple[int, int]] = []  # (buffer, offset): blocks kept for the hole

    @property
    def direct(self) -> bool:
        """Whether whole blocks bypass the page cache."""
        return self._direct

    @property
    def takes_holes(self) -> bool:
        """Whether `leave_hole` may be used: the direct path, on a HOLE_FILESYSTEMS one."""
        return self._takes_holes and self._direct

    def fileno(self) -> int:
        return self._fd

    def write(self, data: bytes | memoryview) -> None:
        reached(io_points.WRITE, self.path)
        self._refuse_if_failed()
        view = memoryview(data).cast("B")
        while len(view):
            room = BLOCK - self._fill
            n = min(room, len(view))
            self._buffers[self._current][self._fill : self._fill + n] = view[:n]
            self._fill += n
            self.position += n
            view = view[n:]
            if self._fill == BLOCK:
                self._hand_over()

    def leave_hole(self, length: int) -> None:
        """Write LENGTH placeholder bytes here whose contents come later (`fill_hole`): the
        block or two holding them are kept back and written once filled; the blocks after
        them go out as usual. Only where `takes_holes`: fusefat loses a file written so
        (docs/RELIABILITY.md), and FAT and exFAT would write zeros into the gap first."""
        if not self.takes_holes or self._hole is not None or not 0 < length <= BLOCK:
            raise ValueError("no hole here: not a HOLE_FILESYSTEMS one, one at a time, <= BLOCK")
        self._hole = (self.position, length)
        self.write(bytes(length))

    def fill_hole(self, data: bytes) -> None:
        """The contents of the hole `leave_hole` left; its blocks are handed over now."""
        reached(io_points.WRITE, self.path)
        self._refuse_if_failed()
        if self._hole is None or len(data) != self._hole[1]:
            raise ValueError("no hole of that length to fill")
        start = self._hole[0]
        for index, offset in [*self._held, (self._current, self._flushed)]:
            low, high = max(start, offset), min(start + len(data), offset + BLOCK)
            if low < high:
                block = self._buffers[index]
                block[low - offset : high - offset] = data[low - start : high - start]
        self._hole = None
        held, self._held = self._held, []
        for job in held:
            self._queue(job)
        self._raise_failure()

    def _hand_over(self) -> None:
        self._raise_failure()
        hole = self._hole
        if hole is not None and self._flushed < hole[0] + hole[1]:
            # A block of the hole: kept, and a new buffer takes its place in the pool.
            self._held.append((self._current, self._flushed))
            self._buffers.append(mmap.mmap(-1, BLOCK))
            self._current = len(self._buffers) - 1
        else:
            self._queue((self._current, self._flushed))
            self._current = self._free.get()
        self._flushed += BLOCK
        self._fill = 0
        self._raise_failure()

    def _queue(self, job: tuple[int, int]) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._write_all, name="medvault-write")
            self._thread.daemon = True
            self._thread.start()
        self._todo.put(job)

    def _write_all(self) -> None:
        failed = False  # after a failure, queued blocks are only given back
        while (job := self._todo.get()) is not None:
            index, offset = job
            if not failed:
                try:
                    with memoryview(self._buffers[index]) as block:
                        self._write_block(block, offset)
                except OSError as exc:
                    self._failure, failed = exc, True
            self._free.put(index)

    def _write_block(self, block: memoryview, offset: int) -> None:
        try:
            pwrite_all(self._fd, block, offset)
        except OSError as exc:
            if not (self._direct and exc.errno == errno.EINVAL):
                raise
            # The file system took the flag but not the I/O: through the page cache then.
            self._direct = _set_direct(self._fd, False)
            pwrite_all(self._fd, block, offset)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            self._failed = True
            raise failure

    def _refuse_if_failed(self) -> None:
        """After a failed write the file has a hole: nothing more may be written or fsynced
        as if it were whole."""
        if self._failed:
            raise OSError(errno.EIO, f"an earlier write to {self.path.name} failed")

    def _drain(self) -> None:
        """Wait until every block handed over is written."""
        self._stop_thread()
        self._raise_failure()

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._todo.put(None)
            self._thread.join()
            self._thread = None

    def _write_tail(self) -> None:
        if self._hole is not None:
            raise ValueError("a hole was left unfilled: the file is not whole")
        self._drain()
        if self._fill:
            if self._direct:
                self._direct = _set_direct(self._fd, False)  # the tail is not whole blocks
            with memoryview(self._buffers[self._current])[: self._fill] as tail:
                pwrite_all(self._fd, tail, self._flushed)
            self._flushed += self._fill
            self._fill = 0

    def fsync(self) -> None:
        """Write what is left and make the whole file durable."""
        reached(io_points.FSYNC, self.path)
        self._refuse_if_failed()
        self._write_tail()
        os.fsync(self._fd)
        if fsync_ignored(os.fstat(self._fd).st_dev):
            os.sync()

    def close(self) -> None:
        """Write what is left (no fsync) and close the file."""
        if self._fd < 0:
            return
        try:
            if not self._failed:
                self._write_tail()
        finally:
            self._stop_thread()
            self._release()

    def abort(self) -> None:
        """Stop without writing the rest; never raises (it runs while handling an error)."""
        self._stop_thread()
        self._failure = None
        self._release()

    def _release(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):  # a drive gone answers close with ENOTCONN
                os.close(fd)
        for buffer in self._buffers:
            # A view still held by a traceback keeps its buffer until it is collected.
            with contextlib.suppress(BufferError):
                buffer.close()
        self._buffers = []

    def __enter__(self) -> SequentialWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _set_direct(fd: int, on: bool) -> bool:
    try:
        import fcntl
    except ImportError:  # a platform without fcntl (Windows): page-cache writes only
        return False

    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, (flags | O_DIRECT) if on else (flags & ~O_DIRECT))
    return on


def pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    # lseek + write rather than pwrite: only one thread writes at a time (the caller's
    # waits for the writer's), and pyfakefs, which the failure tests use, has no pwrite.
    os.lseek(fd, offset, os.SEEK_SET)
    while len(view):
        n = os.write(fd, view)
        if n <= 0:  # pragma: no cover - write reports a failure as OSError
            raise OSError(errno.EIO, "short write")
        view = view[n:]


class DirectRangeReader:
    """LENGTH bytes of a file from START, read ahead on a thread in big aligned blocks with
    O_DIRECT, handed out in order as views: a large payload read once is not copied into
    the page cache (which on this class of machine cost more than decrypting it). Made by
    `direct_range`, only where the file system is known to allow it.

    A view is valid until the next one is asked for. Fewer bytes than LENGTH means the file
    is shorter (the caller decides what that means).
    """

    def __init__(self, fd: int, start: int, length: int) -> None:
        self._fd, self._start, self._length = fd, start, length
        self._buffers = [mmap.mmap(-1, BLOCK) for _ in range(READ_BUFFERS)]
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(READ_BUFFERS):
            self._free.put(index)
        self._ready: queue.SimpleQueue[tuple[int, int, int] | OSError | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._held: int | None = None
        self._thread = threading.Thread(target=self._read_all, name="medvault-read", daemon=True)
        self._thread.start()

    def _read_all(self) -> None:
        # Aligned reads from the page holding START; the first view skips the head.
        position = self._start - self._start % mmap.PAGESIZE
        end = self._start + self._length
        try:
            while position < end and not self._stop.is_set():
                index = self._free.get()
                if self._stop.is_set():
                    break
                want = -(-min(BLOCK, end - position) // mmap.PAGESIZE) * mmap.PAGESIZE
                got = _read_into(self._fd, self._buffers[index], want, position)
                skip = max(0, self._start - position)
                usable = max(0, min(got, end - position) - skip)
                self._ready.put((index, skip, usable))
                position += got
                if got < want:
                    break  # end of file
        except OSError as exc:
            self._ready.put(exc)
        self._ready.put(None)

    def blocks(self) -> Iterator[memoryview]:
        while True:
            if self._held is not None:
                self._free.put(self._held)
                self._held = None
            item = self._ready.get()
            if item is None:
                return
            if isinstance(item, OSError):
                raise item
            index, skip, usable = item
            self._held = index
            if usable:
                yield memoryview(self._buffers[index])[skip : skip + usable]

    def close(self) -> None:
        self._stop.set()
        for index in range(READ_BUFFERS):  # wake the thread if it waits for a buffer
            self._free.put(index)
        self._thread.join()
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def __enter__(self) -> DirectRangeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def direct_range(fd: int, start: int, length: int) -> DirectRangeReader | None:
    """A DirectRangeReader over a second descriptor of FD's file opened with O_DIRECT (the
    flag belongs to the open file, so FD keeps its buffered reads), or None where O_DIRECT
    is not known to work there."""
    try:
        if not O_DIRECT or filesystem_type(os.fstat(fd).st_dev) not in DIRECT_FILESYSTEMS:
            return None
        direct = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | O_DIRECT | os.O_CLOEXEC)
    except OSError:
        return None
    return DirectRangeReader(direct, start, length)


def _read_into(fd: int, buffer: mmap.mmap, want: int, position: int) -> int:
    """Read up to WANT bytes at POSITION into BUFFER; fewer only at the end of the file."""
    got = 0
    with memoryview(buffer) as view:
        while got < want:
            n = os.preadv(fd, [view[got:want]], position + got)
            if n <= 0:
                break
            got += n
    return got
