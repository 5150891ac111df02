"""Passphrase policy and generation."""

from __future__ import annotations

import secrets
import unicodedata

from medvault.errors import WeakPassphrase
from medvault.secret import Secret

MIN_LENGTH = 15
GENERATED_WORDS = 8  # 8 words from 1,024 = 80 bits
MAX_LENGTH = 1024


def to_secret(passphrase: str) -> Secret:
    """NFC-normalised UTF-8, so the same passphrase typed on another OS still opens."""
    return Secret(unicodedata.normalize("NFC", passphrase).encode("utf-8"))


def check_strength(passphrase: str) -> None:
    length = len(unicodedata.normalize("NFC", passphrase))
    if length < MIN_LENGTH:
        raise WeakPassphrase(f"passphrase too short ({length} characters; at least {MIN_LENGTH})")
    if length > MAX_LENGTH:
        raise WeakPassphrase(f"passphrase too long (at most {MAX_LENGTH} characters)")
    if len(set(passphrase)) < 5:
        raise WeakPassphrase("passphrase has too few distinct characters")


def passphrase_meets_policy(passphrase: Secret) -> bool:
    try:
        check_strength(passphrase.reveal().decode("utf-8"))
    except (WeakPassphrase, UnicodeDecodeError):
        return False
    return True


def generate() -> str:
    """A diceware-style passphrase of 8 words from the SLIP-39 word list (80 bits)."""
    from shamir_mnemonic.wordlist import WORDLIST

    return "-".join(secrets.choice(WORDLIST) for _ in range(GENERATED_WORDS))
