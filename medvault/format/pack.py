"""Pack files: a stream of object entries split into parts of at most ``part_size`` bytes.

Every part file begins with a 56-byte prelude:

    magic "MVPACK\\0\\1" | vault_id 16 | pack_id 16 | part_index u32 | part_count u32
    | part_size u64

Part 0 is ``objects/<xx>/<pack id>.mvo``; part k>0 is ``<pack id>.<kkk>.mvp``. Every part
except the last carries exactly ``part_size`` data bytes after its prelude. The prelude is
not secret and not MACed: it is checked field by field, and the entries it carries are
authenticated on their own, so a swapped or missing part fails authentication.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from medvault.errors import FormatError
from medvault.format.binary import Reader, u32, u64

MAGIC = b"MVPACK\x00\x01"
PRELUDE_LEN = 8 + 16 + 16 + 4 + 4 + 8
MAX_PARTS = 999_999


@dataclass(frozen=True)
class Prelude:
    vault_id: bytes
    pack_id: bytes
    part_index: int
    part_count: int
    part_size: int

    def encode(self) -> bytes:
        return (
            MAGIC
            + self.vault_id
            + self.pack_id
            + u32(self.part_index)
            + u32(self.part_count)
            + u64(self.part_size)
        )


def decode_prelude(data: bytes) -> Prelude:
    r = Reader(data, "pack prelude")
    r.expect(MAGIC, "magic")
    prelude = Prelude(r.take(16), r.take(16), r.u32(), r.u32(), r.u64())
    r.end()
    if not 1 <= prelude.part_count <= MAX_PARTS or prelude.part_index >= prelude.part_count:
        raise FormatError("pack prelude: part numbers out of range")
    return prelude


def id_to_name(raw_id: bytes) -> str:
    """Lowercase base32 without padding: safe on case-insensitive FAT/exFAT."""
    return base64.b32encode(raw_id).decode("ascii").rstrip("=").lower()


def name_to_id(name: str) -> bytes:
    if len(name) != 26 or not name.isalnum() or name != name.lower():
        raise FormatError(f"not an object id: {name!r}")
    try:
        raw = base64.b32decode(name.upper() + "======")
    except ValueError as exc:
        raise FormatError(f"not an object id: {name!r}") from exc
    if id_to_name(raw) != name:
        # Nonzero spare bits: a second name for the same id.
        raise FormatError(f"not an object id: {name!r}")
    return raw


def part_filename(pack_name: str, part_index: int) -> str:
    if part_index == 0:
        return f"{pack_name}.mvo"
    return f"{pack_name}.{part_index:03d}.mvp"
