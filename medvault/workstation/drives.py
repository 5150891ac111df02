"""Which mounted file systems are removable drives (Linux: /sys/block removable flags, and
the file systems removable media use, FUSE-mounted ones included)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

# File systems of USB sticks and external disks (and their FUSE drivers).
REMOVABLE_FILESYSTEMS = frozenset(
    {
        "vfat", "msdos", "exfat", "ntfs", "ntfs3", "hfsplus", "fuseblk", "fuse.fusefat",
        "fuse.exfat", "fuse.exfat-fuse", "fuse.ntfs-3g",
    }
)  # fmt: skip
# Firmware partitions are FAT too, but never a drive to carry data on.
SYSTEM_MOUNTS = frozenset({"/boot", "/boot/efi", "/efi"})
SYS_BLOCK = Path("/sys/class/block")


@dataclass(frozen=True)
class Drive:
    mountpoint: Path
    device: str
    filesystem: str
    removable_flag: bool | None  # the kernel's removable flag; None when not a block device
    total_bytes: int | None
    free_bytes: int | None


def removable_flag(device: str, sys_block: Path = SYS_BLOCK) -> bool | None:
    """/sys/class/block/<dev>/removable, or that of the disk a partition belongs to."""
    name = os.path.basename(os.path.realpath(device)) if device.startswith("/dev/") else ""
    if not name or not (sys_block / name).exists():
        return None
    entry = sys_block / name
    for candidate in (entry / "removable", entry.resolve().parent / "removable"):
        try:
            return candidate.read_text().strip() == "1"
        except OSError:
            continue
    return None


def list_drives(sys_block: Path = SYS_BLOCK) -> list[Drive]:
    import psutil  # here: every add asks whether its drive is removable, few list drives

    drives: list[Drive] = []
    for part in psutil.disk_partitions(all=True):
        if part.mountpoint in SYSTEM_MOUNTS:
            continue
        flag = removable_flag(part.device, sys_block)
        if not flag and part.fstype not in REMOVABLE_FILESYSTEMS:
            continue
        total: int | None = None
        free: int | None = None
        try:
            usage = shutil.disk_usage(part.mountpoint)
            total, free = usage.total, usage.free
        except OSError:
            pass  # a drive being pulled: list it, sizes unknown
        drives.append(Drive(Path(part.mountpoint), part.device, part.fstype, flag, total, free))
    return sorted(drives, key=lambda d: str(d.mountpoint))
