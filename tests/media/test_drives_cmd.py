"""`medvault drives` lists mounted removable drives (workstation/drives.py through the
mounts seam, workstation/mounts.py) and the vault on each, read without a passphrase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medvault.workstation import drives, mounts
from tests.conftest import Workspace
from tests.support.media import mounted_exfat, mounted_fat32

pytestmark = pytest.mark.fuse


def test_drives_lists_fat32_and_exfat_sticks_and_the_vault_on_one(
    ws: Workspace, tmp_path: Path
) -> None:
    fat_dir, exfat_dir = tmp_path / "fat", tmp_path / "exfat"
    fat_dir.mkdir()
    exfat_dir.mkdir()
    with mounted_fat32(fat_dir) as fat, mounted_exfat(exfat_dir) as exfat:
        vault_id = ws.create_fast(fat.mountpoint, label="ward 7")
        out = ws.cli("drives", "--json", passphrase=False, check=True)
        rows = {row["mountpoint"]: row for row in json.loads(out.stdout)}
        on_fat, on_exfat = rows[str(fat.mountpoint)], rows[str(exfat.mountpoint)]
        assert on_fat["filesystem"] == mounts.filesystem_of(fat.mountpoint)
        assert on_fat["filesystem"].startswith("fuse")
        assert on_fat["vault"]["vault_id"] == vault_id and on_fat["vault"]["label"] == "ward 7"
        assert on_exfat["vault"] is None
        assert str(tmp_path) not in {row["mountpoint"] for row in rows.values()}
        human = ws.cli("drives", passphrase=False, check=True).stdout
        assert f"vault {vault_id} 'ward 7'" in human and str(exfat.mountpoint) in human
    after = json.loads(ws.cli("drives", "--json", passphrase=False, check=True).stdout)
    assert str(fat.mountpoint) not in {row["mountpoint"] for row in after}


def test_the_removable_flag_comes_from_the_system(tmp_path: Path) -> None:
    """Windows says it in psutil's options; Linux in /sys/class/block; a local disk's
    folder is not removable here."""

    def mount(options: str) -> mounts.Mount:
        return mounts.Mount(
            Path("E:\\"), "FAT32", "E:\\", frozenset(options.split(",")), None, None
        )

    assert drives.removable_flag(mount("rw,removable")) is True
    assert drives.removable_flag(mount("rw,fixed")) is False
    local = mounts.holding(tmp_path)
    assert local is not None
    assert drives.removable_flag(local) in (False, None)
