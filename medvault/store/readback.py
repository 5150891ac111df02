"""Reading back from the medium, not from the page cache (issue 18 item 2).

After fsync, `posix_fadvise(POSIX_FADV_DONTNEED)` on a new descriptor drops the file's
clean pages, so the next read asks the file system, and a FUSE driver, for the bytes: no
root needed (drop_caches is for root and drops everyone's cache). Never read back through
the descriptor that wrote: fusefat answers it from its own state.

Where it is done by default: FUSE file systems and those of removable media, and any
block device the kernel flags removable; elsewhere only when asked (--verify-writes).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal

from medvault.workstation import mounts
from medvault.workstation.drives import REMOVABLE_FILESYSTEMS, removable_flag

Setting = Literal["auto", "always", "never"]


def needs_readback(root: Path, setting: Setting) -> bool:
    """Whether writes to ROOT's drive are read back before they are reported done."""
    if setting != "auto":
        return setting == "always"
    try:
        mount = mounts.by_device(os.stat(root).st_dev)
    except OSError:
        mount = None
    if mount is None:
        return True  # cannot tell: the careful answer
    if mount.fstype.startswith("fuse") or mount.fstype in REMOVABLE_FILESYSTEMS:
        return True
    return bool(removable_flag(mount))


def from_medium(fd: int) -> None:
    """Make the next reads of FD's file come from the file system, not the page cache
    (call it after the data was fsynced: dirty pages are not dropped), and only the bytes
    asked for: no read-ahead on FD.

    Read-ahead is off because of fusefat (0.1a): with it, reading back a 1 GiB pack part
    on 512-byte clusters sometimes cost fusefat ~110 s more CPU than usual (the whole add
    of 1 GiB then ran at ~7 MB/s instead of ~22), its cost per read request growing with
    the request's offset. Without read-ahead, each read asks for what the reader wants
    and the add ran at ~22 MB/s in both runs (measured by hand, alternating; bench_peers'
    FAT32 case). The advice belongs to this descriptor only; what is read and checked
    is the same."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        # Not supported there: a fresh open still reaches most FUSE drivers.
        with contextlib.suppress(OSError):
            advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        with contextlib.suppress(OSError):
            advise(fd, 0, 0, os.POSIX_FADV_RANDOM)
