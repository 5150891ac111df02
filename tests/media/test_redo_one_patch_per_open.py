"""A re-key's in-place patches (store/redo.py) are each written through a handle
of their own.

fusefat silently loses all but one of several patches written through one open handle into
a file smaller than a cluster or two (docs/RELIABILITY.md, "FAT32 through fusefat"), and a
re-key patches every entry header of a small-file pack and every index record. The first
test counts the opens; the second re-keys a vault of small files on real FAT32 images and
reads every file back after a remount.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medvault.engine.session import open_headers, unlock
from medvault.keys.passphrase import to_secret
from medvault.store import redo
from medvault.store.layout import locate
from medvault.store.packs import list_packs
from medvault.vault.add import add_files
from medvault.vault.env import Env
from medvault.vault.escrow_ops import reseal
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.fat32 import cluster_bytes, copy_tree
from tests.support.media import FAT32, make_image, mount_image

FILES = 12  # one pack of 12 small entries: 12 header patches in one file of a few kB


def _sources(root: Path) -> dict[str, bytes]:
    made = {}
    for i in range(FILES):
        data = os.urandom(100 + 37 * i)
        (root / "notes").mkdir(parents=True, exist_ok=True)
        (root / "notes" / f"n{i:02d}.txt").write_bytes(data)
        made[f"notes/n{i:02d}.txt"] = data
    return made


def _vault_of_small_files(ws: Workspace, drive: Path, src: Path) -> dict[str, bytes]:
    ws.create_fast(drive)
    made = _sources(src)
    registry = ws.registry()
    try:
        vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
        add_files(vault, [src / "notes"], False, registry, Env(kdf=FAST_KDF))
    finally:
        registry.close()
    return made


def _rekey(ws: Workspace, drive: Path) -> None:
    registry = ws.registry()
    try:
        vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
        done = reseal(vault, ws.org, registry, Env(kdf=FAST_KDF), "t",
                      passphrase=to_secret(PASSPHRASE), rekey_requested=True)  # fmt: skip
    finally:
        registry.close()
    assert done.rekeyed


def test_each_patch_is_written_through_its_own_open(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive = tmp_path / "drive"
    drive.mkdir()
    _vault_of_small_files(ws, drive, tmp_path / "src")
    paths = locate(drive)
    name = list_packs(paths)[0]
    part = paths.pack_dir(name) / f"{name}.mvo"
    relative = part.relative_to(paths.root).as_posix()
    before = part.read_bytes()
    offsets = (900, 0, 77)  # out of order, as a pack's entries may be patched
    patches = [redo.Patch(relative, offset, os.urandom(40)) for offset in offsets]
    writable: list[str] = []
    real_open = os.open

    def counting_open(path: str | Path, flags: int, *args: int) -> int:
        if flags & os.O_ACCMODE != os.O_RDONLY:
            writable.append(str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", counting_open)
    redo.apply(paths, patches)
    monkeypatch.undo()
    assert writable == [str(part)] * len(patches)  # one open for writing per patch
    after = bytearray(before)
    for patch in patches:
        after[patch.offset : patch.offset + 40] = patch.data
    assert part.read_bytes() == after


# Orders that fusefat loses through one handle, measured on 512-byte clusters: a patch
# that goes back within a cluster the handle already wrote, and patches that overlap.
HARD_ORDERS = [(800, 100), (600, 100), (1700, 300), (1800, 300), (2400, 50), (2400, 50)]


@pytest.mark.fuse
def test_patches_in_any_order_reach_a_fusefat_stick(ws: Workspace, tmp_path: Path) -> None:
    image = tmp_path / "fat32.img"
    make_image(FAT32, image, 64)
    assert cluster_bytes(image) == 512
    local = tmp_path / "local"
    local.mkdir()
    _vault_of_small_files(ws, local, tmp_path / "src")
    mountpoint = tmp_path / "mnt"
    with mount_image(FAT32, image, mountpoint) as stick:
        drive = stick.mountpoint / "stick"
        copy_tree(local, drive)
        paths = locate(drive)
        name = list_packs(paths)[0]
        part = paths.pack_dir(name) / f"{name}.mvo"
        expected = bytearray(part.read_bytes())
        relative = part.relative_to(paths.root).as_posix()
        patches = [redo.Patch(relative, at, os.urandom(size)) for at, size in HARD_ORDERS]
        for patch in patches:
            expected[patch.offset : patch.offset + len(patch.data)] = patch.data
        redo.apply(paths, patches)
    with mount_image(FAT32, image, mountpoint):  # the same path, as the stick holds it
        assert part.read_bytes() == expected


@pytest.mark.fuse
@pytest.mark.parametrize("image_mib", [64, 300])  # mkfs's default: 512-byte, 4 KiB clusters
def test_rekey_of_small_files_on_fusefat_reads_back_after_a_remount(
    ws: Workspace, tmp_path: Path, image_mib: int
) -> None:
    image = tmp_path / "fat32.img"
    make_image(FAT32, image, image_mib)
    assert cluster_bytes(image) == (512 if image_mib == 64 else 4096)
    mountpoint = tmp_path / "mnt"
    local = tmp_path / "local"
    local.mkdir()
    made = _vault_of_small_files(ws, local, tmp_path / "src")
    with mount_image(FAT32, image, mountpoint) as stick:
        drive = stick.mountpoint / "stick"
        copy_tree(local, drive)  # new files written front to back: no add on fusefat
        _rekey(ws, drive)
    with mount_image(FAT32, image, mountpoint) as stick:
        drive = stick.mountpoint / "stick"
        out = tmp_path / "out"
        extracted = ws.cli("extract", drive, "--to", out)
        assert extracted.returncode == 0, extracted.stderr
        for stored, data in made.items():
            assert (out / stored).read_bytes() == data, stored
        checked = ws.cli("verify", drive)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert open_headers(drive).any.header.body.key_epoch == 2
