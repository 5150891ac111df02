"""The vault's key schedule: every key derived from a vault key, a file key or a slot's
secret, in one place.

Each is HKDF-SHA-512-Expand(key, LABEL || 0x00 || vault_id [|| fixed fields])
(docs/FORMAT.md section 2). An unlocked vault carries a `VaultKeys`, not the raw vault key,
and this is the only module that expands one (tests/unit/crypto/test_key_schedule.py checks
it), so a new record kind cannot quietly reuse another's key.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from medvault.crypto import labels
from medvault.crypto.hkdf import hkdf_expand
from medvault.errors import FormatError
from medvault.secret import Secret, VaultKey

FIRST_EPOCH = 1


class VaultKeys:
    """The keys of one vault, derived on demand from its vault key (of the current key
    epoch, carrying the earlier epochs' keys an unfinished re-key still needs)."""

    __slots__ = ("_entry_wraps", "_root", "vault_id")

    def __init__(self, root: Secret, vault_id: bytes) -> None:
        self._root = root
        self.vault_id = vault_id
        # entry_wrap is asked for once per entry written or read: derived once per epoch.
        self._entry_wraps: dict[int, Secret] = {}

    def __repr__(self) -> str:
        return f"VaultKeys(<vault {self.vault_id.hex()}, epoch {self.epoch}, redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("VaultKeys cannot be pickled")

    def vault_key(self) -> Secret:
        """The vault key itself, to be wrapped (a key slot, an escrow key package, the key
        cache, the next epoch's chain): never to derive from outside this module."""
        return self._root

    @property
    def epoch(self) -> int | None:
        """The vault key's epoch; None for a key with no header left to say it."""
        return self._root.epoch if isinstance(self._root, VaultKey) else FIRST_EPOCH

    @property
    def write_epoch(self) -> int:
        """The key epoch new entries are written under (1 when no header says it)."""
        return self.epoch if self.epoch is not None else FIRST_EPOCH

    @property
    def older_epochs(self) -> tuple[int, ...]:
        return self._root.older_epochs if isinstance(self._root, VaultKey) else ()

    def _each_epoch(self) -> list[Secret]:
        """The vault key, then each earlier epoch's key it carries: what a reader tries on
        records that do not name their epoch (index records, custody log entries)."""
        if not isinstance(self._root, VaultKey):
            return [self._root]
        older = [self._root.for_epoch(epoch) for epoch in reversed(self._root.older_epochs)]
        return [self._root, *(key for key in older if key is not None)]

    def _derive(self, key: Secret, label: bytes, *fields: bytes) -> Secret:
        return hkdf_expand(key, label, self.vault_id, *fields)

    def header_mac(self) -> Secret:
        """HMAC-SHA-256 key of the vault header copies."""
        return self._derive(self._root, labels.VAULT_HEADER_MAC)

    def index(self) -> Secret:
        """AES-256-GCM key of new index journal records."""
        return self._derive(self._root, labels.INDEX)

    def index_newest_first(self) -> list[Secret]:
        return [self._derive(key, labels.INDEX) for key in self._each_epoch()]

    def custody_log(self) -> Secret:
        """AES-256-GCM key of new on-drive custody log entries."""
        return self._derive(self._root, labels.CUSTODY_LOG)

    def custody_log_newest_first(self) -> list[Secret]:
        return [self._derive(key, labels.CUSTODY_LOG) for key in self._each_epoch()]

    def path_index(self) -> Secret:
        """AES-256-GCM key of the path index snapshot."""
        return self._derive(self._root, labels.PATH_INDEX)

    def rekey_redo(self) -> Secret:
        """HMAC-SHA-256 key of a re-key's redo record."""
        return self._derive(self._root, labels.REKEY_REDO)

    def previous_epoch_wrap(self, epoch: int) -> Secret:
        """AES-KW key, under this (newer) vault key, of EPOCH's vault key."""
        return self._derive(self._root, labels.PREVIOUS_EPOCH, struct.pack(">I", epoch))

    def file_wrap(self, file_id: bytes, epoch: int) -> Secret:
        """AES-KW key of FILE_ID's file key in a format 1.0 entry, under EPOCH's vault key."""
        return self._derive(self._epoch_key(epoch), labels.FILE_WRAP, file_id)

    def entry_wrap(self, epoch: int) -> Secret:
        """AES-KW key of every format 1.1 entry's file key, under EPOCH's vault key: one per
        vault and epoch (the entry's file id is bound by the keys its FK gives instead)."""
        key = self._entry_wraps.get(epoch)
        if key is None:
            key = self._derive(self._epoch_key(epoch), labels.ENTRY_WRAP)
            self._entry_wraps[epoch] = key
        return key

    def _epoch_key(self, epoch: int) -> Secret:
        if isinstance(self._root, VaultKey):
            key = self._root.for_epoch(epoch)
        else:
            key = self._root if epoch == FIRST_EPOCH else None
        if key is None:
            raise FormatError("object header: unknown key epoch")
        return key


def passphrase_slot_wrap(kek: Secret, vault_id: bytes, slot_id: int) -> Secret:
    """AES-KW key of a passphrase slot, from the slot's Argon2id output (KEK)."""
    return hkdf_expand(kek, labels.SLOT_WRAP, vault_id, struct.pack(">I", slot_id))


def recovery_slot_wrap(code: Secret, salt: bytes, vault_id: bytes, slot_id: int) -> Secret:
    """AES-KW key of a recovery-code slot, from the 128-bit recovery code."""
    return hkdf_expand(code, labels.RECOVERY_SLOT, salt, vault_id, struct.pack(">I", slot_id))


@dataclass(frozen=True)
class FileKeys:
    """The keys one entry's file key (FK) gives: payload, metadata and header MAC."""

    payload: Secret
    meta: Secret
    mac: Secret


def file_keys(fk: Secret, vault_id: bytes, file_id: bytes) -> FileKeys:
    ids = (vault_id, file_id)
    return FileKeys(
        payload=hkdf_expand(fk, labels.PAYLOAD, *ids),
        meta=hkdf_expand(fk, labels.META, *ids),
        mac=hkdf_expand(fk, labels.HEADER_MAC, *ids),
    )


@dataclass(frozen=True)
class EntryKeys:
    """The keys one format 1.1 entry's file key (FK) gives: payload and metadata. Its
    header needs no MAC of its own: the metadata AEAD authenticates it."""

    payload: Secret
    meta: Secret


def entry_keys(fk: Secret, vault_id: bytes, file_id: bytes) -> EntryKeys:
    """Both keys of a format 1.1 entry from one HKDF-Expand of 64 bytes (one SHA-512
    block): the payload key is the first 32, the metadata key the last 32."""
    both = hkdf_expand(fk, labels.ENTRY_KEYS, vault_id, file_id, length=64).reveal()
    return EntryKeys(payload=Secret(both[:32]), meta=Secret(both[32:]))


@dataclass(frozen=True)
class ChunkKeys:
    """What one Cobblestone-256 payload's chunks are sealed with: an AES-256-GCM key, a
    12-byte base nonce (chunk i's nonce is it XOR i, big-endian) and the 32-byte
    commitment stored after the salt."""

    key: Secret
    base_nonce: bytes
    commitment: bytes


def chunk_keys(payload_key: Secret, salt: bytes, context: bytes) -> ChunkKeys:
    """C2SP chunked encryption's key derivation (c2sp.org/chunked-encryption, "Key
    derivation"): key || base nonce || commitment = HKDF-Expand-SHA-512(payload key,
    info = "c2sp.org/chunked-encryption@v1+" || "AEAD_AES_256_GCM" || 0x00 || salt ||
    context), 32 + 12 + 32 bytes. The salt is the payload's first 24 bytes."""
    out = hkdf_expand(payload_key, labels.COBBLESTONE_256, salt, context, length=76).reveal()
    return ChunkKeys(Secret(out[:32]), out[32:44], out[44:])
