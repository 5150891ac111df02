"""One key schedule: an unlocked vault carries the schedule (crypto/key_schedule.py), never
the raw key, and each key is derived as FORMAT.md says (known answers against HKDF written
out again). tests/project/test_key_derivation_sites.py checks that no other module derives keys."""

from __future__ import annotations

import dataclasses
import pickle
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from medvault.crypto import labels
from medvault.crypto.key_schedule import (
    VaultKeys,
    entry_keys,
    file_keys,
    passphrase_slot_wrap,
    recovery_slot_wrap,
)
from medvault.engine.session import UnlockedVault
from medvault.errors import FormatError
from medvault.secret import Secret, VaultKey
from tests.conftest import Workspace

VAULT_ID = bytes(range(16))
FILE_ID = bytes(range(16, 32))
ROOT = Secret(bytes(range(32, 64)))
OLD = Secret(bytes(range(64, 96)))
OLDEST = Secret(bytes(range(96, 128)))


def test_the_unlocked_vault_carries_the_schedule_not_the_raw_key(
    ws: Workspace, drive: Path
) -> None:
    hints = {field.name: str(field.type) for field in dataclasses.fields(UnlockedVault)}
    assert hints["keys"] == "VaultKeys"
    assert not [name for name, hint in hints.items() if "Secret" in hint or hint == "VaultKey"]
    vault = ws.create_unlocked(drive)
    assert isinstance(vault.keys, VaultKeys)
    assert vault.keys.vault_id == vault.vault_id
    raw = vault.keys.vault_key().reveal()
    assert [name for name, value in vars(vault).items() if isinstance(value, Secret)] == []
    assert [name for name, value in vars(vault).items() if value == raw] == []


def _expand(key: Secret, label: bytes, *fields: bytes) -> Secret:
    """HKDF-Expand-SHA-512 written out again with cryptography, not medvault's helper."""
    info = label + b"\x00" + b"".join(fields)
    return Secret(HKDFExpand(hashes.SHA512(), 32, info).derive(key.reveal()))


@pytest.mark.parametrize(
    ("method", "label"),
    [
        ("header_mac", labels.VAULT_HEADER_MAC),
        ("index", labels.INDEX),
        ("custody_log", labels.CUSTODY_LOG),
        ("path_index", labels.PATH_INDEX),
        ("rekey_redo", labels.REKEY_REDO),
    ],
)
def test_each_vault_key_is_its_own_label_over_the_vault_id(method: str, label: bytes) -> None:
    keys = VaultKeys(VaultKey(ROOT.reveal(), 3, {2: OLD}), VAULT_ID)
    assert getattr(keys, method)() == _expand(ROOT, label, VAULT_ID)


def test_the_per_epoch_keys_and_the_file_key_schedule() -> None:
    keys = VaultKeys(VaultKey(ROOT.reveal(), 3, {1: OLDEST, 2: OLD}), VAULT_ID)
    epoch = struct.pack(">I", 2)
    assert keys.previous_epoch_wrap(2) == _expand(ROOT, labels.PREVIOUS_EPOCH, VAULT_ID, epoch)
    assert keys.file_wrap(FILE_ID, 3) == _expand(ROOT, labels.FILE_WRAP, VAULT_ID, FILE_ID)
    assert keys.file_wrap(FILE_ID, 2) == _expand(OLD, labels.FILE_WRAP, VAULT_ID, FILE_ID)
    # Records that do not name their epoch: the current epoch first, then newest to oldest.
    assert keys.index_newest_first() == [
        _expand(key, labels.INDEX, VAULT_ID) for key in (ROOT, OLD, OLDEST)
    ]
    assert keys.custody_log_newest_first() == [
        _expand(key, labels.CUSTODY_LOG, VAULT_ID) for key in (ROOT, OLD, OLDEST)
    ]
    assert (keys.epoch, keys.write_epoch, keys.older_epochs) == (3, 3, (1, 2))
    fk = Secret(bytes(32))
    derived = file_keys(fk, VAULT_ID, FILE_ID)
    assert derived.payload == _expand(fk, labels.PAYLOAD, VAULT_ID, FILE_ID)
    assert derived.meta == _expand(fk, labels.META, VAULT_ID, FILE_ID)
    assert derived.mac == _expand(fk, labels.HEADER_MAC, VAULT_ID, FILE_ID)
    slot = struct.pack(">I", 7)
    assert passphrase_slot_wrap(fk, VAULT_ID, 7) == _expand(fk, labels.SLOT_WRAP, VAULT_ID, slot)
    salt = bytes(32)
    assert recovery_slot_wrap(fk, salt, VAULT_ID, 7) == _expand(
        fk, labels.RECOVERY_SLOT, salt, VAULT_ID, slot
    )


def test_the_format_1_1_entry_keys() -> None:
    """One wrap key per vault and epoch (no file id), and both entry keys from one 64-byte
    expansion of the file key: the payload key first, the metadata key second."""
    keys = VaultKeys(VaultKey(ROOT.reveal(), 3, {2: OLD}), VAULT_ID)
    assert keys.entry_wrap(3) == _expand(ROOT, labels.ENTRY_WRAP, VAULT_ID)
    assert keys.entry_wrap(2) == _expand(OLD, labels.ENTRY_WRAP, VAULT_ID)
    # Derived once per epoch (asked for by every entry), each epoch its own.
    assert keys.entry_wrap(3) is keys.entry_wrap(3)
    assert keys.entry_wrap(3) == _expand(ROOT, labels.ENTRY_WRAP, VAULT_ID)
    assert keys.entry_wrap(2) == _expand(OLD, labels.ENTRY_WRAP, VAULT_ID)
    with pytest.raises(FormatError, match="unknown key epoch"):
        keys.entry_wrap(1)
    with pytest.raises(FormatError, match="unknown key epoch"):
        keys.entry_wrap(1)
    fk = Secret(bytes(range(200, 232)))
    info = labels.ENTRY_KEYS + b"\x00" + VAULT_ID + FILE_ID
    both = HKDFExpand(hashes.SHA512(), 64, info).derive(fk.reveal())
    derived = entry_keys(fk, VAULT_ID, FILE_ID)
    assert (derived.payload, derived.meta) == (Secret(both[:32]), Secret(both[32:]))
    assert derived.payload != derived.meta
    assert entry_keys(fk, VAULT_ID, bytes(16)).meta != derived.meta  # the file id is bound


def test_a_key_for_an_epoch_the_vault_does_not_hold_is_refused() -> None:
    keys = VaultKeys(VaultKey(ROOT.reveal(), 3, {2: OLD}), VAULT_ID)
    with pytest.raises(FormatError, match="unknown key epoch"):
        keys.file_wrap(FILE_ID, 1)
    plain = VaultKeys(ROOT, VAULT_ID)  # a key with no epochs: epoch 1 only
    assert plain.file_wrap(FILE_ID, 1) == _expand(ROOT, labels.FILE_WRAP, VAULT_ID, FILE_ID)
    with pytest.raises(FormatError, match="unknown key epoch"):
        plain.file_wrap(FILE_ID, 2)
    assert (plain.epoch, plain.write_epoch, plain.older_epochs) == (1, 1, ())
    # The registry's key with no header left to say its epoch opens entries of any epoch,
    # and new entries go under epoch 1.
    unknown = VaultKeys(VaultKey(ROOT.reveal(), epoch=None), VAULT_ID)
    assert unknown.file_wrap(FILE_ID, 9) == _expand(ROOT, labels.FILE_WRAP, VAULT_ID, FILE_ID)
    assert (unknown.epoch, unknown.write_epoch) == (None, 1)


def test_the_schedule_never_shows_or_pickles_a_key() -> None:
    keys = VaultKeys(VaultKey(ROOT.reveal(), 2, {1: OLD}), VAULT_ID)
    shown = repr(keys) + str(keys) + f"{keys}"
    for secret in (ROOT, OLD, keys.index(), keys.header_mac()):
        assert secret.reveal().hex() not in shown
        assert repr(secret.reveal()) not in shown
    assert VAULT_ID.hex() in shown and "epoch 2" in shown
    with pytest.raises(TypeError):
        pickle.dumps(keys)


@pytest.mark.parametrize("number", [0, 7, 2**31 - 1, 2**31, 2**32 - 1])
def test_epochs_and_slot_ids_are_unsigned_32_bit(number: int) -> None:
    """Key epochs and slot ids go up to 2**32 - 1, written as unsigned big-endian u32."""
    keys = VaultKeys(VaultKey(ROOT.reveal(), 3), VAULT_ID)
    u32 = number.to_bytes(4, "big")
    assert keys.previous_epoch_wrap(number) == _expand(ROOT, labels.PREVIOUS_EPOCH, VAULT_ID, u32)
    assert passphrase_slot_wrap(OLD, VAULT_ID, number) == _expand(
        OLD, labels.SLOT_WRAP, VAULT_ID, u32
    )
    salt = bytes(16)
    assert recovery_slot_wrap(OLD, salt, VAULT_ID, number) == _expand(
        OLD, labels.RECOVERY_SLOT, salt, VAULT_ID, u32
    )
