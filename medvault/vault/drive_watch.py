"""Noticing that the drive under a `medvault mount` went away: the stick pulled, its file
system's FUSE server dead, the drive unmounted.

A thread looks every PROBE_INTERVAL_S: the vault folder must still answer `stat` as the
same folder (device and inode), within PROBE_TIMEOUT_S (a drive that hangs counts as
gone), and the file system it was on when the mount started must still be listed
(workstation/mounts: by mount ID on Linux, by mount point and type elsewhere). A failed
read of a pack file makes it look at once; a read failing with an errno that only a
vanished drive gives (errors.DriveGone.errnos) is enough alone.
When the drive is gone, ON_GONE gets the reason, once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medvault.errors import DriveGone
from medvault.workstation import mounts

PROBE_INTERVAL_S = 0.5
PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Anchor:
    """The vault folder as it was when the mount started."""

    path: Path
    device: int
    inode: int
    mount: mounts.Mount | None  # the file system holding it, if the system lists it


def anchor(root: Path) -> Anchor:
    """Where the vault folder ROOT is now (raises OSError when it does not answer)."""
    path = Path(os.path.realpath(root))
    st = os.stat(path)
    return Anchor(path, st.st_dev, st.st_ino, mounts.holding(path, st.st_dev))


def why_gone(at: Anchor) -> str | None:
    """None while the vault folder answers as the same folder on the same mounted file
    system, else what is wrong."""
    try:
        st = os.stat(at.path)
    except OSError as exc:
        return f"{at.path} no longer answers ({exc.strerror})"
    if (st.st_dev, st.st_ino) != (at.device, at.inode):
        return f"{at.path} is no longer the vault's folder (the drive was unmounted)"
    if at.mount is not None and mounts.still_mounted(at.mount) is False:
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
