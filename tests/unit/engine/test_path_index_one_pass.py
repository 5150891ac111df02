"""The path index (index/paths.mvs) is written once, front to back, except on the kernel
file systems where its prelude may be written last.

fusefat keeps what one open handle writes only when that handle writes one run from byte 0
and never goes back: a prelude written again at byte 0 after the pages is lost when the file
is smaller than one cluster (docs/RELIABILITY.md, "FAT32 through fusefat"). The first test
watches every call on the handle that writes the snapshot on FUSE, FAT and exFAT; another
writes a small snapshot on a real FAT32 image with mkfs's default 4 KiB clusters and reads
it back after a remount. On ext4, XFS, f2fs and btrfs the prelude is written last, over a
placeholder, so the files are walked once whatever the index's size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from medvault.engine import path_index
from medvault.engine.catalog import load_catalog
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.errors import FormatError
from medvault.keys.passphrase import to_secret
from medvault.store import fsio, path_snapshot
from medvault.store.journal import JournalAppender
from medvault.vault.add import add_files
from medvault.vault.env import Env
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.fat32 import cluster_bytes, copy_tree
from tests.support.media import FAT32, make_image, mount_image

FILES = 7  # a snapshot of 7 rows is about 1.5 kB: less than one 4 KiB cluster
DEFAULT_CLUSTER_MIB = 300  # mkfs.vfat -F 32 picks 4 KiB clusters from about 260 MiB up


class Recorder:
    """A real file handle that notes where each write starts and any other move."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.calls: list[tuple[str, int, int]] = []

    def write(self, data: bytes | memoryview) -> int:
        self.calls.append(("write", self._handle.tell(), len(data)))
        return self._handle.write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.calls.append(("seek", offset, whence))
        return self._handle.seek(offset, whence)

    def truncate(self, size: int | None = None) -> int:
        self.calls.append(("truncate", size or 0, 0))
        return self._handle.truncate(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


def _vault_with_notes(ws: Workspace, drive: Path, src: Path, count: int) -> None:
    """A new vault in the folder DRIVE holding COUNT small notes (from SRC/notes)."""
    drive.mkdir()
    ws.create_fast(drive)
    for i in range(count):
        path = src / "notes" / f"n{i:02d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(100))
    registry = ws.registry()
    try:
        add_files(_open(drive), [src / "notes"], False, registry, Env(kdf=FAST_KDF))
    finally:
        registry.close()


def _open(drive: Path) -> UnlockedVault:
    return unlock(open_headers(drive), to_secret(PASSPHRASE))


def _rebuild(vault: UnlockedVault) -> None:
    """What the next writer does when the path index is due (path_index.refresh)."""
    journal = JournalAppender(vault.paths, vault.keys)
    path_index.refresh(vault, path_index.before_catalog(load_catalog(vault)), journal)


def _on(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """The snapshot's writer sees the drive as a KIND file system."""
    monkeypatch.setattr(path_snapshot, "filesystem_type", lambda _device: kind)


def _recording(monkeypatch: pytest.MonkeyPatch) -> dict[Path, Recorder]:
    """Each file fsio.create opens from now on, by path, with a record of its calls."""
    handles: dict[Path, Recorder] = {}
    real_create = fsio.create

    def create(path: Path, buffering: int = -1) -> BinaryIO:
        handles[path] = Recorder(real_create(path, buffering))
        return handles[path]  # type: ignore[return-value]

    monkeypatch.setattr(fsio, "create", create)
    return handles


def _to_rebuild(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> tuple[Path, UnlockedVault, dict[Path, Recorder]]:
    """A vault of FILES notes whose path index (3 rows a page) is gone and due again, on a
    drive seen as a KIND file system, every file it creates from now on recorded."""
    monkeypatch.setattr(path_index, "PAGE_ROWS", 3)  # several pages
    monkeypatch.setattr(path_index, "REBUILD_MIN_ENTRIES", 4)
    drive = tmp_path / "drive"
    _vault_with_notes(ws, drive, tmp_path / "src", FILES)
    _on(monkeypatch, kind)
    handles = _recording(monkeypatch)
    vault = _open(drive)
    vault.paths.path_index.unlink()
    return drive, vault, handles


# fusefat's and exfat-fuse's mounts say "fuse" or "fuseblk"; kernel FAT and exFAT too.
@pytest.mark.parametrize("kind", ["fuse", "fuseblk", "vfat", "exfat", ""])
def test_the_snapshot_is_written_in_one_run_from_byte_0(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    drive, vault, handles = _to_rebuild(ws, tmp_path, monkeypatch, kind)
    _rebuild(vault)

    calls = handles[vault.paths.tmp / "paths.mvs.tmp"].calls
    assert calls, "the path index was not written"
    assert [c for c in calls if c[0] != "write"] == []  # no seek, no truncate
    end = 0
    for _kind, start, length in calls:
        assert start == end, calls  # each write starts where the last one ended
        end += length
    assert end == vault.paths.path_index.stat().st_size
    snapshot = path_index.open_snapshot(_open(drive))
    assert snapshot is not None
    assert snapshot.files == FILES
    assert len(snapshot.directory.pages) == 3
    snapshot.close()


@pytest.mark.fuse
def test_a_snapshot_smaller_than_a_cluster_survives_on_fusefat(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "local"
    _vault_with_notes(ws, local, tmp_path / "src", FILES)  # too few files for a path index yet
    assert not (local / "MEDVAULT" / "index" / "paths.mvs").exists()
    image = tmp_path / "fat32.img"
    make_image(FAT32, image, DEFAULT_CLUSTER_MIB)
    assert cluster_bytes(image) == 4096  # mkfs's default at this size
    mountpoint = tmp_path / "mnt"
    with mount_image(FAT32, image, mountpoint) as stick:
        drive = stick.mountpoint / "stick"
        copy_tree(local, drive)
        monkeypatch.setattr(path_index, "REBUILD_MIN_ENTRIES", 4)
        vault = _open(drive)
        _rebuild(vault)
        size = vault.paths.path_index.stat().st_size
        assert 0 < size < 4096
    with mount_image(FAT32, image, mountpoint) as stick:  # what the stick holds
        vault = _open(stick.mountpoint / "stick")
        snapshot = path_index.open_snapshot(vault)
        assert snapshot is not None, "the path index written on fusefat does not open"
        listed = list(snapshot.live())
        snapshot.close()
        assert listed == load_catalog(vault).live()
        assert len(listed) == FILES


def _counting_walks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts how often write_snapshot walks its LIVE files (one entry per walk)."""
    walks: list[int] = []
    real = path_index.write_snapshot

    def counting(vault: UnlockedVault, live: Any, packs: set[str], journal: Any) -> None:
        def walk() -> Any:
            walks.append(1)
            return live()

        real(vault, walk, packs, journal)

    monkeypatch.setattr(path_index, "write_snapshot", counting)
    return walks


@pytest.mark.parametrize("keep_bytes", [path_snapshot.KEEP_SEALED_BYTES, 200])
def test_a_small_index_is_written_from_one_walk_a_big_one_from_two(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_bytes: int
) -> None:
    """Written front to back (on FUSE here), pages that fit in KEEP_SEALED_BYTES are sealed
    while measured (one walk of the files); a bigger index walks them again, holding one
    page. Both read back whole."""
    monkeypatch.setattr(path_index, "PAGE_ROWS", 3)
    monkeypatch.setattr(path_index, "REBUILD_MIN_ENTRIES", 4)
    monkeypatch.setattr(path_snapshot, "KEEP_SEALED_BYTES", keep_bytes)
    drive = tmp_path / "drive"
    _vault_with_notes(ws, drive, tmp_path / "src", FILES)
    _on(monkeypatch, "fuse")
    vault = _open(drive)
    vault.paths.path_index.unlink()
    walks = _counting_walks(monkeypatch)
    _rebuild(vault)
    assert len(walks) == (1 if keep_bytes > 200 else 2)
    snapshot = path_index.open_snapshot(_open(drive))
    assert snapshot is not None and snapshot.files == FILES
    listed = [loc.path for loc in path_index.live_files(_open(drive)).all()]
    assert listed == sorted(f"notes/n{i:02d}.txt" for i in range(FILES))
    snapshot.close()


def test_files_changing_between_two_walks_leave_the_old_index(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(path_index, "PAGE_ROWS", 3)
    monkeypatch.setattr(path_index, "REBUILD_MIN_ENTRIES", 4)
    monkeypatch.setattr(path_snapshot, "KEEP_SEALED_BYTES", 200)
    drive = tmp_path / "drive"
    _vault_with_notes(ws, drive, tmp_path / "src", FILES)
    _on(monkeypatch, "fuse")
    vault = _open(drive)
    before = vault.paths.path_index.read_bytes()
    real = path_index.write_snapshot
    given: list[int] = []

    def second_walk_differs(v: UnlockedVault, live: Any, packs: set[str], journal: Any) -> None:
        def walk() -> Any:
            given.append(1)
            rows = list(live())
            return rows if len(given) == 1 else rows[:-1]

        real(v, walk, packs, journal)

    monkeypatch.setattr(path_index, "write_snapshot", second_walk_differs)
    with pytest.raises(FormatError, match="changed while it was written"):
        path_index.write_snapshot(
            vault,
            lambda: path_index.live_files(vault).all(),
            set(),
            JournalAppender(vault.paths, vault.keys),
        )
    assert vault.paths.path_index.read_bytes() == before
    assert not (vault.paths.tmp / "paths.mvs.tmp").exists()


@pytest.mark.parametrize("kind", sorted(path_snapshot.PRELUDE_LAST_FILESYSTEMS))
def test_on_kernel_file_systems_the_prelude_is_written_last_from_one_walk(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A placeholder first, then each page as it is sealed and the directory, then the
    prelude over the placeholder: the files are walked once even for an index far bigger
    than KEEP_SEALED_BYTES, and the snapshot reads back whole."""
    monkeypatch.setattr(path_snapshot, "KEEP_SEALED_BYTES", 200)
    drive, vault, handles = _to_rebuild(ws, tmp_path, monkeypatch, kind)
    walks = _counting_walks(monkeypatch)
    _rebuild(vault)

    assert len(walks) == 1
    calls = handles[vault.paths.tmp / "paths.mvs.tmp"].calls
    size = vault.paths.path_index.stat().st_size
    prelude_len = 64
    assert calls[0] == ("write", 0, prelude_len)
    assert calls[-2:] == [("seek", 0, 0), ("write", 0, prelude_len)], calls
    end = 0
    for _kind, start, length in calls[:-2]:
        assert start == end, calls  # up to the prelude, each write where the last ended
        end += length
    assert end == size
    data = vault.paths.path_index.read_bytes()
    assert data[:8] == b"MVPATHS\x01"  # the placeholder was written over
    snapshot = path_index.open_snapshot(_open(drive))
    assert snapshot is not None
    assert snapshot.files == FILES
    assert len(snapshot.directory.pages) == 3
    snapshot.close()
    listed = [loc.path for loc in path_index.live_files(_open(drive)).all()]
    assert listed == sorted(f"notes/n{i:02d}.txt" for i in range(FILES))
