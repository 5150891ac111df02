"""HKDF-SHA-512 expansion. Only the key schedule (crypto/key_schedule.py) and escrow key
generation (crypto/escrow.py) may import it: an import-linter contract in pyproject.toml."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from medvault.secret import Secret

KEY_LEN = 32
SHA512 = hashes.SHA512()  # stateless: one for every expansion (thousands in an extract)


def hkdf_expand(key: Secret, label: bytes, *fields: bytes, length: int = KEY_LEN) -> Secret:
    """HKDF-Expand-SHA-512 with info = label || 0x00 || fields (all fixed-length)."""
    info = label + b"\x00" + b"".join(fields)
    return Secret(HKDFExpand(SHA512, length, info).derive(key.reveal()))
