"""Strict parsing in the small format modules (issue 19, mutation testing): the custody log
entry's size cap on both sides, and the bounded Reader's one-byte read."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from medvault.errors import FormatError
from medvault.format import custody_log as lfmt
from medvault.format.binary import Reader

VAULT_ID = bytes(range(16))
EVENT_ID = bytes(range(200, 216))


def _entry(size: int) -> bytes:
    sealed = lfmt.SealedEvent(VAULT_ID, EVENT_ID, bytes(lfmt.NONCE_LEN), b"")
    head = lfmt.encode(sealed)
    return head + b"\xa5" * (size - len(head))


@pytest.mark.parametrize(
    ("size", "accepted"),
    [
        (lfmt.MAX_FILE, True),
        (lfmt.MAX_FILE + 1, False),
        (lfmt.PREFIX_LEN + lfmt.NONCE_LEN + lfmt.TAG_LEN, True),  # an empty event's tag only
        (lfmt.PREFIX_LEN + lfmt.NONCE_LEN + lfmt.TAG_LEN - 1, False),
    ],
)
def test_a_custody_log_entry_is_a_tag_to_64_kib(size: int, accepted: bool) -> None:
    data = _entry(size)
    assert len(data) == size
    if accepted:
        got = lfmt.decode(data, lfmt.filename(EVENT_ID))
        assert (got.vault_id, got.event_id) == (VAULT_ID, EVENT_ID)
        assert lfmt.encode(got) == data
    else:
        with pytest.raises(FormatError, match="too large" if size > lfmt.MAX_FILE else "truncated"):
            lfmt.decode(data, lfmt.filename(EVENT_ID))


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        (b"MVLOG\x00\x00\x02" + bytes(100), "bad magic"),
        (b"MVLOG", "truncated"),
    ],
)
def test_a_custody_log_entry_of_another_kind_is_refused(data: bytes, refusal: str) -> None:
    with pytest.raises(FormatError, match=refusal):
        lfmt.decode(data, lfmt.filename(EVENT_ID))


def test_a_custody_log_entry_under_another_name_is_refused() -> None:
    with pytest.raises(FormatError, match="file name does not match"):
        lfmt.decode(_entry(200), lfmt.filename(VAULT_ID))


def test_u8_reads_one_byte_and_moves_on_by_one() -> None:
    r = Reader(b"\x00\x07\xff", "test")
    assert [r.u8(), r.position, r.u8(), r.position, r.u8()] == [0, 1, 7, 2, 255]
    assert r.remaining == 0
    r.end()


def test_u8_reads_the_last_byte_and_refuses_past_the_end() -> None:
    r = Reader(b"\x2a", "test")
    assert r.u8() == 42
    with pytest.raises(FormatError, match=r"test: truncated \(needed 1 bytes, 0 left\)"):
        r.u8()


@pytest.mark.parametrize(
    ("read", "size"),
    [(Reader.u8, 1), (Reader.u16, 2), (Reader.u32, 4), (Reader.u64, 8)],
)
def test_each_reader_width_is_big_endian_and_bounded(
    read: Callable[[Reader], int], size: int
) -> None:
    data = bytes(range(1, size + 1))
    r = Reader(data + b"\xee", "test")
    assert read(r) == int.from_bytes(data, "big")
    assert r.position == size
    with pytest.raises(FormatError, match="truncated"):
        read(Reader(data[:-1], "test"))
