"""Which mounted file systems are removable drives: the kernel's removable flag (Linux:
/sys/class/block; Windows: psutil's "removable" option; macOS: not known), and the file
systems removable media use, FUSE-mounted ones included."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from medvault.workstation import mounts

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


def removable_flag(mount: mounts.Mount, sys_block: Path = SYS_BLOCK) -> bool | None:
    """Whether MOUNT's device is flagged removable; None when the system does not say."""
    if "removable" in mount.options or "fixed" in mount.options:  # Windows drive types
        return "removable" in mount.options
    if not sys.platform.startswith("linux"):
        return None
    return _sys_block_flag(mount.source, sys_block)


def _sys_block_flag(device: str, sys_block: Path) -> bool | None:
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
    import shutil  # here, not at the top: store/readback imports this module for every read

    drives: list[Drive] = []
    for mount in mounts.mounts() or []:
        if str(mount.point) in SYSTEM_MOUNTS:
            continue
        flag = removable_flag(mount, sys_block)
        if not flag and mount.fstype not in REMOVABLE_FILESYSTEMS:
            continue
        total: int | None = None
        free: int | None = None
        try:
            usage = shutil.disk_usage(mount.point)
            total, free = usage.total, usage.free
        except OSError:
            pass  # a drive being pulled: list it, sizes unknown
        drives.append(Drive(mount.point, mount.source, mount.fstype, flag, total, free))
    return sorted(drives, key=lambda d: str(d.mountpoint))
