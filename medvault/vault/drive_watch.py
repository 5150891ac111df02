"""Noticing that the drive under a `medvault mount` went away: the stick pulled, its file
system's FUSE server dead, the drive unmounted.

A thread looks every PROBE_INTERVAL_S: the vault folder must still answer `stat` as the
same folder (device and inode), within PROBE_TIMEOUT_S (a drive that hangs counts as
gone), and the file system it was on when the mount started must still be listed in
/proc/self/mountinfo. A failed read of a pack file makes it look at once; a read failing
with an errno that only a vanished drive gives (errors.DriveGone.errnos) is enough alone.
When the drive is gone, ON_GONE gets the reason, once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medvault.errors import DriveGone

PROBE_INTERVAL_S = 0.5
PROBE_TIMEOUT_S = 2.0
MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class Anchor:
    """The vault folder as it was when the mount started."""

    path: Path
    device: int
    inode: int
    mount_id: str | None  # its file system's line in /proc/self/mountinfo, if readable


def _mount_lines() -> list[list[str]] | None:
    try:
        text = MOUNTINFO.read_text(errors="replace")
    except OSError:
        return None
    return [line.split(" ") for line in text.splitlines() if line]


def _unescape(field: str) -> str:
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mount_id_of(path: Path, device: int) -> str | None:
    """The mount ID of the file system holding PATH (on DEVICE): the longest mount point
    above PATH whose device numbers match; None when /proc/self/mountinfo says nothing."""
    lines = _mount_lines() or []
    wanted = f"{os.major(device)}:{os.minor(device)}"
    best: tuple[int, str] | None = None
    for fields in lines:
        if len(fields) < 5 or fields[2] != wanted:
            continue
        point = _unescape(fields[4])
        above = path == Path(point) or Path(point) in path.parents
        if above and (best is None or len(point) > best[0]):
            best = (len(point), fields[0])
    return None if best is None else best[1]


def anchor(root: Path) -> Anchor:
    """Where the vault folder ROOT is now (raises OSError when it does not answer)."""
    path = Path(os.path.realpath(root))
    st = os.stat(path)
    return Anchor(path, st.st_dev, st.st_ino, mount_id_of(path, st.st_dev))


def why_gone(at: Anchor) -> str | None:
    """None while the vault folder answers as the same folder on the same mounted file
    system, else what is wrong."""
    try:
        st = os.stat(at.path)
    except OSError as exc:
        return f"{at.path} no longer answers ({exc.strerror})"
    if (st.st_dev, st.st_ino) != (at.device, at.inode):
        return f"{at.path} is no longer the vault's folder (the drive was unmounted)"
    lines = _mount_lines()
    listed = lines is None or any(fields[0] == at.mount_id for fields in lines)
    if at.mount_id is not None and not listed:
        return f"the file system holding {at.path} was unmounted"
    return None


def probe(at: Anchor, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """why_gone, in a thread of its own: a drive that does not answer in TIMEOUT_S is gone."""
    answer: list[str | None] = []
    thread = threading.Thread(target=lambda: answer.append(why_gone(at)), daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not answer:
        return f"{at.path} did not answer within {timeout_s:g} s"
    return answer[0]


class DriveWatch:
    """Watches the vault folder ROOT in a daemon thread from start() to stop()."""

    def __init__(
        self, root: Path, on_gone: Callable[[str], None], interval_s: float = PROBE_INTERVAL_S
    ) -> None:
        self.anchor = anchor(root)
        self.on_gone = on_gone
        self.interval_s = interval_s
        self.gone: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._told: str | None = None
        self._thread = threading.Thread(target=self._run, name="drive-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def suspect(self, exc: BaseException) -> None:
        """A read from the drive failed with EXC: the watching thread looks now; an errno
        only a vanished drive gives is enough alone. (ON_GONE always runs in that thread,
        never in the caller's, which may be serving the mount.)"""
        if isinstance(exc, OSError) and exc.errno in DriveGone.errnos:
            self._told = f"{self.anchor.path} no longer answers ({exc.strerror})"
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            reason = self._told or probe(self.anchor)
            if reason is not None:
                self.gone = reason
                self.on_gone(reason)
                return
