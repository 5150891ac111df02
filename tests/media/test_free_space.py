"""Check before writing. A drive without room for the files once
encrypted is refused before anything is written, with the numbers; a file system that
does not report its size (fusefat) is not checked up front; FAT32's 4 GiB file limit can
never be reached by a pack part."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medvault.engine.writing import PACK_ENTRIES, PACK_TARGET
from medvault.errors import MediaFull
from medvault.format.pack import PRELUDE_LEN
from medvault.format.vault_header import MAX_PART_SIZE
from medvault.vault import space
from medvault.vault.space import Need, check_fits
from tests.conftest import Workspace
from tests.support.media import EXFAT, make_image, missing_tools, mount_image


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_a_drive_with_less_room_than_the_source_is_refused_before_anything_is_written(
    ws: Workspace, tmp_path: Path
) -> None:
    reason = missing_tools(EXFAT)
    if reason is not None:
        pytest.skip(reason)
    image = tmp_path / "exfat.img"
    make_image(EXFAT, image, 32)
    src = tmp_path / "exports"
    src.mkdir()
    for n in range(5):
        (src / f"scan-{n}.bin").write_bytes(os.urandom(7 * 1024 * 1024))  # 35 MB in all
    with mount_image(EXFAT, image, tmp_path / "mnt") as stick:
        drive = stick.mountpoint
        ws.create_fast(drive)
        before = _tree(drive)
        free = os.statvfs(drive).f_bavail * os.statvfs(drive).f_frsize
        result = ws.cli("add", "-v", drive, src)
        assert result.returncode == 7, result.stderr
        assert f"the drive has {free / 1e6:,.1f} MB free" in result.stderr
        assert "these 5 file(s) (36.7 MB) need about" in result.stderr
        assert "nothing was written" in result.stderr
        assert "added " not in result.stdout
        assert _tree(drive) == before
        # What fits goes in.
        for n in range(1, 5):
            (src / f"scan-{n}.bin").unlink()
        ok = ws.cli("add", drive, src)
        assert ok.returncode == 0, ok.stderr


def test_the_estimate_covers_what_an_add_really_writes(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """The estimate is not below the bytes the add put on the drive (small and large
    files), and not far above them."""
    ws.create_fast(drive)
    src = tmp_path / "src"
    src.mkdir()
    need = Need()
    for n in range(300):
        data = os.urandom(50 + 37 * n)
        (src / f"f{n:03d}.txt").write_bytes(data)
        need.count(len(data), f"src/f{n:03d}.txt", False)
    big = os.urandom(3 * 1024 * 1024)
    (src / "big.bin").write_bytes(big)
    need.count(len(big), "src/big.bin", True)

    def used() -> int:
        return sum(p.stat().st_size for p in drive.rglob("*") if p.is_file())

    before = used()
    ws.cli("add", drive, src, check=True)
    written = used() - before
    estimate = need.bytes_with_slack(4096, PACK_TARGET, PACK_ENTRIES)
    assert written <= estimate <= written + 4 * 1024 * 1024


def test_an_impossible_add_is_refused_on_a_real_file_system(tmp_path: Path) -> None:
    need = Need()
    need.count(10**18, "huge.bin", True)
    with pytest.raises(MediaFull, match="need about"):
        check_fits(tmp_path, need, PACK_TARGET, PACK_ENTRIES)
    check_fits(tmp_path, Need(), PACK_TARGET, PACK_ENTRIES)  # nothing to add: no check


def test_a_file_system_that_does_not_report_its_size_is_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fusefat reports f_blocks = 0 (tests/media/test_media_vaults.py adds to it)."""
    real = os.statvfs(tmp_path)
    fields = list(real)
    fields[2:5] = [0, 0, 0]  # f_blocks, f_bfree, f_bavail as fusefat gives them
    monkeypatch.setattr(space.os, "statvfs", lambda _path: os.statvfs_result(fields))
    need = Need()
    need.count(10**18, "huge.bin", True)
    check_fits(tmp_path, need, PACK_TARGET, PACK_ENTRIES)


def test_a_pack_part_never_reaches_fat32s_file_size_limit() -> None:
    assert MAX_PART_SIZE + PRELUDE_LEN < 2**32 - 1
