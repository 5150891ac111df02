"""Crash-safe file writing and mapping of OS errors to medvault errors.

Write protocol (DESIGN.md): write in tmp/, flush, fsync, rename into place, fsync the
directory. Removable media report a full disk in several ways (ENOSPC; EPERM or EFBIG
from fusefat; EIO), so they all map to MediaFull.

Every change medvault makes on a drive goes through the small wrappers here (create, write,
fsync, replace, unlink, fsync_dir), each of which passes an I/O point (store/io_points.py)
first, so the crash tests can stop the process before any one of them.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from medvault.errors import DriveGone, MediaFull, MedvaultError, ReadOnlyMedia
from medvault.store import io_points
from medvault.store.io_points import reached
from medvault.workstation import mounts

FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES}
# FUSE file systems whose fsync does not reach the device (tests/media/test_yanked_drive.py).
FSYNC_IGNORED = frozenset({"fuse.fusefat"})


def create(path: Path, buffering: int = -1) -> BinaryIO:
    """Create (or empty) PATH for writing."""
    reached(io_points.CREATE, path)
    return open(path, "wb", buffering=buffering)


def write(handle: BinaryIO, data: bytes | bytearray | memoryview, path: Path) -> None:
    reached(io_points.WRITE, path)
    handle.write(data)


def fsync(handle: BinaryIO, path: Path) -> None:
    """Flush Python's buffer and make the file's data durable."""
    reached(io_points.FSYNC, path)
    handle.flush()
    os.fsync(handle.fileno())
    if fsync_ignored(os.fstat(handle.fileno()).st_dev):
        os.sync()


def sync_filesystem(path: Path) -> None:
    """Make everything written to PATH's file system durable: syncfs(2) on it where the C
    library has it (one flush for a whole batch of files), else sync(2)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        syncfs = _syncfs()
        if syncfs is not None and not fsync_ignored(os.fstat(fd).st_dev) and syncfs(fd) == 0:
            return
        os.sync()
    finally:
        os.close(fd)


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    try:
        import ctypes

        function: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    return function


def fsync_ignored(device: int) -> bool:
    """fusefat answers fsync without passing it on to its device, so what it wrote stays
    in the kernel's cache of the stick until writeback: only sync(2) pushes it out."""
    return filesystem_type(device) in FSYNC_IGNORED


@functools.lru_cache(maxsize=16)
def filesystem_type(device: int) -> str:
    """The type of the file system mounted from DEVICE (an st_dev), "" if not known."""
    mount = mounts.by_device(device)
    return mount.fstype if mount is not None else ""


def replace(source: Path, target: Path) -> None:
    reached(io_points.RENAME, target, source)
    os.replace(source, target)


def unlink(path: Path, missing_ok: bool = False) -> None:
    reached(io_points.UNLINK, path)
    path.unlink(missing_ok=missing_ok)


def fsync_dir(path: Path) -> None:
    """Make a rename durable. Some FUSE file systems cannot fsync a directory: that is fine."""
    reached(io_points.FSYNC_DIR, path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
        if fsync_ignored(os.fstat(fd).st_dev):
            os.sync()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):  # a drive gone answers close with ENOTCONN
            os.close(fd)


@contextlib.contextmanager
def media_errors(what: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a failed write on the drive into one clear error (WHAT, a path or words, is
    made text only then: extract passes every file's path)."""
    try:
        yield
    except OSError as exc:
        raise media_error(exc, os.fspath(what)) from exc


def media_error(exc: OSError, what: str) -> MedvaultError:
    if exc.errno in DriveGone.errnos:
        return DriveGone(f"cannot write {what}: the drive is gone ({exc.strerror})")
    if exc.errno in READ_ONLY_ERRNOS:
        return ReadOnlyMedia(f"cannot write {what}: the drive is read-only or not writable by you")
    if exc.errno in FULL_ERRNOS or exc.errno in (errno.EPERM, errno.EIO):
        reason = os.strerror(exc.errno) if exc.errno else "write refused"
        return MediaFull(f"cannot write {what}: {reason} (drive full or write refused)")
    return MedvaultError(f"cannot write {what}: {exc.strerror or exc}")


def write_durable(path: Path, data: bytes | bytearray, tmp_dir: Path, tmp_name: str) -> None:
    """Atomically replace PATH with DATA, going through tmp_dir/tmp_name (TMP_DIR made
    again if it is gone: a copy of the vault that skipped empty folders has none)."""
    write_durable_pieces(path, (data,), tmp_dir, tmp_name)


def write_durable_pieces(
    path: Path, pieces: Iterable[bytes | bytearray], tmp_dir: Path, tmp_name: str
) -> None:
    """write_durable of the PIECES one after the other, never all held at once (a file
    medvault copies, such as the index journal folded with its segments)."""
    if not tmp_dir.is_dir():
        tmp_dir.mkdir(exist_ok=True)
    tmp = tmp_dir / tmp_name
    try:
        with create(tmp) as handle:
            for piece in pieces:
                write(handle, piece, tmp)
            fsync(handle, tmp)
        replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def read_pieces(path: Path, length: int, block: int = 1024 * 1024) -> Iterator[bytes]:
    """The first LENGTH bytes of PATH in blocks; OSError (EIO) if it has fewer (the
    caller measured it first)."""
    with open(path, "rb") as handle:
        while length > 0:
            piece = handle.read(min(block, length))
            if not piece:
                raise OSError(errno.EIO, f"{path.name} is shorter than it was measured")
            length -= len(piece)
            yield piece


def overwrite_in_place(
    path: Path, data: bytes, max_size: int | None = None, block: int = 1
) -> None:
    """Write DATA over PATH from its first byte, in the clusters the file already has, and
    make it durable. Zeros follow DATA up to the file's old length rounded up to whole
    BLOCKs, so the file never shrinks and no byte of what it held is left behind in freed
    space (a rename would leave the old clusters, and the old content, in the drive's free
    space). A file longer than MAX_SIZE (not one medvault wrote) is zeroed, then cut to
    DATA's length. The caller keeps a second copy: a crash mid-write leaves this one torn."""
    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
        created = False
    except FileNotFoundError:
        reached(io_points.CREATE, path)
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
        created = True
    with open(fd, "r+b") as handle:
        old_size = os.fstat(fd).st_size
        size = -(-max(old_size, len(data)) // block) * block
        write(handle, data + bytes(size - len(data)), path)
        fsync(handle, path)
        if max_size is not None and old_size > max_size:
            reached(io_points.TRUNCATE, path)
            handle.truncate(len(data))
            fsync(handle, path)
    if created:
        fsync_dir(path.parent)


def file_sha256(path: Path, block: int = 1024 * 1024) -> str:
    """SHA-256 (hex) of a file, read in fixed-size blocks; OSError when unreadable."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()
