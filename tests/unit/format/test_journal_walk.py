"""The two ways a journal file is walked besides split(): count_records (by the length
fields alone, to find where the whole records end) and read_records (the records read in
order, after count_records checked them). Both must say exactly what split() says of the
same bytes, and neither may be made to read more than a record's cap."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from medvault.errors import FormatError
from medvault.format import index_journal as jfmt
from medvault.format.binary import u32

VAULT_ID = bytes(range(16))
HEAD = 4 + jfmt.NONCE_LEN


def _frame(ct_len: int, fill: int) -> bytes:
    return jfmt.frame(bytes([fill]) * jfmt.NONCE_LEN, bytes([fill ^ 0xFF]) * ct_len)


# Records of the smallest length, a few odd ones and one larger: every cut below falls
# inside a length field, a nonce or a ciphertext somewhere.
RECORDS = [_frame(16, 1), _frame(17, 2), _frame(16, 3), _frame(300, 4), _frame(33, 5)]
JOURNAL = jfmt.prelude(VAULT_ID) + b"".join(RECORDS)


def _read_at(data: bytes) -> Callable[[int, int], bytes]:
    return lambda offset, n: data[offset : offset + n]


def _split_says(data: bytes) -> tuple[int, bool] | str:
    try:
        got = jfmt.split(data)
    except FormatError as exc:
        return str(exc)
    return len(got.records), got.torn_tail


def _count_says(data: bytes) -> tuple[int, bool] | str:
    try:
        return jfmt.count_records(_read_at(data), len(data))
    except FormatError as exc:
        return str(exc)


def test_count_records_says_what_split_says_of_a_journal_cut_anywhere() -> None:
    """Whole records and torn tail alike, at every length: a cut inside a length field, a
    nonce (fewer than 16 bytes after the last record) or a ciphertext."""
    said = {size: _count_says(JOURNAL[:size]) for size in range(jfmt.PRELUDE_LEN, len(JOURNAL) + 1)}
    assert said == {size: _split_says(JOURNAL[:size]) for size in said}
    assert {type(answer) for answer in said.values()} == {tuple}
    assert said[len(JOURNAL)] == (len(RECORDS), False)
    assert said[len(JOURNAL) - 1] == (len(RECORDS) - 1, True)


@pytest.mark.parametrize(
    "ct_len", [0, 15, 16, jfmt.MAX_RECORD, jfmt.MAX_RECORD + 1, 2**31, 2**32 - 1]
)
@pytest.mark.parametrize("after", [0, 1, HEAD - 1, HEAD, HEAD + 16])
def test_a_frame_is_judged_by_its_length_once_its_head_is_whole(ct_len: int, after: int) -> None:
    """A length below 16 (the GCM tag) or above MAX_RECORD is refused as soon as the frame
    head (length and nonce) is there, even with nothing after it, and whatever its top bit;
    a possible one with its ciphertext short is a torn tail (count_records reads nothing but
    the length fields, so a MAX_RECORD length is judged without 64 MiB behind it). A head
    cut short is a torn tail whatever it holds."""
    head = u32(ct_len) + bytes(jfmt.NONCE_LEN)
    whole = JOURNAL + head + bytes(after - HEAD if after > HEAD else 0)
    data = whole[: len(JOURNAL) + after]
    said = _count_says(data)
    if after < HEAD:
        assert said == (len(RECORDS), after > 0)
    elif 16 <= ct_len <= jfmt.MAX_RECORD:
        whole_record = after - HEAD == ct_len
        assert said == (len(RECORDS) + whole_record, not whole_record)
    else:
        assert said == f"index: record {len(RECORDS)} has an impossible length"
    assert said == _split_says(data)


def test_count_records_walks_by_the_lengths_alone() -> None:
    """Only length fields are read, so a journal whose records sum to far more than is in
    memory is walked; a MAX_RECORD record ends exactly where its length says."""
    lengths = [jfmt.MAX_RECORD, 16, jfmt.MAX_RECORD]
    fields: dict[int, bytes] = {}
    pos = jfmt.PRELUDE_LEN
    for n in lengths:
        fields[pos] = u32(n)
        pos += HEAD + n
    asked: list[tuple[int, int]] = []

    def read_at(offset: int, n: int) -> bytes:
        asked.append((offset, n))
        return fields[offset][:n]

    assert jfmt.count_records(read_at, pos) == (3, False)
    assert asked == [(offset, 4) for offset in fields]
    assert jfmt.count_records(read_at, pos - 1) == (2, True)
    assert jfmt.count_records(read_at, pos + 1) == (3, True)


def _records_read(data: bytes, start: int, count: int) -> list[jfmt.RawRecord]:
    stream = io.BytesIO(data)
    stream.seek(start)
    return list(jfmt.read_records(stream.read, start, count))


def test_read_records_gives_the_records_split_gives() -> None:
    """Numbers, offsets, nonces and ciphertexts, from the first record or from any record
    boundary on."""
    assert _records_read(JOURNAL, jfmt.PRELUDE_LEN, len(RECORDS)) == jfmt.split(JOURNAL).records
    boundary = jfmt.PRELUDE_LEN + len(RECORDS[0]) + len(RECORDS[1])
    later = _records_read(JOURNAL, boundary, 3)
    assert [(r.offset, r.nonce, r.ciphertext) for r in later] == [
        (r.offset, r.nonce, r.ciphertext) for r in jfmt.split(JOURNAL).records[2:]
    ]
    assert [r.record_no for r in later] == [0, 1, 2]  # numbered from the walk's start


@pytest.mark.parametrize("cut", [1, 3, HEAD - 1, HEAD, HEAD + 15])
def test_a_record_cut_short_while_read_is_a_change_under_the_reader(cut: int) -> None:
    """count_records said the records were whole; one shorter now (in its head or its
    ciphertext) means the file changed: FormatError, never a short record."""
    data = JOURNAL[: len(JOURNAL) - len(RECORDS[-1]) + cut]
    with pytest.raises(FormatError, match=r"index: record 4 changed while it was read"):
        _records_read(data, jfmt.PRELUDE_LEN, len(RECORDS))


@pytest.mark.parametrize("ct_len", [0, 15, jfmt.MAX_RECORD + 1, 2**31, 2**32 - 1])
def test_read_records_never_reads_an_impossible_length(ct_len: int) -> None:
    """A length field that changed to an impossible value since it was counted is refused
    without reading it: the reader is never asked for more than MAX_RECORD bytes."""
    data = jfmt.prelude(VAULT_ID) + RECORDS[0] + u32(ct_len) + bytes(jfmt.NONCE_LEN)
    stream = io.BytesIO(data)
    stream.seek(jfmt.PRELUDE_LEN)
    asked: list[int] = []

    def read(n: int) -> bytes:
        asked.append(n)
        return stream.read(n)

    with pytest.raises(FormatError, match=r"index: record 1 changed while it was read"):
        list(jfmt.read_records(read, jfmt.PRELUDE_LEN, 2))
    assert max(asked) <= jfmt.MAX_RECORD
    assert asked[:2] == [HEAD, 16]


def test_read_records_takes_a_record_of_the_cap_exactly() -> None:
    """MAX_RECORD bytes of ciphertext is a record (the cap is inclusive, as in split)."""
    big = jfmt.frame(bytes(jfmt.NONCE_LEN), bytes(jfmt.MAX_RECORD))
    data = jfmt.prelude(VAULT_ID) + big + RECORDS[0]
    records = _records_read(data, jfmt.PRELUDE_LEN, 2)
    assert [len(r.ciphertext) for r in records] == [jfmt.MAX_RECORD, 16]
    assert records[1].offset == jfmt.PRELUDE_LEN + len(big)


def test_a_frame_is_its_length_nonce_and_ciphertext() -> None:
    """frame() (what the vectors and the fuzz targets build journals with) writes the layout
    split() reads: u32 length, nonce, ciphertext."""
    nonce, sealed = bytes(range(jfmt.NONCE_LEN)), bytes(range(100, 140))
    framed = jfmt.frame(nonce, sealed)
    assert framed == b"\x00\x00\x00\x28" + nonce + sealed
    (record,) = jfmt.split(jfmt.prelude(VAULT_ID) + framed).records
    assert (record.nonce, record.ciphertext) == (nonce, sealed)
