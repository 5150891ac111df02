"""Strict parsing in the smaller format modules: the custody
log entry's size cap, the bounded Reader's reads, the object entry header, pack preludes and
names, index journal records and object metadata. Each bound is tested on both sides
(accepted at the limit, refused one past it); each disjunct of a check has its own case."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from medvault.errors import FormatError, UnsafePath, UnsupportedVersion
from medvault.format import canonical_json as cj
from medvault.format import custody_log as lfmt
from medvault.format import entry as efmt
from medvault.format import index_journal as jfmt
from medvault.format import meta as mfmt
from medvault.format import pack as pfmt
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


# --- object entry header ------------------------------------------------------------------

MIN_HEADER = efmt.FIXED_LEN + efmt.MAC_LEN


def _entry_header(body_len: int = 0, **fields: int) -> bytes:
    """An entry header's bytes with BODY_LEN bytes of metadata and FIELDS overriding the
    fixed fields (header_len, suite, kind, flags, key_epoch, payload_len, meta_len)."""
    values = {
        "header_len": MIN_HEADER + body_len,
        "suite": efmt.SUITE_V1,
        "kind": int(efmt.Kind.FILE),
        "flags": 0,
        "key_epoch": 1,
        "payload_len": 0,
        "meta_len": body_len,
    } | fields
    fixed = efmt.FIXED.pack(
        efmt.MAGIC,
        values["header_len"],
        values["suite"],
        values["kind"],
        values["flags"],
        VAULT_ID,
        EVENT_ID,
        values["key_epoch"],
        values["payload_len"],
        bytes(efmt.WRAPPED_LEN),
        bytes(efmt.NONCE_LEN),
        values["meta_len"],
    )
    return fixed + b"\x5a" * body_len + b"\xc3" * efmt.MAC_LEN


@pytest.mark.parametrize(
    ("length", "accepted"),
    [
        (MIN_HEADER, True),
        (MIN_HEADER - 1, False),
        (efmt.MAX_HEADER, True),
        (efmt.MAX_HEADER + 1, False),
        (0, False),
    ],
)
def test_an_entry_header_length_is_bounded_on_both_sides(length: int, accepted: bool) -> None:
    prefix = efmt.MAGIC + length.to_bytes(4, "big")
    if accepted:
        assert efmt.peek_header_len(prefix) == length
    else:
        with pytest.raises(FormatError, match="length out of range"):
            efmt.peek_header_len(prefix)


@pytest.mark.parametrize(
    ("meta_len", "fields"),
    [
        (0, {}),
        (efmt.MAX_META, {}),
        (10, {"kind": int(efmt.Kind.TOMBSTONE)}),
        (10, {"key_epoch": 1}),
        (10, {"key_epoch": 0xFFFF_FFFF}),
        (10, {"payload_len": efmt.MAX_PAYLOAD}),
    ],
)
def test_an_entry_header_within_its_bounds_is_accepted(
    meta_len: int, fields: dict[str, int]
) -> None:
    data = _entry_header(meta_len, **fields)
    parsed = efmt.decode(data)
    assert len(parsed.header.meta_ct) == meta_len
    assert parsed.header.header_len == len(data)
    assert efmt.encode(parsed.header, parsed.mac) == data


@pytest.mark.parametrize(
    ("meta_len", "fields", "refusal"),
    [
        (0, {"kind": 0}, "unknown kind"),
        (0, {"kind": 3}, "unknown kind"),
        (0, {"flags": 1}, "unknown flags"),
        (0, {"key_epoch": 0}, "unknown key epoch"),
        (0, {"payload_len": efmt.MAX_PAYLOAD + 1}, "payload length out of range"),
        (efmt.MAX_META + 1, {}, "metadata length out of range"),  # consistent, too big
        (10, {"meta_len": 9}, "metadata length out of range"),  # within cap, inconsistent
        (10, {"meta_len": 11}, "metadata length out of range"),
        (10, {"header_len": MIN_HEADER + 9}, "length mismatch"),
    ],
)
def test_an_entry_header_field_out_of_bounds_is_refused(
    meta_len: int, fields: dict[str, int], refusal: str
) -> None:
    with pytest.raises(FormatError, match=refusal):
        efmt.decode(_entry_header(meta_len, **fields))


def test_an_entry_header_of_another_suite_is_unsupported_not_damaged() -> None:
    with pytest.raises(UnsupportedVersion, match="object suite 3"):
        efmt.decode(_entry_header(0, suite=3))


def test_a_short_entry_header_is_truncated_and_a_foreign_one_bad_magic() -> None:
    with pytest.raises(FormatError, match=f"truncated \\({MIN_HEADER - 1} bytes\\)"):
        efmt.decode(_entry_header(0)[:-1])
    with pytest.raises(FormatError, match="bad magic"):
        efmt.decode(b"MVOBJ\x00\x00\x02" + _entry_header(0)[8:])


# --- pack prelude and names ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "count", "accepted"),
    [
        (0, 1, True),
        (0, 0, False),
        (1, 1, False),
        (pfmt.MAX_PARTS - 1, pfmt.MAX_PARTS, True),
        (pfmt.MAX_PARTS, pfmt.MAX_PARTS, False),
        (0, pfmt.MAX_PARTS + 1, False),
        (5, 4, False),
    ],
)
def test_a_pack_part_is_numbered_within_its_count(index: int, count: int, accepted: bool) -> None:
    prelude = pfmt.Prelude(VAULT_ID, EVENT_ID, index, count, 1 << 20)
    if accepted:
        assert pfmt.decode_prelude(prelude.encode()) == prelude
    else:
        with pytest.raises(FormatError, match="part numbers out of range"):
            pfmt.decode_prelude(prelude.encode())


def test_a_pack_prelude_is_exactly_its_length() -> None:
    data = pfmt.Prelude(VAULT_ID, EVENT_ID, 0, 1, 1 << 20).encode()
    assert len(data) == pfmt.PRELUDE_LEN
    with pytest.raises(FormatError, match="1 unexpected trailing bytes"):
        pfmt.decode_prelude(data + b"\x00")
    with pytest.raises(FormatError, match="truncated"):
        pfmt.decode_prelude(data[:-1])


@pytest.mark.parametrize(
    "name",
    [
        pfmt.id_to_name(EVENT_ID)[:-1],  # 25 characters
        pfmt.id_to_name(EVENT_ID) + "a",  # 27
        pfmt.id_to_name(EVENT_ID).upper(),
        pfmt.id_to_name(EVENT_ID)[:-1] + "b",  # nonzero spare bits: a second name
        pfmt.id_to_name(EVENT_ID)[:-1] + "-",
        pfmt.id_to_name(EVENT_ID)[:-1] + "1",  # not a base32 digit
        pfmt.id_to_name(bytes(range(21))),  # 34 characters of valid base32: another id size
        pfmt.id_to_name(bytes(range(6))),  # 10
    ],
)
def test_an_object_name_has_one_spelling(name: str) -> None:
    with pytest.raises(FormatError, match="not an object id"):
        pfmt.name_to_id(name)


def test_an_object_name_round_trips_and_parts_are_named_by_number() -> None:
    name = pfmt.id_to_name(EVENT_ID)
    assert (len(name), pfmt.name_to_id(name)) == (26, EVENT_ID)
    assert pfmt.part_filename(name, 0) == f"{name}.mvo"
    assert pfmt.part_filename(name, 1) == f"{name}.001.mvp"


# --- index journal ------------------------------------------------------------------------


def _record(ct_len: int, present: int | None = None) -> bytes:
    """A record frame claiming CT_LEN bytes of ciphertext, holding PRESENT of them."""
    body = b"\x77" * (ct_len if present is None else present)
    return ct_len.to_bytes(4, "big") + bytes(jfmt.NONCE_LEN) + body


@pytest.mark.parametrize(
    ("ct_len", "present", "outcome"),
    [
        (16, None, "whole"),
        (15, None, "refused"),
        (0, None, "refused"),
        (jfmt.MAX_RECORD, 100, "torn"),  # a length at the cap is believed: the tail is cut
        (jfmt.MAX_RECORD + 1, 100, "refused"),
        (40, 39, "torn"),
    ],
)
def test_a_journal_record_length_is_bounded_on_both_sides(
    ct_len: int, present: int | None, outcome: str
) -> None:
    first = _record(20)
    data = jfmt.prelude(VAULT_ID) + first + _record(ct_len, present)
    if outcome == "refused":
        with pytest.raises(FormatError, match="record 1 has an impossible length"):
            jfmt.split(data)
        return
    got = jfmt.split(data)
    assert got.torn_tail == (outcome == "torn")
    if outcome == "whole":
        assert [len(r.ciphertext) for r in got.records] == [20, ct_len]
        assert got.valid_length == len(data)
    else:
        assert [r.record_no for r in got.records] == [0]
        assert got.valid_length == jfmt.PRELUDE_LEN + len(first)


@pytest.mark.parametrize("tail", [1, 4 + jfmt.NONCE_LEN - 1])
def test_a_journal_record_frame_cut_short_is_a_torn_tail(tail: int) -> None:
    data = jfmt.prelude(VAULT_ID) + _record(20) + _record(20)[:tail]
    got = jfmt.split(data)
    assert (len(got.records), got.torn_tail) == (1, True)


def test_split_from_keeps_the_journals_own_offsets_and_numbers() -> None:
    records = _record(16) + _record(17)
    got = jfmt.split_from(records, 1000, 1000, 7)
    assert [(r.record_no, r.offset) for r in got.records] == [(7, 1000), (8, 1000 + 32)]
    assert (got.valid_length, got.torn_tail) == (1000 + len(records), False)


@pytest.mark.parametrize(
    ("start", "replacement", "refusal"),
    [
        (0, b"MVINDEX\x02", "index: bad magic"),
        (8, bytes(16), "belongs to another vault"),
        (24, b"\x01", "padding is not zero"),
        (jfmt.PRELUDE_LEN - 1, b"\x01", "padding is not zero"),
    ],
)
def test_a_journal_prelude_byte_changed_is_refused(
    start: int, replacement: bytes, refusal: str
) -> None:
    data = bytearray(jfmt.prelude(VAULT_ID))
    jfmt.check_prelude(bytes(data), VAULT_ID)
    data[start : start + len(replacement)] = replacement
    with pytest.raises(FormatError, match=refusal):
        jfmt.check_prelude(bytes(data), VAULT_ID)


# --- object metadata and stored paths -----------------------------------------------------

FILE_ID = "0123456789abcdef" * 2


@pytest.mark.parametrize(
    ("path", "accepted"),
    [
        ("a" * mfmt.MAX_COMPONENT_BYTES, True),
        ("a" * (mfmt.MAX_COMPONENT_BYTES + 1), False),
        ("é" * (mfmt.MAX_COMPONENT_BYTES // 2), True),  # 254 bytes of UTF-8
        ("é" * (mfmt.MAX_COMPONENT_BYTES // 2 + 1), False),  # 256
        ("/".join(["a" * 254] * 16) + "/" + "b" * 16, True),  # 4096 bytes
        ("/".join(["a" * 254] * 16) + "/" + "b" * 17, False),  # 4097
        ("a/./b", False),
        ("a/../b", False),
        ("a//b", False),
        ("a/", False),
        ("/a", False),
        ("", False),
        ("a\\b", False),
        ("a\x00b", False),
        ("a\udc80", False),
    ],
)
def test_a_stored_path_is_relative_and_bounded(path: str, accepted: bool) -> None:
    if accepted:
        assert mfmt.normalize_path(path) == path
    else:
        with pytest.raises(UnsafePath):
            mfmt.normalize_path(path)


def _file_meta(**changes: object) -> dict[str, object]:
    meta = mfmt.FileMeta("a/b.txt", 44, "c" * 64, 5, "2026-12-02T10:00:00Z", "ana", "h", ())
    return cj.loads_object(meta.encode(), "test") | changes


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"size": 0}, None),
        ({"size": -1}, "negative size"),
        ({"mtime_ns": -1}, None),  # before 1970
        ({"replaces": [FILE_ID] * mfmt.MAX_REFERENCES}, None),
        ({"replaces": [FILE_ID] * (mfmt.MAX_REFERENCES + 1)}, "too many references"),
        ({"replaces": [FILE_ID[:-1]]}, "bad file id"),
        ({"replaces": [FILE_ID + "a"]}, "bad file id"),
        ({"replaces": [FILE_ID.upper()]}, "bad file id"),
        ({"replaces": [7]}, "bad file id"),
        ({"sha256": "c" * 63}, "bad sha256"),
        ({"sha256": "c" * 64 + "\n"}, "bad sha256"),
        ({"sha256": "C" * 64}, "bad sha256"),
        ({"extra": 1}, "unexpected fields"),
        ({"path": "../x"}, "unsafe stored path"),
    ],
)
def test_file_metadata_is_checked_field_by_field(
    changes: dict[str, object], refusal: str | None
) -> None:
    data = cj.dumps(_file_meta(**changes))
    if refusal is None:
        assert mfmt.FileMeta.decode(data).encode() == data
    else:
        with pytest.raises((FormatError, UnsafePath), match=refusal):
            mfmt.FileMeta.decode(data)


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"removes": []}, None),
        ({"removes": [FILE_ID] * mfmt.MAX_REFERENCES}, None),
        ({"removes": [FILE_ID] * (mfmt.MAX_REFERENCES + 1)}, "too many references"),
        ({"removes": ["x" * 32]}, "bad file id"),
        ({"extra": 1}, "unexpected fields"),
        ({"at": 5}, "wrong type"),
    ],
)
def test_tombstone_metadata_is_checked_field_by_field(
    changes: dict[str, object], refusal: str | None
) -> None:
    base = cj.loads_object(mfmt.TombstoneMeta((FILE_ID,), "t", "ana", "h").encode(), "test")
    data = cj.dumps(base | changes)
    if refusal is None:
        assert mfmt.TombstoneMeta.decode(data).encode() == data
    else:
        with pytest.raises(FormatError, match=refusal):
            mfmt.TombstoneMeta.decode(data)
