"""Passphrase slots: Argon2id(passphrase) -> HKDF -> AES-KW wrap of the vault key."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from medvault.crypto.kdf import Argon2Params, argon2id
from medvault.crypto.key_schedule import passphrase_slot_wrap
from medvault.crypto.symmetric import AuthenticationFailed, random_bytes, unwrap_key, wrap_key
from medvault.errors import FormatError, WrongPassphrase
from medvault.format.vault_header import PassphraseSlot, Slot
from medvault.secret import Secret

SALT_LEN = 32
# The most Argon2id work one unlock may do, summed over every slot of both header copies,
# in KiB-passes (t x m_kib): eight times what medvault writes (t=3, m=64 MiB). With the
# format's cap of 1 GiB per slot, a hostile header costs at most eight ordinary unlocks'
# work and 1 GiB of memory at any moment (docs/THREAT_MODEL.md).
UNLOCK_KDF_BUDGET = 8 * 3 * 64 * 1024


@dataclass
class KdfBudget:
    """What is left of one unlock's Argon2id budget, and the slots already tried."""

    remaining: int = UNLOCK_KDF_BUDGET
    tried: set[tuple[int, int, int, int, bytes, bytes]] = field(default_factory=set)

    def take(self, slots: list[PassphraseSlot]) -> list[PassphraseSlot]:
        """The slots not tried yet, once their whole cost fits; refuses before any work."""
        fresh = [s for s in slots if _identity(s) not in self.tried]
        cost = sum(s.time_cost * s.memory_kib for s in fresh)
        if cost > self.remaining:
            raise FormatError(
                "vault header: its passphrase slots ask for more key-derivation work than "
                f"medvault allows in one unlock ({cost} KiB-passes, limit {self.remaining}); "
                "the copy is damaged or hostile"
            )
        self.remaining -= cost
        self.tried.update(_identity(s) for s in fresh)
        return fresh


def _identity(slot: PassphraseSlot) -> tuple[int, int, int, int, bytes, bytes]:
    return (
        slot.slot_id,
        slot.time_cost,
        slot.memory_kib,
        slot.parallelism,
        slot.salt,
        slot.wrapped,
    )


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
    wrapped = wrap_key(passphrase_slot_wrap(kek, vault_id, slot_id), vmk)
    return PassphraseSlot(
        slot_id, params.time_cost, params.memory_kib, params.parallelism, salt, wrapped, created_at
    )


def open_slots(
    slots: Iterable[Slot], vault_id: bytes, passphrase: Secret, budget: KdfBudget | None = None
) -> Secret:
    """The vault key from the first passphrase slot it opens. The whole cost of the slots is
    checked against BUDGET (one unlock's, shared by both header copies) before any work."""
    budget = budget if budget is not None else KdfBudget()
    for slot in budget.take([s for s in slots if isinstance(s, PassphraseSlot)]):
        params = Argon2Params(slot.time_cost, slot.memory_kib, slot.parallelism)
        kek = argon2id(passphrase, slot.salt, params)
        try:
            return unwrap_key(passphrase_slot_wrap(kek, vault_id, slot.slot_id), slot.wrapped)
        except AuthenticationFailed:
            continue
    raise WrongPassphrase("wrong passphrase for this vault")
