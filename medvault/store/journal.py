"""Reading and appending the encrypted index journal (format in format/index_journal.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medvault.crypto import labels
from medvault.crypto.kdf import hkdf_expand
from medvault.crypto.symmetric import AuthenticationFailed, gcm_open, gcm_seal, random_bytes
from medvault.errors import FormatError
from medvault.format import canonical_json as cj
from medvault.format import index_journal as fmt
from medvault.secret import Secret, newest_first
from medvault.store import fsio, io_points
from medvault.store.fsio import fsync_dir, media_errors, write_durable
from medvault.store.layout import VaultPaths
from medvault.store.redo import Patch


@dataclass
class JournalRead:
    records: list[dict[str, Any]] = field(default_factory=list)
    damage: str | None = None  # first problem found; records after it are not trusted
    torn_tail: bool = False
    valid_length: int = fmt.PRELUDE_LEN
    last: fmt.RawRecord | None = None  # the last authentic record (the path index names it)


@dataclass(frozen=True)
class Appended:
    """Where an appended record is, to read it back without reading the journal."""

    record_no: int
    offset: int
    length: int


def index_key(vmk: Secret, vault_id: bytes) -> Secret:
    return hkdf_expand(vmk, labels.INDEX, vault_id)


def index_keys(vmk: Secret, vault_id: bytes) -> list[Secret]:
    """The index key of the current key epoch, then those of earlier epochs whose records
    an unfinished re-key has not re-encrypted yet (vault/rekey.py)."""
    return [index_key(key, vault_id) for key in newest_first(vmk)]


def open_record_under(keys: list[Secret], vault_id: bytes, raw: fmt.RawRecord) -> tuple[int, bytes]:
    """(which of KEYS opened RAW at its place in the journal, the plaintext)."""
    aad = fmt.aad(vault_id, raw.record_no)
    for number, key in enumerate(keys):
        try:
            return number, gcm_open(key, raw.nonce, raw.ciphertext, aad)
        except AuthenticationFailed:
            continue
    raise AuthenticationFailed("index record failed authentication")


def read_journal(paths: VaultPaths, vmk: Secret, vault_id: bytes) -> JournalRead:
    try:
        data = paths.journal.read_bytes()
    except FileNotFoundError:
        return JournalRead(damage="index is missing")
    out = JournalRead()
    try:
        fmt.check_prelude(data, vault_id)
        split = fmt.split(data)
    except FormatError as exc:
        out.damage = f"index: {exc.message}"
        return out
    out.torn_tail = split.torn_tail
    out.valid_length = split.valid_length
    keys = index_keys(vmk, vault_id)
    for raw in split.records:
        try:
            out.records.append(_open_record(keys, vault_id, raw))
        except (AuthenticationFailed, FormatError):
            out.damage = f"index record {raw.record_no} failed authentication"
            out.valid_length = raw.offset
            return out
        out.last = raw
    return out


def _open_record(keys: list[Secret], vault_id: bytes, raw: fmt.RawRecord) -> dict[str, Any]:
    """RAW's record, authenticated under one of KEYS at its place (record number) in the
    journal."""
    return cj.loads_object(open_record_under(keys, vault_id, raw)[1], "index record")


class JournalAppender:
    """Appends records; each append is fsynced before it returns (the commit point)."""

    def __init__(self, paths: VaultPaths, vmk: Secret, vault_id: bytes) -> None:
        self.paths = paths
        self.vault_id = vault_id
        self._key = index_key(vmk, vault_id)
        current = read_journal(paths, vmk, vault_id)
        if current.damage is not None and current.damage != "index is missing":
            raise FormatError(f"{current.damage}; run `medvault repair` first")
        self.last_offset, self.last_nonce = fmt.PRELUDE_LEN, b""
        if current.damage == "index is missing":
            self.rewrite([])
            return
        if current.torn_tail:
            with media_errors("the index"), open(paths.journal, "r+b") as handle:
                io_points.reached(io_points.TRUNCATE, paths.journal)
                handle.truncate(current.valid_length)
                fsio.fsync(handle, paths.journal)
        self.next_record = len(current.records)
        self.end = current.valid_length
        if current.last is not None:
            self.last_offset, self.last_nonce = current.last.offset, current.last.nonce

    def append(self, record: dict[str, Any]) -> Appended:
        """Write at the known end (not O_APPEND: fusefat refuses appends with EPERM)."""
        nonce = random_bytes(fmt.NONCE_LEN)
        aad = fmt.aad(self.vault_id, self.next_record)
        framed = fmt.frame(nonce, gcm_seal(self._key, nonce, cj.dumps(record), aad))
        with media_errors("the index"), open(self.paths.journal, "r+b") as handle:
            handle.seek(self.end)
            io_points.reached(io_points.INDEX_APPEND, self.paths.journal)
            handle.write(framed)
            fsio.fsync(handle, self.paths.journal)
        appended = Appended(self.next_record, self.end, len(framed))
        self.next_record += 1
        self.last_offset, self.last_nonce = self.end, nonce
        self.end += len(framed)
        return appended

    def read_back(self, appended: Appended) -> dict[str, Any]:
        """A record this appender wrote, read and authenticated again from the drive."""
        with open(self.paths.journal, "rb") as handle:
            handle.seek(appended.offset)
            framed = handle.read(appended.length)
        split = fmt.split_from(framed, appended.offset, appended.offset, appended.record_no)
        if len(split.records) != 1 or split.torn_tail:
            raise FormatError(f"index record {appended.record_no} is not where it was written")
        raw = split.records[0]
        try:
            return _open_record([self._key], self.vault_id, raw)
        except AuthenticationFailed:
            raise FormatError(f"index record {raw.record_no} failed authentication") from None

    def rewrite(self, records: list[dict[str, Any]]) -> None:
        self.end = rewrite_journal(self.paths, self._key, self.vault_id, records)
        self.next_record = len(records)
        # Not known without reading it back: a path index made now would not match, so
        # none is made until the next append (the index is rebuilt by the next writer).
        self.last_offset, self.last_nonce = (fmt.PRELUDE_LEN if not records else -1), b""


def rekey_patches(paths: VaultPaths, vmk: Secret, vault_id: bytes) -> list[list[Patch]]:
    """In-place rewrites, in batches for redo records of at most about 16 MiB, that put
    every record still under an earlier epoch's index key under the current one (the same
    plaintext, a new nonce: the same length). Records that open under no key are left
    for verify and repair to report."""
    try:
        data = paths.journal.read_bytes()
        fmt.check_prelude(data, vault_id)
    except (FileNotFoundError, FormatError):
        return []
    keys = index_keys(vmk, vault_id)
    batches: list[list[Patch]] = [[]]
    size = 0
    for raw in fmt.split(data).records:
        try:
            which, plain = open_record_under(keys, vault_id, raw)
        except AuthenticationFailed:
            continue
        if which == 0:
            continue
        nonce = random_bytes(fmt.NONCE_LEN)
        framed = fmt.frame(nonce, gcm_seal(keys[0], nonce, plain, fmt.aad(vault_id, raw.record_no)))
        if size and size + len(framed) > REKEY_BATCH:
            batches.append([])
            size = 0
        batches[-1].append(Patch("index/journal.mvi", raw.offset, framed))
        size += len(framed)
    return [batch for batch in batches if batch]


REKEY_BATCH = 16 * 1024 * 1024


def rewrite_journal(
    paths: VaultPaths, key: Secret, vault_id: bytes, records: list[dict[str, Any]]
) -> int:
    """Replace the whole journal atomically (create, repair); returns its length."""
    body = bytearray(fmt.prelude(vault_id))
    for number, record in enumerate(records):
        nonce = random_bytes(fmt.NONCE_LEN)
        body += fmt.frame(nonce, gcm_seal(key, nonce, cj.dumps(record), fmt.aad(vault_id, number)))
    paths.index_dir.mkdir(exist_ok=True)
    with media_errors("the index"):
        write_durable(paths.journal, bytes(body), paths.tmp, "journal.tmp")
    fsync_dir(paths.index_dir)
    return len(body)
