"""Exact behaviour of the key layer's smallest rules (medvault/keys/): the admin-share
bounds and labels, locating a mistyped share word, the generated passphrase's format, u32
epoch and slot ids in key derivations (checked against an independent HKDF), trying every
recovery-code slot, and the keyring's handling of odd entries and failures. Fast: no
Argon2id, no CLI."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keyring.core
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from keyring.backends.SecretService import Keyring as SecretServiceKeyring

from medvault.crypto import labels
from medvault.crypto.key_schedule import VaultKeys
from medvault.errors import KeyCacheRefused, UsageError
from medvault.keys import epochs, keycache, passphrase, recovery_code, shares
from medvault.secret import Secret
from tests.support.secret_service import LOGIN, SERVICE, secret_service

VAULT_ID = bytes(range(16))
VMK = Secret(bytes(range(32, 64)))
SEED = Secret(bytes(range(16)))
CREATED = "2026-12-05T10:00:00Z"
ANOTHER_VAULT = "ab" * 16
# One share of SEED (2 of 3; extendable flag set), fixed so every run checks the same words.
SHARE = (
    "demand spew academic acid alive tenant idea garden scramble ranked "
    "axle auction dream acne arena marvel either method visitor symbolic"
)
# Member 1 of a 2-of-3 split of another seed (another escrow key).
OTHER_KEYS_SHARE = (
    "join fawn academic agency deal ajar acrobat invasion manager learn "
    "amount mild teacher luxury cards vegan spider bolt jerky fiber"
)
HIGH_IDS = [2**31, 2**32 - 1]  # u32 values with the top bit set


def _independent_key(key: bytes, label: bytes, *fields: bytes) -> bytes:
    """HKDF-Expand-SHA-512 as docs/FORMAT.md states it, without medvault's own code."""
    info = label + b"\x00" + b"".join(fields)
    return HKDFExpand(hashes.SHA512(), 32, info).derive(key)


# --- shares ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("threshold", "holders"), [(1, 1), (2, 2), (2, 16), (16, 16), (3, 5)])
def test_share_bounds_allow_one_to_sixteen_admins(threshold: int, holders: int) -> None:
    """1 <= threshold <= holders <= 16 is allowed at each edge (a lone admin holds the
    whole key; every admin may be needed; 16 admins), and THRESHOLD shares rebuild it."""
    made = shares.split_seed(SEED, threshold, holders)
    assert len(made) == holders
    assert shares.combine_shares(made[:threshold]).reveal() == SEED.reveal()


@pytest.mark.parametrize(
    ("threshold", "holders"), [(0, 1), (2, 1), (3, 2), (2, 17), (17, 17), (1, 2), (1, 16)]
)
def test_share_bounds_refuse_outside_them(threshold: int, holders: int) -> None:
    """Refused: no threshold, more needed than there are admins, more than 16 admins, and a
    threshold of 1 among several admins (each of them would hold the whole key)."""
    with pytest.raises(UsageError):
        shares.split_seed(SEED, threshold, holders)


def test_a_bad_share_is_named_by_its_place_counting_from_one() -> None:
    """combine_shares names the first share "share 1", the second "share 2"."""
    good = shares.split_seed(SEED, 2, 3)
    with pytest.raises(shares.ShareError, match=r"^share 1: word 1 is not a SLIP-39 word"):
        shares.combine_shares(["notaword " + good[0], good[1]])
    with pytest.raises(shares.ShareError, match=r"^share 2: word 1 is not a SLIP-39 word"):
        shares.combine_shares([good[0], "notaword " + good[1]])


def _retyped(share: str, position: int, delta: int) -> str:
    """SHARE with word POSITION (1-based) replaced by the list word whose index differs by
    the XOR DELTA: another real word, so only the checksum can tell."""
    from shamir_mnemonic.wordlist import WORD_INDEX_MAP, WORDLIST

    words = share.split()
    words[position - 1] = WORDLIST[WORD_INDEX_MAP[words[position - 1]] ^ delta]
    return " ".join(words)


def _typo_cases() -> list[tuple[int, int]]:
    """Every position with a one-bit change (each bit somewhere), every bit of word 2 (whose
    bit 4 is the extendable flag, part of the checksum's customisation), and all ten bits
    changed at the ends."""
    every_position = [(position, 1 << (position % 10)) for position in range(1, 21)]
    word_two = [(2, 1 << bit) for bit in range(10)]
    return every_position + word_two + [(1, 1023), (2, 1023), (20, 1023)]


@pytest.mark.parametrize(("position", "delta"), _typo_cases())
def test_a_mistyped_share_word_is_located(position: int, delta: int) -> None:
    """A share with one word replaced by another list word fails its checksum, and the
    error names that word's position (and nothing of the share)."""
    with pytest.raises(shares.ShareError) as refused:
        shares.parse_share(_retyped(SHARE, position, delta), "share 1")
    assert str(refused.value) == (
        f"share 1: the share's checksum fails: word {position} looks mistyped"
    )


@pytest.mark.parametrize(
    ("flag_change", "wrong_flag"),
    [(16, True), (1, False)],
    ids=["fix-flips-the-flag", "fix-keeps-the-flag"],
)
def test_word_two_is_blamed_only_for_a_fix_under_its_own_flag(
    flag_change: int, wrong_flag: bool
) -> None:
    """Word 2's bit 4 is the extendable flag, which picks the checksum's customisation. A
    change of word 2 that passes the checksum only under the customisation of the flag the
    result does not have is no fix, so no word is blamed: whether the change flips the flag
    (the share is extendable, the fixed one would not be) or keeps it."""
    from shamir_mnemonic.rs1024 import create_checksum
    from shamir_mnemonic.share import _customization_string
    from shamir_mnemonic.wordlist import WORD_INDEX_MAP, WORDLIST

    data = [WORD_INDEX_MAP[word] for word in SHARE.split()[:17]]  # without the checksum
    assert data[1] >> 4 & 1  # SHARE is extendable
    changed = [data[0], data[1] ^ flag_change, *data[2:]]  # what the "fix" would give
    assert bool(changed[1] >> 4 & 1) != wrong_flag
    checksum = create_checksum(changed, _customization_string(wrong_flag))
    typed = " ".join(WORDLIST[index] for index in data + checksum)
    with pytest.raises(shares.ShareError) as refused:
        shares.parse_share(typed, "share 1")
    assert str(refused.value) == (
        "share 1: the share's checksum fails: a word is mistyped or missing"
    )


@pytest.mark.parametrize(("first", "second"), [(1, 2), (5, 17), (2, 20)])
def test_two_mistyped_share_words_are_not_blamed_on_one(first: int, second: int) -> None:
    """With two words mistyped no single word can be blamed (RS1024 words are at least four
    changes apart), so the error says a word is mistyped without naming one."""
    typed = _retyped(_retyped(SHARE, first, 1), second, 16)
    with pytest.raises(shares.ShareError) as refused:
        shares.parse_share(typed, "share 1")
    assert str(refused.value) == (
        "share 1: the share's checksum fails: a word is mistyped or missing"
    )


def test_shares_of_different_keys_are_refused_as_such() -> None:
    """Shares whose identifiers differ are refused as belonging to different escrow keys
    (not as shares that merely fail to combine)."""
    with pytest.raises(shares.ShareError) as refused:
        shares.combine_shares([SHARE, OTHER_KEYS_SHARE])
    assert refused.value.message == "the shares belong to different escrow keys"


def test_a_share_longer_than_33_words_is_refused_with_its_length() -> None:
    """More than 33 words (a 256-bit seed's share) is refused before any checksum work,
    saying how many words there were."""
    typed = SHARE + " " + " ".join(SHARE.split()[:14])
    with pytest.raises(shares.ShareError) as refused:
        shares.parse_share(typed, "share 1")
    assert refused.value.message == (
        "share 1: 34 words; a share has at most 33 (one share per line or file)"
    )


def test_a_parsed_share_shows_its_label_and_hides_its_words() -> None:
    """A parsed share's repr names its label and member, and no word of the share."""
    parsed = shares.parse_share(SHARE, "share file alice.txt")
    assert repr(parsed) == "ParsedShare(share file alice.txt, member 0, <redacted>)"
    assert not set(repr(parsed).split()) & set(SHARE.split())


# --- generated passphrase -------------------------------------------------------------------


def test_a_generated_passphrase_is_eight_list_words_joined_by_hyphens() -> None:
    """The format: eight SLIP-39 list words, each separated by a single "-"."""
    from shamir_mnemonic.wordlist import WORDLIST

    for _ in range(20):
        words = passphrase.generate().split("-")
        assert len(words) == 8
        assert all(word in WORDLIST for word in words)


# --- u32 ids in key derivations -------------------------------------------------------------


@pytest.mark.parametrize("epoch", HIGH_IDS)
def test_an_earlier_epoch_above_2_31_wraps_under_the_known_answer_key(epoch: int) -> None:
    """The earlier epoch's key is wrapped under HKDF(current, PREVIOUS_EPOCH, vault id,
    epoch as an unsigned 32-bit big-endian number): epochs go up to 2**32 - 1."""
    old = Secret(bytes(32))
    wrapped = epochs.wrap_previous(VaultKeys(VMK, VAULT_ID), epoch, old)
    kek = _independent_key(VMK.reveal(), labels.PREVIOUS_EPOCH, VAULT_ID, epoch.to_bytes(4, "big"))
    assert wrapped.epoch == epoch
    assert aes_key_unwrap(kek, wrapped.wrapped) == old.reveal()


@pytest.mark.parametrize("slot_id", HIGH_IDS)
def test_a_recovery_slot_id_above_2_31_wraps_under_the_known_answer_key(slot_id: int) -> None:
    """A recovery-code slot wraps the vault key under HKDF(code, RECOVERY_SLOT, salt, vault
    id, slot id as an unsigned 32-bit big-endian number); it opens with the code."""
    _, code = recovery_code.generate()
    slot = recovery_code.make_recovery_slot(VMK, VAULT_ID, slot_id, code, CREATED)
    kek = _independent_key(
        code.reveal(), labels.RECOVERY_SLOT, slot.salt, VAULT_ID, slot_id.to_bytes(4, "big")
    )
    assert aes_key_unwrap(kek, slot.wrapped) == VMK.reveal()
    assert recovery_code.open_recovery_slots((slot,), VAULT_ID, code).reveal() == VMK.reveal()


def test_every_recovery_slot_is_tried_after_one_that_does_not_open() -> None:
    """A code that does not open the first recovery-code slot still opens a later one (a
    vault may hold an old and a new code)."""
    _, other = recovery_code.generate()
    _, code = recovery_code.generate()
    slots = (
        recovery_code.make_recovery_slot(VMK, VAULT_ID, 1, other, CREATED),
        recovery_code.make_recovery_slot(VMK, VAULT_ID, 2, code, CREATED),
    )
    assert recovery_code.open_recovery_slots(slots, VAULT_ID, code).reveal() == VMK.reveal()


# --- keyring listing ------------------------------------------------------------------------


def _use_secret_service(monkeypatch: pytest.MonkeyPatch, bus: str, home: Path) -> None:
    """Until the test ends, this process uses the real SecretService backend on BUS, with
    MEDVAULT_HOME=HOME."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus)
    monkeypatch.setenv("MEDVAULT_HOME", str(home))
    monkeypatch.setattr(keyring.core, "_keyring_backend", SecretServiceKeyring())


def test_a_keyring_entry_without_a_username_is_skipped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The keyring listing (lock --all) skips a medvault-service entry with no username
    attribute (written by another tool) instead of crashing, and still lists the rest."""
    import secretstorage

    vault_id = "cd" * 16
    with secret_service(tmp_path / "keyring-home") as service:
        _use_secret_service(monkeypatch, service.env["DBUS_SESSION_BUS_ADDRESS"], tmp_path / "home")
        service.put(vault_id, "{}", LOGIN)
        with contextlib.closing(secretstorage.dbus_init()) as bus:  # the bus just set
            secretstorage.Collection(bus, LOGIN).create_item(
                f"{SERVICE}/nameless", {"service": SERVICE}, b"{}"
            )
        assert keycache.cached_vaults() == [vault_id]


def test_a_keyring_that_cannot_list_is_refused_naming_the_cause(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """When SecretService cannot be reached to list entries, cached_vaults raises
    KeyCacheRefused whose message names the failure's type (a keyring failure: no bus)."""
    missing = f"unix:path={tmp_path / 'no-such-bus'}"
    _use_secret_service(monkeypatch, missing, tmp_path / "home")
    with pytest.raises(KeyCacheRefused) as refused:
        keycache.cached_vaults()
    _assert_names_its_cause(refused.value, "list its entries")


def _assert_names_its_cause(refused: KeyCacheRefused, action: str) -> None:
    cause = refused.__context__
    assert cause is not None
    assert str(refused) == f"the OS keyring could not {action}: {type(cause).__name__}"


def test_a_keyring_that_cannot_store_is_refused_naming_the_cause(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """remember() on an unreachable SecretService raises KeyCacheRefused naming the cause's
    type, and takes back its marker (no key was cached)."""
    _use_secret_service(monkeypatch, f"unix:path={tmp_path / 'no-such-bus'}", tmp_path / "home")
    expires = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(KeyCacheRefused) as refused:
        keycache.remember(ANOTHER_VAULT, VMK, expires)
    _assert_names_its_cause(refused.value, "store the key")
    assert keycache.marked_vaults() == []


def test_a_keyring_that_cannot_delete_is_refused_naming_the_cause(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """forget() of a vault whose marker says a key may be cached, on an unreachable
    SecretService, raises KeyCacheRefused naming the cause's type and keeps the marker
    (the next start tries again)."""
    home = tmp_path / "home"
    _use_secret_service(monkeypatch, f"unix:path={tmp_path / 'no-such-bus'}", home)
    (home / "remembered").mkdir(parents=True)
    expires = datetime.now(UTC) + timedelta(hours=1)
    (home / "remembered" / ANOTHER_VAULT).write_text(expires.isoformat() + "\n")
    with pytest.raises(KeyCacheRefused) as refused:
        keycache.forget(ANOTHER_VAULT)
    _assert_names_its_cause(refused.value, "delete the key")
    assert keycache.marked_vaults() == [ANOTHER_VAULT]


def test_each_remembered_key_is_recalled_for_its_vault_then_forgotten_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On a real SecretService: remember() then recall() gives each vault its own key back
    (with two vaults' keys cached); forget() says True when it deleted the key and exactly
    False when there was none."""
    now = datetime.now(UTC)
    keys = {ANOTHER_VAULT: VMK, "ef" * 16: Secret(bytes(range(100, 132)))}
    with secret_service(tmp_path / "keyring-home") as service:
        _use_secret_service(monkeypatch, service.env["DBUS_SESSION_BUS_ADDRESS"], tmp_path / "h")
        for vault_id, key in keys.items():
            assert keycache.remember(vault_id, key, now + timedelta(hours=1)) == "session"
        for vault_id, key in keys.items():
            recalled = keycache.recall(vault_id, now)
            assert recalled is not None
            assert recalled.reveal() == key.reveal()
        for vault_id in keys:
            assert keycache.forget(vault_id) is True
            assert keycache.forget(vault_id) is False
        assert service.entries() == {}


def _entry(key: str, expires: datetime) -> str:
    return json.dumps({"v": 1, "key": key, "expires": expires.isoformat()})


@pytest.mark.parametrize(
    "case", ["expires-now", "stray-character-in-key", "key-of-31-bytes", "valid"]
)
def test_a_cached_entry_is_used_only_while_valid(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, case: str
) -> None:
    """recall() uses an entry only before its own expiry (an entry expiring at NOW is not
    used) and only if its key is strict base64 of 32 bytes (a stray character is not
    skipped over); an entry it does not use is deleted, with its marker."""
    now = datetime.now(UTC)
    good = base64.b64encode(VMK.reveal()).decode()
    entries = {
        "expires-now": _entry(good, now),
        "stray-character-in-key": _entry(good[:8] + "!" + good[8:], now + timedelta(hours=1)),
        "key-of-31-bytes": _entry(
            base64.b64encode(VMK.reveal()[:31]).decode(), now + timedelta(hours=1)
        ),
        "valid": _entry(good, now + timedelta(hours=1)),
    }
    with secret_service(tmp_path / "keyring-home") as service:
        _use_secret_service(monkeypatch, service.env["DBUS_SESSION_BUS_ADDRESS"], tmp_path / "h")
        keycache.remember(ANOTHER_VAULT, VMK, now + timedelta(hours=1))  # marker and entry
        (where,) = service.entries()[ANOTHER_VAULT]
        service.put(ANOTHER_VAULT, entries[case], where)
        recalled = keycache.recall(ANOTHER_VAULT, now)
        if case == "valid":
            assert recalled is not None
            assert recalled.reveal() == VMK.reveal()
            return
        assert recalled is None
        assert service.entries() == {}
        assert keycache.marked_vaults() == []


def test_forget_without_a_secure_keyring_or_a_marker_is_false(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no secure keyring, forget() of a vault without a marker is False (nothing can
    be cached there); with a marker it is refused and the marker is kept."""
    from keyring.backends.fail import Keyring as NoKeyring

    monkeypatch.setenv("MEDVAULT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(keyring.core, "_keyring_backend", NoKeyring())
    assert keycache.forget(ANOTHER_VAULT) is False
    markers = tmp_path / "home" / "remembered"
    markers.mkdir(parents=True)
    (markers / ANOTHER_VAULT).write_text((datetime.now(UTC) + timedelta(hours=1)).isoformat())
    with pytest.raises(KeyCacheRefused, match="not a secure OS keyring"):
        keycache.forget(ANOTHER_VAULT)
    assert keycache.marked_vaults() == [ANOTHER_VAULT]
