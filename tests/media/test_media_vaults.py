"""Vaults on real removable-media file systems: exFAT round trip and a full FAT32 stick.
(Yanked drives: tests/media/test_yanked_drive.py; other failing media:
tests/media/test_failing_media.py.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.support.files import digests
from tests.support.media import mounted_exfat, mounted_fat32

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
        ws.create_fast(stick.mountpoint)
        ws.cli("add", stick.mountpoint, tmp_path / "src", check=True)
        out = tmp_path / "out"
        ws.cli("extract", stick.mountpoint, "--to", out, check=True)
        assert ws.cli("verify", stick.mountpoint).returncode == 0
    for rel, data in expected.items():
        assert (out / rel).read_bytes() == data


@pytest.mark.slow
def test_full_fat32_stick(ws: Workspace, tmp_path: Path) -> None:
    """fusefat reports a full volume as EPERM: still exit 7, and the vault is as it was."""
    small = tmp_path / "first.txt"
    small.write_text("kept\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    with mounted_fat32(tmp_path, size_mib=64, prefill_mib=58) as stick:
        # 256 KiB parts: the stick fills up in the middle of the big file's parts.
        ws.create_fast(stick.mountpoint, part_size=262144)
        ws.cli("add", stick.mountpoint, small, check=True)
        before = digests(stick.mountpoint / "MEDVAULT")
        result = ws.cli("add", stick.mountpoint, big)
        assert result.returncode == 7, result.stderr
        assert result.stderr.splitlines() == [
            "medvault: error: cannot write a pack file: Operation not permitted "
            "(drive full or write refused)",
            "hint: free space on the drive (or use a larger one); files reported as added are safe",
        ]
        after = digests(stick.mountpoint / "MEDVAULT")
        assert after == before
        listing = json.loads(ws.cli("ls", stick.mountpoint, "--json", check=True).stdout)
        assert [x["path"] for x in listing] == ["first.txt"]
        assert ws.cli("verify", stick.mountpoint).returncode == 0
        # Once there is room, the same add works and leaves nothing in tmp/.
        (stick.mountpoint / "pad.bin").unlink()
        ws.cli("add", stick.mountpoint, big, check=True)
        assert list((stick.mountpoint / "MEDVAULT" / "tmp").iterdir()) == []
        assert ws.cli("verify", stick.mountpoint).returncode == 0
