"""One writer at a time: an O_EXCL lock file in MEDVAULT/ (works on FAT and FUSE).

The file says who holds it ("host:pid"). Its holder also keeps an OS lock on it ("flock"
below: flock(2) on POSIX; through portalocker, msvcrt's locking on Windows, where a held
lock also bars reading the name), which is what makes breaking a stale lock safe: a
breaker must get that flock on the very file the path still names, so of two processes
that find the same stale lock only one removes it, and the other can never remove the
fresh lock the first then creates (the old fault: two writers at once). Where flock is
unsupported, breakers take turns through an O_EXCL guard file (tmp/lock.break) and remove
the lock only if it still holds the stale content.

A lock naming a dead process on this host is broken; a lock from another host never
automatically: the error says how to remove it. An empty one (its creator died before
writing its name) is broken once nobody holds its flock and it is a second old: a live
creator takes the flock microseconds after creating the file, and checks after taking it
that the path still names its file, so even a creator paused in that gap cannot end up a
second writer. Where flock is unsupported, an empty lock waits out a longer grace period.
A young lock whose content is not a name (on fusefat a file written moments ago can read
as NULs to processes reading it at once) is looked at again, not judged; once it is ten
seconds old it is an unknown holder's, never broken automatically.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from medvault.errors import VaultBusy
from medvault.store.fsio import media_error
from medvault.workstation.host import host_name
from medvault.workstation.processes import process_alive

# A lock file with no content yet may belong to a process that is just starting.
EMPTY_LOCK_GRACE_S = 10.0
# With flock: long enough that racing creators do not break each other's fresh locks.
FLOCKED_EMPTY_GRACE_S = 1.0
# Each retry follows a lock that vanished or was broken: someone else made progress.
ATTEMPTS = 8
RETRY_PAUSE_S = 0.01
RETRY_WINDOW_S = 3.0
MAX_LOCK_CONTENT = 512
GUARD_STALE_S = 30.0
NO_FLOCK = {errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS, errno.EBADF}


@functools.cache
def fcntl_module() -> ModuleType | None:
    """fcntl, whose flock(2) is the OS lock on POSIX; None elsewhere (Windows)."""
    try:
        import fcntl
    except ImportError:
        return None
    return fcntl


@functools.cache
def portalocker_module() -> ModuleType | None:
    """portalocker, the OS lock where fcntl is missing (msvcrt's locking on Windows).
    Imported only there: since version 4 its import reads its own package metadata, ~20 ms
    of every writer command's start here. None where it cannot load either (then the
    O_EXCL guard does the work)."""
    try:
        import portalocker
    except ImportError:
        return None
    return portalocker


def take_flock(fd: int, wait: bool) -> bool | None:
    """True: we hold the flock; False: another process does; None: not supported here."""
    fcntl = fcntl_module()
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in NO_FLOCK:
                return None
            raise
        return True
    portalocker = portalocker_module()
    if portalocker is None:
        return None
    flags = portalocker.LockFlags.EXCLUSIVE
    if not wait:
        flags |= portalocker.LockFlags.NON_BLOCKING
    try:
        portalocker.lock(fd, flags)
    except portalocker.AlreadyLocked:
        return False
    except portalocker.LockException as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError) and cause.errno in NO_FLOCK:
            return None
        if isinstance(cause, OSError):
            raise cause from None
        raise OSError(errno.EIO, f"the vault lock: {exc}") from exc
    return True


def _create(lock: Path) -> int | None:
    """The lock's fd, flocked and naming us; None when the file already exists."""
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    except FileExistsError:
        return None
    except OSError as exc:
        raise media_error(exc, "the vault lock") from exc
    try:
        # flock before writing: a breaker that sees our name also sees our flock. It may
        # hold the flock for an instant while it reads an empty (grace) lock; so we wait.
        flocked = take_flock(fd, wait=True)
        if flocked is False or (flocked and _moved(fd, lock)):
            # Not ours: a breaker removed it while it was empty, before our flock; or
            # (Windows, where a waiting lock gives up after ~10 s) a breaker still holds it.
            os.close(fd)
            return None
        os.write(fd, f"{host_name()}:{os.getpid()}\n".encode())
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        with contextlib.suppress(OSError):
            lock.unlink()
        raise media_error(exc, "the vault lock") from exc
    return fd


def _same_file(fd: int, lock: Path) -> bool:
    try:
        named = lock.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _moved(fd: int, lock: Path) -> bool:
    """Whether LOCK no longer names the file open on FD (removed or replaced)."""
    try:
        return not _same_file(fd, lock)
    except OSError:
        return True  # fstat of a removed file fails on some FUSE file systems


def _holder(content: str) -> tuple[str, int] | None:
    try:
        host, pid_text = content.strip().rsplit(":", 1)
        return host, int(pid_text)
    except ValueError:
        return None


def _name_not_shown_yet(content: str, mtime: float) -> bool:
    """A lock younger than EMPTY_LOCK_GRACE_S whose content is not a holder's name. Once
    older, such a lock is judged (an unknown holder, never broken automatically)."""
    return (
        bool(content.strip())
        and _holder(content) is None
        and time.time() - mtime < EMPTY_LOCK_GRACE_S
    )


def _refuse_unless_stale(lock: Path, content: str, mtime: float) -> None:
    """Raise VaultBusy naming the holder, unless the lock may be broken."""
    if not content.strip():
        if time.time() - mtime < EMPTY_LOCK_GRACE_S:
            raise VaultBusy("the vault is locked by another medvault process that is starting")
        return  # its creator died between creating and naming it
    holder = _holder(content)
    here = host_name()
    if holder is None or holder[0] != here:
        who = f"host {holder[0]} (process {holder[1]})" if holder else "an unknown holder"
        raise VaultBusy(
            f"the vault is locked by {who}; a lock from another computer is never "
            "broken automatically",
            hint=f"if no medvault is still writing to this drive there (e.g. it was "
            f"unplugged during a write), delete {lock} and run the command again",
        )
    if process_alive(holder[1]):
        raise VaultBusy(
            f"the vault is locked by medvault process {holder[1]} on this computer ({here})",
            hint="wait for it to finish; if process "
            f"{holder[1]} is not medvault (a reused process id), delete {lock}",
        )


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, MAX_LOCK_CONTENT).decode("utf-8", errors="replace")


def _content_and_mtime(fd: int, lock: Path, flocked: bool | None) -> tuple[str, float] | None:
    """What the lock open on FD says and when it was written; None when LOCK no longer
    names it (removed or replaced)."""
    try:
        return _read(fd), os.fstat(fd).st_mtime
    except OSError as exc:
        # fusefat: a handle opened while the file was empty cannot read what its creator
        # wrote afterwards (EPERM); a fresh handle can.
        if _moved(fd, lock):
            return None
        try:
            return lock.read_text(errors="replace"), lock.stat().st_mtime
        except FileNotFoundError:
            return None
        except OSError:
            if flocked is False:
                # Windows locks bar reading the locked bytes: a live holder's name cannot
                # be read, but its lock says it is alive.
                raise VaultBusy("the vault is locked by another medvault process") from None
            raise media_error(exc, "the vault lock") from exc


def _break_if_stale(lock: Path) -> float:
    """Remove LOCK if it is stale; returns when the caller should try to create it again,
    with the seconds to wait first (an empty lock too young to judge)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return 0.0
    except OSError as exc:
        raise media_error(exc, "the vault lock") from exc
    try:
        try:
            flocked = take_flock(fd, wait=False)
        except OSError as exc:
            raise media_error(exc, "the vault lock") from exc
        seen = _content_and_mtime(fd, lock, flocked)
        if seen is None:
            return 0.0  # removed or replaced since we opened it: look again
        content, mtime = seen
        if _name_not_shown_yet(content, mtime):
            # fusefat: a lock written moments ago can read as NULs for some milliseconds
            # to processes reading it at once. Judging it now would call a live holder
            # unknown and tell the user to delete its lock: look again.
            return RETRY_PAUSE_S
        if flocked is False:
            _refuse_unless_stale(lock, content, time.time())  # a live holder: its name
            # A stale lock whose flock another breaker holds for the instant it takes to
            # judge and remove it: look again (the removal is progress), not give up.
            return RETRY_PAUSE_S
        if _moved(fd, lock):
            return 0.0  # removed or replaced since we opened it: look again
        if flocked and not content.strip():
            # Nobody holds it: its creator died before naming it, or is in the instant
            # between creating and flocking it (then it sees the removal and retries).
            age = time.time() - mtime
            if 0 <= age < FLOCKED_EMPTY_GRACE_S:
                return FLOCKED_EMPTY_GRACE_S - age  # waited out after our flock is dropped
        else:
            _refuse_unless_stale(lock, content, mtime)
        if flocked:
            # We hold the flock on the file the path names: no other breaker can remove
            # it now, and its holder is gone, so the path cannot change under us.
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
        else:
            _break_under_guard(lock, content)
        return 0.0
    finally:
        os.close(fd)


def _break_under_guard(lock: Path, stale: str) -> None:
    """Without flock: breakers take turns through an O_EXCL guard file, and the one
    inside removes the lock only if it still holds the stale content it judged."""
    guard = lock.parent / "tmp" / "lock.break"
    try:
        guard.parent.mkdir(exist_ok=True)
        fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        # Breaking takes milliseconds: a guard this old was left by a killed breaker.
        if time.time() - _mtime(guard) > GUARD_STALE_S:
            with contextlib.suppress(FileNotFoundError):
                guard.unlink()
        raise VaultBusy("the vault is locked by another medvault process") from None
    except OSError as exc:
        raise media_error(exc, "the vault lock") from exc
    os.close(fd)
    try:
        try:
            current = lock.read_text(errors="replace")
        except FileNotFoundError:
            return
        if current == stale:
            lock.unlink()
    finally:
        with contextlib.suppress(FileNotFoundError):
            guard.unlink()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def _acquire(lock: Path) -> int:
    # Every retry follows progress (a lock that vanished, was broken, or is being broken by
    # another process); a live holder raises VaultBusy at once. So retrying stops after
    # ATTEMPTS tries and RETRY_WINDOW_S, whichever is later: under load on FUSE, breakers
    # can need more than ATTEMPTS quick tries to see the stale lock gone.
    deadline = time.monotonic() + RETRY_WINDOW_S
    attempt = 0
    while attempt < ATTEMPTS or time.monotonic() < deadline:
        fd = _create(lock)
        if fd is not None:
            return fd
        # A growing pause after the first retry: on FUSE a removed lock can still be named
        # for an instant while other breakers close their handles to it.
        time.sleep(_break_if_stale(lock) + RETRY_PAUSE_S * min(attempt, ATTEMPTS))
        attempt += 1
    raise VaultBusy("the vault is locked by another medvault process")


@contextlib.contextmanager
def writer_lock(lock: Path) -> Iterator[None]:
    fd = _acquire(lock)
    try:
        yield
    finally:
        # Remove it only if it is still ours, then drop the flock (closing the fd).
        with contextlib.suppress(OSError):
            if _same_file(fd, lock):
                lock.unlink()
        # A drive that is gone answers close with ENOTCONN: that must not hide the error
        # that brought us here (DriveGone).
        with contextlib.suppress(OSError):
            os.close(fd)
