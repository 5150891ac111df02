"""Payloads of several direct-I/O blocks: written and read past the page cache (O_DIRECT on
the ext4 of tmp_path), across parts, and still authenticated end to end: a flipped byte or
a cut deep inside one is refused and leaves no file behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medvault.crypto.escrow import EscrowSuite
from medvault.store import sequential
from medvault.store.fsio import filesystem_type
from medvault.vault.verify import verify
from tests.conftest import Workspace, make_workspace
from tests.support.small_vault import PRELUDE, SmallVault, extract_and_check, small_vault

MIB = 1024 * 1024
SIZES = (9 * MIB + 12_345, 5 * MIB + 1)  # each over SMALL_FILE: a pack of its own


@pytest.fixture(scope="module")
def p384_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("ws"), EscrowSuite.P384)


@pytest.fixture
def direct_counts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many writers went direct and how many range reads were made with O_DIRECT."""
    counts = {"writers_direct": 0, "ranges": 0}
    original_init = sequential.SequentialWriter.__init__
    original_range = sequential.direct_range

    def counting_init(self: sequential.SequentialWriter, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)  # type: ignore[arg-type]
        counts["writers_direct"] += self.direct

    def counting_range(fd: int, start: int, length: int) -> sequential.DirectRangeReader | None:
        reader = original_range(fd, start, length)
        counts["ranges"] += reader is not None
        return reader

    monkeypatch.setattr(sequential.SequentialWriter, "__init__", counting_init)
    monkeypatch.setattr(sequential, "direct_range", counting_range)
    monkeypatch.setattr("medvault.store.packs.direct_range", counting_range)
    return counts


def _needs_direct(path: Path) -> None:
    kind = filesystem_type(os.stat(path).st_dev)
    if kind not in sequential.DIRECT_FILESYSTEMS:
        pytest.skip(f"{path} is on {kind or 'an unknown file system'}, not one O_DIRECT is used on")


def _pack_of(sv: SmallVault, stored: str) -> Path:
    pack = sv.located[stored].pack
    return sv.root / "objects" / pack[:2] / f"{pack}.mvo"


def test_large_files_round_trip_through_direct_io(
    p384_ws: Workspace, tmp_path: Path, direct_counts: dict[str, int]
) -> None:
    _needs_direct(tmp_path)
    sv = small_vault(tmp_path, p384_ws, sizes=SIZES)
    assert direct_counts["writers_direct"] >= 2  # one pack per large file
    extract_and_check(sv, tmp_path / "out", broken=set())
    assert direct_counts["ranges"] >= 2  # both payloads were read ahead with O_DIRECT
    assert verify(sv.vault).ok


def test_payload_spanning_parts_round_trips(
    p384_ws: Workspace, tmp_path: Path, direct_counts: dict[str, int]
) -> None:
    _needs_direct(tmp_path)
    sv = small_vault(tmp_path, p384_ws, part_size=3 * MIB, sizes=SIZES)
    extract_and_check(sv, tmp_path / "out", broken=set())
    assert direct_counts["ranges"] >= 4  # a read-ahead per part of each payload


@pytest.mark.parametrize("depth", [4 * MIB + 5, 8 * MIB + 77])
def test_flipped_byte_deep_in_a_payload_is_refused(
    p384_ws: Workspace, tmp_path: Path, depth: int
) -> None:
    sv = small_vault(tmp_path, p384_ws, sizes=SIZES)
    stored = next(p for p, data in sv.files.items() if len(data) == SIZES[0])
    pack = _pack_of(sv, stored)
    loc = sv.located[stored]
    at = PRELUDE + loc.offset + loc.header_len + depth
    with open(pack, "r+b") as handle:
        handle.seek(at)
        byte = handle.read(1)
        handle.seek(at)
        handle.write(bytes([byte[0] ^ 0x40]))
    assert stored in verify(sv.vault).damaged
    extract_and_check(sv, tmp_path / "out", broken={stored})


def test_payload_cut_deep_inside_is_refused(p384_ws: Workspace, tmp_path: Path) -> None:
    sv = small_vault(tmp_path, p384_ws, sizes=SIZES)
    stored = next(p for p, data in sv.files.items() if len(data) == SIZES[0])
    pack = _pack_of(sv, stored)
    os.truncate(pack, pack.stat().st_size - 3 * MIB - 1)
    assert stored in verify(sv.vault).damaged
    extract_and_check(sv, tmp_path / "out", broken={stored})
