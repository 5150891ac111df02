"""Sealing and opening object entries: the per-file key hierarchy (docs/FORMAT.md §5).

FK (32 random bytes, fresh for every entry) is wrapped with AES-KW under a key the vault key
gives; the payload and metadata keys (and, in format 1.0, the header-MAC key) come from FK
(crypto/key_schedule.py derives them all). Writers write format 1.1 (suite 2: padded
lengths, one derivation, no header MAC); readers open both.
"""

from __future__ import annotations

from dataclasses import dataclass

from medvault.crypto import labels
from medvault.crypto.key_schedule import VaultKeys, entry_keys, file_keys
from medvault.crypto.payload import PayloadDecryptor, PayloadEncryptor, ciphertext_length
from medvault.crypto.payload_chunks import ChunkLayout, ChunkOpener
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
from medvault.format import entry as entry_fmt
from medvault.format.binary import u16
from medvault.format.padding import pad_meta, padded_length, unpad_meta
from medvault.secret import Secret

WRITE_SUITE = entry_fmt.SUITE_PADDED  # what every new entry is written as (format 1.1)


def payload_context(vault_id: bytes, file_id: bytes, suite: int = entry_fmt.SUITE_V1) -> bytes:
    return labels.PAYLOAD_CONTEXT + b"\x00" + u16(suite) + vault_id + file_id


def payload_length(suite: int, size: int) -> int:
    """The payload length an entry of SUITE holding SIZE content bytes must have."""
    plain = padded_length(size) if suite == entry_fmt.SUITE_PADDED else size
    return ciphertext_length(plain)


@dataclass(frozen=True)
class EntryCipherKeys:
    """What the payload of one entry is encrypted with."""

    payload: Secret
    context: bytes
    suite: int


@dataclass
class SealedHeader:
    """A freshly sealed entry header plus what is needed to encrypt its payload."""

    header: bytes
    keys: EntryCipherKeys
    payload_len: int
    content_length: int

    def encryptor(self) -> PayloadEncryptor:
        padding = 0
        if self.keys.suite == entry_fmt.SUITE_PADDED:
            padding = padded_length(self.content_length) - self.content_length
        return PayloadEncryptor(self.keys.payload, self.keys.context, padding)


def seal_entry(
    vault: VaultKeys,
    file_id: bytes,
    kind: entry_fmt.Kind,
    meta: bytes,
    content_length: int,
    fk: Secret | None = None,
) -> SealedHeader:
    """A new entry's header, in the suite writers write, for CONTENT_LENGTH bytes of
    content (0 for a tombstone)."""
    payload_len = payload_length(WRITE_SUITE, content_length)
    return seal_header(
        vault, file_id, kind, meta, payload_len, fk=fk, suite=WRITE_SUITE,
        content_length=content_length,
    )  # fmt: skip


def seal_header(
    vault: VaultKeys,
    file_id: bytes,
    kind: entry_fmt.Kind,
    meta: bytes,
    payload_len: int,
    fk: Secret | None = None,
    meta_nonce: bytes | None = None,
    suite: int = entry_fmt.SUITE_V1,
    content_length: int = 0,
) -> SealedHeader:
    """An entry header of SUITE whose payload will be PAYLOAD_LEN bytes holding
    CONTENT_LENGTH content bytes (seal_entry works both out for new entries; a re-key keeps
    an entry's length and encrypts no payload)."""
    plain = pad_meta(int(kind), meta) if suite == entry_fmt.SUITE_PADDED else meta
    if len(plain) + 16 > entry_fmt.MAX_META:
        raise ValueError("object metadata exceeds the format's cap")
    fk = fk if fk is not None else new_key()
    vault_id = vault.vault_id
    epoch = vault.write_epoch
    nonce = meta_nonce if meta_nonce is not None else random_bytes(entry_fmt.NONCE_LEN)
    hidden = suite == entry_fmt.SUITE_PADDED
    mac_key: Secret | None = None
    if hidden:
        keys = entry_keys(fk, vault_id, file_id)
        payload_key, meta_key = keys.payload, keys.meta
        wrapped = wrap_key(vault.entry_wrap(epoch), fk)
    else:
        keys_v1 = file_keys(fk, vault_id, file_id)
        payload_key, meta_key, mac_key = keys_v1.payload, keys_v1.meta, keys_v1.mac
        wrapped = wrap_key(vault.file_wrap(file_id, epoch), fk)
    draft = entry_fmt.EntryHeader(
        None if hidden else kind, vault_id, file_id, epoch, payload_len, wrapped, nonce,
        b"\0" * (len(plain) + 16), suite,
    )  # fmt: skip
    meta_ct = gcm_seal(meta_key, nonce, plain, draft.fixed_fields())
    header = entry_fmt.EntryHeader(
        draft.kind, vault_id, file_id, epoch, payload_len, wrapped, nonce, meta_ct, suite
    )
    mac = b"" if mac_key is None else hmac_sha256(mac_key, header.mac_input())
    cipher = EntryCipherKeys(payload_key, payload_context(vault_id, file_id, suite), suite)
    return SealedHeader(entry_fmt.encode(header, mac), cipher, payload_len, content_length)


@dataclass
class OpenedHeader:
    header: entry_fmt.EntryHeader
    kind: entry_fmt.Kind
    meta: bytes  # the metadata JSON (format 1.1 padding removed)
    keys: EntryCipherKeys

    def payload_length_for(self, size: int) -> int:
        """The payload length this entry must have if it holds SIZE content bytes."""
        return payload_length(self.header.suite, size)

    def decryptor(self, content: int | None = None) -> PayloadDecryptor:
        """Decrypts the payload, releasing at most CONTENT bytes (the rest is padding)."""
        return PayloadDecryptor(self.keys.payload, self.keys.context, content)

    def chunk_layout(self, size: int) -> ChunkLayout:
        """Where the chunks of this entry's payload are if it holds SIZE content bytes (in
        format 1.1 the payload is the content and its padding)."""
        suite = self.header.suite
        return ChunkLayout(padded_length(size) if suite == entry_fmt.SUITE_PADDED else size)

    def chunk_opener(self, size: int, prefix: bytes) -> ChunkOpener:
        """Opens the payload's chunks one at a time (random access), PREFIX its first 56
        bytes; AuthenticationFailed at once if its commitment does not match."""
        return ChunkOpener(self.keys.payload, self.keys.context, prefix, self.chunk_layout(size))


def open_header(vault: VaultKeys, data: bytes) -> OpenedHeader:
    """Parse, unwrap FK, authenticate the header (format 1.0: its MAC, then the metadata;
    format 1.1: the metadata AEAD, whose associated data is the header), in that order."""
    parsed = entry_fmt.decode(data)
    h = parsed.header
    if h.vault_id != vault.vault_id:
        raise IntegrityError("object belongs to another vault")
    if h.suite == entry_fmt.SUITE_PADDED:
        return _open_padded(vault, h)
    fk = _unwrap(vault.file_wrap(h.file_id, h.key_epoch), h.wrapped_fk)
    keys = file_keys(fk, vault.vault_id, h.file_id)
    if not mac_matches(keys.mac, parsed.mac_input, parsed.mac):
        raise IntegrityError("object header MAC mismatch")
    meta = _open_meta(keys.meta, h)
    assert h.kind is not None  # a suite 1 header shows its kind (entry_fmt.decode)
    context = payload_context(vault.vault_id, h.file_id)
    return OpenedHeader(h, h.kind, meta, EntryCipherKeys(keys.payload, context, h.suite))


def _open_padded(vault: VaultKeys, h: entry_fmt.EntryHeader) -> OpenedHeader:
    fk = _unwrap(vault.entry_wrap(h.key_epoch), h.wrapped_fk)
    keys = entry_keys(fk, vault.vault_id, h.file_id)
    kind_raw, meta = unpad_meta(_open_meta(keys.meta, h))
    if kind_raw not in (entry_fmt.Kind.FILE, entry_fmt.Kind.TOMBSTONE):
        raise FormatError("object metadata: unknown kind")
    context = payload_context(vault.vault_id, h.file_id, h.suite)
    cipher = EntryCipherKeys(keys.payload, context, h.suite)
    return OpenedHeader(h, entry_fmt.Kind(kind_raw), meta, cipher)


def _unwrap(wrap: Secret, wrapped: bytes) -> Secret:
    try:
        return unwrap_key(wrap, wrapped)
    except AuthenticationFailed:
        raise IntegrityError("object key does not unwrap with this vault's key") from None


def _open_meta(key: Secret, h: entry_fmt.EntryHeader) -> bytes:
    try:
        return gcm_open(key, h.meta_nonce, h.meta_ct, h.fixed_fields())
    except AuthenticationFailed:
        raise IntegrityError("object metadata failed authentication") from None


def rewrap_header(vault: VaultKeys, data: bytes) -> bytes:
    """The same entry header with its file key wrapped under the current epoch's key: a new
    wrapped FK, key epoch, metadata nonce (and format 1.0 MAC), the same length, suite and
    FK (so the payload is untouched). Opens DATA first, so only an authentic header is
    rewritten."""
    opened = open_header(vault, data)
    h = opened.header
    if h.suite == entry_fmt.SUITE_PADDED:
        fk = _unwrap(vault.entry_wrap(h.key_epoch), h.wrapped_fk)
    else:
        fk = _unwrap(vault.file_wrap(h.file_id, h.key_epoch), h.wrapped_fk)
    sealed = seal_header(
        vault, h.file_id, opened.kind, opened.meta, h.payload_len, fk=fk, suite=h.suite
    )
    if len(sealed.header) != len(data):
        raise IntegrityError("object header changed length when re-wrapped")
    return sealed.header
