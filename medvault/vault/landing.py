"""Where extracted plaintext lands: private partial files, made durable in batches, then
renamed to their real names.

Each file is written to DEST/.<random>.medvault-partial (mode 0600, folders 0700) and only
renamed once it has passed authentication. Renames wait for a batch (BATCH_FILES files or
BATCH_BYTES bytes): one sync of the file system makes every partial in it durable before
any of them gets its name, so after a power cut a name never shows a file whose data did
not reach the disk. One fsync per file made extracting 10,000 small files thirty times
slower than cp -r; one sync per batch costs about what cp -r pays the kernel anyway.

A partial that will not be renamed (failed check, error, interrupt) is zeroed before it is
deleted: on FAT/exFAT the zeros land in the file's own clusters, so no plaintext is left in
free space.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

from medvault.crypto.symmetric import random_bytes
from medvault.errors import UnsafePath
from medvault.store.fsio import sync_filesystem
from medvault.store.sequential import SequentialWriter
from medvault.vault.names import shown

PARTIAL_SUFFIX = ".medvault-partial"
BATCH_FILES = 1000
BATCH_BYTES = 64 * 1024 * 1024
# Small files are created, written and renamed by this many threads: each is mostly
# waiting on the file system's per-file work (outside the GIL), which overlaps.
WRITERS = 4
CHUNK = 32  # files per writer task: one task per file costs more than a small file
ZERO_BLOCK = 1024 * 1024
# A name refused by the file system (fusefat: EPERM; vfat: EINVAL; exfat-fuse: ENOENT).
NAME_ERRNOS = frozenset({errno.EINVAL, errno.EPERM, errno.EILSEQ, errno.ENAMETOOLONG, errno.ENOENT})


@dataclass
class Staged:
    partial: Path
    target: Path
    size: int
    sha256: str
    written: Future[None] | None = None  # a writer thread is creating it


@dataclass
class Landing:
    """Partial files waiting for their batch's sync and rename, under DEST."""

    dest: Path
    probe_names: bool  # FAT/exFAT: create each name empty first (see prepare)
    staged: list[Staged] = field(default_factory=list)
    landed: list[Staged] = field(default_factory=list)
    _staged_bytes: int = 0
    _made: set[Path] = field(default_factory=set)
    _pool: ThreadPoolExecutor | None = None
    _chunk: list[tuple[Staged, bytes, int]] = field(default_factory=list)

    def prepare(self, target: Path) -> None:
        """Make TARGET's folders (0700: the names in them are PHI too) and, on FAT/exFAT,
        create TARGET empty and remove it: a name the file system refuses fails here,
        before any plaintext is written (after a refused rename, fusefat no longer zeroes
        the partial file's own clusters)."""
        try:
            self._private_dirs(target.parent)
            if self.probe_names and not target.exists():
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                target.unlink()
        except OSError as exc:
            if exc.errno not in NAME_ERRNOS:
                raise
            raise refused_name(target, exc) from None

    def _private_dirs(self, folder: Path) -> None:
        if folder in self._made:
            return
        missing = []
        probe = folder
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for path in reversed(missing):
            path.mkdir(mode=0o700, exist_ok=True)
        self._made.add(folder)

    def open_partial(self, target: Path) -> tuple[Path, SequentialWriter]:
        """A new partial file for a large file's plaintext, written in big blocks past the
        page cache where the file system allows (the batch's sync makes it durable)."""
        partial = _partial_name(target)
        return partial, SequentialWriter(partial, mode=0o600, exclusive=True)

    def write_small(self, target: Path, data: bytes, sha256: str, mtime_ns: int) -> None:
        """DATA is TARGET's whole, authenticated plaintext: a writer thread puts it in a
        partial file, renamed with the next batch."""
        item = Staged(_partial_name(target), target, len(data), sha256)
        # Staged before it is written, so that discard() scrubs it whatever happens.
        self.staged.append(item)
        self._staged_bytes += len(data)
        self._chunk.append((item, data, mtime_ns))
        if len(self._chunk) >= CHUNK:
            self._hand_over()
        if len(self.staged) >= BATCH_FILES or self._staged_bytes >= BATCH_BYTES:
            self.flush()

    def _hand_over(self) -> None:
        if not self._chunk:
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor  # not loaded during Argon2id

            self._pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="medvault-land")
        chunk, self._chunk = self._chunk, []
        written = self._pool.submit(_write_files, [(i.partial, d, m) for i, d, m in chunk])
        for item, _data, _mtime in chunk:
            item.written = written

    def stage(self, partial: Path, target: Path, size: int, sha256: str, mtime_ns: int) -> None:
        """PARTIAL is complete and authenticated: give it TARGET's name with the next batch."""
        try:
            os.utime(partial, ns=(mtime_ns, mtime_ns))
        except BaseException:
            scrub(partial)
            raise
        self.staged.append(Staged(partial, target, size, sha256))
        self._staged_bytes += size
        if len(self.staged) >= BATCH_FILES or self._staged_bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Wait for the writers, sync, then rename every staged partial; the renames become
        durable with the next batch's sync or `finish`."""
        if not self.staged:
            return
        self._hand_over()
        for item in self.staged:
            if item.written is not None:
                _name_refused_or_raise(item.written.exception(), item.target)
        sync_filesystem(self.dest)
        groups = [self.staged[i : i + CHUNK] for i in range(0, len(self.staged), CHUNK)]
        if self._pool is None:
            problems = [p for group in groups for p in _rename_all(group)]
        else:
            problems = [p for done in self._pool.map(_rename_all, groups) for p in done]
        kept: list[Staged] = []
        for item, problem in zip(self.staged, problems, strict=True):
            if problem is None:
                self.landed.append(item)
            else:
                kept.append(item)
        self.staged = kept
        self._staged_bytes = sum(item.size for item in kept)
        for item, problem in zip(kept, [p for p in problems if p is not None], strict=True):
            _name_refused_or_raise(problem, item.target)

    def finish(self) -> None:
        self.flush()
        self._stop()
        if self.landed:
            sync_filesystem(self.dest)  # the last batch's renames

    def discard(self) -> None:
        """Zero and delete every partial not renamed yet (never raises)."""
        self._stop()
        for item in self.staged:
            scrub(item.partial)
        self.staged.clear()
        self._staged_bytes = 0

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _partial_name(target: Path) -> Path:
    return target.with_name(f".{random_bytes(8).hex()}{PARTIAL_SUFFIX}")


def _write_files(files: list[tuple[Path, bytes, int]]) -> None:
    for partial, data, mtime_ns in files:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while len(view):
                view = view[os.write(fd, view) :]
            os.utime(fd, ns=(mtime_ns, mtime_ns))
        finally:
            os.close(fd)


def _rename_all(items: list[Staged]) -> list[BaseException | None]:
    problems: list[BaseException | None] = []
    for item in items:
        try:
            os.replace(item.partial, item.target)
        except OSError as exc:
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


def scrub(partial: Path) -> None:
    """Zero a partial file, then delete it (never raises)."""
    with contextlib.suppress(OSError):
        size = partial.stat().st_size
        with open(partial, "r+b") as handle:
            for start in range(0, size, ZERO_BLOCK):
                handle.write(bytes(min(ZERO_BLOCK, size - start)))
            handle.flush()
            os.fsync(handle.fileno())
    with contextlib.suppress(OSError):
        partial.unlink()
