"""The OS lock under the vault lock (store/lock.py): portalocker, which is flock(2) here,
so a medvault of before (fcntl.flock directly) and of now exclude each other; where the OS
lock bars reading a held lock's name (Windows), the second writer is told the vault is
busy, not that the drive failed. The whole protocol: tests/campaigns/test_concurrency.py."""

from __future__ import annotations

import fcntl
import os
import pathlib
from pathlib import Path

import pytest

from medvault.errors import VaultBusy
from medvault.store import lock as lock_module


def test_the_lock_is_flock_so_an_fcntl_holder_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    path.write_text("")
    holder = os.open(path, os.O_RDWR)
    other = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert lock_module.take_flock(other, wait=False) is False
        fcntl.flock(holder, fcntl.LOCK_UN)
        assert lock_module.take_flock(other, wait=False) is True
        with pytest.raises(BlockingIOError):
            fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(holder)
        os.close(other)


def test_a_held_lock_whose_name_cannot_be_read_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "lock"
    with lock_module.writer_lock(lock):
        real_read, real_read_text = os.read, pathlib.Path.read_text

        def barred(fd: int, size: int) -> bytes:
            if os.path.realpath(f"/proc/self/fd/{fd}") == str(lock):
                raise PermissionError(13, "locked region")
            return real_read(fd, size)

        def barred_text(self: Path, *args: object, **kwargs: object) -> str:
            if self == lock:
                raise PermissionError(13, "locked region", str(self))
            return real_read_text(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "read", barred)
        monkeypatch.setattr(pathlib.Path, "read_text", barred_text)
        with (
            pytest.raises(VaultBusy, match="locked by another medvault process"),
            lock_module.writer_lock(lock),
        ):
            pass
        monkeypatch.undo()
    assert not lock.exists()


def test_without_the_os_lock_module_flock_is_unsupported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A POSIX system without fcntl (portalocker cannot load): the O_EXCL guard path."""
    import builtins

    real_import = builtins.__import__

    def no_portalocker(name: str, *args: object, **kwargs: object) -> object:
        if name == "portalocker" or name.startswith("portalocker."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    lock_module.portalocker_module.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_portalocker)
    try:
        fd = os.open(tmp_path / "f", os.O_CREAT | os.O_RDWR, 0o600)
        assert lock_module.take_flock(fd, wait=False) is None
        os.close(fd)
    finally:
        monkeypatch.undo()
        lock_module.portalocker_module.cache_clear()


def test_a_creator_that_cannot_get_its_own_lock_does_not_claim_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Windows a waiting lock gives up (after ~10 s) while another process holds it:
    the creator then must not write its name into a file it does not hold."""
    monkeypatch.setattr(lock_module, "take_flock", lambda fd, wait: False)
    lock = tmp_path / "lock"
    with pytest.raises(VaultBusy), lock_module.writer_lock(lock):
        pass
    assert lock.read_text() == ""  # created, never named: breakers judge it as empty
