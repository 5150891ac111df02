"""The vault lock's rules one at a time, in this process (store/lock.py): the lock file's
mode, how each failure of the drive under it is told, how many tries a busy lock gets, the
pause before the next try, holder names with colons or bytes that are not UTF-8, the
O_EXCL guard where no OS lock exists, and take_flock's answers for each OS lock error.
The races themselves: tests/campaigns/test_concurrency.py."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import portalocker
import pytest

from medvault.errors import MediaFull, MedvaultError, VaultBusy
from medvault.store import lock as lock_module
from tests.support.processes import DEAD_PID


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    (tmp_path / "tmp").mkdir()
    return tmp_path / "lock"


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses the lock asks for between tries (not slept)."""
    asked: list[float] = []
    monkeypatch.setattr(time, "sleep", asked.append)
    return asked


def _without_os_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither fcntl nor portalocker: the O_EXCL guard does the work."""
    monkeypatch.setattr(lock_module, "fcntl_module", lambda: None)
    monkeypatch.setattr(lock_module, "portalocker_module", lambda: None)


@pytest.fixture
def no_os_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_os_lock(monkeypatch)


def _on_open(monkeypatch: pytest.MonkeyPatch, path: Path, before: Callable[[int], None]) -> None:
    """BEFORE(flags) runs ahead of every os.open of PATH (it may raise in its place)."""
    real_open = os.open

    def watched(target: str | Path, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(target) == str(path):
            before(flags)
        return real_open(target, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", watched)


def _refused_on_the_lock(
    monkeypatch: pytest.MonkeyPatch, call: str, lock: Path, error: OSError
) -> None:
    """os.read or os.write (CALL) raises ERROR on any descriptor open on LOCK."""
    real = getattr(os, call)

    def refused(fd: int, arg: object) -> object:
        if os.path.realpath(f"/proc/self/fd/{fd}") == str(lock):
            raise error
        return real(fd, arg)

    monkeypatch.setattr(os, call, refused)


def _aged(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_lock_file_is_created_0644_and_names_its_holder(lock: Path) -> None:
    old = os.umask(0o022)
    try:
        with lock_module.writer_lock(lock):
            assert lock.stat().st_mode & 0o777 == 0o644
            assert lock.read_text() == f"{lock_module.host_name()}:{os.getpid()}\n"
    finally:
        os.umask(old)
    assert not lock.exists()


def test_a_lock_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    with (
        pytest.raises(MedvaultError, match=r"^cannot write the vault lock: No such file"),
        lock_module.writer_lock(tmp_path / "gone" / "lock"),
    ):
        pass


def test_a_lock_that_cannot_be_named_is_removed_and_the_drive_full_error_told(
    lock: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _refused_on_the_lock(
        monkeypatch, "write", lock, OSError(errno.ENOSPC, "No space left on device")
    )
    open_before = len(os.listdir("/proc/self/fd"))
    with (
        pytest.raises(MediaFull, match=r"^cannot write the vault lock: No space left"),
        lock_module.writer_lock(lock),
    ):
        pass
    assert not lock.exists()
    assert len(os.listdir("/proc/self/fd")) == open_before


def test_a_lock_that_cannot_be_opened_to_judge_is_a_clear_error(lock: Path) -> None:
    lock.symlink_to(lock)  # a loop: creating it says it exists, opening it fails (ELOOP)
    with (
        pytest.raises(MedvaultError, match=r"^cannot write the vault lock: Too many levels"),
        lock_module.writer_lock(lock),
    ):
        pass


def test_a_lock_that_cannot_be_read_is_a_clear_error(lock: Path) -> None:
    lock.mkdir()  # opens and flocks, but reading it fails (EISDIR)
    with (
        pytest.raises(MedvaultError, match=r"^cannot write the vault lock: Is a directory"),
        lock_module.writer_lock(lock),
    ):
        pass


def test_an_os_lock_that_fails_on_a_found_lock_is_a_clear_error(
    lock: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock.write_text(f"{lock_module.host_name()}:{DEAD_PID}\n")

    def failing(fd: int, operation: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(fcntl, "flock", failing)
    with (
        pytest.raises(MediaFull, match=r"^cannot write the vault lock: Input/output error"),
        lock_module.writer_lock(lock),
    ):
        pass
    assert lock.exists()  # not judged, not removed


def test_a_busy_lock_gets_exactly_its_tries_once_the_window_is_over(
    lock: Path, monkeypatch: pytest.MonkeyPatch, pauses: list[float]
) -> None:
    """A young lock that shows no name is looked at again: ATTEMPTS tries when the retry
    window is over at once, then the plain busy error."""
    lock.write_bytes(bytes(16))
    monkeypatch.setattr(lock_module, "RETRY_WINDOW_S", 0.0)
    tries: list[int] = []
    _on_open(monkeypatch, lock, lambda flags: tries.extend([flags] if flags & os.O_EXCL else []))
    with (
        pytest.raises(VaultBusy, match=r"^the vault is locked by another medvault process$"),
        lock_module.writer_lock(lock),
    ):
        pass
    assert len(tries) == lock_module.ATTEMPTS
    # Each pause: the look-again pause plus a growing one, capped at ATTEMPTS of them.
    step = lock_module.RETRY_PAUSE_S
    assert pauses == pytest.approx([step + step * n for n in range(lock_module.ATTEMPTS)])


def test_a_stale_lock_is_broken_and_taken_with_no_pause(lock: Path, pauses: list[float]) -> None:
    lock.write_text(f"{lock_module.host_name()}:{DEAD_PID}\n")
    with lock_module.writer_lock(lock):
        assert lock.read_text() == f"{lock_module.host_name()}:{os.getpid()}\n"
    assert pauses == [0.0]


def test_an_empty_lock_nobody_holds_is_waited_for_only_what_is_left_of_its_grace(
    lock: Path, pauses: list[float]
) -> None:
    lock.write_text("")
    _aged(lock, 0.5)
    with lock_module.writer_lock(lock):
        pass
    # First the rest of FLOCKED_EMPTY_GRACE_S (about 0.5 s; not slept here, so the lock is
    # still young on the next look and asks again), never more than the whole grace.
    assert 0.3 < pauses[0] < 0.6
    assert all(p <= lock_module.FLOCKED_EMPTY_GRACE_S + lock_module.RETRY_PAUSE_S for p in pauses)


@pytest.mark.parametrize("host", ["fe80::1%eth0", "clinic:ward:7"])
def test_a_holder_whose_host_name_holds_colons_is_told_apart_by_its_last_colon(
    lock: Path, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    monkeypatch.setattr(lock_module, "host_name", lambda: host)
    lock.write_text(f"{host}:{os.getpid()}\n")  # alive: this process
    with (
        pytest.raises(VaultBusy, match=f"locked by medvault process {os.getpid()} on this"),
        lock_module.writer_lock(lock),
    ):
        pass
    lock.write_text(f"{host}:{DEAD_PID}\n")  # dead: broken
    with lock_module.writer_lock(lock):
        assert lock.read_text() == f"{host}:{os.getpid()}\n"


@pytest.mark.parametrize("flocked", [False, True], ids=["no-flock-held", "flock-held"])
def test_a_live_holder_here_is_named_with_what_to_do(lock: Path, flocked: bool) -> None:
    """Whether or not the holder's flock is seen, the hint names the lock to delete."""
    lock.write_text(f"{lock_module.host_name()}:{os.getpid()}\n")
    holder = os.open(lock, os.O_RDONLY)
    try:
        if flocked:
            fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(VaultBusy) as raised, lock_module.writer_lock(lock):
            pass
    finally:
        os.close(holder)
    assert raised.value.hint is not None
    assert raised.value.hint.startswith("wait for it to finish; if process")
    assert str(lock) in raised.value.hint


@pytest.mark.parametrize("way", ["flock", "guard", "second-handle"])
def test_a_stale_lock_whose_name_is_not_utf8_is_judged_and_broken(
    lock: Path, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    """A host name that is not UTF-8 reads as U+FFFD where it cannot be decoded; the lock is
    judged by that name (here: this host's, dead holder) and broken: with flock, without
    (the guard), and where the first handle cannot read it (fusefat's EPERM: read again
    through a fresh one)."""
    if way == "guard":
        _without_os_lock(monkeypatch)
    if way == "second-handle":
        refusal = PermissionError(errno.EPERM, "Operation not permitted")
        _refused_on_the_lock(monkeypatch, "read", lock, refusal)
    monkeypatch.setattr(lock_module, "host_name", lambda: "\ufffdward")
    lock.write_bytes(b"\xffward:" + str(DEAD_PID).encode() + b"\n")
    _aged(lock, 60)
    with lock_module.writer_lock(lock):
        assert lock.read_text() == f"\ufffdward:{os.getpid()}\n"


def test_without_an_os_lock_a_breaker_inside_the_guard_is_waited_for(
    lock: Path, no_os_lock: None
) -> None:
    """The guard is MEDVAULT/tmp/lock.break, the same for every version: while another
    breaker holds it, the stale lock is left to that breaker."""
    stale = f"{lock_module.host_name()}:{DEAD_PID}\n"
    lock.write_text(stale)
    guard = lock.parent / "tmp" / "lock.break"
    guard.write_text("")
    with (
        pytest.raises(VaultBusy, match=r"^the vault is locked by another medvault process$"),
        lock_module.writer_lock(lock),
    ):
        pass
    assert lock.read_text() == stale and guard.exists()


def test_without_an_os_lock_a_guard_left_by_a_killed_breaker_is_cleared_for_the_next(
    lock: Path, no_os_lock: None
) -> None:
    lock.write_text(f"{lock_module.host_name()}:{DEAD_PID}\n")
    guard = lock.parent / "tmp" / "lock.break"
    guard.write_text("")
    _aged(guard, lock_module.GUARD_STALE_S + 30)
    # This command clears the old guard and says the vault is busy (another breaker may
    # have been inside it); the next one breaks the stale lock.
    with pytest.raises(VaultBusy), lock_module.writer_lock(lock):
        pass
    assert not guard.exists()
    with lock_module.writer_lock(lock):
        assert lock.read_text() == f"{lock_module.host_name()}:{os.getpid()}\n"


@pytest.fixture
def one_file(tmp_path: Path) -> Iterator[int]:
    fd = os.open(tmp_path / "f", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        yield fd
    finally:
        os.close(fd)


@pytest.mark.parametrize("code", sorted(lock_module.NO_FLOCK))
def test_flock_unsupported_here_is_none(
    one_file: int, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def unsupported(fd: int, operation: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "flock", unsupported)
    assert lock_module.take_flock(one_file, wait=False) is None


def test_another_flock_failure_is_raised(one_file: int, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(fd: int, operation: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(fcntl, "flock", failing)
    with pytest.raises(OSError) as raised:
        lock_module.take_flock(one_file, wait=True)
    assert raised.value.errno == errno.EIO


def test_a_waiting_flock_waits_and_a_quick_one_does_not(
    one_file: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    monkeypatch.setattr(fcntl, "flock", lambda fd, operation: asked.append(operation))
    assert lock_module.take_flock(one_file, wait=True) is True
    assert lock_module.take_flock(one_file, wait=False) is True
    assert asked == [fcntl.LOCK_EX, fcntl.LOCK_EX | fcntl.LOCK_NB]


@pytest.fixture
def only_portalocker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where fcntl is missing (Windows): portalocker is the OS lock."""
    monkeypatch.setattr(lock_module, "fcntl_module", lambda: None)
    monkeypatch.setattr(lock_module, "portalocker_module", lambda: portalocker)


def test_portalocker_takes_a_free_lock(one_file: int, only_portalocker: None) -> None:
    assert lock_module.take_flock(one_file, wait=False) is True


def _portalocker_raising(monkeypatch: pytest.MonkeyPatch, cause: BaseException | None) -> None:
    def refused(fd: int, flags: object) -> None:
        raise portalocker.LockException("refused") from cause

    monkeypatch.setattr(portalocker, "lock", refused)


def test_portalocker_unsupported_here_is_none(
    one_file: int, only_portalocker: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _portalocker_raising(monkeypatch, OSError(errno.ENOLCK, "No locks available"))
    assert lock_module.take_flock(one_file, wait=False) is None


def test_portalocker_os_failure_is_raised_as_it_was(
    one_file: int, only_portalocker: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _portalocker_raising(monkeypatch, OSError(errno.EIO, "Input/output error"))
    with pytest.raises(OSError) as raised:
        lock_module.take_flock(one_file, wait=False)
    assert raised.value.errno == errno.EIO and raised.value.__cause__ is None


def test_portalocker_failure_without_an_os_cause_is_an_io_error(
    one_file: int, only_portalocker: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _portalocker_raising(monkeypatch, None)
    with pytest.raises(OSError) as raised:
        lock_module.take_flock(one_file, wait=False)
    assert raised.value.errno == errno.EIO
    assert raised.value.strerror == "the vault lock: refused"


def _first_creation_finds_a_lock(monkeypatch: pytest.MonkeyPatch, lock: Path) -> None:
    """The first O_EXCL creation of LOCK is told it exists (another writer's lock, gone by
    the time we look at it)."""
    told: list[bool] = []

    def racing(flags: int) -> None:
        if flags & os.O_EXCL and not told:
            told.append(True)
            raise FileExistsError(errno.EEXIST, "File exists", str(lock))

    _on_open(monkeypatch, lock, racing)


def test_a_lock_gone_before_it_is_looked_at_is_tried_again_at_once(
    lock: Path, monkeypatch: pytest.MonkeyPatch, pauses: list[float]
) -> None:
    _first_creation_finds_a_lock(monkeypatch, lock)
    with lock_module.writer_lock(lock):
        assert lock.read_text() == f"{lock_module.host_name()}:{os.getpid()}\n"
    assert pauses == [0.0]


def test_a_lock_gone_while_its_unreadable_name_is_read_is_tried_again_at_once(
    lock: Path, monkeypatch: pytest.MonkeyPatch, pauses: list[float]
) -> None:
    """The first handle cannot read it, and meanwhile it was removed: look again."""
    lock.write_text(f"{lock_module.host_name()}:{DEAD_PID}\n")
    real_read, refused = os.read, []

    def removed_meanwhile(fd: int, size: int) -> bytes:
        if not refused and os.path.realpath(f"/proc/self/fd/{fd}").startswith(str(lock)):
            refused.append(True)
            lock.unlink()
            raise PermissionError(errno.EPERM, "Operation not permitted")
        return real_read(fd, size)

    monkeypatch.setattr(os, "read", removed_meanwhile)
    with lock_module.writer_lock(lock):
        assert lock.read_text() == f"{lock_module.host_name()}:{os.getpid()}\n"
    assert refused and pauses == [0.0]


def test_a_lock_replaced_while_it_is_judged_is_judged_again_at_once(
    lock: Path, monkeypatch: pytest.MonkeyPatch, pauses: list[float]
) -> None:
    """Another breaker removed the stale lock and a new (also stale) one took its path while
    we judged the old one: never remove what we did not judge; look again at once."""
    stale = f"{lock_module.host_name()}:{DEAD_PID}\n"
    lock.write_text(stale)
    real_flock, replaced = fcntl.flock, []

    def replacing(fd: int, operation: int) -> None:
        real_flock(fd, operation)
        if operation & fcntl.LOCK_NB and not replaced:
            replaced.append(True)
            newer = lock.parent / "newer"
            newer.write_text(stale)
            os.replace(newer, lock)

    monkeypatch.setattr(fcntl, "flock", replacing)
    with lock_module.writer_lock(lock):
        assert lock.read_text() == f"{lock_module.host_name()}:{os.getpid()}\n"
    # No pause of its own; the second try's pause is the growing one alone.
    assert replaced and pauses == [0.0, lock_module.RETRY_PAUSE_S]


def test_without_an_os_lock_a_guard_that_cannot_be_made_is_a_clear_error(
    lock: Path, no_os_lock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = f"{lock_module.host_name()}:{DEAD_PID}\n"
    lock.write_text(stale)
    guard = lock.parent / "tmp" / "lock.break"

    def failing(_flags: int) -> None:
        raise OSError(errno.EIO, "Input/output error", str(guard))

    _on_open(monkeypatch, guard, failing)
    with (
        pytest.raises(MediaFull, match=r"^cannot write the vault lock: Input/output error"),
        lock_module.writer_lock(lock),
    ):
        pass
    assert lock.read_text() == stale
