"""A FUSE passthrough of BACKING at MOUNTPOINT that can play a bad drive.

usage: python tests/support/badmedium.py BACKING MOUNTPOINT [--corrupt REGEX]
           [--mode flip|zeros|drop] [--from N] [--to M] [--strict LOGFILE] [--kernel-cache]
           [--log FILE]

--corrupt REGEX: files whose path (from the mount's root, with a leading /) matches are
damaged as they are written. Every write is acknowledged in full, but of its bytes at file
offsets N (--from) to M (--to, excluded; default: the end) what is stored is: the first one
flipped (flip: one flipped byte per write), zeros (zeros: a fake-capacity stick) or nothing
(drop). The kernel's page cache keeps what the writer sent, so only a read that reaches
this process sees the damage: that is how a test tells a read-back from the medium from one
served by the cache.

--strict LOGFILE: one line for every write that breaks the only discipline fusefat 0.1a
handles on every cluster size (as measured): each open handle
writes one contiguous run, starting at byte 0 (or, as one in-place patch, inside the file's
existing bytes), with no read on that handle first. Flagged: a seek back or forward, an
append (a run that starts at offset > 0 and goes past the end), a second patch through one
handle, a read then a write, a truncate of an open handle (other than O_TRUNC's truncate to
0 right after open) and a truncate of a path to a non-zero size other than its own.

--kernel-cache: mount with kernel_cache (the page cache survives a new open).
--log FILE: one line per open, create, read, write and fsync that reaches this process.

Runs in the foreground; stop it with fusermount -u MOUNTPOINT. It is its own process so
the test process never imports mfusepy (tests/media.mounted_bad_medium starts it).
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, TextIO

import mfusepy as fuse  # type: ignore[import-untyped]

STAT_KEYS = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks", "st_rdev")
STATVFS_KEYS = (
    "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag",
    "f_frsize", "f_namemax",
)  # fmt: skip
MODES = ("flip", "zeros", "drop")


@dataclass
class Handle:
    """What one open handle has done so far (the unit fusefat tracks its position by)."""

    size_at_open: int
    run_start: int | None = None  # offset of this handle's first write
    run_end: int = 0  # where the next write must start to continue the run
    has_read: bool = False
    flagged: bool = False  # its run was already reported: only a new break is reported again


class Discipline:
    """Checks each handle's writes against the one-run rule; returns why a call breaks it."""

    def __init__(self) -> None:
        self.handles: dict[int, Handle] = {}

    def opened(self, fh: int, size: int) -> None:
        self.handles[fh] = Handle(size_at_open=size)

    def closed(self, fh: int) -> None:
        self.handles.pop(fh, None)

    def read(self, fh: int) -> None:
        self.handles.setdefault(fh, Handle(0)).has_read = True

    def write(self, fh: int, offset: int, length: int) -> str | None:
        handle = self.handles.setdefault(fh, Handle(0))
        end = offset + length
        continues = handle.run_start is not None and offset == handle.run_end
        why = self._why_not(handle, offset, end)
        if handle.run_start is None:
            handle.run_start = offset
        handle.run_end = end  # a broken run goes on from here, so its tail is flagged too
        if why is not None and continues and handle.flagged:
            return None  # the same broken run, written in several calls
        handle.flagged = handle.flagged or why is not None
        return why

    @staticmethod
    def _why_not(handle: Handle, offset: int, end: int) -> str | None:
        if handle.has_read:
            return "write after a read on the same handle"
        if handle.run_start is None:
            if offset == 0 or end <= handle.size_at_open:
                return None  # a run from 0, or one in-place patch inside the file
            size = handle.size_at_open
            return f"append: first write of this handle at {offset}, file size {size}"
        if offset != handle.run_end:
            direction = "back" if offset < handle.run_end else "forward"
            return f"seek {direction}: write at {offset}, the run was at {handle.run_end}"
        if handle.run_start > 0 and end > handle.size_at_open:
            return f"a patch from {handle.run_start} grows the file past {handle.size_at_open}"
        return None

    def truncate_handle(self, fh: int, length: int) -> str | None:
        handle = self.handles.setdefault(fh, Handle(0))
        fresh = handle.run_start is None and not handle.has_read
        if length == 0 and fresh:
            handle.size_at_open = 0  # libfuse 2 carries open(O_TRUNC) as this
            return None
        return f"ftruncate of an open handle to {length}"

    @staticmethod
    def truncate_path(size: int, length: int) -> str | None:
        if length in (0, size):
            return None
        return f"truncate from {size} to {length}"


@dataclass(frozen=True)
class Damage:
    """Which written bytes this medium keeps wrong, and how."""

    paths: re.Pattern[str] | None
    mode: str = "flip"
    start: int = 0
    end: int | None = None

    def stored(self, path: str, data: bytes, offset: int) -> list[tuple[int, bytes]]:
        """The (offset, bytes) pieces kept of DATA written at OFFSET."""
        end = offset + len(data)
        low, high = max(offset, self.start), min(end, self.end if self.end is not None else end)
        if self.paths is None or not self.paths.search(path) or low >= high:
            return [(offset, data)]
        cut, resume = low - offset, high - offset
        if self.mode == "drop":
            return [(offset, data[:cut]), (high, data[resume:])]
        if self.mode == "zeros":
            return [(offset, data[:cut] + bytes(resume - cut) + data[resume:])]
        flipped = bytearray(data)
        flipped[cut] ^= 0x01
        return [(offset, bytes(flipped))]


class BadMedium(fuse.Operations):  # type: ignore[misc]
    use_ns = True

    def __init__(
        self,
        root: str,
        damage: Damage,
        strict: TextIO | None,
        log: TextIO | None,
    ) -> None:
        self.root = os.path.realpath(root)
        self.damage = damage
        self.strict, self.log = strict, log
        self.discipline = Discipline()
        self._mutex = threading.Lock()  # mfusepy serves calls on several threads

    def _full(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _note(self, *words: object) -> None:
        if self.log is not None:
            self.log.write(" ".join(map(str, words)) + "\n")

    def _flag(self, path: str, why: str | None) -> None:
        if why is not None and self.strict is not None:
            self.strict.write(f"{path}: {why}\n")

    # -- metadata --------------------------------------------------------------------------
    def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
        st = os.fstat(fh) if fh is not None else os.lstat(self._full(path))
        out = {key: getattr(st, key) for key in STAT_KEYS}
        out["st_atime"], out["st_mtime"] = st.st_atime_ns, st.st_mtime_ns
        out["st_ctime"] = st.st_ctime_ns
        return out

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *os.listdir(self._full(path))]

    def mkdir(self, path: str, mode: int) -> None:
        os.mkdir(self._full(path), mode)

    def rmdir(self, path: str) -> None:
        os.rmdir(self._full(path))

    def unlink(self, path: str) -> None:
        os.unlink(self._full(path))

    def rename(self, old: str, new: str) -> None:
        os.rename(self._full(old), self._full(new))

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(self._full(path), mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        os.chown(self._full(path), uid, gid)

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> None:
        os.utime(self._full(path), ns=times)

    def statfs(self, path: str) -> dict[str, int]:
        sv = os.statvfs(self._full(path))
        return {key: getattr(sv, key) for key in STATVFS_KEYS}

    def access(self, path: str, amode: int) -> None:
        if not os.access(self._full(path), amode):
            raise fuse.FuseOSError(errno.EACCES)

    def truncate(self, path: str, length: int, fh: int | None = None) -> None:
        with self._mutex:
            if fh is None:
                why = self.discipline.truncate_path(os.lstat(self._full(path)).st_size, length)
            else:
                why = self.discipline.truncate_handle(fh, length)
            self._flag(path, why)
        if fh is None:
            os.truncate(self._full(path), length)
        else:
            os.ftruncate(fh, length)

    # -- data ------------------------------------------------------------------------------
    def open(self, path: str, flags: int) -> int:
        self._note("open", path)
        # The backing folder may be tmpfs (no O_DIRECT); O_APPEND is the kernel's business.
        fh = os.open(self._full(path), flags & ~os.O_APPEND & ~getattr(os, "O_DIRECT", 0))
        with self._mutex:
            self.discipline.opened(fh, os.fstat(fh).st_size)
        return fh

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        self._note("create", path)
        fh = os.open(self._full(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, mode)
        with self._mutex:
            self.discipline.opened(fh, 0)
        return fh

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        self._note("read", path, offset, size)
        with self._mutex:
            self.discipline.read(fh)
        return os.pread(fh, size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        self._note("write", path, offset, len(data))
        with self._mutex:
            self._flag(path, self.discipline.write(fh, offset, len(data)))
        for at, piece in self.damage.stored(path, data, offset):
            os.pwrite(fh, piece, at)
        return len(data)

    def flush(self, path: str, fh: int) -> None:
        return None

    def release(self, path: str, fh: int) -> None:
        with self._mutex:
            self.discipline.closed(fh)
        os.close(fh)

    def fsync(self, path: str, datasync: int, fh: int) -> None:
        self._note("fsync", path)
        os.fsync(fh)

    def fsyncdir(self, path: str, datasync: int, fh: int) -> None:
        return None


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="FUSE passthrough that plays a bad drive")
    parser.add_argument("backing")
    parser.add_argument("mountpoint")
    parser.add_argument("--corrupt", help="regex of the paths to damage as they are written")
    parser.add_argument("--mode", choices=MODES, default="flip")
    parser.add_argument("--from", dest="start", type=int, default=0, help="first damaged byte")
    parser.add_argument("--to", dest="end", type=int, help="end of the damage (excluded)")
    parser.add_argument("--strict", help="file to log breaches of the one-run rule to")
    parser.add_argument("--kernel-cache", action="store_true")
    parser.add_argument("--log", help="file to log every open, read, write and fsync to")
    return parser.parse_args()


def _line_buffered(path: str | None) -> TextIO | None:
    return None if path is None else open(path, "a", buffering=1)


def main() -> None:
    args = _parse()
    operations = BadMedium(
        args.backing,
        Damage(re.compile(args.corrupt) if args.corrupt else None, args.mode, args.start, args.end),
        _line_buffered(args.strict),
        _line_buffered(args.log),
    )
    options = {"kernel_cache": True} if args.kernel_cache else {}
    fuse.FUSE(operations, args.mountpoint, foreground=True, fsname="badmedium", **options)


if __name__ == "__main__":
    main()
