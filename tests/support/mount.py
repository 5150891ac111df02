"""`medvault mount` run as its own process for the tests of tests/media/test_mount.py."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.support.media import bad_medium_missing

MOUNT_TIMEOUT_S = 30


def start_mount(ws: Workspace, drive: Path, mountpoint: Path, *extra: str) -> subprocess.Popen[str]:
    """`medvault mount DRIVE MOUNTPOINT EXTRA...` in the background, once the mount is up
    (skips with the reason when FUSE or mfusepy is missing here)."""
    reason = bad_medium_missing()
    if reason is not None:
        pytest.skip(reason)
    env = ws.env
    env["MEDVAULT_PASSPHRASE_FILE"] = str(ws.passfile)
    argv = [sys.executable, "-m", "medvault", "mount", str(drive), str(mountpoint), *extra]
    process = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + MOUNT_TIMEOUT_S
    while not os.path.ismount(mountpoint):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_mount(process, mountpoint)
            raise RuntimeError(f"medvault mount did not mount: {process.stderr.read()}")  # type: ignore[union-attr]
        time.sleep(0.05)
    return process


def stop_mount(process: subprocess.Popen[str], mountpoint: Path) -> None:
    """Unmount (if still mounted) and reap the process, killing it if it hangs."""
    if os.path.ismount(mountpoint):
        tool = shutil.which("fusermount") or shutil.which("fusermount3") or "fusermount"
        subprocess.run([tool, "-u", "-z", str(mountpoint)], capture_output=True, check=False)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    if process.poll() is None:
        process.kill()
        process.wait()


@contextlib.contextmanager
def mounted_vault(ws: Workspace, drive: Path, mountpoint: Path, *extra: str) -> Iterator[Path]:
    """DRIVE's vault mounted at MOUNTPOINT (made if missing) for the block; always unmounted."""
    mountpoint.mkdir(exist_ok=True)
    process = start_mount(ws, drive, mountpoint, *extra)
    try:
        yield mountpoint
    finally:
        stop_mount(process, mountpoint)


def in_proc_mounts(mountpoint: Path) -> bool:
    """MOUNTPOINT is listed in /proc/mounts (a dead FUSE mount is listed too)."""
    target = os.path.abspath(mountpoint).replace(" ", "\\040")
    with open("/proc/mounts") as handle:
        return any(line.split(" ")[1] == target for line in handle)


def processes_naming(text: str) -> list[int]:
    """The ids of the running processes whose command line contains TEXT."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it ended meanwhile
        if text in argv:
            found.append(int(entry.name))
    return found
