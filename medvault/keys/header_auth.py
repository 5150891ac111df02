"""The vault header's MAC: HMAC-SHA-256 keyed from the vault key, over the whole header."""

from __future__ import annotations

from medvault.crypto import labels
from medvault.crypto.kdf import hkdf_expand
from medvault.crypto.symmetric import hmac_sha256, mac_matches
from medvault.format import vault_header as fmt
from medvault.secret import Secret


def _mac_key(vmk: Secret, vault_id: bytes) -> Secret:
    return hkdf_expand(vmk, labels.VAULT_HEADER_MAC, vault_id)


def seal(vmk: Secret, header: fmt.VaultHeader) -> bytes:
    mac = hmac_sha256(_mac_key(vmk, header.vault_id), header.signed_bytes())
    return fmt.encode(header, mac)


def is_authentic(vmk: Secret, parsed: fmt.ParsedHeader) -> bool:
    return mac_matches(_mac_key(vmk, parsed.header.vault_id), parsed.signed, parsed.mac)
