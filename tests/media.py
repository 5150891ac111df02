"""Real removable media for tests: FAT32 images mounted with fusefat, exFAT with exfat-fuse.

No kernel vfat here, so FUSE is the only way to a real FAT32 file system. Each context
manager skips the test with the reason when FUSE or a tool is missing, and always leaves
nothing mounted. fusefat writes through to the image, so the raw bytes can be read after
`sync()` (which waits for outstanding writes) or after unmounting.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

MOUNT_TIMEOUT_S = 10.0


def fuse_available() -> str | None:
    """None when FUSE mounts can work here, else why not (used as the skip reason)."""
    device = os.environ.get("MEDVAULT_TEST_FUSE_DEV", "/dev/fuse")
    if not os.path.exists(device):
        return f"{device} missing: FUSE is not available in this sandbox (needs /dev/fuse)"
    if not os.access(device, os.R_OK | os.W_OK):
        return f"{device} is not readable and writable by this user"
    if _fusermount() is None:
        return "fusermount not installed (apt-get install fuse3)"
    return None


def _fusermount() -> str | None:
    return shutil.which("fusermount3") or shutil.which("fusermount")


def _need(*tools: str) -> None:
    reason = fuse_available()
    if reason is not None:
        pytest.skip(reason)
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (see .ci/run for the packages)")


@dataclass
class Mounted:
    image: Path
    mountpoint: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def sync(self) -> None:
        os.sync()

    def unmount(self) -> None:
        if os.path.ismount(self.mountpoint):
            fusermount = _fusermount()
            assert fusermount is not None
            subprocess.run(
                [fusermount, "-u", str(self.mountpoint)], check=False, capture_output=True
            )
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def kill_fuse(self) -> None:
        """The drive is yanked: the FUSE server dies mid-operation."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        fusermount = _fusermount()
        assert fusermount is not None
        subprocess.run([fusermount, "-u", str(self.mountpoint)], check=False, capture_output=True)


def _wait_for_mount(mounted: Mounted, what: str) -> None:
    deadline = time.monotonic() + MOUNT_TIMEOUT_S
    while not os.path.ismount(mounted.mountpoint):
        if mounted.process.poll() is not None or time.monotonic() > deadline:
            mounted.unmount()
            pytest.skip(f"{what} could not mount the image (it exits 0 even on failure)")
        time.sleep(0.05)


@contextlib.contextmanager
def mounted_fat32(tmp_path: Path, size_mib: int = 64, prefill_mib: int = 0) -> Iterator[Mounted]:
    """A fresh FAT32 image, optionally pre-filled with PREFILL_MIB of padding, mounted rw."""
    _need("fusefat", "mkfs.vfat")
    image = tmp_path / "fat32.img"
    mountpoint = tmp_path / "fat32-mnt"
    mountpoint.mkdir()
    with open(image, "wb") as handle:
        handle.truncate(size_mib * 1024 * 1024)
    subprocess.run(
        ["mkfs.vfat", "-F", "32", "-n", "USBSTICK", str(image)], check=True, capture_output=True
    )
    if prefill_mib:
        _need("mcopy")
        pad = tmp_path / "pad.bin"
        with open(pad, "wb") as handle:
            handle.truncate(prefill_mib * 1024 * 1024)
        subprocess.run(
            ["mcopy", "-i", str(image), str(pad), "::/pad.bin"], check=True, capture_output=True
        )
        pad.unlink()
    process = subprocess.Popen(
        ["fusefat", "-f", "-o", "rw+", str(image), str(mountpoint)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    mounted = Mounted(image, mountpoint, process)
    _wait_for_mount(mounted, "fusefat")
    try:
        yield mounted
    finally:
        mounted.unmount()


@contextlib.contextmanager
def mounted_exfat(tmp_path: Path, size_mib: int = 64) -> Iterator[Mounted]:
    """A fresh exFAT image on a loop device (exfat-fuse needs a block device)."""
    _need("mkfs.exfat", "mount.exfat-fuse", "losetup")
    image = tmp_path / "exfat.img"
    mountpoint = tmp_path / "exfat-mnt"
    mountpoint.mkdir()
    with open(image, "wb") as handle:
        handle.truncate(size_mib * 1024 * 1024)
    subprocess.run(["mkfs.exfat", str(image)], check=True, capture_output=True)
    loop = subprocess.run(
        ["losetup", "-f", "--show", str(image)], capture_output=True, text=True, check=False
    )
    if loop.returncode != 0:
        pytest.skip(f"losetup failed: {loop.stderr.strip() or 'not permitted'}")
    device = loop.stdout.strip()
    try:
        process = subprocess.Popen(
            ["mount.exfat-fuse", "-d", device, str(mountpoint)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        mounted = Mounted(image, mountpoint, process)
        _wait_for_mount(mounted, "exfat-fuse")
        try:
            yield mounted
        finally:
            mounted.unmount()
    finally:
        subprocess.run(["losetup", "-d", device], check=False, capture_output=True)


def raw_image_bytes(image: Path) -> bytes:
    """The whole image as the drive would hand it to a finder of the stick."""
    os.sync()
    return image.read_bytes()
