"""`medvault mount`: the vault's live files as a read-only file system (FUSE, mfusepy).

The files are those `extract` would write (engine/path_index.live_files), listed once when
the mount starts; folders come from their paths. A read decrypts only the chunks it needs
(engine/random_reading.py), each authenticated before a byte of it is returned; a damaged
chunk makes that read fail with EIO, and other ranges and files still read. Nothing is
written: every change is refused with EROFS and the mount is made read-only. Decrypted
bytes stay in memory (a small LRU of chunks), never in a file; only the user who mounts
can see the files (no allow_other). Reads bypass the page cache (direct_io), so a read
cut short by a damaged chunk returns only the authentic bytes before it, never zeros the
kernel would add. The mount ends on Ctrl-C, on `medvault unmount`, or
after IDLE minutes without access with no file open; and when the drive holding the vault
goes away (vault/drive_watch.py): then it unmounts itself and `mount` fails with DriveGone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medvault.engine.catalog import Located
from medvault.engine.entry_reading import open_reader, pack_exists
from medvault.engine.path_index import live_files
from medvault.engine.random_reading import ChunkCache, EntryReader
from medvault.engine.session import UnlockedVault
from medvault.errors import DriveGone, MedvaultError, NotFound, UsageError, VaultBusy
from medvault.registry.actions import Action
from medvault.registry.records import CustodyRegistry
from medvault.vault.custody import record as record_event
from medvault.vault.drive_watch import DriveWatch
from medvault.vault.env import Env

FILE_MODE = stat.S_IFREG | 0o400
DIR_MODE = stat.S_IFDIR | 0o500
INSTALL_HINT = "pip install 'medvault[mount]' (mfusepy), and libfuse (apt-get install fuse)"


def _refuse(*_args: object) -> None:
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


@dataclass
class VaultTree:
    """The file system a mount serves, without FUSE: the calls mfusepy makes (paths
    start with "/"), raising OSError with the errno FUSE returns."""

    vault: UnlockedVault
    files: dict[str, Located] = field(default_factory=dict)
    folders: dict[str, set[str]] = field(default_factory=lambda: {"": set()})
    folder_mtime: dict[str, int] = field(default_factory=dict)  # the newest file under it
    cache: ChunkCache = field(default_factory=ChunkCache)
    last_access: float = field(default_factory=time.monotonic)
    # Told of every failed open or read of a pack file (the drive may be gone).
    on_failure: Callable[[BaseException], None] = lambda exc: None
    _handles: dict[int, EntryReader] = field(default_factory=dict)
    _next_fh: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)
    use_ns = True  # mfusepy: times in nanoseconds

    def add(self, loc: Located) -> None:
        """Place a live file, making the folders on its path. A path that is also a folder
        of another file's path stays a folder (the file is not shown)."""
        parts = loc.path.split("/")
        for depth in range(1, len(parts)):
            parent, name = "/".join(parts[: depth - 1]), parts[depth - 1]
            if parent in self.files:
                return
            self.folders.setdefault(parent, set()).add(name)
            self.folders.setdefault("/".join(parts[:depth]), set())
        if loc.path in self.folders:
            return
        self.files[loc.path] = loc
        self.folders["/".join(parts[:-1])].add(parts[-1])
        for depth in range(len(parts)):
            folder = "/".join(parts[:depth])
            self.folder_mtime[folder] = max(self.folder_mtime.get(folder, 0), loc.mtime_ns)

    @property
    def open_count(self) -> int:
        return len(self._handles)

    def _key(self, path: str) -> str:
        self.last_access = time.monotonic()
        return path.strip("/")

    def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
        key = self._key(path)
        owner = {"st_uid": os.getuid(), "st_gid": os.getgid()}
        if key in self.folders:
            at = self.folder_mtime.get(key, 0)
            times = {"st_mtime": at, "st_atime": at, "st_ctime": at}
            return {"st_mode": DIR_MODE, "st_nlink": 2, "st_size": 0, **times, **owner}
        loc = self.files.get(key)
        if loc is None:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
        at = loc.mtime_ns
        times = {"st_mtime": at, "st_atime": at, "st_ctime": at}
        sizes = {"st_size": loc.size, "st_blocks": (loc.size + 511) // 512}
        return {"st_mode": FILE_MODE, "st_nlink": 1, **sizes, **times, **owner}

    def readdir(self, path: str, fh: int) -> list[str]:
        names = self.folders.get(self._key(path))
        if names is None:
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        return [".", "..", *sorted(names)]

    def open(self, path: str, flags: int) -> int:
        if flags & os.O_ACCMODE != os.O_RDONLY or flags & os.O_TRUNC:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        key = self._key(path)
        loc = self.files.get(key)
        if loc is None:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
        try:
            entry = self._entry(loc)
        except (MedvaultError, OSError) as exc:
            # A compact (or rm and compact) run since the mount started may have moved the
            # file into a new pack, or removed it: the index says which.
            now = self._moved(loc)
            if now is None:
                self.on_failure(exc)
                raise OSError(errno.EIO, os.strerror(errno.EIO)) from None
            if now == "removed":
                raise OSError(errno.ENOENT, os.strerror(errno.ENOENT)) from None
            self.files[key] = now
            return self.open(path, flags)
        with self._lock:
            fh, self._next_fh = self._next_fh, self._next_fh + 1
            self._handles[fh] = entry
        return fh

    def _entry(self, loc: Located) -> EntryReader:
        reader = open_reader(self.vault, loc.pack)
        try:
            return EntryReader(self.vault, reader, loc, self.cache)
        except BaseException:
            with contextlib.suppress(OSError):
                reader.close()
            raise

    def _moved(self, loc: Located) -> Located | Literal["removed"] | None:
        """Where LOC is now if its pack is gone (compacted away): its new place, "removed"
        when no live file at its path is its entry, or None (the pack is there, or the
        index cannot be read: the failure stands). Looked up by path through the path
        index, not the whole journal (a vault of a million files)."""
        try:
            if pack_exists(self.vault, loc.pack):
                return None
            with live_files(self.vault) as live:
                try:
                    hits = live.select([loc.path])
                except NotFound:
                    hits = []
        except (MedvaultError, OSError):
            return None
        now = next((x for x in hits if x.file_id == loc.file_id), None)
        if now is None:
            return "removed"
        return now if now.pack != loc.pack else None

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        self._key(path)
        entry = self._handles.get(fh)
        if entry is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        try:
            return entry.read_prefix(offset, size)
        except (MedvaultError, OSError) as exc:
            self.on_failure(exc)
            raise OSError(errno.EIO, os.strerror(errno.EIO)) from None

    def release(self, path: str, fh: int) -> None:
        with self._lock:
            entry = self._handles.pop(fh, None)
        if entry is not None:
            with contextlib.suppress(OSError):  # a drive gone answers close with ENOTCONN
                entry.close()

    def release_all(self) -> None:
        """Close every file still open (the mount has ended)."""
        for fh in list(self._handles):
            self.release("", fh)

    def statfs(self, path: str) -> dict[str, int]:
        total = sum(loc.size for loc in self.files.values())
        blocks = (total + 4095) // 4096
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": blocks, "f_namemax": 255}

    # Every change is refused (the mount is also made read-only: the kernel refuses first).
    write = create = truncate = unlink = mkdir = rmdir = rename = _refuse
    symlink = link = chmod = chown = utimens = setxattr = removexattr = _refuse


def build_tree(vault: UnlockedVault) -> VaultTree:
    """The live files of VAULT, as `extract` lists them, placed in their folders."""
    tree = VaultTree(vault)
    with live_files(vault) as live:
        for loc in live.all():
            tree.add(loc)
    return tree


def check_mountpoint(mountpoint: Path) -> None:
    if not mountpoint.is_dir():
        raise UsageError(f"{mountpoint} is not a folder", hint="make an empty folder first")
    if os.path.ismount(mountpoint):
        raise UsageError(f"something is already mounted at {mountpoint}")
    if any(mountpoint.iterdir()):
        raise UsageError(f"{mountpoint} is not empty", hint="mount on an empty folder")


def load_fuse() -> Any:
    """mfusepy, or MedvaultError saying what to install (it is an optional dependency)."""
    if not os.path.exists("/dev/fuse"):
        raise MedvaultError("this system has no /dev/fuse: FUSE is needed to mount")
    try:
        import mfusepy  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:
        raise MedvaultError(f"mount needs mfusepy and libfuse ({exc})", hint=INSTALL_HINT) from None
    return mfusepy


def unmount(mountpoint: Path) -> None:
    """Detach the FUSE file system at MOUNTPOINT (its `medvault mount` then exits)."""
    if not os.path.ismount(mountpoint):
        raise NotFound(f"nothing is mounted at {mountpoint}")
    tool = shutil.which("fusermount") or shutil.which("fusermount3")
    argv = [tool, "-u", str(mountpoint)] if tool else ["umount", str(mountpoint)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        why = done.stderr.strip() or f"{argv[0]} exited {done.returncode}"
        if "busy" in why.lower():
            raise VaultBusy(f"{mountpoint} is in use: {why}", hint="close the files open in it")
        raise MedvaultError(f"could not unmount {mountpoint}: {why}")


def end_mount(mountpoint: Path, serving_thread: int) -> None:
    """Make the FUSE loop serving MOUNTPOINT in thread SERVING_THREAD return: unmount; when
    a file is still open in it (busy), send that thread SIGTERM, which libfuse's handler
    turns into the end of its loop, after which libfuse detaches the mount lazily (as on
    Ctrl-C)."""
    try:
        unmount(mountpoint)
        return
    except MedvaultError:
        pass
    with contextlib.suppress(ProcessLookupError):
        signal.pthread_kill(serving_thread, signal.SIGTERM)


def watch_idle(tree: VaultTree, mountpoint: Path, idle_s: float, stop: threading.Event) -> None:
    """Unmount once nothing has touched the mount for IDLE_S seconds and no file is open."""
    step = min(5.0, max(0.1, idle_s / 4))
    while not stop.wait(step):
        if tree.open_count == 0 and time.monotonic() - tree.last_access >= idle_s:
            try:
                unmount(mountpoint)
            except MedvaultError:
                continue  # busy after all, or already gone: look again
            return


def mount(
    vault: UnlockedVault,
    mountpoint: Path,
    registry: CustodyRegistry,
    env: Env,
    idle_minutes: float | None = None,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve VAULT's live files at MOUNTPOINT until it is unmounted (Ctrl-C, `medvault
    unmount`, IDLE_MINUTES without access). Records a `mount` event first; READY gets the
    number of files before the mount starts. Raises DriveGone, once unmounted, when the
    drive holding VAULT went away."""
    fuse = load_fuse()
    check_mountpoint(mountpoint)
    tree = build_tree(vault)
    record_event(
        registry,
        env,
        Action.MOUNT,
        {"files": len(tree.files), "read_only": True, "idle_minutes": idle_minutes},
        vault=vault,
    )
    if ready is not None:
        ready(len(tree.files))
    serving = threading.get_ident()
    watch = DriveWatch(vault.paths.root, lambda _why: end_mount(mountpoint, serving))
    tree.on_failure = watch.suspect
    stop = threading.Event()
    if idle_minutes is not None:
        watcher = threading.Thread(
            target=watch_idle, args=(tree, mountpoint, idle_minutes * 60, stop), daemon=True
        )
        watcher.start()
    watch.start()
    try:
        fuse.FUSE(tree, str(mountpoint), foreground=True, nothreads=True, ro=True,
                  fsname="medvault", subtype="medvault", default_permissions=True,
                  direct_io=True)  # fmt: skip
    finally:
        stop.set()
        watch.stop()
        tree.release_all()
    if watch.gone is not None:
        raise DriveGone(
            f"the drive holding the vault is gone: {watch.gone}; {mountpoint} is unmounted",
            hint="plug the drive in (mount it) again and run medvault mount again",
        )
