"""A large file is read once where its pack can take its header last (kernel file systems),
twice elsewhere (first for its digest, hashed on a worker thread from HASH_IN_THREAD bytes
on); either way it is stored with the digest of what it holds, a file that grows or shrinks
after it was planned is refused, and where it is read twice, one whose bytes change between
the reads, size and time kept, is refused by the second read's tally."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from medvault.errors import SourceUnreadable
from medvault.store.fsio import filesystem_type
from medvault.store.sequential import HOLE_FILESYSTEMS
from medvault.vault.add import HASH_IN_THREAD, SMALL_FILE, add_files
from medvault.vault.reading import extract
from tests.conftest import Workspace
from tests.support.library_vault import LibraryVault

ONCE, TWICE = "read-once", "read-twice"


@pytest.fixture(params=[ONCE, TWICE])
def vault(request: pytest.FixtureRequest, ws: Workspace, tmp_path: Path) -> Iterator[LibraryVault]:
    """A vault where a large file is read once (a kernel file system, whose pack writer can
    write the header last) or twice (tmpfs, written through the page cache, front to back
    as on FUSE drives)."""
    if request.param == ONCE:
        if filesystem_type(tmp_path.stat().st_dev) not in HOLE_FILESYSTEMS:
            pytest.skip("tmp_path is not on ext4, XFS or f2fs: no large file is read once here")
        root = tmp_path
    else:
        root = request.getfixturevalue("shm")  # conftest's private tmpfs folder
    made = LibraryVault(ws, root)
    yield made
    made.registry.close()


def _bytes_read() -> int:
    """What this process has read so far through read system calls (Linux's rchar)."""
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("rchar:"))


@pytest.mark.parametrize("size", [HASH_IN_THREAD + 12_345, SMALL_FILE + 1])
def test_a_large_file_is_read_once_on_a_kernel_file_system_and_twice_elsewhere(
    vault: LibraryVault, request: pytest.FixtureRequest, tmp_path: Path, size: int
) -> None:
    """docs/FORMAT.md section 7, step 3."""
    if not Path("/proc/self/io").exists():
        pytest.skip("no /proc/self/io: what the add reads cannot be counted here")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(size))
    opened = vault.open()
    before = _bytes_read()
    add_files(opened, [big], False, vault.registry, vault.env)
    reads = (_bytes_read() - before) / size
    if request.node.callspec.params["vault"] == ONCE:
        assert 1 <= reads < 1.5
    else:
        assert 2 <= reads < 2.5


@pytest.mark.parametrize("size", [HASH_IN_THREAD + 12_345, SMALL_FILE + 1])
def test_a_large_file_is_stored_with_the_digest_of_what_it_holds(
    vault: LibraryVault, tmp_path: Path, size: int
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(size))
    (stored,) = add_files(vault.open(), [big], False, vault.registry, vault.env).files
    assert stored.sha256 == hashlib.sha256(big.read_bytes()).hexdigest()
    extract(vault.open(), [], tmp_path / "out", False, vault.registry, vault.env)
    assert (tmp_path / "out" / "big.bin").read_bytes() == big.read_bytes()


@pytest.mark.parametrize("size", [HASH_IN_THREAD + 12_345, SMALL_FILE + 1])
@pytest.mark.parametrize("change", ["grown", "shrunk"])
def test_a_large_file_that_changed_after_it_was_planned_is_refused(
    vault: LibraryVault, tmp_path: Path, size: int, change: str
) -> None:
    """The small file 'a.txt' is stored first; its progress call changes 'big.bin' (planned
    after it) before big.bin's first read."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"first")
    big = src / "big.bin"
    big.write_bytes(os.urandom(size))

    def change_big(_done: int) -> None:
        with big.open("ab" if change == "grown" else "r+b") as handle:
            if change == "grown":
                handle.write(b"more")
            else:
                handle.truncate(size - 4096)

    with pytest.raises(SourceUnreadable, match=r"big\.bin changed while it was being read"):
        add_files(vault.open(), [src], False, vault.registry, vault.env, progress=change_big)


@pytest.mark.parametrize("vault", [TWICE], indirect=True)
@pytest.mark.parametrize("size", [HASH_IN_THREAD + 12_345, SMALL_FILE + 1])
def test_a_large_file_whose_bytes_change_between_its_two_reads_is_refused(
    vault: LibraryVault, tmp_path: Path, size: int
) -> None:
    """Where a large file is read twice. The first progress call comes after the second
    read's first block: the file's last byte is changed then, and its modification time put
    back, so that neither its size nor its time tells (docs/FORMAT.md section 7, step 3:
    the second read must give the same bytes)."""
    src = tmp_path / "src"
    src.mkdir()
    big = src / "big.bin"
    big.write_bytes(os.urandom(size))
    planned = big.stat()
    calls: list[int] = []

    def change_last_byte(_done: int) -> None:
        calls.append(_done)
        if len(calls) == 1:
            with big.open("r+b") as handle:
                handle.seek(size - 1)
                last = handle.read(1)
                handle.seek(size - 1)
                handle.write(bytes([last[0] ^ 0xFF]))
            os.utime(big, ns=(planned.st_atime_ns, planned.st_mtime_ns))

    opened = vault.open()
    with pytest.raises(SourceUnreadable, match=r"big\.bin changed while it was being read"):
        add_files(opened, [src], False, vault.registry, vault.env, progress=change_last_byte)
    assert big.stat().st_mtime_ns == planned.st_mtime_ns and big.stat().st_size == size
    extract(vault.open(), [], tmp_path / "out", False, vault.registry, vault.env)
    assert not (tmp_path / "out" / "big.bin").exists()
