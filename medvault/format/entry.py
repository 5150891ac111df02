"""Object entries: one stored file version (or tombstone) inside a pack (docs/FORMAT.md).

    magic "MVOBJ\\0\\0\\1" | header_len u32 | suite u16 | kind u8 | flags u8 | vault_id 16
    | file_id 16 | key_epoch u32 | payload_len u64 | wrapped_fk 40 | meta_nonce 12
    | meta_len u32 | meta_ct | header_mac 32 (suite 1 only) | payload (Cobblestone-256)

header_len counts magic through the end of the header. meta_ct is AES-256-GCM with the
fixed fields (magic..meta_len) as associated data. Suite 1 (format 1.0) adds header_mac,
HMAC-SHA-256 over everything before it, and shows the kind. Suite 2 (format 1.1) pads the
payload and the metadata (format/padding.py), keeps the kind inside the metadata (the
header's kind byte is 0) and has no header_mac: the metadata AEAD authenticates the header.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from medvault.errors import FormatError, UnsupportedVersion
from medvault.format.binary import Reader
from medvault.format.padding import META_BUCKET

MAGIC = b"MVOBJ\x00\x00\x01"
SUITE_V1 = 1  # format 1.0
SUITE_PADDED = 2  # format 1.1
SUITES = (SUITE_V1, SUITE_PADDED)
HIDDEN_KIND = 0  # a suite 2 header's kind byte: the kind is in the metadata
ID_LEN = 16
WRAPPED_LEN = 40
NONCE_LEN = 12
MAC_LEN = 32
META_TAG = 16  # the AES-256-GCM tag at the end of meta_ct
MAX_META = 64 * 1024
# magic .. meta_len in one pack/unpack: field by field, this was a tenth of the time of
# extracting a small file.
FIXED = struct.Struct(f">{len(MAGIC)}sIHBB{ID_LEN}s{ID_LEN}sIQ{WRAPPED_LEN}s{NONCE_LEN}sI")
FIXED_LEN = FIXED.size  # 116
MAX_HEADER = FIXED_LEN + MAX_META + MAC_LEN
# 2^32 Cobblestone chunks (64 TiB) is far beyond any drive; a larger claim is damage.
MAX_PAYLOAD = 1 << 46


class Kind(enum.IntEnum):
    FILE = 1
    TOMBSTONE = 2


@dataclass(frozen=True)
class EntryHeader:
    kind: Kind | None  # None in a suite 2 header: the kind is in its metadata
    vault_id: bytes
    file_id: bytes
    key_epoch: int
    payload_len: int
    wrapped_fk: bytes
    meta_nonce: bytes
    meta_ct: bytes
    suite: int = SUITE_V1

    @property
    def header_len(self) -> int:
        return FIXED_LEN + len(self.meta_ct) + (MAC_LEN if self.suite == SUITE_V1 else 0)

    def fixed_fields(self) -> bytes:
        """magic .. meta_len: the associated data of the metadata AEAD."""
        return FIXED.pack(
            MAGIC,
            self.header_len,
            self.suite,
            HIDDEN_KIND if self.kind is None else int(self.kind),
            0,
            self.vault_id,
            self.file_id,
            self.key_epoch,
            self.payload_len,
            self.wrapped_fk,
            self.meta_nonce,
            len(self.meta_ct),
        )

    def mac_input(self) -> bytes:
        return self.fixed_fields() + self.meta_ct


@dataclass(frozen=True)
class ParsedEntry:
    header: EntryHeader
    mac_input: bytes
    mac: bytes  # empty in a suite 2 header


def peek_header_len(prefix: bytes) -> int:
    """header_len from the first 12 bytes, checked against the cap."""
    r = Reader(prefix[:12], "object header")
    r.expect(MAGIC, "magic")
    n = r.u32()
    if not FIXED_LEN + MAC_LEN <= n <= MAX_HEADER:
        raise FormatError("object header: length out of range")
    return n


def decode(data: bytes) -> ParsedEntry:
    """Parse exactly one header (header_len bytes). Checks structure, not authenticity."""
    if len(data) < FIXED_LEN + MAC_LEN:
        peek_header_len(data)  # says bad magic before it says truncated
        raise FormatError(f"object header: truncated ({len(data)} bytes)")
    (magic, header_len, suite, kind_raw, flags, vault_id, file_id, key_epoch, payload_len,
     wrapped, nonce, meta_len) = FIXED.unpack_from(data)  # fmt: skip
    if magic != MAGIC:
        raise FormatError("object header: bad magic")
    if header_len != len(data):
        raise FormatError("object header: length mismatch")
    if suite not in SUITES:
        # A newer medvault, or a damaged byte: the header cannot be authenticated without
        # knowing the suite, so say both.
        raise UnsupportedVersion(
            f"object suite {suite} is not supported (written by a newer medvault, or damaged)"
        )
    kind = _kind(suite, kind_raw)
    if flags != 0:
        raise FormatError("object header: unknown flags")
    if key_epoch == 0:  # whether the vault has a key for the epoch is checked at unwrap
        raise FormatError("object header: unknown key epoch")
    if payload_len > MAX_PAYLOAD:
        raise FormatError("object header: payload length out of range")
    mac_len = MAC_LEN if suite == SUITE_V1 else 0
    if meta_len > MAX_META or FIXED_LEN + meta_len + mac_len != header_len:
        raise FormatError("object header: metadata length out of range")
    if suite == SUITE_PADDED and (meta_len < META_TAG + META_BUCKET or _unbucketed(meta_len)):
        raise FormatError("object header: metadata length is not whole buckets")
    mac_at = FIXED_LEN + meta_len
    header = EntryHeader(
        kind, vault_id, file_id, key_epoch, payload_len, wrapped, nonce,
        data[FIXED_LEN:mac_at], suite,
    )  # fmt: skip
    return ParsedEntry(header, data[:mac_at], data[mac_at:])


def _kind(suite: int, raw: int) -> Kind | None:
    if suite == SUITE_PADDED:
        if raw != HIDDEN_KIND:
            raise FormatError("object header: unknown kind")
        return None
    if raw not in (Kind.FILE, Kind.TOMBSTONE):
        raise FormatError("object header: unknown kind")
    return Kind(raw)


def _unbucketed(meta_len: int) -> bool:
    return (meta_len - META_TAG) % META_BUCKET != 0


def encode(header: EntryHeader, mac: bytes) -> bytes:
    return header.mac_input() + mac
