"""Will it fit? The drive's free space against what an add will write, checked before the
first byte is written, so a full drive is refused with numbers instead of failing midway
(issue 18 item 5).

The estimate errs high by a little: each file costs its exact (padded) ciphertext, plus a bound on
its entry header, index record and path index line; each pack file may leave a cluster
partly used; the index and path index are rewritten once. FAT32's 4 GiB file limit needs
no check here: a pack part is at most MAX_PART_SIZE (1 GiB) plus its prelude
(tests/media/test_free_space.py checks it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from medvault.errors import MediaFull
from medvault.store.entries import WRITE_SUITE, payload_length

PER_FILE = 2048  # entry header (~450 B + path), index record and path index line, rounded up
FIXED = 1024 * 1024  # the journal's and path index's rewrite, the custody log's event


@dataclass
class Need:
    """What an add will write, accumulated file by file."""

    files: int = 0
    plaintext: int = 0
    on_drive: int = 0
    large_files: int = 0  # files that get a pack of their own

    def count(self, size: int, path: str, large: bool, times: int = 1) -> None:
        """Count one more file (TIMES=-1: one fewer, a file that will be skipped)."""
        self.files += times
        self.plaintext += times * size
        on_drive = payload_length(WRITE_SUITE, size) + PER_FILE + 2 * len(path.encode())
        self.on_drive += times * on_drive
        self.large_files += times * large

    def bytes_with_slack(self, cluster: int, pack_target: int, pack_entries: int) -> int:
        packs = self.large_files + self.on_drive // pack_target + self.files // pack_entries + 1
        return self.on_drive + FIXED + 2 * packs * cluster


def free_bytes(root: Path) -> tuple[int, int] | None:
    """(bytes an unprivileged writer may still use, cluster size) of ROOT's file system;
    None when it does not say (fusefat reports a size of 0 blocks)."""
    st = os.statvfs(root)
    if st.f_blocks == 0:
        return None
    return st.f_bavail * st.f_frsize, max(st.f_bsize, st.f_frsize)


def check_fits(root: Path, need: Need, pack_target: int, pack_entries: int) -> None:
    """Refuse (MediaFull) an add that cannot fit on ROOT's drive, before anything is written."""
    if need.files == 0:
        return
    try:
        known = free_bytes(root)
    except OSError:
        known = None
    if known is None:
        return  # a file system that will not say: the writes themselves will tell
    free, cluster = known
    wanted = need.bytes_with_slack(cluster, pack_target, pack_entries)
    if wanted > free:
        raise MediaFull(
            f"the drive has {_mb(free)} free; these {need.files} file(s) "
            f"({_mb(need.plaintext)}) need about {_mb(wanted)} once encrypted",
            hint="nothing was written; free space on the drive, use a larger one, "
            "or add fewer files",
        )


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"
