"""SequentialWriter (store/sequential.py) on real files: the bytes on disk, on both the
O_DIRECT path (tmp_path, a kernel file system) and the page-cache path (/dev/shm, tmpfs);
patches, restart, fsync/close/abort, mode and O_EXCL, failures in the writer thread, the
EINVAL fallback and the I/O points it passes."""

from __future__ import annotations

import array
import errno
import fcntl
import os
import queue
import random
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from medvault.store import io_points, sequential
from medvault.store.fsio import filesystem_type
from medvault.store.sequential import BLOCK, DIRECT_FILESYSTEMS, SequentialWriter

WRITER_THREAD = "medvault-write"
# Odd sizes, some far below a block, some just under one, so pieces straddle every boundary.
PIECES = (1, 7, 4093, 65_537, BLOCK - 3, 999_999, 3, BLOCK + 5)
SIZES = [0, 1, 4095, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 12345]

_real_pwrite_all = sequential.pwrite_all
PwriteAll = Callable[[int, memoryview, int], None]


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(size * 7919 + seed).randbytes(size)


def _fs_type(path: Path) -> str:
    return filesystem_type(path.stat().st_dev) or "an unknown file system"


@pytest.fixture
def direct_dir(tmp_path: Path) -> Path:
    """A folder on a file system SequentialWriter writes to with O_DIRECT."""
    if not sequential.O_DIRECT:
        pytest.skip("this platform has no O_DIRECT: the direct path cannot be tested")
    kind = _fs_type(tmp_path)
    if kind not in DIRECT_FILESYSTEMS:
        pytest.skip(f"tmp_path is on {kind}, not in DIRECT_FILESYSTEMS: no direct path here")
    return tmp_path


@pytest.fixture
def buffered_dir() -> Iterator[Path]:
    """A folder on tmpfs (/dev/shm), which SequentialWriter writes through the page cache."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("no writable /dev/shm: the buffered path cannot be tested on tmpfs")
    kind = _fs_type(shm)
    if kind in DIRECT_FILESYSTEMS:
        pytest.skip(f"/dev/shm is on {kind}, which is in DIRECT_FILESYSTEMS")
    with tempfile.TemporaryDirectory(dir=shm, prefix="medvault-test-") as name:
        yield Path(name)


@pytest.fixture(params=["direct", "buffered"])
def where(request: pytest.FixtureRequest) -> tuple[Path, bool]:
    """(folder, whether blocks written there go out with O_DIRECT), for both paths."""
    folder: Path = request.getfixturevalue(f"{request.param}_dir")
    return folder, request.param == "direct"


def _fd_direct(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & sequential.O_DIRECT)


def _assert_mode(writer: SequentialWriter, direct: bool) -> None:
    assert writer.direct is direct
    assert _fd_direct(writer.fileno()) is direct


def _feed(writer: SequentialWriter, data: bytes) -> None:
    """Write DATA in odd-sized pieces, alternately bytes and memoryview slices, checking
    that position counts exactly the bytes accepted."""
    view = memoryview(data)
    start = writer.position
    at = 0
    index = 0
    while at < len(data):
        piece = view[at : at + PIECES[index % len(PIECES)]]
        writer.write(piece if index % 2 else bytes(piece))
        at += len(piece)
        index += 1
        assert writer.position == start + at


def _writer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == WRITER_THREAD and t.is_alive()}


def _threads_left(before: set[threading.Thread], timeout: float = 1.0) -> set[threading.Thread]:
    """Writer threads started since BEFORE that are still alive after waiting TIMEOUT."""
    deadline = time.monotonic() + timeout
    for thread in _writer_threads() - before:
        thread.join(max(0.0, deadline - time.monotonic()))
    return _writer_threads() - before


def _in_writer_thread() -> bool:
    return threading.current_thread().name == WRITER_THREAD


def _fail_in_writer(monkeypatch: pytest.MonkeyPatch, code: int, times: int | None) -> list[int]:
    """Make the writer thread's writes raise OSError(CODE): the first TIMES of them (all if
    None); the others, and all writes from the caller's thread, are made. Returns the list
    of offsets the writer thread was asked to write, failed or not."""
    offsets: list[int] = []

    def pwrite_all(fd: int, view: memoryview, offset: int) -> None:
        if _in_writer_thread():
            offsets.append(offset)
            if times is None or len(offsets) <= times:
                raise OSError(code, os.strerror(code))
        _real_pwrite_all(fd, view, offset)

    monkeypatch.setattr(sequential, "pwrite_all", pwrite_all)
    return offsets


# --- contents --------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=[f"size{s}" for s in SIZES])
def test_contents_are_byte_identical(where: tuple[Path, bool], size: int) -> None:
    folder, direct = where
    path = folder / "out.bin"
    data = _data(size)
    writer = SequentialWriter(path)
    _assert_mode(writer, direct)
    writer.write(b"")
    assert writer.position == 0
    _feed(writer, data)
    # Only whole blocks have gone out so far: the writer is still on the path it chose.
    _assert_mode(writer, direct)
    writer.close()
    assert writer.position == size
    assert writer.fileno() == -1
    assert path.stat().st_size == size
    assert path.read_bytes() == data


def test_memoryview_of_wider_items_is_written_as_its_bytes(where: tuple[Path, bool]) -> None:
    folder, direct = where
    words = array.array("I", range(BLOCK // 4 + 1001))
    path = folder / "words.bin"
    with SequentialWriter(path) as writer:
        _assert_mode(writer, direct)
        writer.write(memoryview(words))
        assert writer.position == len(words) * words.itemsize
    assert path.read_bytes() == words.tobytes()


def test_direct_file_reads_back_after_its_pages_are_dropped(direct_dir: Path) -> None:
    path = direct_dir / "two-blocks.bin"
    data = _data(2 * BLOCK, seed=3)
    writer = SequentialWriter(path)
    _assert_mode(writer, True)
    writer.write(data)
    writer.close()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        read = bytearray()
        while chunk := os.pread(fd, BLOCK, len(read)):
            read += chunk
    finally:
        os.close(fd)
    assert bytes(read) == data


# --- nothing written is written again -------------------------------------------------


def test_a_writer_cannot_patch_what_it_wrote() -> None:
    """fusefat loses a file extended after a seek back or emptied and written
    again, so the writer has no way to write anywhere but at its end."""
    assert not hasattr(SequentialWriter, "pwrite")
    assert not hasattr(SequentialWriter, "restart")


def test_fsync_writes_the_tail(where: tuple[Path, bool]) -> None:
    folder, direct = where
    path = folder / "synced.bin"
    data = _data(BLOCK + 999, seed=11)
    writer = SequentialWriter(path)
    _assert_mode(writer, direct)
    _feed(writer, data)
    writer.fsync()
    # Still open: the whole file, tail included, is there after fsync alone.
    assert os.fstat(writer.fileno()).st_size == len(data)
    assert path.read_bytes() == data
    assert writer.position == len(data)
    writer.close()
    assert path.read_bytes() == data


def test_writing_goes_on_after_fsync(where: tuple[Path, bool]) -> None:
    folder, _ = where
    path = folder / "synced-then-more.bin"
    first, second = _data(BLOCK + 999, seed=12), _data(2 * BLOCK + 5, seed=13)
    writer = SequentialWriter(path)
    _feed(writer, first)
    writer.fsync()
    _feed(writer, second)
    writer.fsync()
    writer.close()
    assert path.read_bytes() == first + second


def test_close_without_fsync_writes_everything(where: tuple[Path, bool]) -> None:
    folder, _ = where
    path = folder / "closed.bin"
    data = _data(2 * BLOCK + 12345, seed=14)
    writer = SequentialWriter(path)
    _feed(writer, data)
    writer.close()
    assert writer.fileno() == -1
    writer.close()  # a second close does nothing
    assert path.read_bytes() == data


def _assert_fd_closed(fd: int, identity: tuple[int, int]) -> None:
    """FD no longer refers to the file with (st_dev, st_ino) IDENTITY: it is closed, or its
    number was reused by something else in the meantime."""
    try:
        now = os.fstat(fd)
    except OSError as exc:
        code = exc.errno
    else:
        assert (now.st_dev, now.st_ino) != identity
        return
    assert code == errno.EBADF


@pytest.mark.parametrize("written", [0, BLOCK // 2, 2 * BLOCK + 3], ids=["empty", "tail", "blocks"])
def test_abort_closes_without_raising(where: tuple[Path, bool], written: int) -> None:
    folder, _ = where
    path = folder / "aborted.bin"
    before = _writer_threads()
    writer = SequentialWriter(path)
    fd = writer.fileno()
    info = os.fstat(fd)
    _feed(writer, _data(written, seed=15))
    writer.abort()
    assert writer.fileno() == -1
    _assert_fd_closed(fd, (info.st_dev, info.st_ino))
    writer.abort()
    writer.close()
    assert writer.fileno() == -1
    assert not _threads_left(before)


def test_close_closes_the_fd_and_the_writer_thread(where: tuple[Path, bool]) -> None:
    folder, _ = where
    before = _writer_threads()
    writer = SequentialWriter(folder / "closed-fd.bin")
    fd = writer.fileno()
    info = os.fstat(fd)
    _feed(writer, _data(2 * BLOCK + 3, seed=16))
    writer.close()
    assert writer.fileno() == -1
    _assert_fd_closed(fd, (info.st_dev, info.st_ino))
    assert not _threads_left(before)


def test_context_manager_closes_or_aborts(where: tuple[Path, bool]) -> None:
    folder, _ = where
    path = folder / "managed.bin"
    data = _data(BLOCK + 3, seed=17)
    with SequentialWriter(path) as writer:
        _feed(writer, data)
    assert writer.fileno() == -1
    assert path.read_bytes() == data

    failed = SequentialWriter(folder / "managed-failed.bin")

    def fail_inside() -> None:
        with failed:
            failed.write(data)
            raise KeyError("caller failed")

    with pytest.raises(KeyError, match="caller failed"):
        fail_inside()
    assert failed.fileno() == -1


# --- mode and O_EXCL -------------------------------------------------------------------


def test_mode_and_exclusive(where: tuple[Path, bool]) -> None:
    folder, direct = where
    path = folder / "private.bin"
    old_umask = os.umask(0)
    try:
        writer = SequentialWriter(path, mode=0o600, exclusive=True)
        plain = SequentialWriter(folder / "plain.bin")
    finally:
        os.umask(old_umask)
    _assert_mode(writer, direct)
    writer.write(b"secret")
    writer.close()
    plain.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "plain.bin").stat().st_mode) == 0o666

    with pytest.raises(FileExistsError):
        SequentialWriter(path, mode=0o600, exclusive=True)
    assert path.read_bytes() == b"secret"  # refused before anything was truncated

    # Without exclusive, an existing file is emptied and rewritten.
    with SequentialWriter(path) as again:
        again.write(b"new")
    assert path.read_bytes() == b"new"


# --- failures in the writer thread -----------------------------------------------------


def _write_and_close(writer: SequentialWriter, data: bytes) -> None:
    writer.write(data)
    writer.close()


@pytest.mark.parametrize("blocks", [1, 3])
@pytest.mark.parametrize("finish", ["close", "abort"])
def test_writer_thread_failure_is_raised(
    where: tuple[Path, bool], monkeypatch: pytest.MonkeyPatch, blocks: int, finish: str
) -> None:
    folder, _ = where
    offsets = _fail_in_writer(monkeypatch, errno.ENOSPC, None)
    writer = SequentialWriter(folder / "full.bin")
    with pytest.raises(OSError, match="No space left") as caught:
        _write_and_close(writer, _data(blocks * BLOCK + 10, seed=18))
    assert caught.value.errno == errno.ENOSPC
    assert offsets  # the failure did come from the writer thread
    assert offsets[0] == 0
    getattr(writer, finish)()  # neither raises the failure a second time
    writer.close()
    writer.abort()
    assert writer.fileno() == -1


def test_writer_thread_failure_is_raised_by_write(
    where: tuple[Path, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With three buffers, handing over the third block waits for the first one back, so a
    failure writing the first block is raised by write() itself, not left for close()."""
    folder, _ = where
    _fail_in_writer(monkeypatch, errno.ENOSPC, None)
    writer = SequentialWriter(folder / "full-early.bin")
    with pytest.raises(OSError, match="No space left") as caught:
        writer.write(_data(3 * BLOCK, seed=19))
    assert caught.value.errno == errno.ENOSPC
    writer.abort()
    assert writer.fileno() == -1


def test_failure_raised_by_fsync(where: tuple[Path, bool], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = where
    _fail_in_writer(monkeypatch, errno.EIO, None)
    writer = SequentialWriter(folder / "eio.bin")
    writer.write(_data(BLOCK + 1, seed=20))  # one block: the failure may not be seen yet
    with pytest.raises(OSError) as caught:
        writer.fsync()
    assert caught.value.errno == errno.EIO
    writer.close()
    assert writer.fileno() == -1


def test_abort_swallows_a_failure_not_yet_raised(
    where: tuple[Path, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = where
    go = threading.Event()

    def pwrite_all(fd: int, view: memoryview, offset: int) -> None:
        if _in_writer_thread():
            go.wait(5)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        _real_pwrite_all(fd, view, offset)

    monkeypatch.setattr(sequential, "pwrite_all", pwrite_all)
    before = _writer_threads()
    writer = SequentialWriter(folder / "eio-abort.bin")
    writer.write(_data(BLOCK + 10, seed=32))  # block 0 is held until `go`: nothing raised yet
    go.set()
    writer.abort()  # the block's failure arrives while aborting: not raised
    assert writer.fileno() == -1
    writer.close()
    assert not _threads_left(before)


@pytest.mark.parametrize("finish", ["abort", "close"])
def test_finishing_after_failure_leaves_no_writer_thread(
    where: tuple[Path, bool], monkeypatch: pytest.MonkeyPatch, finish: str
) -> None:
    folder, _ = where
    _fail_in_writer(monkeypatch, errno.ENOSPC, None)
    before = _writer_threads()
    writer = SequentialWriter(folder / f"full-{finish}.bin")
    with pytest.raises(OSError, match="No space left"):
        writer.write(_data(3 * BLOCK, seed=21))
    getattr(writer, finish)()
    assert writer.fileno() == -1
    assert not _threads_left(before, timeout=0.2)


def test_fsync_after_a_raised_failure_does_not_report_success(
    where: tuple[Path, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = where
    _fail_in_writer(monkeypatch, errno.ENOSPC, None)
    path = folder / "full-fsync.bin"
    writer = SequentialWriter(path)
    with pytest.raises(OSError, match="No space left"):
        writer.write(_data(3 * BLOCK, seed=33))

    def write_and_fsync() -> None:
        writer.write(b"more")
        writer.fsync()

    try:
        with pytest.raises(OSError):
            write_and_fsync()
    finally:
        writer.abort()


class _HeldFree:
    """Stands in for a writer's queue of free buffers: the writer thread's first put (the
    buffer of the block whose write failed) sets `returned`, then holds the thread for a
    moment, the way a preempted writer thread would be held."""

    def __init__(self, inner: queue.SimpleQueue[int]) -> None:
        self.inner = inner
        self.returned = threading.Event()

    def put(self, index: int) -> None:
        self.inner.put(index)
        if _in_writer_thread() and not self.returned.is_set():
            self.returned.set()
            time.sleep(0.2)

    def get(self) -> int:
        return self.inner.get()


def test_nothing_is_written_after_a_failure_was_raised(
    direct_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go = threading.Event()
    offsets: list[int] = []

    def pwrite_all(fd: int, view: memoryview, offset: int) -> None:
        if _in_writer_thread():
            offsets.append(offset)
            if len(offsets) == 1:
                go.wait(5)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        _real_pwrite_all(fd, view, offset)

    monkeypatch.setattr(sequential, "pwrite_all", pwrite_all)
    thread_errors: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", thread_errors.append)
    before = _writer_threads()
    writer = SequentialWriter(direct_dir / "full-race.bin")
    held = _HeldFree(writer._free)
    writer._free = held  # type: ignore[assignment]
    writer.write(_data(BLOCK, seed=23))  # block 0: its write waits for `go`, then fails
    writer.write(_data(BLOCK, seed=24))  # block 1: queued behind it
    go.set()
    assert held.returned.wait(5)  # the failure is recorded, buffer 0 is back
    with pytest.raises(OSError, match="No space left"):
        writer.write(_data(BLOCK, seed=25))
    writer.close()
    assert writer.fileno() == -1
    assert not _threads_left(before, timeout=2.0)
    assert not thread_errors, [repr(args.exc_value) for args in thread_errors]
    assert offsets == [0]  # block 1 was never written after block 0 failed


# --- EINVAL from O_DIRECT --------------------------------------------------------------


def test_einval_from_direct_write_falls_back_to_buffered(
    direct_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offsets = _fail_in_writer(monkeypatch, errno.EINVAL, 1)
    path = direct_dir / "einval.bin"
    data = _data(3 * BLOCK + 12345, seed=26)
    writer = SequentialWriter(path)
    _assert_mode(writer, True)
    # Handing over the third block waits for the first buffer, so block 0 is done by now.
    writer.write(data[: 3 * BLOCK])
    _assert_mode(writer, False)
    writer.write(data[3 * BLOCK :])
    writer.close()
    assert offsets[:2] == [0, 0]  # block 0 refused, then written again
    assert sorted(set(offsets)) == [0, BLOCK, 2 * BLOCK]
    assert path.read_bytes() == data


def test_direct_stays_on_without_einval(direct_dir: Path) -> None:
    """The control for the test above: three blocks go out with O_DIRECT still set."""
    path = direct_dir / "no-einval.bin"
    data = _data(3 * BLOCK, seed=27)
    writer = SequentialWriter(path)
    writer.write(data)
    _assert_mode(writer, True)
    writer.close()
    assert path.read_bytes() == data


def test_einval_without_direct_is_raised(
    buffered_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_in_writer(monkeypatch, errno.EINVAL, 1)
    writer = SequentialWriter(buffered_dir / "einval-buffered.bin")
    _assert_mode(writer, False)
    with pytest.raises(OSError) as caught:
        _write_and_close(writer, _data(BLOCK + 1, seed=28))
    assert caught.value.errno == errno.EINVAL
    writer.abort()
    assert writer.fileno() == -1


# --- I/O points ------------------------------------------------------------------------


def _observe(events: list[tuple[str, Path]]) -> io_points.Observer:
    def observer(kind: str, path: Path, source: Path | None) -> None:
        events.append((kind, path))

    return observer


def test_blocks_of_512_kib_go_out_at_aligned_offsets(
    where: tuple[Path, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/CLI.md and RELIABILITY.md: packs and large extracted files are written in 512 KiB
    blocks (the writer thread gets whole blocks at block-aligned offsets; the tail is the
    closing call's), and read back in blocks of the same size."""
    assert BLOCK == 512 * 1024
    folder, _ = where
    writes: list[tuple[int, int]] = []

    def pwrite_all(fd: int, view: memoryview, offset: int) -> None:
        if _in_writer_thread():
            writes.append((offset, view.nbytes))
        _real_pwrite_all(fd, view, offset)

    monkeypatch.setattr(sequential, "pwrite_all", pwrite_all)
    data = _data(3 * BLOCK + 5, seed=40)
    path = folder / "blocks.bin"
    _write_and_close(SequentialWriter(path), data)
    assert writes == [(n * BLOCK, BLOCK) for n in range(3)]
    assert path.read_bytes() == data


def test_a_direct_range_is_read_in_512_kib_blocks(direct_dir: Path) -> None:
    data = _data(2 * BLOCK + 777, seed=41)
    path = direct_dir / "ranged.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = sequential.direct_range(fd, 100, len(data) - 100)
        assert reader is not None
        try:
            sizes = [view.nbytes for view in reader.blocks()]
        finally:
            reader.close()
    finally:
        os.close(fd)
    # The first block starts at the page holding byte 100 and skips the head.
    assert sizes == [BLOCK - 100, BLOCK, 777]


# --- a hole filled later (a large file's header, written once its digest is known) ----


@pytest.mark.parametrize(
    ("at", "length", "size"),
    [
        (56, 300, 3 * BLOCK + 7),  # in block 0, the file goes on for blocks
        (BLOCK - 100, 300, 3 * BLOCK + 5),  # across blocks 0 and 1
        (56, 300, 1000),  # the file ends inside the hole's block: it is the tail
        (BLOCK + 10, 50, BLOCK + 200),  # in the tail block
    ],
    ids=["block0", "two-blocks", "tail-only", "in-tail"],
)
def test_a_hole_is_written_last_with_what_fills_it(
    direct_dir: Path, monkeypatch: pytest.MonkeyPatch, at: int, length: int, size: int
) -> None:
    """docs/FORMAT.md section 4: on kernel file systems the block(s) holding a large
    file's header are written after the blocks past them, each byte once."""
    writes: list[tuple[int, int]] = []

    def pwrite_all(fd: int, view: memoryview, offset: int) -> None:
        writes.append((offset, view.nbytes))
        _real_pwrite_all(fd, view, offset)

    monkeypatch.setattr(sequential, "pwrite_all", pwrite_all)
    data = _data(size, seed=42)
    path = direct_dir / "holed.bin"
    writer = SequentialWriter(path)
    writer.write(data[:at])
    writer.leave_hole(length)
    assert writer.position == at + length
    writer.write(data[at + length :])
    writer.fill_hole(data[at : at + length])
    writer.fsync()
    writer.close()
    assert path.read_bytes() == data
    starts = [offset for offset, _ in writes]
    assert sorted(starts) == sorted(set(starts))  # every byte once
    assert sum(n for _, n in writes) == size
    hole_blocks = {b * BLOCK for b in range(at // BLOCK, (at + length - 1) // BLOCK + 1)}
    whole_after = [o for o in starts if o > max(hole_blocks) and o + BLOCK <= size]
    if whole_after:  # written before the hole's blocks, which waited for their contents
        assert starts.index(min(hole_blocks)) > starts.index(min(whole_after))


def test_a_hole_needs_the_direct_path(buffered_dir: Path) -> None:
    """fusefat loses a file written out of order: off the direct path there are no holes."""
    with SequentialWriter(buffered_dir / "no-hole.bin") as writer:
        with pytest.raises(ValueError):
            writer.leave_hole(100)
        assert writer.position == 0


@pytest.mark.parametrize("kind", ["vfat", "msdos", "exfat"])
def test_fat_and_exfat_never_get_a_hole(
    direct_dir: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """README: every file on a FAT or exFAT drive is written front to back, also past the
    page cache (their kernel drivers take direct writes, but have no sparse files)."""
    monkeypatch.setattr(sequential, "filesystem_type", lambda _dev: kind)
    with SequentialWriter(direct_dir / f"{kind}.bin") as writer:
        assert writer.direct and not writer.takes_holes
        with pytest.raises(ValueError):
            writer.leave_hole(100)
    assert not sequential.HOLE_FILESYSTEMS & {"vfat", "msdos", "exfat", "fuseblk", "fuse"}


def test_a_hole_left_unfilled_is_never_written_as_whole(direct_dir: Path) -> None:
    writer = SequentialWriter(direct_dir / "unfilled.bin")
    writer.leave_hole(100)
    writer.write(_data(2 * BLOCK, seed=43))
    with pytest.raises(ValueError):
        writer.fsync()
    with pytest.raises(ValueError):
        writer.close()
    writer.abort()
    with pytest.raises(ValueError):
        SequentialWriter(direct_dir / "wrong.bin").fill_hole(b"x")


def test_io_points_create_write_fsync(where: tuple[Path, bool]) -> None:
    folder, _ = where
    path = folder / "observed.bin"
    events: list[tuple[str, Path]] = []
    with io_points.observed(_observe(events)):
        writer = SequentialWriter(path)
        _feed(writer, _data(BLOCK + 100, seed=29))
        writer.fsync()
        writer.close()
    kinds = [kind for kind, at in events if at == path]
    assert kinds == [kind for kind, _ in events]  # every point names this file
    assert kinds[0] == io_points.CREATE
    assert kinds[-1] == io_points.FSYNC
    assert set(kinds[1:-1]) == {io_points.WRITE}
    assert kinds.count(io_points.CREATE) == 1
    assert kinds.count(io_points.FSYNC) == 1


class _Stop(Exception):
    pass


def test_io_points_come_before_the_operation(where: tuple[Path, bool]) -> None:
    """A crash test stops the process at a point: the operation must not have been made."""
    folder, _ = where
    path = folder / "stopped.bin"

    def stop_at(wanted: str) -> io_points.Observer:
        def observer(kind: str, at: Path, source: Path | None) -> None:
            if kind == wanted:
                raise _Stop(kind)

        return observer

    with io_points.observed(stop_at(io_points.CREATE)), pytest.raises(_Stop):
        SequentialWriter(path)
    assert not path.exists()

    writer = SequentialWriter(path)
    data = _data(BLOCK + 5, seed=31)
    writer.write(data)
    with io_points.observed(stop_at(io_points.WRITE)), pytest.raises(_Stop):
        writer.write(b"more")
    assert writer.position == len(data)
    writer.close()
    assert path.read_bytes() == data
