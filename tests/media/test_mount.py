"""`medvault mount`: the vault's files read through a real FUSE mount are their sources',
nothing can be written, a damaged chunk is EIO for its range only, a far read decrypts only
its chunk, and Ctrl-C, --idle and `medvault unmount` end the mount and the process."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from medvault.crypto.payload import CHUNK
from medvault.engine.catalog import load_catalog
from medvault.engine.session import open_headers, unlock
from medvault.keys.passphrase import to_secret
from tests.conftest import PASSPHRASE, Workspace
from tests.support.mount import mounted_vault, start_mount, stop_mount
from tests.support.small_vault import PRELUDE

pytestmark = pytest.mark.fuse

SIZES = {"a/b/big.bin": 3 * 1024 * 1024 + 7, "a/one.txt": 1, "empty": 0, "edge": CHUNK}


def _vault(ws: Workspace, tmp_path: Path) -> tuple[Path, Path]:
    """A vault on a plain folder holding SIZES (random bytes) under src/."""
    drive = tmp_path / "drive"
    drive.mkdir()
    ws.create_fast(drive)
    src = tmp_path / "src"
    for name, size in SIZES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(os.urandom(size))
    ws.cli("add", drive, src, check=True)
    return drive, src


def _pread(path: Path, offset: int, length: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def test_every_file_reads_through_the_mount_as_its_source(ws: Workspace, tmp_path: Path) -> None:
    """`cmp` finds every file equal to its source; sizes and modification times are the
    sources'; folders come from the paths; writing is refused with EROFS; a `mount`
    custody event is recorded."""
    drive, src = _vault(ws, tmp_path)
    with mounted_vault(ws, drive, tmp_path / "mnt") as mnt:
        for name in SIZES:
            assert subprocess.run(["cmp", mnt / "src" / name, src / name]).returncode == 0
            shown, source = os.stat(mnt / "src" / name), os.stat(src / name)
            assert shown.st_size == source.st_size
            assert shown.st_mtime_ns == source.st_mtime_ns
        assert sorted(os.listdir(mnt / "src")) == ["a", "edge", "empty"]
        listing = subprocess.run(["ls", "-l", mnt / "src" / "a" / "b"], capture_output=True)
        assert str(SIZES["a/b/big.bin"]).encode() in listing.stdout
        with pytest.raises(OSError) as refused:
            (mnt / "src" / "new.txt").write_bytes(b"x")
        assert refused.value.errno == errno.EROFS
        with pytest.raises(OSError) as refused:
            open(mnt / "src" / "empty", "ab").close()
        assert refused.value.errno == errno.EROFS
    assert not os.path.ismount(tmp_path / "mnt")
    assert "mount" in ws.cli("custody", "show", drive, check=True).stdout


def test_a_far_read_through_the_mount_is_the_sources_bytes(ws: Workspace, tmp_path: Path) -> None:
    """4 KiB near the end of a 3 MiB file, read through the mount with no read before it,
    are the source's bytes. (That such a read opens only the chunks it covers is shown by
    counting bytes in tests/unit/engine/test_random_reading.py; its speed on 1 GiB is a
    benchmark's, not a unit test's.)"""
    drive, src = _vault(ws, tmp_path)
    data = (src / "a/b/big.bin").read_bytes()
    with mounted_vault(ws, drive, tmp_path / "mnt") as mnt:
        path = mnt / "src" / "a/b/big.bin"
        at = len(data) - 5 * CHUNK + 100
        assert _pread(path, at, 4096) == data[at : at + 4096]
        assert path.read_bytes() == data


def test_a_damaged_chunk_is_eio_for_its_range_only(ws: Workspace, tmp_path: Path) -> None:
    """A flipped byte in chunk 5 of one file: reads of chunk 5 fail with EIO; a read that
    starts before it returns only the bytes before it; every other range of that file, and
    every other file, reads as the source. No byte differs from the source."""
    drive, src = _vault(ws, tmp_path)
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    loc = next(x for x in load_catalog(vault).live() if x.path == "src/a/b/big.bin")
    part = drive / "MEDVAULT" / "objects" / loc.pack[:2] / f"{loc.pack}.mvo"
    at = PRELUDE + loc.offset + loc.header_len + 56 + 5 * (CHUNK + 16) + 300
    raw = bytearray(part.read_bytes())
    raw[at] ^= 0x20
    part.write_bytes(bytes(raw))
    data = (src / "a/b/big.bin").read_bytes()
    with mounted_vault(ws, drive, tmp_path / "mnt") as mnt:
        path = mnt / "src" / "a/b/big.bin"
        for offset in (5 * CHUNK, 6 * CHUNK - 1):
            with pytest.raises(OSError) as failed:
                _pread(path, offset, 4096)
            assert failed.value.errno == errno.EIO
        assert _pread(path, 4 * CHUNK, 3 * CHUNK) == data[4 * CHUNK : 5 * CHUNK]
        for offset in (0, 4 * CHUNK + 9, 6 * CHUNK, len(data) - 4096):
            assert _pread(path, offset, 4096) == data[offset : offset + 4096]
        for name in SIZES:
            if name != "a/b/big.bin":
                assert (mnt / "src" / name).read_bytes() == (src / name).read_bytes()


def test_ctrl_c_unmounts_and_leaves_no_process(ws: Workspace, tmp_path: Path) -> None:
    """SIGINT (Ctrl-C) unmounts; the command exits 0 and no process is left."""
    drive, _ = _vault(ws, tmp_path)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    process = start_mount(ws, drive, mnt)
    try:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        stop_mount(process, mnt)
    assert not os.path.ismount(mnt)
    assert os.listdir(mnt) == []
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)


def test_idle_and_unmount_end_the_mount(ws: Workspace, tmp_path: Path) -> None:
    """--idle unmounts after that many minutes without access, `medvault unmount` at once;
    each time the mount command exits 0. Unmounting a folder where nothing is mounted is
    exit 16."""
    drive, _ = _vault(ws, tmp_path)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    process = start_mount(ws, drive, mnt, "--idle", "0.02")
    try:
        assert process.wait(timeout=30) == 0
    finally:
        stop_mount(process, mnt)
    assert not os.path.ismount(mnt)
    process = start_mount(ws, drive, mnt)
    try:
        assert ws.cli("unmount", mnt, passphrase=False).returncode == 0
        assert process.wait(timeout=20) == 0
    finally:
        stop_mount(process, mnt)
    assert ws.cli("unmount", mnt, passphrase=False).returncode == 16


def test_a_compact_while_mounted_leaves_moved_files_readable(ws: Workspace, tmp_path: Path) -> None:
    """The mount's file list is taken when it starts; a compact run meanwhile (another
    `medvault` process) moves files into new packs and deletes the old: opening a moved
    file follows it to where the index places it now (its bytes are still its source's),
    and a file removed meanwhile is ENOENT, not EIO."""
    drive = tmp_path / "drive"
    drive.mkdir()
    ws.create_fast(drive)
    src = tmp_path / "src"
    src.mkdir()
    for n in range(5):
        (src / f"f{n}.bin").write_bytes(os.urandom(150_000))
    ws.cli("add", drive, src, check=True)
    with mounted_vault(ws, drive, tmp_path / "mnt") as mnt:
        assert (mnt / "src" / "f4.bin").read_bytes() == (src / "f4.bin").read_bytes()
        ws.cli("rm", drive, "src/f0.bin", "src/f1.bin", "src/f2.bin", check=True)
        compacted = ws.cli("compact", drive, "--json", check=True)
        assert json.loads(compacted.stdout)["packs_rewritten"] >= 1
        for n in (3, 4):
            shown = mnt / "src" / f"f{n}.bin"
            assert shown.read_bytes() == (src / f"f{n}.bin").read_bytes()
        with pytest.raises(FileNotFoundError):
            (mnt / "src" / "f0.bin").read_bytes()
