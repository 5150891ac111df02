"""What is mounted on this computer, and which file system holds a path: the one place
medvault asks the operating system about mounts.

On Linux the answer comes from /proc/self/mountinfo, the only source that gives each
mount's device numbers (what a file's st_dev is matched against) and its mount ID (what
tells a remount at the same place from the mount a drive watch started on). Elsewhere
(macOS, Windows), or where /proc cannot be read, it comes from psutil.disk_partitions,
which knows mount points, types, sources and options but no device numbers: a device is
then matched by stat-ing the mount points.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MOUNTINFO = Path("/proc/self/mountinfo")
Source = Literal["auto", "mountinfo", "psutil"]


@dataclass(frozen=True)
class Mount:
    point: Path
    fstype: str
    source: str  # the device or server mounted ("" if none)
    options: frozenset[str]  # e.g. "ro", "rw"; on Windows also "removable"/"fixed"
    device: int | None  # its st_dev; None where the OS list does not say (psutil)
    mount_id: str | None  # /proc/self/mountinfo's mount ID; None elsewhere


def _unescape(field: str) -> str:
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _from_mountinfo() -> list[Mount] | None:
    try:
        text = MOUNTINFO.read_text(errors="replace")
    except OSError:
        return None
    found: list[Mount] = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            # The separator follows the six fields every line has (ID, parent, major:minor,
            # root, mount point, options) and any optional ones; none of those is "-".
            after = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < after + 2:
            continue
        try:
            major, minor = (int(x) for x in fields[2].split(":"))
        except ValueError:
            continue
        found.append(
            Mount(
                point=Path(_unescape(fields[4])),
                fstype=fields[after + 1],
                source=_unescape(fields[after + 2]) if len(fields) > after + 2 else "",
                options=frozenset(fields[5].split(",")),
                device=os.makedev(major, minor),
                mount_id=fields[0],
            )
        )
    return found


def _from_psutil() -> list[Mount] | None:
    try:
        import psutil  # only where /proc/self/mountinfo is not there to read
    except ImportError:
        return None
    try:
        parts = psutil.disk_partitions(all=True)
    except (OSError, RuntimeError):
        return None
    return [
        Mount(Path(p.mountpoint), p.fstype, p.device, frozenset(p.opts.split(",")), None, None)
        for p in parts
    ]


def mounts(source: Source = "auto") -> list[Mount] | None:
    """Every mounted file system; None when the operating system tells nothing."""
    if source == "mountinfo":
        return _from_mountinfo()
    if source == "psutil":
        return _from_psutil()
    if source != "auto":
        raise ValueError(f"unknown source of mounts: {source!r}")
    listed = _from_mountinfo()
    return listed if listed is not None else _from_psutil()


def _device_of(mount: Mount) -> int | None:
    if mount.device is not None:
        return mount.device
    try:
        return os.stat(mount.point).st_dev
    except OSError:
        return None


def holding(path: Path, device: int | None = None, source: Source = "auto") -> Mount | None:
    """The mount holding PATH: the deepest mount point at or above it (on DEVICE, when
    given and known); None when nothing is listed."""
    target = Path(os.path.realpath(path))
    best: Mount | None = None
    for mount in mounts(source) or []:
        if target != mount.point and mount.point not in target.parents:
            continue
        if device is not None and mount.device is not None and mount.device != device:
            continue
        if best is None or len(mount.point.parts) >= len(best.point.parts):
            best = mount  # a later line at the same point is mounted over the earlier
    return best


def by_device(device: int, source: Source = "auto") -> Mount | None:
    """The mount whose file system is DEVICE (a file's st_dev); None if none is listed."""
    found: Mount | None = None
    for mount in mounts(source) or []:
        if _device_of(mount) == device:
            found = mount  # the last one: mounted over any earlier at the same place
    return found


def filesystem_of(path: Path, source: Source = "auto") -> str:
    """The type of the file system holding PATH ("" if unknown)."""
    mount = holding(path, source=source)
    return mount.fstype if mount is not None else ""


def still_mounted(mount: Mount, source: Source = "auto") -> bool | None:
    """Whether MOUNT is still listed (by mount ID where there is one, else by its mount
    point and type); None when the operating system tells nothing. The kernel gives a
    freed mount ID (and a FUSE device number) to the next mount, so the ID is checked
    with the mount point and device: a stick pulled while another is mounted elsewhere
    is gone."""
    listed = mounts(source)
    if listed is None:
        return None
    if mount.mount_id is not None:
        return any(
            (m.mount_id, m.point, m.device) == (mount.mount_id, mount.point, mount.device)
            for m in listed
        )
    return any(m.point == mount.point and m.fstype == mount.fstype for m in listed)
