"""Which packs `compact` upgrades (engine/upgrade.py): the suite of a pack is that of its
first entry, read from its first 14 bytes (magic, header length, suite); an empty pack has
none; every suite but the one medvault writes is upgraded."""

from __future__ import annotations

import struct

import pytest

from medvault.engine.upgrade import needs_upgrade, pack_suite
from medvault.errors import FormatError
from medvault.format import entry as entry_fmt
from medvault.store.entries import WRITE_SUITE


class Prefix:
    """A pack reader over bytes in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def logical_size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]


def _first_bytes(suite: int) -> bytes:
    return entry_fmt.MAGIC + struct.pack(">IH", entry_fmt.FIXED_LEN + entry_fmt.MAC_LEN, suite)


@pytest.mark.parametrize("suite", [1, 2, 0x0102, 0xFFFF])
def test_the_suite_is_the_first_entrys_two_bytes(suite: int) -> None:
    for tail in (b"", b"more of the entry"):
        pack = Prefix(_first_bytes(suite) + tail)  # 14 bytes, or more
        assert pack_suite(pack) == suite  # type: ignore[arg-type]
        assert needs_upgrade(pack) is (suite != WRITE_SUITE)  # type: ignore[arg-type]


def test_an_empty_pack_has_no_suite_and_is_not_upgraded() -> None:
    for data in (b"", _first_bytes(1)[:13]):
        assert pack_suite(Prefix(data)) is None  # type: ignore[arg-type]
        assert needs_upgrade(Prefix(data)) is False  # type: ignore[arg-type]


def test_a_pack_that_is_not_one_is_refused() -> None:
    with pytest.raises(FormatError):
        pack_suite(Prefix(b"NOTANOBJECT!" + b"\x00\x01"))  # type: ignore[arg-type]
