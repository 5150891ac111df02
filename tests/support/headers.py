"""Vault headers found in the raw bytes of a medium."""

from __future__ import annotations

import re

from medvault.format import vault_header as hfmt


def header_structures(raw: bytes) -> list[int]:
    """Offsets of everything on the medium laid out like a vault header: the magic, a
    version, zero flags, then a body length and a JSON object (any version, damaged or not)."""
    pattern = re.compile(re.escape(hfmt.MAGIC) + rb"\x00[\x00-\xff]\x00\x00.{28}\{", re.S)
    return [m.start() for m in pattern.finditer(raw)]
