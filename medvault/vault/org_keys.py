"""Turning org.toml's escrow entries into usable public keys (and checking them)."""

from __future__ import annotations

from medvault.config import OrgConfig
from medvault.crypto.escrow import EscrowPublicKey, EscrowSuite
from medvault.errors import OrgConfigMissing


def escrow_public_keys(org: OrgConfig) -> list[EscrowPublicKey]:
    """The active escrow keys, each checked against its key id."""
    keys = []
    if not org.active_keys:
        raise OrgConfigMissing("org config: no active escrow key")
    for entry in org.active_keys:
        try:
            suite = EscrowSuite(entry.suite)
        except ValueError:
            raise OrgConfigMissing(f"org config: unknown escrow suite {entry.suite!r}") from None
        key = EscrowPublicKey(suite, entry.public_key)
        if key.key_id != entry.key_id:
            raise OrgConfigMissing(
                f"org config: escrow key {entry.key_id} does not match its public key",
                hint="org.toml was edited or damaged; get a fresh copy from your security admin",
            )
        keys.append(key)
    return keys
