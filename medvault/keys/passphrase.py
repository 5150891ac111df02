"""Passphrase policy and generation."""

from __future__ import annotations

import secrets
import unicodedata
from typing import Any

from medvault.config import DEFAULT_PASSPHRASE_POLICY, PassphrasePolicy, current_passphrase_policy
from medvault.errors import WeakPassphrase
from medvault.keys.strength import Estimate, context_words, estimate, estimator
from medvault.secret import Secret

MIN_LENGTH = DEFAULT_PASSPHRASE_POLICY.min_length
GENERATED_WORDS = 8  # 8 words from 1,024 = 80 bits
MAX_LENGTH = 1024
UNGUESSABLE_HINT = (
    "use four or more unrelated words, not names, years or keyboard patterns, "
    "or `medvault create --generate-passphrase`"
)


def to_secret(passphrase: str) -> Secret:
    """NFC-normalised UTF-8, so the same passphrase typed on another OS still opens."""
    return Secret(unicodedata.normalize("NFC", passphrase).encode("utf-8"))


def check_strength(
    passphrase: str, policy: PassphrasePolicy | None = None, names: tuple[str, ...] = ()
) -> Estimate:
    """Refuse (WeakPassphrase) what POLICY does not allow; without POLICY, this
    workstation's org policy, its org name added to NAMES (words an attacker tries first)."""
    if policy is None:
        policy, org_name = current_passphrase_policy()
        names = (*names, org_name or "")
    text = unicodedata.normalize("NFC", passphrase)
    if len(text) < policy.min_length:
        raise WeakPassphrase(
            f"passphrase too short ({len(text)} characters; at least {policy.min_length})"
        )
    if len(text) > MAX_LENGTH:
        raise WeakPassphrase(f"passphrase too long (at most {MAX_LENGTH} characters)")
    found = estimate(text, context_words(*names))
    if found.guesses_log10 < policy.min_guesses_log10:
        why = found.warning or "it is built from words, names or patterns that are tried first"
        raise WeakPassphrase(
            f"passphrase too easy to guess (about 10^{found.guesses_log10:.0f} guesses; "
            f"at least 10^{policy.min_guesses_log10:g} needed): {why}",
            hint=UNGUESSABLE_HINT,
        )
    return found


def policy_record(
    passphrase: Secret, policy: PassphrasePolicy, names: tuple[str, ...]
) -> dict[str, Any]:
    """The check as the registry records it, so a later report can compare it with the
    organisation's policy then."""
    try:
        text = unicodedata.normalize("NFC", passphrase.reveal().decode("utf-8"))
    except UnicodeDecodeError:
        text = ""
    guesses = estimate(text[:MAX_LENGTH], context_words(*names)).guesses_log10 if text else 0.0
    try:
        check_strength(text, policy, names)
        met = True
    except WeakPassphrase:
        met = False
    return {
        "min_length": policy.min_length,
        "min_guesses_log10": policy.min_guesses_log10,
        "guesses_log10": round(guesses, 1),
        "estimator": estimator(),
        "met": met,
    }


def generate() -> str:
    """A diceware-style passphrase of 8 words from the SLIP-39 word list (80 bits)."""
    from shamir_mnemonic.wordlist import WORDLIST

    return "-".join(secrets.choice(WORDLIST) for _ in range(GENERATED_WORDS))
