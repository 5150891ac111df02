"""Format 1.1 padding: what an entry's lengths may show without a key (docs/FORMAT.md §5.1).

A payload is the file's bytes then zeros, to `padded_length(size)`: Padmé (Nikitin et al.,
"Reducing Metadata Leakage from Encrypted Files and Communication with PURBs", PoPETs
2019), which rounds a length up so that it keeps only O(log log L) significant bits (at
most 11.1 % added above 2^8, less as files grow), with a floor of PAYLOAD_FLOOR bytes so
that every small file and every tombstone has the same length. Metadata is
`u8(kind) || u32(json_len) || json || zeros`, to a whole number of META_BUCKET bytes.
"""

from __future__ import annotations

import struct

from medvault.errors import FormatError

PAYLOAD_FLOOR = 512
META_BUCKET = 512
META_PREFIX = struct.Struct(">BI")  # kind, length of the JSON that follows


def padme(length: int) -> int:
    """LENGTH rounded up to its Padmé bucket: the low E - S bits cleared, where
    E = floor(log2 LENGTH) and S = floor(log2 E) + 1."""
    if length < 2:
        return length
    exponent = length.bit_length() - 1
    low_bits = exponent - exponent.bit_length()
    mask = (1 << low_bits) - 1
    return (length + mask) & ~mask


def padded_length(size: int) -> int:
    """The payload plaintext length of a SIZE-byte file in a format 1.1 entry."""
    if size < 0:
        raise ValueError("a size is never negative")
    return padme(max(size, PAYLOAD_FLOOR))


def pad_meta(kind: int, body: bytes) -> bytes:
    """Metadata plaintext of a format 1.1 entry: KIND and BODY (the metadata JSON) padded
    with zeros to a whole number of META_BUCKET bytes."""
    used = META_PREFIX.size + len(body)
    total = -(-used // META_BUCKET) * META_BUCKET
    return META_PREFIX.pack(kind, len(body)) + body + bytes(total - used)


def unpad_meta(plain: bytes) -> tuple[int, bytes]:
    """The kind and metadata JSON of a format 1.1 entry's decrypted metadata, whose
    length must be a whole number of buckets and whose padding must be zeros."""
    what = "object metadata"
    if not plain or len(plain) % META_BUCKET:
        raise FormatError(f"{what}: not a whole number of {META_BUCKET}-byte buckets")
    kind, body_len = META_PREFIX.unpack_from(plain)
    end = META_PREFIX.size + body_len
    if end > len(plain):
        raise FormatError(f"{what}: length past its padding")
    if len(plain) - end >= META_BUCKET:
        raise FormatError(f"{what}: more padding than one bucket")
    if plain[end:].count(0) != len(plain) - end:
        raise FormatError(f"{what}: padding is not zeros")
    return kind, plain[META_PREFIX.size : end]
