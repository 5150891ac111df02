"""Exact behaviour of the on-drive format's smallest rules (medvault/format/): unsigned
widths, base64 caps, canonical bodies, identifiers of one spelling, the removal tally and
what each vault header version carries. Pure functions only: no disk, no KDF, no CLI."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from medvault.errors import FormatError, UnsafePath, UnsupportedVersion
from medvault.format import canonical_json as cj
from medvault.format import custody_log as lfmt
from medvault.format import entry as efmt
from medvault.format import index_journal as jfmt
from medvault.format import meta as mfmt
from medvault.format import pack as pfmt
from medvault.format import vault_header as hfmt
from medvault.format.binary import Reader, u16, u32, u64

VAULT_ID = bytes(range(16))
CREATED = "2026-12-02T10:00:00Z"
MAC = bytes(32)


# --- binary -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encode", "value", "expected"),
    [
        (u16, 0x8000, b"\x80\x00"),
        (u16, 0xFFFF, b"\xff\xff"),
        (u32, 0x8000_0000, b"\x80\x00\x00\x00"),
        (u32, 0xFFFF_FFFF, b"\xff\xff\xff\xff"),
        (u64, 1 << 63, b"\x80" + bytes(7)),
        (u64, (1 << 64) - 1, b"\xff" * 8),
    ],
)
def test_u16_u32_and_u64_write_their_whole_unsigned_range(
    encode: Any, value: int, expected: bytes
) -> None:
    """Values with the top bit set are written unsigned, big-endian, and read back."""
    assert encode(value) == expected
    reader = Reader(expected, "test")
    read = {2: reader.u16, 4: reader.u32, 8: reader.u64}[len(expected)]
    assert read() == value


def test_taking_zero_bytes_is_an_empty_read_anywhere_even_at_the_end() -> None:
    """take(0) returns no bytes and does not move, at the start, inside, and at the end
    (an empty field, e.g. a zero-length body, is a read of nothing, not a truncation)."""
    reader = Reader(b"ab", "test")
    assert (reader.take(0), reader.position) == (b"", 0)
    reader.take(2)
    assert (reader.take(0), reader.position, reader.remaining) == (b"", 2, 0)
    assert Reader(b"", "test").take(0) == b""
    with pytest.raises(FormatError, match=r"^test: truncated \(needed 1 bytes, 0 left\)$"):
        reader.take(1)
    with pytest.raises(FormatError, match="truncated"):
        Reader(b"ab", "test").take(-1)


# --- canonical JSON -----------------------------------------------------------------------


def test_a_json_escape_of_a_lone_surrogate_is_refused_and_a_pair_accepted() -> None:
    """A \\ud800 escape decodes to a string no UTF-8 writer can store: refused at parse time.
    Escapes of real characters (a surrogate pair, an accented letter) are accepted."""
    with pytest.raises(FormatError, match=r"^t: JSON string holds an unpaired surrogate$"):
        cj.loads_object(b'{"a":"\\ud800"}', "t")
    with pytest.raises(FormatError, match="unpaired surrogate"):
        cj.loads_object(b'{"a":["x","\\udfff"]}', "t")
    assert cj.loads_object(b'{"a":"\\ud83d\\ude00\\u00e9"}', "t") == {"a": "\U0001f600\u00e9"}


@pytest.mark.parametrize("max_len", [*range(1, 13), 40, 64, 4096])
def test_base64_text_is_capped_at_the_encoding_of_max_len_bytes(max_len: int) -> None:
    """unb64 refuses, before decoding, any text longer than the base64 of MAX_LEN bytes (a
    whole number of 4-character groups), even one character longer and valid base64."""
    raw = bytes(n % 251 for n in range(max_len))
    exact = cj.b64(raw)
    assert cj.unb64(exact, "t", max_len) == raw
    cap = len(exact)
    assert cap % 4 == 0
    for text in ("A" * cap + "=", "A" * (cap + 4)):  # both decode when not capped
        with pytest.raises(FormatError, match=r"^t: value too long$"):
            cj.unb64(text, "t", max_len)


# --- custody log --------------------------------------------------------------------------

EVENT: dict[str, Any] = {
    "event_id": "00" * 16,
    "at": CREATED,
    "actor": "alice",
    "person": None,
    "host": "ws-1",
    "vault_id": "ab" * 16,
    "action": "check_out",
    "details": {"note": "caf\u00e9"},
}


def test_a_custody_event_body_is_canonical_json_of_version_1() -> None:
    """The sealed event is its fields plus "v": 1, sorted, without spaces, non-ASCII as
    UTF-8; it parses back to the same fields."""
    body = lfmt.event_body(EVENT)
    assert body == (
        b'{"action":"check_out","actor":"alice","at":"2026-12-02T10:00:00Z",'
        b'"details":{"note":"caf\xc3\xa9"},"event_id":"00000000000000000000000000000000",'
        b'"host":"ws-1","person":null,"v":1,'
        b'"vault_id":"abababababababababababababababab"}'
    )
    assert lfmt.parse_body(body) == {"v": 1, **EVENT}


@pytest.mark.parametrize("version", [True, 1.0, 2, "1", None])
def test_a_custody_event_version_is_the_integer_1(version: object) -> None:
    """The version "v" must be the JSON integer 1: true and 1.0 (equal to 1 in Python),
    another number, a string or null are other versions."""
    with pytest.raises(FormatError):
        lfmt.parse_body(cj.dumps({"v": version, **EVENT}))


@pytest.mark.parametrize("key", ["person", "vault_id"])
@pytest.mark.parametrize("value", [5, True, 1.5, [], {}])
def test_a_custody_event_person_or_vault_id_is_a_string_or_null(key: str, value: object) -> None:
    """person and vault_id are a string or null; a number, list or object is refused."""
    for good in (None, "x"):
        assert lfmt.parse_body(cj.dumps({"v": 1, **EVENT, key: good}))[key] == good
    with pytest.raises(FormatError, match=f"'{key}' has the wrong type"):
        lfmt.parse_body(cj.dumps({"v": 1, **EVENT, key: value}))


# --- magic numbers ------------------------------------------------------------------------


def _foreign_vault_header() -> bytes:
    data = bytearray(hfmt.encode(_header(_body()), MAC))
    data[7] ^= 1
    return bytes(data)


@pytest.mark.parametrize(
    ("parse", "data", "refusal"),
    [
        (efmt.peek_header_len, b"MVOBJ\x00\x00\x02" + u32(200), "object header: bad magic"),
        (efmt.decode, b"MVOBJ\x00\x00\x02" + u32(200), "object header: bad magic"),
        (pfmt.decode_prelude, b"MVPACK\x00\x02" + bytes(48), "pack prelude: bad magic"),
        (hfmt.decode, None, "vault header: bad magic"),
    ],
)
def test_a_file_of_another_kind_is_refused_for_its_magic(
    parse: Any, data: bytes | None, refusal: str
) -> None:
    """The error a user sees for a foreign or damaged file names the magic."""
    with pytest.raises(FormatError, match=f"^{refusal}$"):
        parse(_foreign_vault_header() if data is None else data)


# --- index journal ------------------------------------------------------------------------


@pytest.mark.parametrize("tail", [1, 4 + jfmt.NONCE_LEN - 1])
def test_a_journal_frame_shorter_than_its_fixed_part_leaves_the_valid_length(tail: int) -> None:
    """A final frame cut inside its length and nonce is a torn tail: the valid length ends
    at the last whole record, where the next writer appends."""
    record = u32(20) + bytes(jfmt.NONCE_LEN) + bytes(20)
    got = jfmt.split(jfmt.prelude(VAULT_ID) + record + record[:tail])
    assert (got.valid_length, got.torn_tail) == (jfmt.PRELUDE_LEN + len(record), True)


# --- stored paths and ids -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/\udc80", "/a/\udc80"])
def test_an_absolute_path_is_refused_as_unsafe_before_anything_else(path: str) -> None:
    """An absolute path is reported as unsafe, even when it is not valid UTF-8 either."""
    with pytest.raises(UnsafePath, match=r"^unsafe stored path"):
        mfmt.normalize_path(path)


@pytest.mark.parametrize("path", ["XX/XX.txt", "a", "Dir/Sub dir/scan 1.pdf"])
def test_a_relative_path_is_accepted_as_it_is(path: str) -> None:
    assert mfmt.normalize_path(path) == path


@pytest.mark.parametrize("bad", ["X" * 32, "g" * 32, "A" * 32, "0" * 31, "0" * 33])
def test_a_referenced_file_id_is_32_lowercase_hex_digits(bad: str) -> None:
    """A tombstone's ids are exactly 32 lowercase hex digits."""
    good = "0123456789abcdef" * 2

    def tombstone(ids: list[str]) -> bytes:
        return cj.dumps({"removes": ids, "at": CREATED, "by": "alice", "host": "ws-1"})

    assert mfmt.TombstoneMeta.decode(tombstone([good])).removes == (good,)
    with pytest.raises(FormatError, match="bad file id"):
        mfmt.TombstoneMeta.decode(tombstone([good, bad]))


def test_an_object_name_strips_only_the_base32_padding() -> None:
    """The name is the whole lowercase base32 text of the id: a trailing X is a digit."""
    assert pfmt.id_to_name(bytes(4) + b"\x17") == "aaaaaaax"
    assert pfmt.id_to_name(VAULT_ID) == "aaaqeayeaudaocajbifqydiob4"


@pytest.mark.parametrize(
    ("key_id", "accepted"),
    [
        ("0123456789abcdef", True),
        ("0123456789abcdeX", False),
        ("0123456789abcdeg", False),
        ("0123456789ABCDEF", False),
        ("0123456789abcde", False),
        ("0123456789abcdef0", False),
    ],
)
def test_an_escrow_key_id_is_16_lowercase_hex_digits(key_id: str, accepted: bool) -> None:
    raw = {"key_id": key_id, "suite": "s", "sealed": cj.b64(bytes(8))}
    if accepted:
        assert hfmt.EscrowSlot.from_json(raw).key_id == key_id
    else:
        with pytest.raises(FormatError, match="bad key id"):
            hfmt.EscrowSlot.from_json(raw)


# --- removal tally ------------------------------------------------------------------------

IDS = [bytes([n]) * 16 for n in (1, 2, 3)]


def _h(raw: bytes) -> int:
    return int(hashlib.sha256(hfmt.REMOVAL_TAG + raw).hexdigest(), 16)


def test_a_tally_is_the_count_and_the_sum_of_its_ids_hashes() -> None:
    """Tally.of counts the ids and adds SHA-256(tag || id) mod 2^256, in any order; plus
    adds two tallies the same way; to_json writes the sum as 64 hex digits."""
    a, b, c = IDS
    mod = hfmt.REMOVAL_MODULUS
    assert hfmt.Tally.of([]) == hfmt.Tally(0, 0)
    assert hfmt.Tally.of([a]) == hfmt.Tally(1, _h(a))
    assert hfmt.Tally.of([a, b]) == hfmt.Tally(2, (_h(a) + _h(b)) % mod)
    assert hfmt.Tally.of([c, a, b]) == hfmt.Tally(3, (_h(a) + _h(b) + _h(c)) % mod)
    assert hfmt.Tally.of([a]).plus(hfmt.Tally.of([c, b])) == hfmt.Tally.of(IDS)
    assert hfmt.Tally(1, mod - 1).plus(hfmt.Tally(2, 5)) == hfmt.Tally(3, 4)
    assert hfmt.Tally(7, 255).to_json() == {"count": 7, "sum": "00" * 31 + "ff"}


@pytest.mark.parametrize("bad", ["X" * 64, "A" * 64, "0" * 63, "0" * 65])
def test_a_removal_sum_is_64_lowercase_hex_digits(bad: str) -> None:
    good = hfmt.Tally.from_json({"count": 1, "sum": "0f" * 32}, "t")
    assert good == hfmt.Tally(1, int("0f" * 32, 16))
    with pytest.raises(FormatError, match="removal sum is not 64 lowercase hex digits"):
        hfmt.Tally.from_json({"count": 1, "sum": bad}, "t")


def test_a_removal_record_accepts_the_recorded_tombstones_or_those_plus_the_pending() -> None:
    """The packs may hold the recorded tombstones, or (an `rm` cut short after its header
    write) those plus the pending ones; nothing else."""
    a, b, c = IDS
    of = hfmt.Tally.of
    with_pending = hfmt.Removals(of([a]), of([b]))
    assert with_pending.accepts(of([a]))
    assert with_pending.accepts(of([b, a]))
    for present in (of([]), of([b]), of([a, c]), of([a, b, c])):
        assert not with_pending.accepts(present)
    settled = hfmt.Removals(of([a]))
    assert settled.accepts(of([a]))
    assert not settled.accepts(of([a, b]))
    assert not settled.accepts(of([]))


# --- vault header versions and bounds -----------------------------------------------------


def _body(
    version: int = hfmt.FORMAT_VERSION, label: str = "drive", **changes: Any
) -> hfmt.HeaderBody:
    slot = hfmt.PassphraseSlot(1, 1, hfmt.MIN_MEMORY_KIB, 1, bytes(16), bytes(40), CREATED)
    fields: dict[str, Any] = {
        "created_at": CREATED,
        "label": label,
        "org_name": "Clinic",
        "org_id": "org-1",
        "contact": "it@example.org",
        "part_size": hfmt.MIN_PART_SIZE,
        "slots": (slot,),
        "escrow": (hfmt.EscrowSlot("0123456789abcdef", "s", bytes(32)),),
        "removals": hfmt.Removals() if version >= 3 else None,
        "version": version,
    }
    return hfmt.HeaderBody(**(fields | changes))


def _header(body: hfmt.HeaderBody) -> hfmt.VaultHeader:
    return hfmt.VaultHeader(VAULT_ID, 7, body)


def _round_trip(body: hfmt.HeaderBody) -> tuple[bytes, dict[str, Any]]:
    """The encoded header, checked to decode to itself, and its body's JSON."""
    data = hfmt.encode(_header(body), MAC)
    parsed = hfmt.decode(data)
    assert (parsed.header, parsed.mac) == (_header(body), MAC)
    return data, cj.loads_object(parsed.signed[40:], "body")


def test_a_version_1_header_has_key_epoch_1_no_padding_and_no_epoch_fields() -> None:
    data, obj = _round_trip(_body(1))
    assert hfmt.decode(data).header.body.key_epoch == 1
    assert len(data) == len(_header(_body(1)).signed_bytes()) + 64
    assert not {"key_epoch", "previous", "removals"} & set(obj)


def test_a_version_2_header_names_its_epochs_is_padded_and_records_no_removals() -> None:
    body = _body(2, key_epoch=3, previous=(hfmt.PreviousKey(2, bytes(40)),))
    data, obj = _round_trip(body)
    assert len(data) % hfmt.PAD_BLOCK == 0 and not any(data[-100:])
    assert (obj["key_epoch"], obj["previous"]) == (3, [{"epoch": 2, "wrapped": cj.b64(bytes(40))}])
    assert "removals" not in obj


def test_a_version_3_header_records_removals_or_null_before_the_first_rm() -> None:
    _, obj = _round_trip(_body(3, removals=None))
    assert obj["removals"] is None
    recorded = hfmt.Removals(hfmt.Tally.of(IDS[:1]), hfmt.Tally.of(IDS[1:]))
    hex_sum = f"{(_h(IDS[1]) + _h(IDS[2])) % hfmt.REMOVAL_MODULUS:064x}"
    _, obj = _round_trip(_body(3, removals=recorded))
    assert obj["removals"] == {
        **hfmt.Tally.of(IDS[:1]).to_json(),
        "pending": {"count": 2, "sum": hex_sum},
    }


def _raw_header(version: int, body: bytes) -> bytes:
    signed = b"MEDVAULT" + u16(version) + u16(0) + VAULT_ID + bytes(8) + u32(len(body)) + body
    data = signed + hashlib.sha256(signed).digest() + MAC
    return data + bytes(-len(data) % hfmt.PAD_BLOCK)


def test_a_header_body_of_another_format_than_its_header_says_which() -> None:
    """A version 3 header holding a format 4 body is unsupported, and the message names
    both numbers."""
    body = cj.dumps(_body().to_json() | {"format": 4})
    with pytest.raises(UnsupportedVersion, match=r"^vault header version 3 holds a format 4 body "):
        hfmt.decode(_raw_header(3, body))


def _body_of_length(length: int) -> hfmt.HeaderBody:
    base = len(cj.dumps(_body(label="").to_json()))
    return _body(label="x" * (length - base))


def test_a_header_body_and_file_at_their_caps_are_accepted_one_byte_over_refused() -> None:
    """A body of exactly MAX_BODY bytes fills a header file of exactly MAX_HEADER_FILE
    bytes: both accepted. A body one byte longer, or a file one byte longer, is refused."""
    data, _ = _round_trip(_body_of_length(hfmt.MAX_BODY))
    assert len(data) == hfmt.MAX_HEADER_FILE
    with pytest.raises(FormatError, match=r"^vault header: too large$"):
        hfmt.decode(data + b"\x00")
    over = hfmt.encode(_header(_body_of_length(hfmt.MAX_BODY + 1)), MAC)
    assert len(over) == hfmt.MAX_HEADER_FILE
    with pytest.raises(FormatError, match=r"^vault header: body too large$"):
        hfmt.decode(over)


@pytest.mark.parametrize(
    ("text", "max_len", "expected"),
    [
        ("AA==", 1, b"\x00"),
        ("AAAA", 3, bytes(3)),
        (cj.b64(bytes(4096)), 4096, bytes(4096)),
        ("AB==", 1, "base64 is not in its canonical form"),  # nonzero padding bits: also 0x00
        ("AAF=", 2, "base64 is not in its canonical form"),
        ("AAAA=", 4, "base64 is not in its canonical form"),  # a stray `=` after a full group
        (cj.b64(bytes(4097)), 4096, "value too long"),  # same text length as 4096 bytes
        (cj.b64(bytes(4098)), 4096, "value too long"),
        (cj.b64(bytes(65)), 64, "value too long"),
        (cj.b64(bytes(41)), 40, "value too long"),
        ("AA", 1, "bad base64"),  # padding is not optional
        ("AA-_", 3, "bad base64"),  # the URL-safe alphabet is another encoding
    ],
)
def test_base64_fields_have_one_spelling_and_a_byte_cap(
    text: str, max_len: int, expected: bytes | str
) -> None:
    """A base64 field decodes to at most its size in bytes, and only from its one canonical
    spelling: no second text can carry the same value."""
    if isinstance(expected, bytes):
        assert cj.unb64(text, "f", max_len) == expected
        return
    with pytest.raises(FormatError, match=f"^f: {expected}"):
        cj.unb64(text, "f", max_len)


@pytest.mark.parametrize(("size", "accepted"), [(4096, True), (4097, False), (4098, False)])
def test_a_key_package_is_at_most_4096_bytes(size: int, accepted: bool) -> None:
    """An escrow entry's sealed key package decodes to at most 4,096 bytes: the largest
    suite's package is far below it, and a reader never holds more for one entry."""
    raw = {"key_id": "0123456789abcdef", "suite": "s", "sealed": cj.b64(bytes(size))}
    if accepted:
        assert hfmt.EscrowSlot.from_json(raw).sealed == bytes(size)
    else:
        with pytest.raises(FormatError, match="value too long"):
            hfmt.EscrowSlot.from_json(raw)
