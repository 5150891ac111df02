"""Vaults on real removable-media file systems: exFAT round trip, a full FAT32 stick,
and a drive yanked in the middle of an add."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.media import fuse_available, mounted_exfat, mounted_fat32

pytestmark = pytest.mark.fuse


def _tree(root: Path) -> dict[str, bytes]:
    files = {"a/one.csv": b"1,2,3\n" * 1000, "a/b/two.bin": os.urandom(300_000), "empty": b""}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return {f"{root.name}/{k}": v for k, v in files.items()}


def test_round_trip_on_exfat(ws: Workspace, tmp_path: Path) -> None:
    expected = _tree(tmp_path / "src")
    with mounted_exfat(tmp_path, size_mib=64) as stick:
        ws.cli("create", stick.mountpoint, check=True)
        ws.cli("add", stick.mountpoint, tmp_path / "src", check=True)
        out = tmp_path / "out"
        ws.cli("extract", stick.mountpoint, "--to", out, check=True)
        assert ws.cli("verify", stick.mountpoint).returncode == 0
    for rel, data in expected.items():
        assert (out / rel).read_bytes() == data


def _snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_full_fat32_stick(ws: Workspace, tmp_path: Path) -> None:
    """fusefat reports a full volume as EPERM: still exit 7, and the vault is as it was."""
    small = tmp_path / "first.txt"
    small.write_text("kept\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    with mounted_fat32(tmp_path, size_mib=64, prefill_mib=58) as stick:
        ws.cli("create", stick.mountpoint, check=True)
        ws.cli("add", stick.mountpoint, small, check=True)
        before = _snapshot(stick.mountpoint / "MEDVAULT")
        result = ws.cli("add", stick.mountpoint, big)
        assert result.returncode == 7, result.stderr
        assert "drive full" in result.stderr
        assert "Traceback" not in result.stderr
        after = _snapshot(stick.mountpoint / "MEDVAULT")
        assert after == before
        listing = json.loads(ws.cli("ls", stick.mountpoint, "--json", check=True).stdout)
        assert [x["path"] for x in listing] == ["first.txt"]
        assert ws.cli("verify", stick.mountpoint).returncode == 0


def test_drive_yanked_mid_add(ws: Workspace, tmp_path: Path) -> None:
    """Kill the FUSE server (the stick is pulled) during an add; after re-plugging, the vault
    opens and every file reported as added extracts intact."""
    if fuse_available() is not None:
        pytest.skip(fuse_available() or "")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"scan{i}.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    with mounted_fat32(tmp_path, size_mib=64) as stick:
        ws.cli("create", stick.mountpoint, check=True)
        env = dict(ws.env, MEDVAULT_PASSPHRASE_FILE=str(ws.passfile))
        proc = subprocess.Popen(
            [sys.executable, "-m", "medvault", "add", str(stick.mountpoint), str(src)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        reported: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("added "):
                reported.append(line.split(" ", 1)[1].strip())
            if len(reported) >= 2:
                stick.kill_fuse()
                break
        proc.kill()
        proc.wait()
        image = stick.image
    subprocess.run(["fsck.vfat", "-a", "-w", str(image)], capture_output=True, check=False)
    remount = tmp_path / "again"
    remount.mkdir()
    server = subprocess.Popen(
        ["fusefat", "-f", "-o", "rw+", str(image), str(remount)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not os.path.ismount(remount) and time.monotonic() < deadline:
            time.sleep(0.05)
        listing = json.loads(ws.cli("ls", remount, "--json", check=True).stdout)
        listed = {x["path"] for x in listing}
        assert set(reported) <= listed
        out = tmp_path / "out"
        ws.cli("extract", remount, *reported, "--to", out, check=True)
        for path in reported:
            assert (out / path).read_bytes() == (tmp_path / path).read_bytes()
    finally:
        subprocess.run(["fusermount", "-u", str(remount)], check=False, capture_output=True)
        server.wait(timeout=10)
