"""Real removable media for tests: FAT32 images mounted with fusefat, exFAT with exfat-fuse.

No kernel vfat here, so FUSE is the only way to a real FAT32 file system. Each context
manager skips the test with the reason when FUSE or a tool is missing, and always leaves
nothing mounted. fusefat on an image file writes through to it, so the raw bytes can be read
after `sync()` or after unmounting. Through a loop device (exFAT always; FAT32 with
loop=True) the image file holds only what the kernel wrote back to the device, which is what
a stick pulled out holds: `Mounted.pull()` copies it at that instant. exfat-fuse passes
fsync on to its device; fusefat 0.1a never does (tests/media/test_yanked_drive.py shows both).
"""

from __future__ import annotations

import contextlib
import ctypes.util
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

MOUNT_TIMEOUT_S = 10.0
FAT32 = "fat32"
EXFAT = "exfat"
KINDS = (FAT32, EXFAT)
_TOOLS = {
    FAT32: ("fusefat", "mkfs.vfat", "fsck.vfat", "losetup"),
    EXFAT: ("mount.exfat-fuse", "mkfs.exfat", "fsck.exfat", "losetup"),
}


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


def missing_tools(kind: str) -> str | None:
    """None when KIND's images can be made, mounted and checked here, else why not."""
    reason = fuse_available()
    if reason is not None:
        return reason
    for tool in _TOOLS[kind]:
        if shutil.which(tool) is None:
            return f"{tool} not installed (see .ci/run for the packages)"
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
    kind: str = FAT32
    read_only: bool = False
    device: str | None = None  # the loop device the server writes to, if any

    @property
    def pid(self) -> int:
        return self.process.pid

    def sync(self) -> None:
        os.sync()

    def unmount(self) -> None:
        if _listed(self.mountpoint):
            _detach(self.mountpoint)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if _listed(self.mountpoint):  # the server died under a busy mount
            _detach(self.mountpoint)

    def kill_fuse(self) -> None:
        """The drive is yanked: the FUSE server dies mid-operation."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        _detach(self.mountpoint)

    def pull(self, dest: Path) -> None:
        """The stick is pulled: copy what it holds at this instant to DEST, then kill the
        FUSE server (the dead mount stays). The image file behind the loop device holds only
        what the kernel wrote back to the device: what the server fsynced, or writeback
        flushed on its own, not what still sits in the loop device's page cache. The server
        is frozen first: its death closes the device, and the last close flushes that cache."""
        assert self.device is not None, "mount with loop=True to model a pulled stick"
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGSTOP)
        try:
            shutil.copyfile(self.image, dest)
        finally:
            self.kill_fuse_only()

    def kill_fuse_only(self) -> None:
        """The FUSE server dies but the dead mount stays: every access gives ENOTCONN."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _listed(mountpoint: Path) -> bool:
    """Mounted, even when dead (os.path.ismount says False once the server is gone)."""
    target = os.path.abspath(mountpoint).replace(" ", "\\040")
    with open("/proc/self/mountinfo") as handle:
        return any(line.split(" ")[4] == target for line in handle)


def _detach(mountpoint: Path) -> None:
    fusermount = _fusermount()
    assert fusermount is not None
    for flags in (["-u"], ["-u", "-z"]):
        subprocess.run([fusermount, *flags, str(mountpoint)], check=False, capture_output=True)
        if not _listed(mountpoint):
            return


def _wait_for_mount(mounted: Mounted, what: str, skip: bool = True) -> None:
    deadline = time.monotonic() + MOUNT_TIMEOUT_S
    while not os.path.ismount(mounted.mountpoint):
        if mounted.process.poll() is not None or time.monotonic() > deadline:
            mounted.unmount()
            reason = f"{what} could not mount {mounted.image.name} (it exits 0 even on failure)"
            if skip:
                pytest.skip(reason)
            raise RuntimeError(reason)
        time.sleep(0.05)


def make_image(kind: str, image: Path, size_mib: int, cluster_bytes: int | None = None) -> None:
    """A fresh, empty FAT32 or exFAT file system in the (sparse) file IMAGE. CLUSTER_BYTES
    None is mkfs's choice, which depends on the size: FAT32 gives 512-B clusters up to about
    260 MiB and 4 KiB from about 300 MiB to 8 GiB (FAT32 sectors are 512 B here)."""
    _need("mkfs.vfat" if kind == FAT32 else "mkfs.exfat")
    with open(image, "wb") as handle:
        handle.truncate(size_mib * 1024 * 1024)
    if kind == FAT32:
        argv = ["mkfs.vfat", "-F", "32", "-S", "512", "-n", "USBSTICK"]
        if cluster_bytes is not None:
            argv += ["-s", str(_sectors_per_cluster(cluster_bytes))]
    else:
        argv = ["mkfs.exfat", "-L", "USBSTICK"]
        if cluster_bytes is not None:
            argv += ["-c", str(cluster_bytes)]
    subprocess.run([*argv, str(image)], check=True, capture_output=True)


def fat32_cluster_bytes(image: Path) -> int:
    """The cluster size of the (unmounted) FAT32 file system in IMAGE, as fsck.fat reads it."""
    result = subprocess.run(
        ["fsck.vfat", "-n", "-v", str(image)], capture_output=True, text=True, check=False
    )
    found = re.search(r"^\s*(\d+) bytes per cluster", result.stdout, re.MULTILINE)
    assert found is not None, result.stdout + result.stderr
    return int(found.group(1))


def _sectors_per_cluster(cluster_bytes: int) -> int:
    sectors, rest = divmod(cluster_bytes, 512)
    if rest or sectors < 1 or sectors & (sectors - 1):
        raise ValueError(f"a FAT32 cluster is a power of two times 512 B, not {cluster_bytes}")
    return sectors


@contextlib.contextmanager
def mount_image(
    kind: str,
    image: Path,
    mountpoint: Path,
    read_only: bool = False,
    skip: bool = True,
    loop: bool = False,
) -> Iterator[Mounted]:
    """Mount an existing image (again, after a yank, or read-only). A failure to mount
    skips the test when SKIP, else raises (an image a yank made unmountable is a finding).
    exFAT always goes through a loop device (exfat-fuse needs a block device); FAT32 does
    when LOOP, so that, as with a real stick, only what is flushed reaches the image."""
    if kind == FAT32:
        _need("fusefat", *(["losetup"] if loop else []))
    else:
        _need("mount.exfat-fuse", "losetup")
    mountpoint.mkdir(exist_ok=True)
    if kind == FAT32 and not loop:
        argv = ["fusefat", "-f", "-o", "ro" if read_only else "rw+", str(image)]
        with _serve([*argv, str(mountpoint)], image, mountpoint, kind, read_only, skip) as m:
            yield m
        return
    losetup = subprocess.run(
        ["losetup", "-f", "--show", *(["-r"] if read_only else []), str(image)],
        capture_output=True,
        text=True,
        check=False,
    )
    if losetup.returncode != 0:
        pytest.skip(f"losetup failed: {losetup.stderr.strip() or 'not permitted'}")
    device = losetup.stdout.strip()
    try:
        if kind == FAT32:
            argv = ["fusefat", "-f", "-o", "ro" if read_only else "rw+", device]
        else:
            argv = ["mount.exfat-fuse", "-d", *(["-o", "ro"] if read_only else []), device]
        with _serve([*argv, str(mountpoint)], image, mountpoint, kind, read_only, skip) as m:
            m.device = device
            yield m
    finally:
        # Detaching writes back what the loop device's page cache still holds.
        os.sync()
        subprocess.run(["losetup", "-d", device], check=False, capture_output=True)


@contextlib.contextmanager
def _serve(
    argv: list[str], image: Path, mountpoint: Path, kind: str, read_only: bool, skip: bool
) -> Iterator[Mounted]:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mounted = Mounted(image, mountpoint, process, kind, read_only)
    _wait_for_mount(mounted, argv[0], skip)
    try:
        yield mounted
    finally:
        mounted.unmount()


@contextlib.contextmanager
def mounted(
    kind: str,
    tmp_path: Path,
    size_mib: int = 64,
    loop: bool = False,
    cluster_bytes: int | None = None,
) -> Iterator[Mounted]:
    """A fresh image of KIND (FAT32 or EXFAT) in TMP_PATH, mounted rw (LOOP: FAT32 through
    a loop device too; CLUSTER_BYTES: see make_image)."""
    image = tmp_path / f"{kind}.img"
    make_image(kind, image, size_mib, cluster_bytes)
    with mount_image(kind, image, tmp_path / f"{kind}-mnt", loop=loop) as stick:
        yield stick


@contextlib.contextmanager
def mounted_fat32(
    tmp_path: Path, size_mib: int = 64, prefill_mib: int = 0, cluster_bytes: int | None = None
) -> Iterator[Mounted]:
    """A fresh FAT32 image, optionally pre-filled with PREFILL_MIB of padding, mounted rw."""
    image = tmp_path / "fat32.img"
    make_image(FAT32, image, size_mib, cluster_bytes)
    if prefill_mib:
        _need("mcopy")
        pad = tmp_path / "pad.bin"
        with open(pad, "wb") as handle:
            handle.truncate(prefill_mib * 1024 * 1024)
        subprocess.run(
            ["mcopy", "-i", str(image), str(pad), "::/pad.bin"], check=True, capture_output=True
        )
        pad.unlink()
    with mount_image(FAT32, image, tmp_path / "fat32-mnt") as stick:
        yield stick


@contextlib.contextmanager
def mounted_exfat(
    tmp_path: Path, size_mib: int = 64, cluster_bytes: int | None = None
) -> Iterator[Mounted]:
    """A fresh exFAT image on a loop device (exfat-fuse needs a block device)."""
    with mounted(EXFAT, tmp_path, size_mib, cluster_bytes=cluster_bytes) as stick:
        yield stick


BAD_MEDIUM = Path(__file__).with_name("badmedium.py")


def bad_medium_missing() -> str | None:
    """None when tests/support/badmedium.py can mount here, else why not (the skip reason)."""
    reason = fuse_available()
    if reason is not None:
        return reason
    if importlib.util.find_spec("mfusepy") is None:
        return "mfusepy not installed (pip install -e '.[test]')"
    if ctypes.util.find_library("fuse") is None and ctypes.util.find_library("fuse3") is None:
        return "libfuse not installed (apt-get install fuse3 fusefat)"
    return None


@contextlib.contextmanager
def mounted_bad_medium(
    tmp_path: Path,
    backing: Path,
    corrupt: str | None = None,
    mode: str = "flip",
    start: int = 0,
    end: int | None = None,
    strict_log: Path | None = None,
    kernel_cache: bool = False,
) -> Iterator[Path]:
    """BACKING (a plain folder) seen through tests/support/badmedium.py at a mount point in
    TMP_PATH, which is yielded. Writes to paths matching the regex CORRUPT are acknowledged
    but stored damaged (MODE flip, zeros or drop) from file offset START to END; STRICT_LOG
    collects every write that breaks the one-run-per-handle rule (see tests/support/badmedium.py).
    Skips with the reason when FUSE or mfusepy is missing; always unmounts."""
    reason = bad_medium_missing()
    if reason is not None:
        pytest.skip(reason)
    mountpoint = tmp_path / "badmedium-mnt"
    mountpoint.mkdir(exist_ok=True)
    argv = [sys.executable, str(BAD_MEDIUM), str(backing), str(mountpoint)]
    if corrupt is not None:
        argv += ["--corrupt", corrupt, "--mode", mode, "--from", str(start)]
        argv += [] if end is None else ["--to", str(end)]
    if strict_log is not None:
        argv += ["--strict", str(strict_log)]
    if kernel_cache:
        argv.append("--kernel-cache")
    errors = tmp_path / "badmedium-stderr.txt"
    with open(errors, "wb") as stderr:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr)
    shim = Mounted(backing, mountpoint, process, kind="badmedium")
    try:
        _wait_for_mount(shim, "tests/support/badmedium.py", skip=False)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}: {errors.read_text(errors='replace')[-2000:]}") from None
    try:
        yield mountpoint
    finally:
        shim.unmount()


@dataclass(frozen=True)
class Fsck:
    returncode: int
    output: str

    @property
    def repaired(self) -> bool:
        """fsck.vfat and fsck.exfat both exit 1 for "errors found and corrected"."""
        return self.returncode == 1

    @property
    def ok(self) -> bool:
        return self.returncode in (0, 1)

    def findings(self) -> list[str]:
        """What fsck said it found or fixed, one line each, without the banner and summary."""
        skip = re.compile(r"^(fsck\.fat |exfatprogs version|.*: \d+ files, |.*: clean\.|$)")
        return [line.strip() for line in self.output.splitlines() if not skip.match(line)]


def fsck_image(kind: str, image: Path) -> Fsck:
    """Check and repair an unmounted image as a user would (`-a` / `-y`: fix without asking)."""
    os.sync()
    if kind == FAT32:
        argv = ["fsck.vfat", "-a", "-w", str(image)]
    else:
        argv = ["fsck.exfat", "-y", str(image)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    return Fsck(result.returncode, result.stdout + result.stderr)


def tool_versions() -> dict[str, str]:
    """Package versions of the FUSE servers and fsck tools (Debian's dpkg), for reports."""
    out: dict[str, str] = {}
    for package in ("fusefat", "exfat-fuse", "dosfstools", "exfatprogs", "fuse3"):
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        out[package] = result.stdout.strip() if result.returncode == 0 else "unknown"
    return out


def raw_image_bytes(image: Path) -> bytes:
    """The whole image as the drive would hand it to a finder of the stick."""
    os.sync()
    return image.read_bytes()


def found_in(raw: bytes, needles: Iterable[bytes]) -> bytes | None:
    """One of NEEDLES that occurs in RAW, or None when none of them does. One regex pass of
    all the needles as alternatives: at each position every alternative is tried, so it
    finds one wherever any occurs; `needle in raw` per needle costs a pass each (0.1-0.3 s
    on a 64 MiB image, about 4 s for the 20 needles of a plaintext scan)."""
    alternatives = [re.escape(needle) for needle in needles]
    if not alternatives:
        return None
    match = re.compile(b"|".join(alternatives)).search(raw)
    return match.group() if match else None
