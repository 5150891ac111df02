"""Key epochs: a re-key gives a vault a new vault key; until every entry is re-wrapped, the
header keeps the earlier epoch's key wrapped under the new one (docs/FORMAT.md 3.1)."""

from __future__ import annotations

from medvault.crypto.key_schedule import VaultKeys
from medvault.crypto.symmetric import AuthenticationFailed, unwrap_key, wrap_key
from medvault.errors import IntegrityError
from medvault.format.vault_header import HeaderBody, PreviousKey
from medvault.secret import Secret, VaultKey


def wrap_previous(current: VaultKeys, epoch: int, old: Secret) -> PreviousKey:
    return PreviousKey(epoch, wrap_key(current.previous_epoch_wrap(epoch), old))


def vault_keys(candidate: VaultKeys, body: HeaderBody) -> VaultKeys:
    """CANDIDATE's vault key with its epoch and the earlier epochs' keys the header still
    holds (call only once the header's MAC has verified under CANDIDATE)."""
    older: dict[int, Secret] = {}
    for previous in body.previous:
        try:
            older[previous.epoch] = unwrap_key(
                candidate.previous_epoch_wrap(previous.epoch), previous.wrapped
            )
        except AuthenticationFailed:
            raise IntegrityError(
                f"the key of key epoch {previous.epoch} does not unwrap under the vault key"
            ) from None
    root = VaultKey(candidate.vault_key().reveal(), body.key_epoch, older)
    return VaultKeys(root, candidate.vault_id)
