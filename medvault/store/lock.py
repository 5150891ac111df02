"""One writer at a time: an O_EXCL lock file in MEDVAULT/ (works on FAT and FUSE)."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from medvault.errors import VaultBusy
from medvault.store.fsio import media_error


def _holder_is_dead(content: str) -> bool:
    """A lock left by a killed process on this host may be broken; others may not."""
    try:
        host, pid_text = content.strip().rsplit(":", 1)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# A lock file with no content yet may belong to a process that is just starting.
EMPTY_LOCK_GRACE_S = 10.0


def _mtime(lock: Path) -> float:
    try:
        return lock.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _try_create(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as exc:
        raise media_error(exc, "the vault lock") from exc
    try:
        os.write(fd, f"{socket.gethostname()}:{os.getpid()}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


@contextlib.contextmanager
def writer_lock(lock: Path) -> Iterator[None]:
    if not _try_create(lock):
        try:
            content = lock.read_text(errors="replace")
        except FileNotFoundError:
            content = ""
        if content and not _holder_is_dead(content):
            raise VaultBusy(f"the vault is locked by {content.strip()}")
        if not content and time.time() - _mtime(lock) < EMPTY_LOCK_GRACE_S:
            raise VaultBusy("the vault is locked by another medvault process")
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        if not _try_create(lock):
            raise VaultBusy("the vault is locked by another medvault process")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
