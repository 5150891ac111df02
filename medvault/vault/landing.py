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
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from medvault.errors import UnsafePath
from medvault.store.fsio import sync_filesystem
from medvault.vault.names import shown

PARTIAL_SUFFIX = ".medvault-partial"
BATCH_FILES = 1000
BATCH_BYTES = 64 * 1024 * 1024
ZERO_BLOCK = 1024 * 1024
# A name refused by the file system (fusefat: EPERM; vfat: EINVAL; exfat-fuse: ENOENT).
NAME_ERRNOS = frozenset({errno.EINVAL, errno.EPERM, errno.EILSEQ, errno.ENAMETOOLONG, errno.ENOENT})


@dataclass
class Staged:
    partial: Path
    target: Path
    size: int
    sha256: str


@dataclass
class Landing:
    """Partial files waiting for their batch's sync and rename, under DEST."""

    dest: Path
    probe_names: bool  # FAT/exFAT: create each name empty first (see prepare)
    staged: list[Staged] = field(default_factory=list)
    landed: list[Staged] = field(default_factory=list)
    _staged_bytes: int = 0
    _made: set[Path] = field(default_factory=set)

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

    def open_partial(self, target: Path) -> tuple[Path, BinaryIO]:
        partial = target.parent / f".{secrets.token_hex(8)}{PARTIAL_SUFFIX}"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return partial, os.fdopen(fd, "wb")

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
        """Sync, then rename every staged partial; the renames become durable with the
        next batch's sync or `finish`."""
        if not self.staged:
            return
        sync_filesystem(self.dest)
        while self.staged:
            item = self.staged[0]
            try:
                os.replace(item.partial, item.target)
            except OSError as exc:
                if exc.errno not in NAME_ERRNOS:
                    raise
                raise refused_name(item.target, exc) from None
            self.staged.pop(0)
            self._staged_bytes -= item.size
            self.landed.append(item)

    def finish(self) -> None:
        self.flush()
        if self.landed:
            sync_filesystem(self.dest)  # the last batch's renames

    def discard(self) -> None:
        """Zero and delete every partial not renamed yet (never raises)."""
        for item in self.staged:
            scrub(item.partial)
        self.staged.clear()
        self._staged_bytes = 0


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
