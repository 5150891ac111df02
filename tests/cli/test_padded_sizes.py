"""What a lost drive alone shows of file sizes (docs/THREAT_MODEL.md, "What the drive
reveals"): read with no key, every entry's lengths are those of its Padmé bucket, so files
whose sizes differ by a byte share a payload length, small files and tombstones look alike,
and no exact size can be computed."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

from medvault.format import entry as entry_fmt
from tests.conftest import Workspace
from tests.support.drive_entries import entries_on_drive


def _write_sizes(folder: Path, sizes: range) -> None:
    folder.mkdir(parents=True)
    for size in sizes:
        # Names of one length, so that only the sizes differ.
        (folder / f"f{size:07d}.bin").write_bytes(b"\xa5" * size)


def _bucket_width(size: int) -> int:
    """The width of SIZE's Padmé bucket as THREAT_MODEL.md states it: 2^(E - S) bytes,
    E = floor(log2 size), S = floor(log2 E) + 1."""
    exponent = math.floor(math.log2(size))
    return 2 ** (exponent - (math.floor(math.log2(exponent)) + 1))


def test_sizes_a_byte_apart_share_payload_lengths_and_none_is_exact(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    ranges = {
        "tiny": range(0, 513),  # everything up to the 512-byte floor: one length
        "small": range(1000, 1256),  # 32-byte buckets: at most 256 / 32 + 1 lengths
        "large": range(100_000, 100_040),  # 2048-byte buckets: at most 2 lengths
    }
    ws.cli("create", drive, check=True)
    for name, sizes in ranges.items():
        _write_sizes(tmp_path / name, sizes)
        before = Counter(entries_on_drive(drive))
        ws.cli("add", drive, tmp_path / name, check=True)
        # Packs are walked in name order (random ids): what this add wrote is what is new.
        seen = list((Counter(entries_on_drive(drive)) - before).elements())
        assert len(seen) == len(sizes)
        assert {e.suite for e in seen} == {entry_fmt.SUITE_PADDED}
        assert {e.kind_byte for e in seen} == {0}  # the kind is not shown
        assert len({e.header_len for e in seen}) == 1  # metadata in one bucket
        lengths = {e.payload_len for e in seen}
        if sizes.start < 512:
            assert len(lengths) == 1  # the floor
        else:
            width = _bucket_width(sizes.start)
            assert len(lengths) <= math.ceil(len(sizes) / width) + 1, (name, len(lengths))
        # No payload length belongs to a single size: none can be computed exactly.
        by_length: dict[int, int] = defaultdict(int)
        for entry in seen:
            by_length[entry.payload_len] += 1
        assert min(by_length.values()) > 1, (name, by_length)


def test_a_tombstone_looks_like_a_small_file(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    source = tmp_path / "notes"
    source.mkdir()
    (source / "a.txt").write_bytes(b"a" * 100)
    (source / "b.txt").write_bytes(b"b" * 300)
    ws.cli("create", drive, check=True)
    ws.cli("add", drive, source, check=True)
    files = entries_on_drive(drive)
    ws.cli("rm", drive, "notes/a.txt", check=True)
    added = Counter(entries_on_drive(drive)) - Counter(files)
    assert sum(added.values()) == 1
    assert list(added) == [files[0]] == [files[1]]
