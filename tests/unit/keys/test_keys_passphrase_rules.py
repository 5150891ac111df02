"""Exact behaviour of the passphrase rules (medvault/keys/passphrase.py, strength.py) and
of opening passphrase slots (keys/slots.py), at their boundaries: each case was seen to
fail with one of the mutation campaign's surviving mutants applied (bench/results/
mutation.md) and passes on the real tree. Fast: Argon2id only at its smallest cost."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

from medvault.config import DEFAULT_PASSPHRASE_POLICY, PassphrasePolicy
from medvault.crypto import labels
from medvault.crypto.kdf import Argon2Params, argon2id
from medvault.errors import FormatError, WeakPassphrase, WrongPassphrase
from medvault.format.vault_header import PassphraseSlot
from medvault.keys import passphrase, slots, strength
from medvault.secret import Secret
from tests.conftest import Workspace

STRONG_15 = "vR7#qLm2!xZp9@w"  # 15 characters, about 10^15 guesses, no zxcvbn warning
RANDOM_10 = "kq3vz8mw2p"  # about 10^10 guesses, and zxcvbn has no warning for it
LENIENT = PassphrasePolicy(min_length=1, min_guesses_log10=0.0)
CHEAP = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
VAULT_ID = bytes(range(16))
VMK = Secret(bytes(range(32, 64)))
CREATED = "2026-12-05T10:00:00Z"


# -- check_strength: each bound is inclusive on the allowed side -----------------------------


def test_a_passphrase_of_exactly_the_minimum_length_is_allowed() -> None:
    assert len(STRONG_15) == DEFAULT_PASSPHRASE_POLICY.min_length
    passphrase.check_strength(STRONG_15, DEFAULT_PASSPHRASE_POLICY)
    with pytest.raises(WeakPassphrase, match=r"too short \(14 characters; at least 15\)"):
        passphrase.check_strength(STRONG_15[:-1], DEFAULT_PASSPHRASE_POLICY)


def test_a_passphrase_of_exactly_the_maximum_length_is_allowed() -> None:
    longest = (STRONG_15 * 100)[: passphrase.MAX_LENGTH]
    passphrase.check_strength(longest, DEFAULT_PASSPHRASE_POLICY)
    with pytest.raises(WeakPassphrase, match="too long"):
        passphrase.check_strength(longest + "x", DEFAULT_PASSPHRASE_POLICY)


def test_an_estimate_of_exactly_the_minimum_guesses_is_allowed() -> None:
    exact = strength.estimate(RANDOM_10).guesses_log10
    policy = PassphrasePolicy(min_length=1, min_guesses_log10=exact)
    assert passphrase.check_strength(RANDOM_10, policy).guesses_log10 == exact
    with pytest.raises(WeakPassphrase):
        passphrase.check_strength(RANDOM_10, PassphrasePolicy(1, exact + 1e-9))


def test_a_guessable_passphrase_is_refused_with_zxcvbns_warning_and_the_hint() -> None:
    with pytest.raises(WeakPassphrase) as caught:
        passphrase.check_strength("password", PassphrasePolicy(min_length=1))
    assert caught.value.message.endswith(": This is a top-10 common password.")
    assert caught.value.hint == passphrase.UNGUESSABLE_HINT


def test_without_a_warning_from_zxcvbn_the_refusal_still_says_why() -> None:
    assert strength.estimate(RANDOM_10).warning == ""
    with pytest.raises(WeakPassphrase) as caught:
        passphrase.check_strength(RANDOM_10, PassphrasePolicy(min_length=1))
    assert caught.value.message == (
        "passphrase too easy to guess (about 10^10 guesses; at least 10^12 needed): "
        "it is built from words, names or patterns that are tried first"
    )
    assert caught.value.hint == passphrase.UNGUESSABLE_HINT


def test_without_a_policy_the_org_name_is_a_guessable_word(ws: Workspace) -> None:
    """check_strength(policy=None) reads org.toml: its policy and its name ('Test Clinic')."""
    assert ws.org.name == "Test Clinic"
    with pytest.raises(WeakPassphrase):
        passphrase.check_strength("TestClinic2026!!!")
    passphrase.check_strength("TestClinic2026!!!", DEFAULT_PASSPHRASE_POLICY, ())


# -- policy_record: what the registry keeps of a check --------------------------------------


def test_the_record_is_the_check_under_the_given_policy_not_the_orgs() -> None:
    record = passphrase.policy_record(Secret(b"ab"), LENIENT, ())
    assert record["met"] is True
    assert (record["min_length"], record["min_guesses_log10"]) == (1, 0.0)


def test_the_record_estimates_with_the_names_as_words_an_attacker_tries() -> None:
    names = ("Test Clinic",)
    record = passphrase.policy_record(
        Secret(b"TestClinic2026!!!"), DEFAULT_PASSPHRASE_POLICY, names
    )
    with_names = strength.estimate("TestClinic2026!!!", strength.context_words(*names))
    assert record["guesses_log10"] == round(with_names.guesses_log10, 1)
    assert record["guesses_log10"] < round(strength.estimate("TestClinic2026!!!").guesses_log10, 1)
    assert record["met"] is False  # met without the names, not with them


@pytest.mark.parametrize("secret", [b"", b"\xff\xfe not UTF-8"], ids=["empty", "not-utf8"])
def test_an_empty_or_undecodable_passphrase_is_recorded_as_zero_guesses_not_met(
    secret: bytes,
) -> None:
    record = passphrase.policy_record(Secret(secret), LENIENT, ())
    assert (record["guesses_log10"], record["met"]) == (0.0, False)


# -- strength: the estimate and the context words --------------------------------------------


def test_the_warning_is_zxcvbns_text_or_empty() -> None:
    assert strength.estimate("password").warning == "This is a top-10 common password."
    assert strength.estimate(STRONG_15).warning == ""


def test_context_words_are_every_run_of_words_with_and_without_spaces() -> None:
    assert strength.context_words("Alpha Beta Gamma") == (
        "alpha", "alpha beta", "alphabeta", "alpha beta gamma", "alphabetagamma",
        "beta", "beta gamma", "betagamma", "gamma",
    )  # fmt: skip
    assert strength.context_words(None, "", "  ") == ()
    assert strength.context_words("One") == ("one",)


# -- passphrase slots -------------------------------------------------------------------------


def _slot(slot_id: int, secret: bytes) -> PassphraseSlot:
    return slots.make_slot(VMK, VAULT_ID, slot_id, Secret(secret), CHEAP, CREATED)


def test_every_passphrase_slot_is_tried_after_one_that_does_not_open() -> None:
    both = [_slot(1, b"an old passphrase"), _slot(2, b"the new passphrase")]
    opened = slots.open_slots(both, VAULT_ID, Secret(b"the new passphrase"))
    assert opened.reveal() == VMK.reveal()
    with pytest.raises(WrongPassphrase):
        slots.open_slots(both, VAULT_ID, Secret(b"neither"))


@pytest.mark.parametrize("slot_id", [2**31, 2**32 - 1])
def test_a_slot_id_above_2_31_wraps_under_the_known_answer_key(slot_id: int) -> None:
    """The slot key is HKDF(kek, SLOT_WRAP, vault id, slot id as unsigned 32-bit big-endian)."""
    slot = _slot(slot_id, b"passphrase")
    kek = argon2id(Secret(b"passphrase"), slot.salt, CHEAP).reveal()
    info = labels.SLOT_WRAP + b"\x00" + VAULT_ID + slot_id.to_bytes(4, "big")
    key = HKDFExpand(hashes.SHA512(), 32, info).derive(kek)
    assert aes_key_unwrap(key, slot.wrapped) == VMK.reveal()
    assert slots.open_slots([slot], VAULT_ID, Secret(b"passphrase")).reveal() == VMK.reveal()


def test_slots_that_cost_exactly_the_budget_left_are_allowed() -> None:
    slot = _slot(1, b"passphrase")
    cost = slot.time_cost * slot.memory_kib
    assert slots.KdfBudget(remaining=cost).take([slot]) == [slot]
    with pytest.raises(FormatError, match="more key-derivation work"):
        slots.KdfBudget(remaining=cost - 1).take([slot])
