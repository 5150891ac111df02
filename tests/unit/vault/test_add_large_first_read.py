"""A large file's first read (its digest, before its header is written) hashes on a worker
thread from HASH_IN_THREAD bytes on; a file that grows or shrinks after it was planned is
refused there, as by the single-thread read of smaller files; one whose bytes change
between the two reads, size and time kept, is refused by the second read's tally."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from medvault.errors import SourceUnreadable
from medvault.vault.add import HASH_IN_THREAD, SMALL_FILE, add_files
from medvault.vault.reading import extract
from tests.conftest import Workspace
from tests.support.library_vault import LibraryVault


@pytest.fixture
def vault(ws: Workspace, tmp_path: Path) -> Iterator[LibraryVault]:
    made = LibraryVault(ws, tmp_path)
    yield made
    made.registry.close()


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


@pytest.mark.parametrize("size", [HASH_IN_THREAD + 12_345, SMALL_FILE + 1])
def test_a_large_file_whose_bytes_change_between_its_two_reads_is_refused(
    vault: LibraryVault, tmp_path: Path, size: int
) -> None:
    """The first progress call comes after the second read's first block: the file's last
    byte is changed then, and its modification time put back, so that neither its size nor
    its time tells (docs/FORMAT.md section 7, step 3: the second read must give the same
    bytes)."""
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
