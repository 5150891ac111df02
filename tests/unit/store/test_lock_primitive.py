"""The OS lock under the vault lock (store/lock.py): flock(2) on POSIX (portalocker only
where fcntl is missing), so every medvault version's writers exclude each other; where the
OS lock bars reading a held lock's name (Windows), the second writer is told the vault is
busy, not that the drive failed. The whole protocol: tests/campaigns/test_concurrency.py."""

from __future__ import annotations

import fcntl
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from medvault.errors import VaultBusy
from medvault.store import lock as lock_module


@pytest.fixture
def two_opens(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """Two descriptors of one lock file: a holder (locked through fcntl) and another."""
    path = tmp_path / "lock"
    path.write_text("")
    holder = os.open(path, os.O_RDWR)
    other = os.open(path, os.O_RDWR)
    try:
        yield holder, other
    finally:
        os.close(holder)
        os.close(other)


def test_the_lock_is_flock_so_an_fcntl_holder_is_seen(two_opens: tuple[int, int]) -> None:
    holder, other = two_opens
    fcntl.flock(holder, fcntl.LOCK_EX)
    assert lock_module.take_flock(other, wait=False) is False
    fcntl.flock(holder, fcntl.LOCK_UN)
    assert lock_module.take_flock(other, wait=False) is True
    with pytest.raises(BlockingIOError):
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)


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


def _hiding(monkeypatch: pytest.MonkeyPatch, *hidden: str) -> None:
    import builtins

    real_import = builtins.__import__

    def refused(name: str, *args: object, **kwargs: object) -> object:
        if name.partition(".")[0] in hidden:
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", refused)


@pytest.fixture
def fresh_modules() -> object:
    lock_module.fcntl_module.cache_clear()
    lock_module.portalocker_module.cache_clear()
    yield
    lock_module.fcntl_module.cache_clear()
    lock_module.portalocker_module.cache_clear()


def test_without_either_os_lock_module_flock_is_unsupported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_modules: object
) -> None:
    """No fcntl and no portalocker: the O_EXCL guard path."""
    _hiding(monkeypatch, "fcntl", "portalocker")
    fd = os.open(tmp_path / "f", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        assert lock_module.take_flock(fd, wait=False) is None
    finally:
        os.close(fd)
        monkeypatch.undo()


def test_without_fcntl_portalocker_takes_the_lock(
    monkeypatch: pytest.MonkeyPatch, two_opens: tuple[int, int], fresh_modules: object
) -> None:
    """Where fcntl is missing (Windows), portalocker is the OS lock; here it is flock(2)
    underneath, so a holder through fcntl is seen."""
    holder, other = two_opens
    fcntl.flock(holder, fcntl.LOCK_EX)
    # Hidden from medvault only now: portalocker itself imports fcntl on first use.
    import portalocker  # noqa: F401

    _hiding(monkeypatch, "fcntl")
    assert lock_module.take_flock(other, wait=False) is False
    assert lock_module.portalocker_module() is not None
    monkeypatch.undo()


def test_a_writer_on_posix_never_imports_portalocker(tmp_path: Path) -> None:
    """Its import cost ~20 ms of every writer command's start (it reads its own package
    metadata); flock(2) is all POSIX needs."""
    lock = tmp_path / "lock"
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from medvault.store.lock import writer_lock\n"
        f"with writer_lock(Path({str(lock)!r})):\n"
        "    assert Path(" + repr(str(lock)) + ").read_text()\n"
        "print('portalocker' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


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
