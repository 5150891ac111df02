"""Reading a byte range of a stored file (engine/random_reading.py): the bytes are the
source's, only the chunks covering the range are read, and a damaged chunk fails only the
ranges that touch it, never returning a byte that was not authenticated."""

from __future__ import annotations

from pathlib import Path

import pytest

from medvault.crypto.payload import CHUNK
from medvault.engine.catalog import Located
from medvault.engine.random_reading import ChunkCache, EntryReader, read_range
from medvault.errors import IntegrityError
from medvault.format import entry as entry_fmt
from medvault.store import entries
from medvault.store.packs import PackReader
from tests.conftest import Workspace
from tests.support.small_vault import PRELUDE, SmallVault, small_vault

SIZES = (0, 1, 700, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 123, 300_000)


def _ranges(size: int) -> list[tuple[int, int]]:
    """Offsets and lengths around every chunk edge, the start, the end and past it."""
    spots = {0, 1, size // 2, max(0, size - 1), size, size + 10}
    for edge in range(CHUNK, size + 1, CHUNK):
        spots |= {edge - 1, edge, edge + 1}
    return [(at, n) for at in sorted(spots) for n in (0, 1, 4096, CHUNK, CHUNK + 2, size + 5)]


class CountingReader(PackReader):
    """A pack reader that adds up the bytes it is asked for."""

    asked = 0

    def read(self, offset: int, length: int) -> bytes:
        self.asked += length
        return super().read(offset, length)

    def __enter__(self) -> CountingReader:
        return self


def _reader(sv: SmallVault, loc: Located) -> CountingReader:
    return CountingReader(sv.vault.paths, sv.vault.vault_id, loc.pack, sv.vault.part_size)


def _payload_byte_on_disk(sv: SmallVault, loc: Located, payload_offset: int) -> tuple[Path, int]:
    """The part file and offset in it of byte PAYLOAD_OFFSET of LOC's payload."""
    at = loc.offset + loc.header_len + payload_offset
    part, within = divmod(at, sv.vault.part_size)
    name = f"{loc.pack}.mvo" if part == 0 else f"{loc.pack}.{part:03d}.mvp"
    return sv.root / "objects" / loc.pack[:2] / name, PRELUDE + within


@pytest.mark.parametrize("suite", [entry_fmt.SUITE_PADDED, entry_fmt.SUITE_V1])
def test_every_range_is_the_sources_bytes(
    suite: int, ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In both formats, every range around chunk edges, the end of the file and past it
    reads as the same slice of the source (cut at the end, empty past it); format 1.1
    padding is never returned."""
    monkeypatch.setattr(entries, "WRITE_SUITE", suite)
    sv = small_vault(tmp_path, ws, sizes=SIZES)
    for path, data in sv.files.items():
        loc = sv.located[path]
        with _reader(sv, loc) as reader:
            entry = EntryReader(sv.vault, reader, loc, ChunkCache())
            assert entry.size == len(data)
            for at, n in _ranges(len(data)):
                assert entry.read(at, n) == data[at : at + n], (path, at, n)
        assert read_range(sv.vault, loc, len(data) // 3, 5000) == data[len(data) // 3 :][:5000]


def test_a_far_read_reads_only_its_chunks(ws: Workspace, tmp_path: Path) -> None:
    """4 KiB near the end of a 3 MiB file reads the header, the salt and commitment, and
    the one chunk holding them: nothing from the start of the payload."""
    size = 3 * 1024 * 1024
    sv = small_vault(tmp_path, ws, sizes=(size,))
    ((path, data),) = sv.files.items()
    loc = sv.located[path]
    with _reader(sv, loc) as reader:
        entry = EntryReader(sv.vault, reader, loc, None)
        opened = reader.asked
        at = size - 5 * CHUNK + 100  # within one chunk
        assert entry.read(at, 4096) == data[at : at + 4096]
        assert reader.asked - opened == CHUNK + 16  # one sealed chunk
        assert opened == loc.header_len + 56


def test_a_read_spanning_parts_of_a_pack(ws: Workspace, tmp_path: Path) -> None:
    """With 64 KiB part files, ranges whose chunks straddle two parts read correctly."""
    sv = small_vault(tmp_path, ws, part_size=64 * 1024, sizes=(200_000,))
    ((path, data),) = sv.files.items()
    loc = sv.located[path]
    for at in range(0, len(data), 9_999):
        assert read_range(sv.vault, loc, at, 7_000) == data[at : at + 7_000]


def test_a_damaged_chunk_fails_only_the_ranges_that_touch_it(ws: Workspace, tmp_path: Path) -> None:
    """A flipped byte in chunk 3 of one file: any range touching chunk 3 raises
    IntegrityError (nothing of it is returned; `read_prefix` returns what precedes it);
    ranges elsewhere in that file, and the
    other files, read as the source."""
    sv = small_vault(tmp_path, ws, sizes=(8 * CHUNK + 5, 2 * CHUNK))
    (damaged_path, other_path) = sorted(sv.files)
    loc = sv.located[damaged_path]
    data = sv.files[damaged_path]
    part, at = _payload_byte_on_disk(sv, loc, 56 + 3 * (CHUNK + 16) + 1000)
    raw = bytearray(part.read_bytes())
    raw[at] ^= 0x40
    part.write_bytes(bytes(raw))
    for start, n in [(3 * CHUNK, 1), (3 * CHUNK - 10, 20), (4 * CHUNK - 1, 1), (0, len(data))]:
        with pytest.raises(IntegrityError, match="chunk 3"):
            read_range(sv.vault, loc, start, n)
    with _reader(sv, loc) as reader:
        entry = EntryReader(sv.vault, reader, loc, ChunkCache())
        for start, n in [(0, 3 * CHUNK), (4 * CHUNK, 4 * CHUNK + 5), (2 * CHUNK + 7, 100)]:
            assert entry.read(start, n) == data[start : start + n]
        with pytest.raises(IntegrityError):
            entry.read(3 * CHUNK + 5, 1)
        # A file system read may return fewer bytes: only the authentic ones before chunk 3.
        assert entry.read_prefix(2 * CHUNK + 3, 3 * CHUNK) == data[2 * CHUNK + 3 : 3 * CHUNK]
        with pytest.raises(IntegrityError):
            entry.read_prefix(3 * CHUNK, 5)
    other = sv.files[other_path]
    assert read_range(sv.vault, sv.located[other_path], 0, len(other)) == other


def test_a_damaged_commitment_or_header_fails_on_open(ws: Workspace, tmp_path: Path) -> None:
    """A flipped byte in the payload's commitment, or in the entry's header, fails before
    any content is read."""
    sv = small_vault(tmp_path, ws, sizes=(3 * CHUNK, 3 * CHUNK + 1))
    first, second = sorted(sv.files)
    for path, payload_offset in [(first, 30), (second, -100)]:
        loc = sv.located[path]
        part, at = _payload_byte_on_disk(sv, loc, payload_offset)
        raw = bytearray(part.read_bytes())
        raw[at] ^= 0x01
        part.write_bytes(bytes(raw))
        with pytest.raises(IntegrityError):
            read_range(sv.vault, loc, CHUNK, 10)


def test_the_chunk_cache_keeps_only_its_capacity() -> None:
    """The least recently used chunk is dropped first; a file's chunks can be forgotten."""
    cache = ChunkCache(3)
    for index in range(5):
        cache.put("a", index, bytes([index]))
    assert len(cache) == 3
    assert cache.get("a", 0) is None
    assert cache.get("a", 2) == b"\x02"
    cache.put("b", 0, b"b")
    assert cache.get("a", 3) is None  # 3 was the least recently used after 2 was read
    cache.forget("a")
    assert len(cache) == 1


def test_a_negative_range_is_refused(ws: Workspace, tmp_path: Path) -> None:
    sv = small_vault(tmp_path, ws, sizes=(10,))
    ((path, _),) = sv.files.items()
    with pytest.raises(ValueError, match="non-negative"):
        read_range(sv.vault, sv.located[path], -1, 5)


def test_a_chunk_read_again_comes_from_the_cache(ws: Workspace, tmp_path: Path) -> None:
    """The cache given is the one filled; a chunk read twice is read from the pack once;
    without a cache given, the entry keeps its last two chunks."""
    sv = small_vault(tmp_path, ws, sizes=(6 * CHUNK,))
    ((path, data),) = sv.files.items()
    loc = sv.located[path]
    sealed = CHUNK + 16
    with _reader(sv, loc) as reader:
        given = ChunkCache()
        entry = EntryReader(sv.vault, reader, loc, given)
        before = reader.asked
        assert entry.read(10, 5) == data[10:15]
        assert reader.asked - before == sealed and len(given) == 1
        assert entry.read(100, 5) == data[100:105]
        assert reader.asked - before == sealed  # chunk 0 again: nothing read
    with _reader(sv, loc) as reader:
        entry = EntryReader(sv.vault, reader, loc, None)
        for index in (0, 1, 2):
            entry.read(index * CHUNK, 1)
        before = reader.asked
        entry.read(2 * CHUNK + 1, 1)
        entry.read(CHUNK + 1, 1)
        assert reader.asked == before  # chunks 1 and 2: kept
        entry.read(1, 1)
        assert reader.asked - before == sealed  # chunk 0: dropped, read again


def test_a_prefix_read_refuses_a_negative_offset_or_length(ws: Workspace, tmp_path: Path) -> None:
    sv = small_vault(tmp_path, ws, sizes=(100,))
    ((path, data),) = sv.files.items()
    loc = sv.located[path]
    with _reader(sv, loc) as reader:
        entry = EntryReader(sv.vault, reader, loc, None)
        for offset, length in [(-1, 0), (0, -1), (-1, 5)]:
            with pytest.raises(ValueError, match="non-negative"):
                entry.read_prefix(offset, length)
        assert entry.read_prefix(0, 0) == b"" and entry.read_prefix(100, 5) == b""
        assert entry.read_prefix(95, 10) == data[95:]
