"""Sealing and opening object entries: the per-file key hierarchy (docs/FORMAT.md).

FK (32 random bytes) is wrapped with AES-KW under HKDF(VMK, FILE_WRAP, vault_id, file_id);
payload, metadata and header-MAC keys are derived from FK with their own labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from medvault.crypto import labels
from medvault.crypto.kdf import hkdf_expand
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
from medvault.errors import FormatError, IntegrityError
from medvault.format import entry as fmt
from medvault.format.binary import u16
from medvault.secret import Secret, VaultKey


@dataclass(frozen=True)
class FileKeys:
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


def epoch_of(vmk: Secret) -> int:
    """The key epoch new entries are written under (1 for a plain key: a vault never
    re-keyed)."""
    epoch = vmk.epoch if isinstance(vmk, VaultKey) else None
    return epoch if epoch is not None else 1


def wrap_key_for(vmk: Secret, vault_id: bytes, file_id: bytes, epoch: int) -> Secret:
    """HKDF(vault key of EPOCH, FILE_WRAP, vault_id, file_id): the key that wraps FK."""
    key = vmk.for_epoch(epoch) if isinstance(vmk, VaultKey) else (vmk if epoch == 1 else None)
    if key is None:
        raise FormatError("object header: unknown key epoch")
    return hkdf_expand(key, labels.FILE_WRAP, vault_id, file_id)


def payload_context(vault_id: bytes, file_id: bytes) -> bytes:
    return labels.PAYLOAD_CONTEXT + b"\x00" + u16(fmt.SUITE_V1) + vault_id + file_id


@dataclass
class SealedHeader:
    """A freshly sealed entry header plus what is needed to encrypt its payload."""

    header: bytes
    keys: FileKeys
    context: bytes

    def encryptor(self) -> PayloadEncryptor:
        return PayloadEncryptor(self.keys.payload, self.context)


def seal_header(
    vmk: Secret,
    vault_id: bytes,
    file_id: bytes,
    kind: fmt.Kind,
    meta: bytes,
    payload_len: int,
    fk: Secret | None = None,
    meta_nonce: bytes | None = None,
) -> SealedHeader:
    if len(meta) + 16 > fmt.MAX_META:
        raise ValueError("object metadata exceeds the format's cap")
    fk = fk if fk is not None else new_key()
    keys = file_keys(fk, vault_id, file_id)
    epoch = epoch_of(vmk)
    wrapped = wrap_key(wrap_key_for(vmk, vault_id, file_id, epoch), fk)
    nonce = meta_nonce if meta_nonce is not None else random_bytes(fmt.NONCE_LEN)
    ct_len = len(meta) + 16
    draft = fmt.EntryHeader(
        kind, vault_id, file_id, epoch, payload_len, wrapped, nonce, b"\0" * ct_len
    )
    meta_ct = gcm_seal(keys.meta, nonce, meta, draft.fixed_fields())
    header = fmt.EntryHeader(kind, vault_id, file_id, epoch, payload_len, wrapped, nonce, meta_ct)
    mac = hmac_sha256(keys.mac, header.mac_input())
    return SealedHeader(fmt.encode(header, mac), keys, payload_context(vault_id, file_id))


@dataclass
class OpenedHeader:
    header: fmt.EntryHeader
    meta: bytes
    keys: FileKeys
    context: bytes

    def decryptor(self) -> PayloadDecryptor:
        return PayloadDecryptor(self.keys.payload, self.context)


def open_header(vmk: Secret, vault_id: bytes, data: bytes) -> OpenedHeader:
    """Parse, unwrap FK, check the MAC, then decrypt metadata (in that order)."""
    parsed = fmt.decode(data)
    h = parsed.header
    if h.vault_id != vault_id:
        raise IntegrityError("object belongs to another vault")
    try:
        fk = unwrap_key(wrap_key_for(vmk, vault_id, h.file_id, h.key_epoch), h.wrapped_fk)
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


def rewrap_header(vmk: Secret, vault_id: bytes, data: bytes) -> bytes:
    """The same entry header with its file key wrapped under VMK's current epoch: a new
    wrapped FK, key epoch, metadata nonce and MAC, the same length and the same FK (so the
    payload is untouched). Opens DATA first, so only an authentic header is rewritten."""
    opened = open_header(vmk, vault_id, data)
    h = opened.header
    fk = unwrap_key(wrap_key_for(vmk, vault_id, h.file_id, h.key_epoch), h.wrapped_fk)
    sealed = seal_header(vmk, vault_id, h.file_id, h.kind, opened.meta, h.payload_len, fk=fk)
    if len(sealed.header) != len(data):
        raise IntegrityError("object header changed length when re-wrapped")
    return sealed.header
