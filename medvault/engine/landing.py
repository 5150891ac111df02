"""Where extracted plaintext lands: private partial files, made durable in batches, then
renamed to their real names.

Each file is written to DEST/.<random>.medvault-partial (mode 0600, folders 0700) and only
renamed once it has passed authentication. Renames wait for a batch (BATCH_FILES files or
BATCH_BYTES bytes): one sync of the file system makes every partial in it durable before
any of them gets its name, so after a power cut a name never shows a file whose data did
not reach the disk. One fsync per file made extracting 10,000 small files thirty times
slower than cp -r; one sync per batch costs about what cp -r pays the kernel anyway.

Nothing below DEST is reached by a path: DEST is opened once (O_NOFOLLOW), and every
folder, partial file and rename is made relative to an open folder descriptor
(mkdirat/openat with O_NOFOLLOW, renameat). A folder or file swapped for a symbolic link
while the extract runs is refused for the files under it, never followed, so nothing is
written outside DEST. A name is given without replacing anything there at that moment
(renameat2 RENAME_NOREPLACE, else link + unlink); --force replaces regular files only.

A partial that will not be renamed (failed check, error, interrupt) is zeroed before it is
deleted: on FAT/exFAT the zeros land in the file's own clusters, so no plaintext is left in
free space.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import os
import stat
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

from medvault.crypto.symmetric import random_bytes
from medvault.engine.names import shown
from medvault.errors import AlreadyExists, MedvaultError, UnsafePath
from medvault.store.fsio import sync_filesystem
from medvault.store.sequential import SequentialWriter

PARTIAL_SUFFIX = ".medvault-partial"
BATCH_FILES = 1000
BATCH_BYTES = 64 * 1024 * 1024
# Small files are created, written and renamed by this many threads: each is mostly
# waiting on the file system's per-file work (outside the GIL), which overlaps.
WRITERS = 4
CHUNK = 32  # files per writer task: one task per file costs more than a small file
CHUNK_BYTES = 256 * 1024  # ... or fewer, when they hold this much
# Plaintext handed to the writers and not yet written: beyond this, the extract waits for
# the oldest task. Without a bound a batch (1,000 files) of it could wait in memory.
UNWRITTEN_BYTES = 512 * 1024  # 4 KiB files: a 32-file chunk a writer; a whole batch was no faster
ZERO_BLOCK = 1024 * 1024
# A name refused by the file system (fusefat: EPERM; vfat: EINVAL; exfat-fuse: ENOENT).
NAME_ERRNOS = frozenset({errno.EINVAL, errno.EPERM, errno.EILSEQ, errno.ENAMETOOLONG, errno.ENOENT})
# A modification time this system or file system cannot set (the file still lands).
TIME_ERRNOS = frozenset({errno.EINVAL, errno.EPERM, errno.EOVERFLOW, errno.ERANGE})
# link(2) answers on file systems without hard links (fusefat, exfat-fuse, vfat: EPERM).
NO_LINK_ERRNOS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK, errno.EXDEV})
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
PARTIAL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# Open folders kept for later files (besides those with files waiting in the batch); a
# batch with files in this many folders is flushed early, so the descriptors stay few.
KEEP_FOLDERS = 64
MAX_BUSY_FOLDERS = 256
# A large file's partial is opened through its folder's descriptor here (Linux).
PROC_FD = Path("/proc/self/fd")
RENAME_NOREPLACE = 1


class Refused(Exception):
    """One file is not extracted (the others go on); ERROR says why."""

    def __init__(self, error: MedvaultError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class Folder:
    """An open folder under DEST (or DEST itself)."""

    fd: int
    users: int = 0  # files of the batch in it: it stays open until they are done


class Target(NamedTuple):
    """A file's path under DEST: NAME in FOLDER, a Path made once per folder. The file's
    own Path is made only to be shown or kept (`path`): pathlib interns every name it
    parses (Python 3.11), which grew a 10,000-file extract by ~0.5 MiB."""

    folder: Path
    name: str

    @property
    def path(self) -> Path:
        return self.folder / self.name

    def __fspath__(self) -> str:
        return os.path.join(self.folder, self.name)

    def __str__(self) -> str:
        return self.__fspath__()


def as_path(target: Path | Target) -> Path:
    return target.path if isinstance(target, Target) else target


@dataclass(frozen=True)
class Spot:
    """Where one file lands: NAME in FOLDER; TARGET is the path shown to the user."""

    folder: Folder
    name: str
    target: Path | Target
    stored: str


@dataclass
class Staged:
    spot: Spot
    partial: str  # its name in the same folder
    size: int = 0
    sha256: str = ""
    written: Future[None] | None = None  # a writer thread is creating it
    untimed: bool = False  # its modification time could not be set
    # Whether the partial at its name is the one created here: a small file's is created
    # later by a writer, and a file already at that name (O_EXCL refused) is not scrubbed.
    created: bool = True

    @property
    def target(self) -> Path:
        return as_path(self.spot.target)


@dataclass
class Landing:
    """Partial files waiting for their batch's sync and rename, under DEST."""

    dest: Path
    probe_names: bool  # FAT/exFAT: create each name empty first (see prepare)
    folders: Folders
    force: bool = False
    # Called with each file once it has its name; without it the files are kept in
    # `landed` (an extract of a million files hands them on instead of holding them).
    on_landed: Callable[[Staged], None] | None = None
    staged: list[Staged] = field(default_factory=list)
    landed: list[Staged] = field(default_factory=list)
    landed_count: int = 0
    refused: list[tuple[Staged, MedvaultError]] = field(default_factory=list)
    _staged_bytes: int = 0
    _pool: ThreadPoolExecutor | None = None
    _chunk: list[tuple[Staged, bytes, int]] = field(default_factory=list)
    _chunk_bytes: int = 0
    # Writer tasks not known to be done, oldest first, with the bytes each holds.
    _unwritten: deque[tuple[Future[None], int]] = field(default_factory=deque)
    _unwritten_bytes: int = 0
    _namer: Namer = field(default_factory=lambda: Namer())  # defined below

    @classmethod
    def open(
        cls,
        dest: Path,
        probe_names: bool,
        force: bool,
        shared_ok: bool,
        on_landed: Callable[[Staged], None] | None = None,
    ) -> Landing:
        """Create DEST if needed (0700, and its missing parents), open it and check it is
        private. SHARED_OK: a file system that holds no symbolic links (FAT/exFAT, whose
        modes are the mount's), where a DEST others can write is taken."""
        root = open_dest(dest, shared_ok)
        folders = Folders(root, dest, check_owner=not shared_ok)
        return cls(dest, probe_names, folders, force, on_landed)

    def prepare(self, stored: str, target: Path | Target) -> Spot:
        """Open (making them, 0700: the names in them are PHI too) the folders of STORED,
        never through a symbolic link, and, on FAT/exFAT, create the file's name empty and
        remove it: a name the file system refuses fails here, before any plaintext is
        written (after a refused rename, fusefat no longer zeroes the partial file's own
        clusters). Raises Refused if a folder on the way is a link, a file or another
        user's."""
        if self.folders.busy >= MAX_BUSY_FOLDERS:
            self.flush()
        folder_path, _, name = stored.rpartition("/")
        try:
            folder = self.folders.get(folder_path)
            if self.probe_names:
                probe(folder.fd, name)
        except OSError as exc:
            if exc.errno not in NAME_ERRNOS:
                raise
            raise refused_name(as_path(target), exc) from None
        return Spot(folder, name, target, stored)

    def open_partial(self, spot: Spot) -> tuple[Staged, SequentialWriter | PlainWriter]:
        """A new partial file for a large file's plaintext, written in big blocks past the
        page cache where the file system allows (the batch's sync makes it durable)."""
        item = self._claim(spot)
        try:
            return item, _large_writer(spot.folder.fd, item.partial)
        except BaseException:
            self._release(item)
            raise

    def write_small(self, spot: Spot, data: bytes, sha256: str, mtime_ns: int) -> None:
        """DATA is the file's whole, authenticated plaintext: a writer thread puts it in a
        partial file, renamed with the next batch."""
        item = self._claim(spot)
        item.size, item.sha256, item.created = len(data), sha256, False
        # Staged before it is written, so that discard() scrubs it whatever happens.
        self.staged.append(item)
        self._staged_bytes += len(data)
        self._chunk.append((item, data, mtime_ns))
        self._chunk_bytes += len(data)
        if len(self._chunk) >= CHUNK or self._chunk_bytes >= CHUNK_BYTES:
            self._hand_over()
        if len(self.staged) >= BATCH_FILES or self._staged_bytes >= BATCH_BYTES:
            self.flush()

    def _claim(self, spot: Spot) -> Staged:
        self.folders.claim(spot.folder)
        return Staged(spot, partial_name())

    def _release(self, item: Staged) -> None:
        self.folders.release(item.spot.folder)

    def _hand_over(self) -> None:
        if not self._chunk:
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor  # not loaded during Argon2id

            self._pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="medvault-land")
        chunk, self._chunk = self._chunk, []
        written = self._pool.submit(_write_files, chunk)
        for item, _data, _mtime in chunk:
            item.written = written
        self._unwritten.append((written, self._chunk_bytes))
        self._unwritten_bytes += self._chunk_bytes
        self._chunk_bytes = 0
        while self._unwritten and (
            self._unwritten[0][0].done() or self._unwritten_bytes > UNWRITTEN_BYTES
        ):
            oldest, size = self._unwritten.popleft()
            oldest.exception()  # waits; what it raised is flush's to report, per file
            self._unwritten_bytes -= size

    def stage(self, item: Staged, size: int, sha256: str, mtime_ns: int) -> None:
        """ITEM's partial is complete and authenticated: give it its name with the next
        batch."""
        try:
            item.untimed = not _set_time(
                functools.partial(
                    os.utime, item.partial, dir_fd=item.spot.folder.fd, follow_symlinks=False
                ),
                mtime_ns,
            )
        except BaseException:
            self.abandon(item)
            raise
        item.size, item.sha256 = size, sha256
        self.staged.append(item)
        self._staged_bytes += size
        if len(self.staged) >= BATCH_FILES or self._staged_bytes >= BATCH_BYTES:
            self.flush()

    def abandon(self, item: Staged) -> None:
        """Zero and delete ITEM's partial, if it was created (never raises)."""
        if item.created:
            scrub(item.spot.folder.fd, item.partial)
        self._release(item)

    def flush(self) -> None:
        """Wait for the writers, sync, then rename every staged partial; the renames become
        durable with the next batch's sync or `finish`."""
        if not self.staged:
            return
        self._hand_over()
        for item in self.staged:
            # item.target only on failure: it makes a Path, whose names Python 3.11 interns
            # (~0.9 MiB over a 10,000-file extract).
            if item.written is not None and (problem := item.written.exception()) is not None:
                _name_refused_or_raise(problem, item.target)
        sync_filesystem(self.dest)
        groups = [self.staged[i : i + CHUNK] for i in range(0, len(self.staged), CHUNK)]
        rename_all = functools.partial(_rename_all, self._namer, self.force)
        if self._pool is None:
            problems = [p for group in groups for p in rename_all(group)]
        else:
            problems = [p for done in self._pool.map(rename_all, groups) for p in done]
        failed: list[tuple[Staged, BaseException]] = []
        for item, problem in zip(self.staged, problems, strict=True):
            if problem is None:
                self.landed_count += 1
                if self.on_landed is None:
                    self.landed.append(item)
                else:
                    self.on_landed(item)
                self._release(item)
            elif isinstance(problem, MedvaultError):
                self.refused.append((item, problem))  # this file only: the others land
                self.abandon(item)
            else:
                failed.append((item, problem))
        self.staged = [item for item, _problem in failed]
        self._staged_bytes = sum(item.size for item in self.staged)
        for item, problem in failed:
            _name_refused_or_raise(problem, item.target)

    def finish(self) -> None:
        self.flush()
        self._stop()
        if self.landed_count:
            sync_filesystem(self.dest)  # the last batch's renames
        self.folders.close()

    def discard(self) -> None:
        """Zero and delete every partial not renamed yet (never raises)."""
        self._stop()
        for item in self.staged:
            self.abandon(item)
        self.staged.clear()
        self._staged_bytes = 0
        self.folders.close()

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._unwritten.clear()
        self._unwritten_bytes = 0


class Folders:
    """Descriptors of the folders under DEST, opened one component at a time from DEST's
    (mkdirat, then openat with O_NOFOLLOW), and kept while files still come to them."""

    def __init__(self, root: int, dest: Path, check_owner: bool) -> None:
        self.root = Folder(root)
        self.dest = dest
        self.check_owner = check_owner
        self._open: dict[str, Folder] = {}  # least recently used first
        self.busy = 0  # folders with files of the batch in them

    def claim(self, folder: Folder) -> None:
        folder.users += 1
        self.busy += folder.users == 1

    def release(self, folder: Folder) -> None:
        folder.users -= 1
        self.busy -= folder.users == 0

    def get(self, path: str) -> Folder:
        """The open folder PATH ('a/b', '' for DEST), made if missing."""
        if not path:
            return self.root
        hit = self._open.pop(path, None)
        if hit is None:
            hit = self._open_down(path)
        self._open[path] = hit
        self._trim(keep=hit)
        return hit

    def _open_down(self, path: str) -> Folder:
        """Walk down from the nearest folder already open (no recursion: a tree may be
        hundreds of levels deep)."""
        names: list[str] = []
        above = path
        while above and above not in self._open:
            above, _, name = above.rpartition("/")
            names.append(name)
        folder = self._open[above] if above else self.root
        for name in reversed(names):
            above = f"{above}/{name}" if above else name
            folder = Folder(self._open_one(folder.fd, name, above))
            self._open[above] = folder
        return folder

    def _open_one(self, parent: int, name: str, path: str) -> int:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=parent)
        try:
            fd = os.open(name, DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            what = _kind_at(parent, name)
            raise Refused(
                UnsafePath(f"{shown(self.dest / path)} is {what}, not a folder: not followed")
            ) from None
        if self.check_owner and (owner := os.fstat(fd).st_uid) not in (os.geteuid(), 0):
            os.close(fd)
            raise Refused(
                UnsafePath(f"{shown(self.dest / path)} belongs to another user (uid {owner})")
            )
        return fd

    def _trim(self, keep: Folder) -> None:
        if len(self._open) <= KEEP_FOLDERS:
            return
        for path, folder in list(self._open.items()):
            if len(self._open) <= KEEP_FOLDERS:
                break
            if folder.users == 0 and folder is not keep:
                del self._open[path]
                _close(folder.fd)

    def close(self) -> None:
        for folder in self._open.values():
            _close(folder.fd)
        self._open.clear()
        _close(self.root.fd)


def open_dest(dest: Path, shared_ok: bool) -> int:
    """DEST's descriptor: missing folders made 0700 one at a time from the nearest existing
    one (never through a link made meanwhile), DEST itself not a symbolic link, and private
    (see private_problem) unless SHARED_OK."""
    missing: list[str] = []
    existing = dest
    while not os.path.lexists(existing) and existing != existing.parent:
        missing.append(existing.name)
        existing = existing.parent
    fd = -1
    try:
        # The existing part of the path is the user's choice and may hold links; DEST may not.
        fd = os.open(existing, DIR_FLAGS if not missing else DIR_FLAGS & ~os.O_NOFOLLOW)
        for name in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=fd)
            parent, fd = fd, os.open(name, DIR_FLAGS, dir_fd=fd)
            _close(parent)
    except OSError as exc:
        if fd >= 0:
            _close(fd)  # the folder reached so far: a refusal leaves nothing open
        if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
        raise UnsafePath(
            f"{shown(dest)} is a symbolic link or not a folder",
            hint="name the folder itself, or a new folder (medvault creates it, mode 0700)",
        ) from None
    problem = None if shared_ok else private_problem(os.fstat(fd))
    if problem is not None:
        _close(fd)
        raise UnsafePath(
            f"{shown(dest)} {problem}, who could see or redirect what is extracted",
            hint="name a new folder (medvault creates it, mode 0700), or `chmod go-w` this one",
        )
    return fd


def private_problem(st: os.stat_result) -> str | None:
    """Why other users could change the folder ST describes, if they could: it is another
    user's, or others can write it (a sticky folder of this user's is taken: others cannot
    rename or remove what medvault makes in it)."""
    me = os.geteuid()
    if st.st_uid not in (me, 0):
        return f"belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o022 and not (st.st_mode & stat.S_ISVTX and st.st_uid == me):
        return f"can be written by other users (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


class Namer:
    """Gives a partial its final name without replacing anything there at that moment:
    renameat2(RENAME_NOREPLACE); where the file system refuses that flag, link(2) (which
    fails if the name exists) then unlink; where it has no hard links either (FAT/exFAT
    through FUSE), a check of the name just before the rename."""

    def __init__(self) -> None:
        self.use_renameat2 = libc_renameat2() is not None
        self.use_link = True

    def give(self, fd: int, partial: str, name: str, force: bool) -> None:
        """Raises Refused-worthy MedvaultErrors for a name that is taken (AlreadyExists,
        or UnsafePath when FORCE meets something other than a regular file)."""
        try:
            self._no_replace(fd, partial, name)
        except FileExistsError:
            if not force:
                raise AlreadyExists(
                    "a file appeared at its name during the extract: not replaced",
                    hint="use --force to overwrite",
                ) from None
        else:
            return
        what = _kind_at(fd, name)
        if what not in ("a file", None):
            raise UnsafePath(f"its name is taken by {what}: not replaced, even with --force")
        # A swap after this check replaces the link itself, never what it points to.
        os.replace(partial, name, src_dir_fd=fd, dst_dir_fd=fd)

    def _no_replace(self, fd: int, partial: str, name: str) -> None:
        if self.use_renameat2 and _renameat2_noreplace(fd, partial, name):
            return
        self.use_renameat2 = False
        if self.use_link:
            try:
                os.link(partial, name, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in NO_LINK_ERRNOS:
                    raise
                self.use_link = False
            else:
                # Both names are one complete file now: a failure here leaves a second
                # hidden name, never a scrub of the landed file.
                with contextlib.suppress(OSError):
                    os.unlink(partial, dir_fd=fd)
                return
        if _kind_at(fd, name) is not None:
            raise FileExistsError(errno.EEXIST, "File exists", name)
        os.rename(partial, name, src_dir_fd=fd, dst_dir_fd=fd)


@functools.cache
def libc_renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    function.argtypes.append(ctypes.c_uint)
    function.restype = ctypes.c_int
    call: Callable[[int, bytes, int, bytes, int], int] = function
    return call


def _renameat2_noreplace(fd: int, partial: str, name: str) -> bool:
    """Rename unless NAME exists (FileExistsError); False if the file system (or kernel)
    does not take RENAME_NOREPLACE."""
    import ctypes

    call = libc_renameat2()
    assert call is not None
    if call(fd, os.fsencode(partial), fd, os.fsencode(name), RENAME_NOREPLACE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), name)


def _kind_at(fd: int, name: str) -> str | None:
    """What NAME in the folder FD is, for a message (None: nothing)."""
    try:
        mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a file" if stat.S_ISREG(mode) else "a special file"


def probe(fd: int, name: str) -> None:
    try:
        os.close(os.open(name, PARTIAL_FLAGS, 0o600, dir_fd=fd))
    except FileExistsError:
        return  # the name exists, so the file system takes it
    os.unlink(name, dir_fd=fd)


_PARTIALS = itertools.count()


@functools.cache
def _partial_prefix() -> str:
    return random_bytes(8).hex()


os.register_at_fork(after_in_child=_partial_prefix.cache_clear)


def partial_name() -> str:
    """A name no other process can guess (a random prefix drawn once per process) and no
    other partial of this one has (a counter): a random draw per file cost 3 us of the
    parent's few tens per small file."""
    return f".{_partial_prefix()}{next(_PARTIALS):x}{PARTIAL_SUFFIX}"


def _large_writer(fd: int, partial: str) -> SequentialWriter | PlainWriter:
    """Through the folder's descriptor: /proc/self/fd/N/NAME is NAME in that very folder,
    wherever it is now; O_EXCL never follows a link at NAME."""
    if PROC_FD.is_dir():
        return SequentialWriter(PROC_FD / str(fd) / partial, mode=0o600, exclusive=True)
    return PlainWriter(os.open(partial, PARTIAL_FLAGS, 0o600, dir_fd=fd))


class PlainWriter:
    """SequentialWriter's interface for an open file, through the page cache (systems
    without /proc)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.position = 0

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        self.position += view.nbytes
        while len(view):
            view = view[os.write(self._fd, view) :]

    def __enter__(self) -> PlainWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        _close(self._fd)


def _set_time(utime: Callable[..., None], mtime_ns: int) -> bool:
    """UTIME(ns=...) with the stored time; False if it cannot be set here (out of the
    system's range, or refused by the file system): the file keeps the time of extraction."""
    try:
        utime(ns=(mtime_ns, mtime_ns))
    except (OverflowError, ValueError):
        return False
    except OSError as exc:
        if exc.errno not in TIME_ERRNOS:
            raise
        return False
    return True


def _write_files(files: list[tuple[Staged, bytes, int]]) -> None:
    for item, data, mtime_ns in files:
        fd = os.open(item.partial, PARTIAL_FLAGS, 0o600, dir_fd=item.spot.folder.fd)
        item.created = True
        try:
            view = memoryview(data)
            while len(view):
                view = view[os.write(fd, view) :]
            item.untimed = not _set_time(functools.partial(os.utime, fd), mtime_ns)
        finally:
            os.close(fd)


def _rename_all(namer: Namer, force: bool, items: list[Staged]) -> list[BaseException | None]:
    problems: list[BaseException | None] = []
    for item in items:
        try:
            namer.give(item.spot.folder.fd, item.partial, item.spot.name, force)
        except (OSError, MedvaultError) as exc:
            problems.append(exc)
        else:
            problems.append(None)
    return problems


def _name_refused_or_raise(problem: BaseException | None, target: Path) -> None:
    if problem is None:
        return
    if isinstance(problem, OSError) and problem.errno in NAME_ERRNOS:
        raise refused_name(target, problem) from None
    raise problem


def refused_name(target: Path, exc: OSError) -> UnsafePath:
    return UnsafePath(
        f"cannot create {shown(target)}: {exc.strerror} (a name this file system refuses?)",
        hint="extract to a Linux file system (ext4, tmpfs), or leave that file out; files "
        "reported as extracted are complete (fusefat also says this when the drive is full)",
    )


def scrub(fd: int, partial: str) -> None:
    """Zero the partial file PARTIAL in the folder FD, then delete it (never raises)."""
    with contextlib.suppress(OSError):
        file = os.open(partial, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        try:
            size = os.fstat(file).st_size
            for start in range(0, size, ZERO_BLOCK):
                os.pwrite(file, bytes(min(ZERO_BLOCK, size - start)), start)
            os.fsync(file)
        finally:
            os.close(file)
    with contextlib.suppress(OSError):
        os.unlink(partial, dir_fd=fd)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):  # a drive gone answers close with ENOTCONN
        os.close(fd)
