"""Argon2id for passphrases (HKDF for derived keys is in crypto/hkdf.py)."""

from __future__ import annotations

from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw

from medvault.errors import FormatError
from medvault.secret import Secret

KEY_LEN = 32  # Argon2id output: a key-encryption key

# Caps checked before any work, so a tampered header cannot make unlock eat the machine.
MAX_TIME_COST = 16
MAX_MEMORY_KIB = 1024 * 1024
MAX_PARALLELISM = 16
MIN_MEMORY_KIB = 8 * 1024


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost parameters (RFC 9106); stored per slot in the vault header."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4

    def check(self) -> None:
        if not 1 <= self.time_cost <= MAX_TIME_COST:
            raise FormatError(f"Argon2id time cost {self.time_cost} outside 1..{MAX_TIME_COST}")
        if not 1 <= self.parallelism <= MAX_PARALLELISM:
            raise FormatError(f"Argon2id parallelism {self.parallelism} outside 1..16")
        if not max(MIN_MEMORY_KIB, 8 * self.parallelism) <= self.memory_kib <= MAX_MEMORY_KIB:
            raise FormatError(f"Argon2id memory {self.memory_kib} KiB outside the allowed range")


RFC9106_LOW_MEMORY = Argon2Params()


def argon2id(passphrase: Secret, salt: bytes, params: Argon2Params) -> Secret:
    """Stretch a passphrase into a 32-byte key encryption key."""
    params.check()
    raw = hash_secret_raw(
        secret=passphrase.reveal(),
        salt=salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=KEY_LEN,
        type=Type.ID,
        version=19,
    )
    return Secret(raw)
