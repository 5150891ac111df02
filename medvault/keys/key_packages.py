"""Key packages: the vault key sealed to each org escrow key (HPKE)."""

from __future__ import annotations

from collections.abc import Sequence

from medvault.crypto.escrow import EscrowPublicKey
from medvault.format.vault_header import EscrowSlot
from medvault.secret import Secret


def seal_key_packages(
    vmk: Secret, vault_id: bytes, escrow_keys: Sequence[EscrowPublicKey]
) -> tuple[EscrowSlot, ...]:
    return tuple(
        EscrowSlot(key.key_id, key.suite.value, key.seal(vmk, vault_id)) for key in escrow_keys
    )
