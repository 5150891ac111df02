"""Sealing and opening object entries: the per-file key hierarchy (docs/FORMAT.md).

FK (32 random bytes) is wrapped with AES-KW under the vault's FILE_WRAP key for the entry;
payload, metadata and header-MAC keys come from FK (crypto/key_schedule.py derives both).
"""

from __future__ import annotations

from dataclasses import dataclass

from medvault.crypto import labels
from medvault.crypto.key_schedule import FileKeys, VaultKeys, file_keys
from medvault.crypto.payload import PayloadDecryptor, PayloadEncryptor
from medvault.crypto.symmetric import (
    AuthenticationFailed,
    gcm_open,
    gcm_seal,
    hmac_sha256,
    mac_matches,
    new_key,
    random_bytes,
    unwrap_key,
    wrap_key,
)
from medvault.errors import IntegrityError
from medvault.format import entry as entry_fmt
from medvault.format.binary import u16
from medvault.secret import Secret


def payload_context(vault_id: bytes, file_id: bytes) -> bytes:
    return labels.PAYLOAD_CONTEXT + b"\x00" + u16(entry_fmt.SUITE_V1) + vault_id + file_id


@dataclass
class SealedHeader:
    """A freshly sealed entry header plus what is needed to encrypt its payload."""

    header: bytes
    keys: FileKeys
    context: bytes

    def encryptor(self) -> PayloadEncryptor:
        return PayloadEncryptor(self.keys.payload, self.context)


def seal_header(
    vault: VaultKeys,
    file_id: bytes,
    kind: entry_fmt.Kind,
    meta: bytes,
    payload_len: int,
    fk: Secret | None = None,
    meta_nonce: bytes | None = None,
) -> SealedHeader:
    if len(meta) + 16 > entry_fmt.MAX_META:
        raise ValueError("object metadata exceeds the format's cap")
    fk = fk if fk is not None else new_key()
    vault_id = vault.vault_id
    keys = file_keys(fk, vault_id, file_id)
    epoch = vault.write_epoch
    wrapped = wrap_key(vault.file_wrap(file_id, epoch), fk)
    nonce = meta_nonce if meta_nonce is not None else random_bytes(entry_fmt.NONCE_LEN)
    ct_len = len(meta) + 16
    draft = entry_fmt.EntryHeader(
        kind, vault_id, file_id, epoch, payload_len, wrapped, nonce, b"\0" * ct_len
    )
    meta_ct = gcm_seal(keys.meta, nonce, meta, draft.fixed_fields())
    header = entry_fmt.EntryHeader(
        kind, vault_id, file_id, epoch, payload_len, wrapped, nonce, meta_ct
    )
    mac = hmac_sha256(keys.mac, header.mac_input())
    return SealedHeader(entry_fmt.encode(header, mac), keys, payload_context(vault_id, file_id))


@dataclass
class OpenedHeader:
    header: entry_fmt.EntryHeader
    meta: bytes
    keys: FileKeys
    context: bytes

    def decryptor(self) -> PayloadDecryptor:
        return PayloadDecryptor(self.keys.payload, self.context)


def open_header(vault: VaultKeys, data: bytes) -> OpenedHeader:
    """Parse, unwrap FK, check the MAC, then decrypt metadata (in that order)."""
    parsed = entry_fmt.decode(data)
    h = parsed.header
    vault_id = vault.vault_id
    if h.vault_id != vault_id:
        raise IntegrityError("object belongs to another vault")
    try:
        fk = unwrap_key(vault.file_wrap(h.file_id, h.key_epoch), h.wrapped_fk)
    except AuthenticationFailed:
        raise IntegrityError("object key does not unwrap with this vault's key") from None
    keys = file_keys(fk, vault_id, h.file_id)
    if not mac_matches(keys.mac, parsed.mac_input, parsed.mac):
        raise IntegrityError("object header MAC mismatch")
    try:
        meta = gcm_open(keys.meta, h.meta_nonce, h.meta_ct, h.fixed_fields())
    except AuthenticationFailed:
        raise IntegrityError("object metadata failed authentication") from None
    return OpenedHeader(h, meta, keys, payload_context(vault_id, h.file_id))


def rewrap_header(vault: VaultKeys, data: bytes) -> bytes:
    """The same entry header with its file key wrapped under the current epoch's key: a new
    wrapped FK, key epoch, metadata nonce and MAC, the same length and the same FK (so the
    payload is untouched). Opens DATA first, so only an authentic header is rewritten."""
    opened = open_header(vault, data)
    h = opened.header
    fk = unwrap_key(vault.file_wrap(h.file_id, h.key_epoch), h.wrapped_fk)
    sealed = seal_header(vault, h.file_id, h.kind, opened.meta, h.payload_len, fk=fk)
    if len(sealed.header) != len(data):
        raise IntegrityError("object header changed length when re-wrapped")
    return sealed.header
