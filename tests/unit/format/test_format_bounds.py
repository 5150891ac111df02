"""Bounds of the format 1.1 metadata buckets and of an index entry's reading that the
mutation campaign found no test held (bench/results/mutation.md, format module)."""

from __future__ import annotations

from typing import Any

import pytest

from medvault.errors import FormatError
from medvault.format import canonical_json as cj
from medvault.format import entry as efmt
from medvault.format import index_records as irec
from medvault.format import padding
from medvault.format.meta import FileMeta

BUCKET = padding.META_BUCKET
PREFIX = padding.META_PREFIX.size


# --- metadata buckets (padding.unpad_meta) ------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, BUCKET - 1, BUCKET + 1])
def test_metadata_that_is_not_whole_buckets_is_refused_first(length: int) -> None:
    """Nothing at all, or a length that is not a whole number of buckets, is refused for
    that, before its prefix is read."""
    with pytest.raises(FormatError, match=r"not a whole number of 512-byte buckets"):
        padding.unpad_meta(bytes(length))


def test_a_body_that_ends_exactly_at_the_bucket_is_whole() -> None:
    """A body that fills its bucket to the last byte has no padding, and is taken."""
    body = b"{" + b" " * (BUCKET - PREFIX - 2) + b"}"
    plain = padding.pad_meta(1, body)
    assert len(plain) == BUCKET
    assert padding.unpad_meta(plain) == (1, body)


def test_a_body_one_byte_past_its_buckets_is_refused() -> None:
    plain = padding.META_PREFIX.pack(1, BUCKET - PREFIX + 1) + bytes(BUCKET - PREFIX)
    with pytest.raises(FormatError, match=r"length past its padding"):
        padding.unpad_meta(plain)


@pytest.mark.parametrize(("padding_bytes", "refused"), [(BUCKET - 1, False), (BUCKET, True)])
def test_padding_is_less_than_one_bucket(padding_bytes: int, refused: bool) -> None:
    """A whole bucket of zeros after the body is one too many (the writer never makes it):
    refused; one byte less is the most a writer pads."""
    body_len = 2 * BUCKET - PREFIX - padding_bytes
    plain = padding.META_PREFIX.pack(1, body_len) + b"x" * body_len + bytes(padding_bytes)
    assert len(plain) == 2 * BUCKET
    if refused:
        with pytest.raises(FormatError, match=r"more padding than one bucket"):
            padding.unpad_meta(plain)
    else:
        assert padding.unpad_meta(plain) == (1, b"x" * body_len)


# --- an object header's metadata length (entry.decode) ------------------------------------


def _suite2_header(meta_len: int) -> bytes:
    header = efmt.EntryHeader(
        kind=None,
        vault_id=bytes(16),
        file_id=bytes(range(16)),
        key_epoch=1,
        payload_len=padding.PAYLOAD_FLOOR + efmt.META_TAG,
        wrapped_fk=bytes(efmt.WRAPPED_LEN),
        meta_nonce=bytes(efmt.NONCE_LEN),
        meta_ct=bytes(meta_len),
        suite=efmt.SUITE_PADDED,
    )
    return header.fixed_fields() + header.meta_ct


@pytest.mark.parametrize(
    ("meta_len", "refused"),
    [
        # The tag alone, or less: shorter than any header may be (its length is checked
        # first), so the bucket rule is never reached for these.
        (0, "object header: length out of range"),
        (efmt.META_TAG, "object header: length out of range"),
        (efmt.META_TAG + 16, "metadata length is not whole buckets"),
        (efmt.META_TAG + BUCKET - 1, "metadata length is not whole buckets"),
        (efmt.META_TAG + BUCKET, None),
        (efmt.META_TAG + BUCKET + 1, "metadata length is not whole buckets"),
        (efmt.META_TAG + 3 * BUCKET, None),
    ],
)
def test_a_format_1_1_header_holds_at_least_one_whole_metadata_bucket(
    meta_len: int, refused: str | None
) -> None:
    """Its metadata ciphertext is the GCM tag plus one or more whole buckets: the tag
    alone is refused, as a length between buckets is."""
    data = _suite2_header(meta_len)
    if refused is None:
        assert len(efmt.decode(data).header.meta_ct) == meta_len
    else:
        with pytest.raises(FormatError, match=refused):
            efmt.decode(data)


# --- an index entry (index_records) -------------------------------------------------------


def _file_record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "ab" * 16, "off": 512, "hlen": 700, "plen": 1040, "kind": 1,
        "refs": ["cd" * 16], "path": "a/b.txt", "size": 1000, "sha256": "ef" * 32,
        "added_at": "2026-12-06T20:00:00Z", "mtime_ns": 1_700_000_000_000_000_000,
    }  # fmt: skip
    record.update(changes)
    return record


@pytest.mark.parametrize("kind", [0, 2, 3])
def test_an_entry_of_another_kind_keeps_no_file_fields(kind: int) -> None:
    """Only a file entry (kind 1) carries a path, size, digest and times: an entry of
    another kind that has them too (the types all right) is read without them."""
    located = irec.Located.from_record("p1", _file_record(kind=kind))
    assert located == irec.Located(
        file_id="ab" * 16, pack="p1", offset=512, header_len=700, payload_len=1040,
        kind=kind, references=("cd" * 16,),
    )  # fmt: skip


@pytest.mark.parametrize("refs", [[1], ["cd" * 16, None], [b"x"]])
def test_a_file_entry_whose_refs_are_not_strings_is_refused(refs: list[Any]) -> None:
    with pytest.raises(FormatError, match=r"index entry: 'refs'"):
        irec.Located.from_record("p1", _file_record(refs=refs))


def test_a_file_entry_is_read_with_every_field() -> None:
    located = irec.Located.from_record("p1", _file_record())
    assert located._asdict() == {
        "file_id": "ab" * 16, "pack": "p1", "offset": 512, "header_len": 700,
        "payload_len": 1040, "kind": 1, "path": "a/b.txt", "size": 1000, "sha256": "ef" * 32,
        "added_at": "2026-12-06T20:00:00Z", "mtime_ns": 1_700_000_000_000_000_000,
        "references": ("cd" * 16,),
    }  # fmt: skip


def test_the_index_entry_of_a_file_carries_its_metadata() -> None:
    """file_entry copies every field of the metadata the index keeps."""
    meta = FileMeta(
        path="x/y.pdf", size=123_456, sha256="01" * 32, mtime_ns=1_234_567_890_123,
        added_at="2026-12-06T20:00:00Z", added_by="nurse", host="ws1", replaces=("cd" * 16,),
    )  # fmt: skip
    located = irec.file_entry("ab" * 16, "p9", 4096, 700, 123_600, meta)
    assert located == irec.Located(
        file_id="ab" * 16, pack="p9", offset=4096, header_len=700, payload_len=123_600,
        kind=1, path="x/y.pdf", size=123_456, sha256="01" * 32,
        added_at="2026-12-06T20:00:00Z", mtime_ns=1_234_567_890_123, references=("cd" * 16,),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({}, "op"),
        ({"op": 1}, "op"),
        ({"op": "add", "entries": []}, "pack"),
        ({"op": "add", "pack": "p1"}, "entries"),
        ({"op": "add", "pack": "p1", "entries": {}}, "entries"),
        ({"op": "drop"}, "packs"),
    ],
)
def test_a_bad_index_record_is_named_as_one(record: dict[str, Any], field: str) -> None:
    """A record missing a field, or with one of the wrong type, is refused in words that
    say it is an index record and which field."""
    with pytest.raises(FormatError, match=rf"^index record: .*'{field}'"):
        irec.decode(record)


# --- canonical JSON -----------------------------------------------------------------------


def test_a_repeated_json_key_is_named() -> None:
    """The key that repeats is the one named, not the object's first key."""
    with pytest.raises(FormatError, match=r"duplicate JSON key 'b'"):
        cj.loads_object(b'{"a":1,"b":2,"c":3,"b":4}', "test object")
