"""Entries as a drive holder without any key sees them: walked from the packs' plaintext
header fields alone (docs/THREAT_MODEL.md, "What the drive reveals")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medvault.format import entry as entry_fmt
from medvault.format import pack as pack_fmt


@dataclass(frozen=True)
class SeenEntry:
    suite: int
    kind_byte: int
    header_len: int
    payload_len: int


def pack_stream(first_part: Path) -> bytes:
    """A pack's stream: each part's bytes after its prelude, in part order."""
    stem = first_part.name.removesuffix(".mvo")
    parts = [first_part, *sorted(first_part.parent.glob(f"{stem}.*.mvp"))]
    return b"".join(p.read_bytes()[pack_fmt.PRELUDE_LEN :] for p in parts)


def entries_on_drive(drive: Path) -> list[SeenEntry]:
    """Every entry of every pack under DRIVE/MEDVAULT, pack by pack (packs in name order)."""
    seen: list[SeenEntry] = []
    for first_part in sorted((drive / "MEDVAULT" / "objects").rglob("*.mvo")):
        data = pack_stream(first_part)
        offset = 0
        while offset < len(data):
            header_len = entry_fmt.peek_header_len(data[offset : offset + 12])
            header = entry_fmt.decode(data[offset : offset + header_len]).header
            kind_byte = data[offset + 14]
            seen.append(SeenEntry(header.suite, kind_byte, header_len, header.payload_len))
            offset += header_len + header.payload_len
    return seen
