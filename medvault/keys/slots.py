"""Passphrase slots: Argon2id(passphrase) -> HKDF -> AES-KW wrap of the vault key."""

from __future__ import annotations

import struct
from collections.abc import Iterable

from medvault.crypto import labels
from medvault.crypto.kdf import Argon2Params, argon2id, hkdf_expand
from medvault.crypto.symmetric import AuthenticationFailed, random_bytes, unwrap_key, wrap_key
from medvault.errors import WrongPassphrase
from medvault.format.vault_header import PassphraseSlot, Slot
from medvault.secret import Secret

SALT_LEN = 32


def _slot_key(kek: Secret, vault_id: bytes, slot_id: int) -> Secret:
    return hkdf_expand(kek, labels.SLOT_WRAP, vault_id, struct.pack(">I", slot_id))


def make_slot(
    vmk: Secret,
    vault_id: bytes,
    slot_id: int,
    passphrase: Secret,
    params: Argon2Params,
    created_at: str,
) -> PassphraseSlot:
    salt = random_bytes(SALT_LEN)
    kek = argon2id(passphrase, salt, params)
    wrapped = wrap_key(_slot_key(kek, vault_id, slot_id), vmk)
    return PassphraseSlot(
        slot_id, params.time_cost, params.memory_kib, params.parallelism, salt, wrapped, created_at
    )


def open_slots(slots: Iterable[Slot], vault_id: bytes, passphrase: Secret) -> Secret:
    """The vault key from the first passphrase slot it opens (caps checked before work)."""
    for slot in slots:
        if not isinstance(slot, PassphraseSlot):
            continue
        params = Argon2Params(slot.time_cost, slot.memory_kib, slot.parallelism)
        kek = argon2id(passphrase, slot.salt, params)
        try:
            return unwrap_key(_slot_key(kek, vault_id, slot.slot_id), slot.wrapped)
        except AuthenticationFailed:
            continue
    raise WrongPassphrase("wrong passphrase for this vault")
