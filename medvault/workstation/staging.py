"""Private staging folders for `medvault export`, in memory-backed storage.

An export command writes plaintext PHI into the staging folder; that folder must not be on
a disk (a deleted file's blocks survive there), so it is made under /dev/shm or
$XDG_RUNTIME_DIR when either is a tmpfs, mode 0700. macOS and Windows have no such folder:
there staging needs --allow-disk-staging. Folder names carry the owner's pid, so
the next run removes what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from medvault.errors import UsageError
from medvault.workstation.mounts import filesystem_of
from medvault.workstation.processes import process_alive

PREFIX = "medvault-export-"
KEPT = "medvault-export-kept-"  # kept on purpose (read-back failed): never swept
NAME = re.compile(r"medvault-export-(\d+)-[A-Za-z0-9_]+")
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})


@dataclass(frozen=True)
class StagingRoot:
    path: Path
    memory_backed: bool
    filesystem: str


def memory_folders(platform: str = sys.platform) -> list[Path]:
    """The memory-backed folders this platform has for everyone: Linux's /dev/shm and the
    user's runtime folder (both tmpfs on systemd systems). macOS and Windows have none
    without an administrator making a RAM disk, and medvault cannot tell such a disk from
    any other there (its type is that of a disk), so it finds none."""
    if not platform.startswith("linux"):
        return []
    found = [Path("/dev/shm")]  # noqa: S108 - a private folder is made in it by mkdtemp
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        found.append(Path(runtime))
    return found


def choose_root(
    explicit: Path | None, allow_disk: bool, platform: str = sys.platform
) -> StagingRoot:
    """EXPLICIT ($MEDVAULT_STAGING_DIR), else the platform's memory folders
    (memory_folders); it must be memory-backed unless ALLOW_DISK."""
    candidates = [explicit] if explicit is not None else memory_folders(platform)
    for candidate in candidates:
        if candidate.is_dir() and os.access(candidate, os.W_OK):
            kind = filesystem_of(candidate)
            if kind in MEMORY_FILESYSTEMS:
                return StagingRoot(candidate, True, kind)
    if not allow_disk:
        raise _no_memory_folder(candidates, platform)
    fallback = explicit if explicit is not None else Path(tempfile.gettempdir())
    return StagingRoot(fallback, False, filesystem_of(fallback) or "unknown")


def _no_memory_folder(candidates: list[Path], platform: str) -> UsageError:
    risk = "plaintext staged on a disk can be recovered after deletion"
    if not candidates:
        return UsageError(
            f"this computer ({platform}) has no memory-backed folder medvault can recognise "
            "for staging the export's plaintext",
            hint=f"{risk}; pass --allow-disk-staging to accept that risk (with "
            "MEDVAULT_STAGING_DIR naming a RAM disk, if you made one)",
        )
    where = ", ".join(str(c) for c in candidates)
    return UsageError(
        f"no memory-backed staging folder ({where} is missing or not a tmpfs)",
        hint=f"{risk}; mount a tmpfs, or pass --allow-disk-staging to accept that risk",
    )


def make(root: StagingRoot) -> Path:
    """A new private folder (mode 0700) named after this process."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=root.path))


def wipe(folder: Path) -> None:
    """Remove a staging folder and everything in it (in RAM: removal is enough)."""
    shutil.rmtree(folder, ignore_errors=True)


def keep(folder: Path) -> Path:
    """Rename a staging folder so later sweeps leave it alone (its files are still needed)."""
    kept = folder.with_name(KEPT + folder.name[len(PREFIX) :])
    folder.rename(kept)
    return kept


def sweep_stale(root: StagingRoot) -> list[Path]:
    """Remove staging folders of this user whose process is gone (a killed export)."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(root.path))
    except OSError:
        return removed
    for entry in entries:
        match = NAME.fullmatch(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        with contextlib.suppress(OSError):
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            if process_alive(int(match.group(1))):
                continue
            wipe(Path(entry.path))
            removed.append(Path(entry.path))
    return removed
