"""Key epochs: a re-key gives a vault a new vault key; until every entry is re-wrapped, the
header keeps the earlier epoch's key wrapped under the new one (docs/FORMAT.md 3.1)."""

from __future__ import annotations

import struct

from medvault.crypto import labels
from medvault.crypto.kdf import hkdf_expand
from medvault.crypto.symmetric import AuthenticationFailed, unwrap_key, wrap_key
from medvault.errors import IntegrityError
from medvault.format.vault_header import HeaderBody, PreviousKey
from medvault.secret import Secret, VaultKey


def _previous_wrap_key(current: Secret, vault_id: bytes, epoch: int) -> Secret:
    return hkdf_expand(current, labels.PREVIOUS_EPOCH, vault_id, struct.pack(">I", epoch))


def wrap_previous(current: Secret, vault_id: bytes, epoch: int, old: Secret) -> PreviousKey:
    return PreviousKey(epoch, wrap_key(_previous_wrap_key(current, vault_id, epoch), old))


def vault_key(vmk: Secret, vault_id: bytes, body: HeaderBody) -> VaultKey:
    """VMK with its epoch, and the earlier epochs' keys the header still holds (call only
    once the header's MAC has verified under VMK)."""
    older: dict[int, Secret] = {}
    for previous in body.previous:
        try:
            older[previous.epoch] = unwrap_key(
                _previous_wrap_key(vmk, vault_id, previous.epoch), previous.wrapped
            )
        except AuthenticationFailed:
            raise IntegrityError(
                f"the key of key epoch {previous.epoch} does not unwrap under the vault key"
            ) from None
    return VaultKey(vmk.reveal(), body.key_epoch, older)
