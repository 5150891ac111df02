"""vault.mvh / vault.mvh.bak: the vault header (docs/FORMAT.md, "Vault header").

    magic "MEDVAULT" | version u16 | flags u16 | vault_id 16 | seq u64 | body_len u32
    | body (canonical JSON) | checksum 32 (SHA-256 of all before) | mac 32 (HMAC, VMK-derived)
    | zero padding (version 2 on)

The checksum catches random damage without any key; the MAC (checked after unlock)
catches deliberate edits. Either copy alone opens the vault; the higher valid seq wins.

Version 2 (written since medvault 0.2) is rewritten in place, never renamed over, so no
superseded header version is left in the drive's free space: its file is padded with zeros
to whole 4 KiB blocks and never shrinks, and its body names the vault key's epoch and,
while a re-key is unfinished, the earlier epochs' keys wrapped under the current one.
Version 3 adds `removals`: how many tombstones the vault has and a sum over their ids, so
a tombstone pack deleted together with the index is noticed (docs/FORMAT.md section 3.3).
Version 1 headers (no padding, no epochs) and version 2 headers (no removal record) are
still read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from medvault.errors import FormatError, UnsupportedVersion
from medvault.format import canonical_json as cj
from medvault.format.binary import Reader, u16, u32, u64

MAGIC = b"MEDVAULT"
VERSION_1 = 1  # read only
VERSION_2 = 2  # read only: no removal record
FORMAT_VERSION = 3  # what this medvault writes
MAX_BODY = 256 * 1024
# A version 2 header file is padded with zeros to whole blocks of this size.
PAD_BLOCK = 4096
MAX_HEADER_FILE = -(-(40 + MAX_BODY + 64) // PAD_BLOCK) * PAD_BLOCK
MAX_EPOCH = 0xFFFF_FFFF  # key epochs are u32 in entry headers
MAX_PREVIOUS = 4  # earlier epochs' keys an unfinished re-key may still need
MAX_SLOTS = 16
MAX_ESCROW = 8
MAC_LEN = 32
CHECKSUM_LEN = 32
ID_LEN = 16
# Parts: at most 1 GiB of data per file so FAT32 (4 GiB - 1 per file) never matters.
MAX_PART_SIZE = 1 << 30
MIN_PART_SIZE = 64 * 1024
MAX_SLOT_ID = 0xFFFF_FFFF  # slot ids are bound into key derivations as u32
# Argon2id caps, the same as medvault.crypto.kdf's (format may not import crypto; a test
# pins them equal). Checked at parse time, so a tampered header is refused before any work.
MAX_TIME_COST = 16
MAX_MEMORY_KIB = 1024 * 1024
MAX_PARALLELISM = 16
MIN_MEMORY_KIB = 8 * 1024
# Removal record (section 3.3): each tombstone id adds SHA-256(tag || id) to a sum mod 2^256.
REMOVAL_TAG = b"medvault/v1/removal\x00"
REMOVAL_MODULUS = 1 << 256
MAX_TOMBSTONES = (1 << 63) - 1


def _slot_id(obj: dict[str, Any], what: str) -> int:
    slot_id: int = cj.field(obj, "id", int, what)
    if not 0 <= slot_id <= MAX_SLOT_ID:
        raise FormatError(f"{what}: slot id out of range")
    return slot_id


def _check_kdf(t: int, m_kib: int, p: int, what: str) -> None:
    if not 1 <= t <= MAX_TIME_COST:
        raise FormatError(f"{what}: Argon2id time cost {t} outside 1..{MAX_TIME_COST}")
    if not 1 <= p <= MAX_PARALLELISM:
        raise FormatError(f"{what}: Argon2id parallelism {p} outside 1..{MAX_PARALLELISM}")
    if not max(MIN_MEMORY_KIB, 8 * p) <= m_kib <= MAX_MEMORY_KIB:
        raise FormatError(f"{what}: Argon2id memory {m_kib} KiB outside the allowed range")


@dataclass(frozen=True)
class PassphraseSlot:
    slot_id: int
    time_cost: int
    memory_kib: int
    parallelism: int
    salt: bytes
    wrapped: bytes
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.slot_id,
            "type": "passphrase",
            "kdf": "argon2id",
            "t": self.time_cost,
            "m_kib": self.memory_kib,
            "p": self.parallelism,
            "salt": cj.b64(self.salt),
            "wrapped": cj.b64(self.wrapped),
            "created_at": self.created_at,
        }

    @staticmethod
    def from_json(obj: dict[str, Any]) -> PassphraseSlot:
        what = "vault header slot"
        if cj.field(obj, "type", str, what) != "passphrase":
            raise FormatError(f"{what}: unknown slot type")
        if cj.field(obj, "kdf", str, what) != "argon2id":
            raise FormatError(f"{what}: unknown KDF")
        salt = cj.unb64(cj.field(obj, "salt", str, what), what, 64)
        wrapped = cj.unb64(cj.field(obj, "wrapped", str, what), what, 40)
        if not 16 <= len(salt) <= 64 or len(wrapped) != 40:
            raise FormatError(f"{what}: bad salt or wrapped key length")
        time_cost = cj.field(obj, "t", int, what)
        memory_kib = cj.field(obj, "m_kib", int, what)
        parallelism = cj.field(obj, "p", int, what)
        _check_kdf(time_cost, memory_kib, parallelism, what)
        return PassphraseSlot(
            slot_id=_slot_id(obj, what),
            time_cost=time_cost,
            memory_kib=memory_kib,
            parallelism=parallelism,
            salt=salt,
            wrapped=wrapped,
            created_at=cj.field(obj, "created_at", str, what),
        )


@dataclass(frozen=True)
class RecoveryCodeSlot:
    """The vault key wrapped under a printed 48-digit recovery code (128 random bits, so a
    cheap KDF suffices: HKDF with a per-slot salt)."""

    slot_id: int
    salt: bytes
    wrapped: bytes
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.slot_id,
            "type": "recovery_code",
            "salt": cj.b64(self.salt),
            "wrapped": cj.b64(self.wrapped),
            "created_at": self.created_at,
        }

    @staticmethod
    def from_json(obj: dict[str, Any]) -> RecoveryCodeSlot:
        what = "vault header recovery-code slot"
        salt = cj.unb64(cj.field(obj, "salt", str, what), what, 64)
        wrapped = cj.unb64(cj.field(obj, "wrapped", str, what), what, 40)
        if not 16 <= len(salt) <= 64 or len(wrapped) != 40:
            raise FormatError(f"{what}: bad salt or wrapped key length")
        return RecoveryCodeSlot(
            slot_id=_slot_id(obj, what),
            salt=salt,
            wrapped=wrapped,
            created_at=cj.field(obj, "created_at", str, what),
        )


Slot = PassphraseSlot | RecoveryCodeSlot


def _slot_from_json(obj: dict[str, Any]) -> Slot:
    if obj.get("type") == "recovery_code":
        return RecoveryCodeSlot.from_json(obj)
    return PassphraseSlot.from_json(obj)


@dataclass(frozen=True)
class EscrowSlot:
    key_id: str
    suite: str
    sealed: bytes

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "suite": self.suite, "sealed": cj.b64(self.sealed)}

    @staticmethod
    def from_json(obj: dict[str, Any]) -> EscrowSlot:
        what = "vault header escrow slot"
        key_id = cj.field(obj, "key_id", str, what)
        if len(key_id) != 16 or any(c not in "0123456789abcdef" for c in key_id):
            raise FormatError(f"{what}: bad key id")
        return EscrowSlot(
            key_id=key_id,
            suite=cj.field(obj, "suite", str, what),
            sealed=cj.unb64(cj.field(obj, "sealed", str, what), what, 4096),
        )


@dataclass(frozen=True)
class PreviousKey:
    """An earlier key epoch's vault key, AES-KW-wrapped under a key derived from the current
    vault key (docs/FORMAT.md section 3.1). Present only while a re-key is unfinished."""

    epoch: int
    wrapped: bytes

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "wrapped": cj.b64(self.wrapped)}

    @staticmethod
    def from_json(obj: dict[str, Any]) -> PreviousKey:
        what = "vault header previous key"
        epoch = cj.field(obj, "epoch", int, what)
        wrapped = cj.unb64(cj.field(obj, "wrapped", str, what), what, 40)
        if not 1 <= epoch <= MAX_EPOCH or len(wrapped) != 40:
            raise FormatError(f"{what}: bad epoch or wrapped key length")
        return PreviousKey(epoch, wrapped)


@dataclass(frozen=True)
class Tally:
    """A set of tombstone ids, as its size and the sum (mod 2^256) of SHA-256(REMOVAL_TAG ||
    id) over them: order-free, so a writer adds to it without reading the vault, and a
    subset (a tombstone deleted) or a superset cannot match without a SHA-256 subset-sum
    collision."""

    count: int = 0
    total: int = 0

    @staticmethod
    def of(ids: Iterable[bytes]) -> Tally:
        count, total = 0, 0
        for raw in ids:
            count += 1
            total += int.from_bytes(hashlib.sha256(REMOVAL_TAG + raw).digest(), "big")
        return Tally(count, total % REMOVAL_MODULUS)

    def plus(self, other: Tally) -> Tally:
        return Tally(self.count + other.count, (self.total + other.total) % REMOVAL_MODULUS)

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "sum": self.total.to_bytes(32, "big").hex()}

    @staticmethod
    def from_json(obj: dict[str, Any], what: str) -> Tally:
        if set(obj) != {"count", "sum"}:
            raise FormatError(f"{what}: removal record malformed")
        count = cj.field(obj, "count", int, what)
        text = cj.field(obj, "sum", str, what)
        if not 0 <= count <= MAX_TOMBSTONES:
            raise FormatError(f"{what}: removal count out of range")
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            raise FormatError(f"{what}: removal sum is not 64 lowercase hex digits")
        return Tally(count, int(text, 16))


@dataclass(frozen=True)
class Removals:
    """The vault's tombstones as the header last recorded them, and those of an `rm` that
    may have been interrupted between writing its header and its tombstones (pending)."""

    recorded: Tally = Tally()
    pending: Tally | None = None

    def accepts(self, present: Tally) -> bool:
        """Whether PRESENT (the tombstones the packs hold) is what this record allows: the
        recorded ones, or those plus the pending ones."""
        if present == self.recorded:
            return True
        return self.pending is not None and present == self.recorded.plus(self.pending)

    def to_json(self) -> dict[str, Any]:
        pending = None if self.pending is None else self.pending.to_json()
        return {**self.recorded.to_json(), "pending": pending}

    @staticmethod
    def from_json(obj: object, what: str) -> Removals | None:
        if obj is None:
            return None  # a version 2 header rewritten before any `rm` recorded them
        if not isinstance(obj, dict) or "pending" not in obj:
            raise FormatError(f"{what}: removal record malformed")
        rest = {k: v for k, v in obj.items() if k != "pending"}
        pending = obj["pending"]
        if pending is not None and not isinstance(pending, dict):
            raise FormatError(f"{what}: removal record malformed")
        tally = None if pending is None else Tally.from_json(pending, what)
        if tally is not None and tally.count == 0:
            raise FormatError(f"{what}: a pending removal names no tombstone")
        return Removals(Tally.from_json(rest, what), tally)


@dataclass(frozen=True)
class HeaderBody:
    created_at: str
    label: str
    org_name: str
    org_id: str
    contact: str
    part_size: int
    slots: tuple[Slot, ...]
    escrow: tuple[EscrowSlot, ...]
    key_epoch: int = 1
    previous: tuple[PreviousKey, ...] = ()
    # None: not recorded (a version 1 or 2 header, until the first `rm` records them).
    removals: Removals | None = Removals()
    version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "format": self.version,
            "created_at": self.created_at,
            "label": self.label,
            "org": {"name": self.org_name, "org_id": self.org_id, "contact": self.contact},
            "part_size": self.part_size,
            "slots": [s.to_json() for s in self.slots],
            "escrow": [e.to_json() for e in self.escrow],
        }
        if self.version >= 2:
            obj["key_epoch"] = self.key_epoch
            obj["previous"] = [p.to_json() for p in self.previous]
        if self.version >= 3:
            obj["removals"] = None if self.removals is None else self.removals.to_json()
        return obj

    @staticmethod
    def from_json(obj: dict[str, Any], version: int) -> HeaderBody:
        what = "vault header"
        body_format = cj.field(obj, "format", int, what)
        if body_format != version:
            raise UnsupportedVersion(
                f"vault header version {version} holds a format {body_format} body "
                "(written by a newer medvault, or damaged)"
            )
        org = cj.field(obj, "org", dict, what)
        slots = cj.field(obj, "slots", list, what)
        escrow = cj.field(obj, "escrow", list, what)
        if not 1 <= len(slots) <= MAX_SLOTS or not 1 <= len(escrow) <= MAX_ESCROW:
            raise FormatError(f"{what}: slot counts out of range")
        part_size = cj.field(obj, "part_size", int, what)
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise FormatError(f"{what}: part size out of range")
        for item in (*slots, *escrow):
            if not isinstance(item, dict):
                raise FormatError(f"{what}: slot is not an object")
        ids = [item.get("id") for item in slots]
        if not all(type(i) is int for i in ids):
            raise FormatError(f"{what}: slot id missing or not an integer")
        if len(set(ids)) != len(ids):
            raise FormatError(f"{what}: slot ids repeat")
        key_epoch, previous = _epochs(obj, version, what)
        return HeaderBody(
            created_at=cj.field(obj, "created_at", str, what),
            label=cj.field(obj, "label", str, what),
            org_name=cj.field(org, "name", str, what),
            org_id=cj.field(org, "org_id", str, what),
            contact=cj.field(org, "contact", str, what),
            part_size=part_size,
            slots=tuple(_slot_from_json(s) for s in slots),
            escrow=tuple(EscrowSlot.from_json(e) for e in escrow),
            key_epoch=key_epoch,
            previous=previous,
            removals=_removals(obj, version, what),
            version=version,
        )


def _removals(obj: dict[str, Any], version: int, what: str) -> Removals | None:
    """The removal record: version 3 on; none in older headers."""
    if version < 3:
        return None
    if "removals" not in obj:
        raise FormatError(f"{what}: missing 'removals'")
    return Removals.from_json(obj["removals"], what)


def _epochs(obj: dict[str, Any], version: int, what: str) -> tuple[int, tuple[PreviousKey, ...]]:
    """The key epoch and the unfinished re-key's earlier keys (version 1: epoch 1, none)."""
    if version == VERSION_1:
        return 1, ()
    key_epoch = cj.field(obj, "key_epoch", int, what)
    if not 1 <= key_epoch <= MAX_EPOCH:
        raise FormatError(f"{what}: key epoch out of range")
    items = cj.field(obj, "previous", list, what)
    if len(items) > MAX_PREVIOUS or not all(isinstance(i, dict) for i in items):
        raise FormatError(f"{what}: previous keys malformed")
    previous = tuple(PreviousKey.from_json(i) for i in items)
    epochs = [p.epoch for p in previous]
    if len(set(epochs)) != len(epochs) or any(e >= key_epoch for e in epochs):
        raise FormatError(f"{what}: previous key epochs must be distinct and older")
    return key_epoch, previous


@dataclass(frozen=True)
class VaultHeader:
    vault_id: bytes
    seq: int
    body: HeaderBody

    def signed_bytes(self) -> bytes:
        """Everything the checksum and MAC cover."""
        body = cj.dumps(self.body.to_json())
        return (
            MAGIC
            + u16(self.body.version)
            + u16(0)
            + self.vault_id
            + u64(self.seq)
            + u32(len(body))
            + body
        )


def encode(header: VaultHeader, mac: bytes) -> bytes:
    """The header's bytes; a version 2 header is padded with zeros to whole PAD_BLOCKs."""
    signed = header.signed_bytes()
    data = signed + hashlib.sha256(signed).digest() + mac
    if header.body.version >= 2:
        data += bytes(-len(data) % PAD_BLOCK)
    return data


@dataclass(frozen=True)
class ParsedHeader:
    header: VaultHeader
    signed: bytes
    mac: bytes


def decode(data: bytes) -> ParsedHeader:
    """Parse and checksum a header copy. The MAC is checked later, once the VMK is known."""
    if len(data) > MAX_HEADER_FILE:
        raise FormatError("vault header: too large")
    r = Reader(data, "vault header")
    r.expect(MAGIC, "magic")
    version = r.u16()
    if version not in (VERSION_1, VERSION_2, FORMAT_VERSION):
        raise UnsupportedVersion(f"vault header version {version} is not supported")
    if r.u16() != 0:
        raise FormatError("vault header: unknown flags")
    vault_id = r.take(ID_LEN)
    seq = r.u64()
    body_len = r.u32()
    if body_len > MAX_BODY:
        raise FormatError("vault header: body too large")
    body = r.take(body_len)
    signed_len = r.position
    checksum = r.take(CHECKSUM_LEN)
    mac = r.take(MAC_LEN)
    if version == VERSION_1:
        r.end()
    elif len(data) % PAD_BLOCK:
        raise FormatError("vault header: length is not a whole number of 4 KiB blocks")
    elif any(data[r.position :]):
        raise FormatError("vault header: padding is not zero")
    signed = data[:signed_len]
    if hashlib.sha256(signed).digest() != checksum:
        raise FormatError("vault header: checksum mismatch (damaged copy)")
    parsed_body = HeaderBody.from_json(cj.loads_object(body, "vault header body"), version)
    if cj.dumps(parsed_body.to_json()) != body:
        raise FormatError("vault header: body is not in canonical form")
    return ParsedHeader(VaultHeader(vault_id, seq, parsed_body), signed, mac)
