"""The vault header's MAC: HMAC-SHA-256 under the vault's header MAC key, over the whole
header."""

from __future__ import annotations

from medvault.crypto.key_schedule import VaultKeys
from medvault.crypto.symmetric import hmac_sha256, mac_matches
from medvault.format import vault_header as header_fmt


def seal(vault_keys: VaultKeys, header: header_fmt.VaultHeader) -> bytes:
    if header.vault_id != vault_keys.vault_id:
        raise ValueError("a vault header is sealed only with its own vault's keys")
    mac = hmac_sha256(vault_keys.header_mac(), header.signed_bytes())
    return header_fmt.encode(header, mac)


def is_authentic(vault_keys: VaultKeys, parsed: header_fmt.ParsedHeader) -> bool:
    if parsed.header.vault_id != vault_keys.vault_id:
        return False
    return mac_matches(vault_keys.header_mac(), parsed.signed, parsed.mac)
