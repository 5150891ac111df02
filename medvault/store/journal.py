"""Reading and appending the encrypted index journal (format in format/index_journal.py).

The journal is a base file, index/journal.mvi, followed by segment files, one per commit,
index/journal.NNNNNNNNNN.mvj (NNNNNNNNNN: the number of its first record). Every file is
written once, front to back, and renamed into place: fusefat refuses or silently cuts an
append to an existing file (docs/RELIABILITY.md). Readers see one logical journal, the
base's bytes then each segment's in record order, so record offsets and numbers are those
of a single file (the path index names them). When segments pile up they are folded into
a new base; a crash before the folded segments are deleted leaves segments the base
already holds, which readers skip. Vault header version 3 marks a vault that may have
segments: an older medvault refuses it instead of appending to the base alone.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from medvault.crypto.key_schedule import VaultKeys
from medvault.crypto.symmetric import (
    GCM_TAG_LEN,
    AuthenticationFailed,
    gcm_open,
    gcm_seal_into,
    random_bytes,
)
from medvault.errors import FormatError, IntegrityError, MedvaultError
from medvault.format import canonical_json as cj
from medvault.format import index_journal as journal_fmt
from medvault.secret import Secret
from medvault.store import fsio, io_points, readback
from medvault.store.fsio import fsync_dir, media_errors, write_durable, write_durable_pieces
from medvault.store.layout import VaultPaths
from medvault.store.redo import Patch

SEGMENT = re.compile(r"journal\.(\d{10})\.mvj")
MAX_SEGMENTS = 64  # then they are folded into the base ...
FOLD_MIN_BYTES = 1024 * 1024  # ... or when they hold this much and a quarter of the base


def segment_name(first_record: int) -> str:
    return f"journal.{first_record:010d}.mvj"


def segments(paths: VaultPaths) -> list[tuple[int, Path]]:
    """The segment files, by first record number."""
    try:
        names = os.listdir(paths.index_dir)
    except FileNotFoundError:
        return []
    found = [(int(m.group(1)), paths.index_dir / n) for n in names if (m := SEGMENT.fullmatch(n))]
    return sorted(found)


@dataclass
class Logical:
    """The journal as one byte string: the base, then the segments that follow it."""

    data: bytes
    segments: list[Path]  # those read (in order), not those the base already holds
    covered: list[Path]  # left by a fold that stopped before deleting them
    base_length: int
    damage: str | None = None


@dataclass
class Following:
    """The segments that follow a base: those read, in order, with their lengths; those
    the base already holds; and why the journal ends early, if it does. Segment bytes are
    checked and let go, not kept: up to a quarter of the base can be in segments (tens of
    MiB on a vault of a million files), and a reader of the path index needs none of it
    but the records after the index (read_segment reads one again when needed)."""

    used: list[tuple[Path, int]] = field(default_factory=list)
    covered: list[Path] = field(default_factory=list)
    damage: str | None = None


def following_segments(paths: VaultPaths, count: int, end: int, torn: bool) -> Following:
    """The segments after a base of COUNT whole records and END bytes (TORN: it ends in a
    record cut short). A segment that does not start at the next record number ends the
    journal there (damage: records are missing)."""
    found = segments(paths)
    walk = Following()
    if found and torn:
        walk.damage = "index: a torn record before its segments"
        return walk
    for first, path in found:
        if first < count:
            walk.covered.append(path)  # left by a fold: the base holds it
            continue
        if first > count:
            walk.damage = f"index records {count} to {first - 1} are missing"
            break
        data = path.read_bytes()
        try:
            piece = journal_fmt.split_from(data, end, end, count)
        except FormatError as exc:
            walk.damage = exc.message
            break
        if piece.torn_tail or not piece.records:
            walk.damage = f"index: segment {path.name} is not whole"
            break
        walk.used.append((path, len(data)))
        count += len(piece.records)
        end += len(data)
    return walk


def read_segment(path: Path, length: int) -> bytes:
    """A segment following_segments accepted, read again: IntegrityError if it is no
    longer what it was (segments are written once; only a fold by another writer, which
    put its records into a new base, deletes one meanwhile)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise JournalMoved(f"index: segment {path.name} was folded away meanwhile") from None
    if len(data) != length:
        raise JournalMoved(f"index: segment {path.name} changed meanwhile")
    return data


def logical_journal(paths: VaultPaths) -> Logical:
    """FileNotFoundError when there is no base; see following_segments."""
    base = paths.journal.read_bytes()
    try:
        split = journal_fmt.split(base)
    except FormatError:
        return Logical(base, [], [], len(base))  # read_journal reports it
    walk = following_segments(paths, len(split.records), len(base), split.torn_tail)
    data = b"".join([base, *(read_segment(path, length) for path, length in walk.used)])
    used = [path for path, _length in walk.used]
    return Logical(data, used, walk.covered, len(base), walk.damage)


def count_base(base: BinaryIO) -> tuple[int, int, bool]:
    """(size, whole records, torn tail) of the open base file, by its records' length
    fields alone (journal_fmt.count_records; FormatError as it)."""
    size = os.fstat(base.fileno()).st_size

    def read_at(offset: int, length: int) -> bytes:
        base.seek(offset)
        return base.read(length)

    return (size, *journal_fmt.count_records(read_at, size))


def logical_from(paths: VaultPaths, start: int) -> tuple[bytes, bytes]:
    """The base's prelude and logical_journal(PATHS).data[START:], reading nothing before
    START but the length fields of the base's records (to count them, which tells a
    segment the base already holds from one that follows it). A reader of the path index
    needs only the records after the one it was made from: reading the whole journal cost
    ~850 MiB for a vault of 1,000,000 files (issue 23)."""
    with open(paths.journal, "rb") as base:
        size = os.fstat(base.fileno()).st_size
        prelude = base.read(journal_fmt.PRELUDE_LEN)
        base.seek(start)
        pieces = [base.read()] if start < size else []
        try:
            size, count, torn = count_base(base)
        except FormatError:
            return prelude, b"".join(pieces)  # as logical_journal: the base alone
    end = size
    for path, length in following_segments(paths, count, size, torn).used:
        if end + length > start:
            pieces.append(read_segment(path, length)[max(0, start - end) :])
        end += length
    return prelude, b"".join(pieces)


@dataclass
class JournalRead:
    records: list[dict[str, Any]] = field(default_factory=list)
    damage: str | None = None  # first problem found; records after it are not trusted
    torn_tail: bool = False
    valid_length: int = journal_fmt.PRELUDE_LEN
    last: journal_fmt.RawRecord | None = None  # the last authentic record (the path index names it)
    segments: list[Path] = field(default_factory=list)  # read after the base, in order
    covered: list[Path] = field(default_factory=list)  # left by a fold: the base holds them
    base_length: int = 0


@dataclass(frozen=True)
class Appended:
    """Where an appended record is, to read it back without reading the journal."""

    record_no: int
    offset: int
    length: int


def open_record_under(
    keys: list[Secret], vault_id: bytes, raw: journal_fmt.RawRecord
) -> tuple[int, bytes]:
    """(which of KEYS opened RAW at its place in the journal, the plaintext)."""
    aad = journal_fmt.aad(vault_id, raw.record_no)
    for number, key in enumerate(keys):
        try:
            return number, gcm_open(key, raw.nonce, raw.ciphertext, aad)
        except AuthenticationFailed:
            continue
    raise AuthenticationFailed("index record failed authentication")


def read_journal(
    paths: VaultPaths, vault_keys: VaultKeys, keep_records: bool = True
) -> JournalRead:
    """_read_journal_once, again if a writer's fold replaced the journal while it was read
    (readers take no lock; a fold keeps every record, so the next read sees them all)."""
    for _attempt in range(FOLD_RACE_TRIES - 1):
        with contextlib.suppress(JournalMoved):
            return _read_journal_once(paths, vault_keys, keep_records)
    return _read_journal_once(paths, vault_keys, keep_records)


FOLD_RACE_TRIES = 3


def _read_journal_once(paths: VaultPaths, vault_keys: VaultKeys, keep_records: bool) -> JournalRead:
    """The journal's records, authenticated under the index key of the current key epoch
    or of an earlier one whose records an unfinished re-key has not re-encrypted yet.

    Read one record at a time: the base's framing is checked first (by its length fields
    alone), then each record is read, authenticated and decoded in turn. Without
    KEEP_RECORDS (a writer only needs to know the journal is sound, and where it ends)
    records are authenticated, not decoded (only a holder of the index key writes one),
    and nothing is kept, so memory does not grow with the vault's history: holding the
    whole journal cost a writer hundreds of MiB on a vault of a million files (issue 23)."""
    vault_id = vault_keys.vault_id
    try:
        base = open(paths.journal, "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        return JournalRead(damage="index is missing")
    with base:
        size = os.fstat(base.fileno()).st_size
        out = JournalRead(base_length=size)
        try:
            journal_fmt.check_prelude(base.read(journal_fmt.PRELUDE_LEN), vault_id)
            size, count, torn = count_base(base)
        except FormatError as exc:
            out.damage = f"index: {exc.message}"
            return out
        walk = following_segments(paths, count, size, torn)
        out.segments = [path for path, _length in walk.used]
        out.covered, out.torn_tail = walk.covered, torn
        base.seek(journal_fmt.PRELUDE_LEN)
        records = itertools.chain(
            journal_fmt.read_records(base.read, journal_fmt.PRELUDE_LEN, count),
            _segments_records(walk.used, count, size),
        )
        if not _open_in_order(records, vault_keys, keep_records, out):
            return out
    out.damage = walk.damage
    return out


def _open_in_order(
    records: Iterator[journal_fmt.RawRecord],
    vault_keys: VaultKeys,
    keep_records: bool,
    out: JournalRead,
) -> bool:
    """Authenticate RECORDS in order into OUT (where the last ends; their plaintexts too
    with KEEP_RECORDS). False, with OUT.damage saying why, at one that fails or when the
    base changed while it was read."""
    keys, vault_id = vault_keys.index_newest_first(), vault_keys.vault_id
    out.valid_length = journal_fmt.PRELUDE_LEN
    try:
        for raw in records:
            try:
                if keep_records:
                    out.records.append(_open_record(keys, vault_id, raw))
                else:
                    open_record_under(keys, vault_id, raw)
            except (AuthenticationFailed, FormatError):
                out.damage = f"index record {raw.record_no} failed authentication"
                out.valid_length = raw.offset
                return False
            out.last = raw
            out.valid_length = raw.offset + 4 + journal_fmt.NONCE_LEN + len(raw.ciphertext)
    except FormatError as exc:  # the base changed while it was read
        out.damage = exc.message
        return False
    return True


def _segments_records(
    used: list[tuple[Path, int]], count: int, end: int
) -> Iterator[journal_fmt.RawRecord]:
    """The records of the segments following_segments accepted, after a base of COUNT
    records and END bytes, one segment read at a time."""
    for path, length in used:
        data = read_segment(path, length)
        piece = journal_fmt.split_from(data, end, end, count)
        yield from piece.records
        count += len(piece.records)
        end += len(data)


def _open_record(keys: list[Secret], vault_id: bytes, raw: journal_fmt.RawRecord) -> dict[str, Any]:
    """RAW's record, authenticated under one of KEYS at its place (record number) in the
    journal."""
    return cj.loads_object(open_record_under(keys, vault_id, raw)[1], "index record")


def sealed_record(
    key: Secret, vault_id: bytes, record_no: int, plain: bytes | bytearray
) -> tuple[bytes, bytearray]:
    """Record RECORD_NO's JSON, PLAIN, sealed under KEY at its place in the journal, straight
    into its frame (no copy of a large record is made to frame it): (its nonce, the frame)."""
    nonce = random_bytes(journal_fmt.NONCE_LEN)
    framed = journal_fmt.frame_room(nonce, len(plain) + GCM_TAG_LEN)
    aad = journal_fmt.aad(vault_id, record_no)
    gcm_seal_into(key, nonce, plain, aad, memoryview(framed)[journal_fmt.FRAME_HEAD :])
    return nonce, framed


class JournalMoved(IntegrityError):
    """The journal no longer holds the record a reader remembered, where it remembered it."""


def records_after(
    paths: VaultPaths,
    vault_keys: VaultKeys,
    records: int,
    last_offset: int,
    last_nonce: str,
    end: int,
) -> Iterator[dict[str, Any]]:
    """The records after the first RECORDS, each authenticated. A reader remembered record
    RECORDS - 1 at LAST_OFFSET with nonce LAST_NONCE, ending at END (no records: END is the
    prelude's end); JournalMoved if the journal holds something else there, IntegrityError
    for a later record that fails authentication."""
    vault_id = vault_keys.vault_id
    key = vault_keys.index()
    start = last_offset if records else journal_fmt.PRELUDE_LEN
    prelude, rest = logical_from(paths, start)
    journal_fmt.check_prelude(prelude, vault_id)
    split = journal_fmt.split_from(rest, start, start, records - 1 if records else 0)
    after = split.records
    if records:
        if not after or after[0].nonce.hex() != last_nonce:
            raise JournalMoved("path index: made from another journal")
        last = after[0]
        if last.offset + 4 + journal_fmt.NONCE_LEN + len(last.ciphertext) != end:
            raise JournalMoved("path index: made from another journal")
        gcm_open(key, last.nonce, last.ciphertext, journal_fmt.aad(vault_id, last.record_no))
        after = after[1:]
    elif end != journal_fmt.PRELUDE_LEN:
        raise JournalMoved("path index: made from another journal")
    for raw in after:
        try:
            plain = gcm_open(
                key, raw.nonce, raw.ciphertext, journal_fmt.aad(vault_id, raw.record_no)
            )
        except AuthenticationFailed:
            raise IntegrityError("index: a record after the path index is damaged") from None
        yield cj.loads_object(plain, "index record")


class JournalAppender:
    """Appends records; each append is fsynced before it returns (the commit point)."""

    def __init__(self, paths: VaultPaths, vault_keys: VaultKeys) -> None:
        self.paths = paths
        self.vault_id = vault_keys.vault_id
        self._key = vault_keys.index()
        current = read_journal(paths, vault_keys, keep_records=False)
        if current.damage is not None and current.damage != "index is missing":
            raise FormatError(f"{current.damage}; run `medvault repair` first")
        self.last_offset, self.last_nonce = journal_fmt.PRELUDE_LEN, b""
        if current.damage == "index is missing":
            self.rewrite([])
            return
        self._segments, self._grown, self._base = self._pending(current)
        if current.torn_tail:
            # An append of an older medvault was cut short: write the base again without
            # it (never truncate: fusefat refuses to shorten a file in place).
            kept = fsio.read_pieces(paths.journal, current.valid_length)
            with media_errors("the index"):
                write_durable_pieces(paths.journal, kept, paths.tmp, "journal.tmp")
        self.next_record = 0 if current.last is None else current.last.record_no + 1
        self.end = current.valid_length
        if current.last is not None:
            self.last_offset, self.last_nonce = current.last.offset, current.last.nonce

    def append(self, record: dict[str, Any]) -> Appended:
        """Write the record as a new segment file, durably (the commit point)."""
        return self.append_json(cj.dumps(record))

    def append_json(self, plain: bytes | bytearray) -> Appended:
        """`append` of a record already in canonical JSON (PLAIN): sealed straight into its
        frame, so a large record is held twice (JSON and frame), not four times."""
        nonce, framed = sealed_record(self._key, self.vault_id, self.next_record, plain)
        segment = self.paths.index_dir / segment_name(self.next_record)
        io_points.reached(io_points.INDEX_APPEND, segment)
        with media_errors("the index"):
            write_durable(segment, framed, self.paths.tmp, "journal-segment.tmp")
        appended = Appended(self.next_record, self.end, len(framed))
        self.next_record += 1
        self.last_offset, self.last_nonce = self.end, nonce
        self.end += len(framed)
        self._segments += 1
        self._grown += len(framed)
        if self._segments >= MAX_SEGMENTS or self._grown >= max(FOLD_MIN_BYTES, self._base // 4):
            # The record is durable already: a fold that fails (drive full) leaves a
            # consistent journal (segments stay, or are left covered) and is tried again.
            with contextlib.suppress(MedvaultError):
                self.fold(force=True)
        return appended

    def _pending(self, current: JournalRead) -> tuple[int, int, int]:
        """(segments, their bytes, the base's length): when to fold next. Segments a fold
        left behind (the base holds their records) are deleted."""
        if current.covered:
            with media_errors("the index"):
                for path in current.covered:
                    fsio.unlink(path, missing_ok=True)
                fsync_dir(self.paths.index_dir)
        grown = sum(path.stat().st_size for path in current.segments)
        return len(current.segments), grown, current.base_length

    def fold(self, force: bool = False) -> None:
        """Fold the segments into a new base when they pile up (or FORCE): the same
        logical bytes, so no record moves; then delete them. The base is copied a block
        at a time, not held whole."""
        found = segments(self.paths)
        if not found:
            return
        try:
            with open(self.paths.journal, "rb") as base:
                size, count, torn = count_base(base)
        except (OSError, FormatError):
            return  # a base that cannot be read or framed is repair's, not a fold's
        walk = following_segments(self.paths, count, size, torn)
        grown = sum(length for _path, length in walk.used)
        big = grown >= max(FOLD_MIN_BYTES, size // 4)
        if not (force or len(found) >= MAX_SEGMENTS or big) or walk.damage is not None:
            return
        pieces = itertools.chain(
            fsio.read_pieces(self.paths.journal, size),
            (read_segment(path, length) for path, length in walk.used),
        )
        with media_errors("the index"):
            write_durable_pieces(self.paths.journal, pieces, self.paths.tmp, "journal.tmp")
            for _first, path in found:
                fsio.unlink(path)
            fsync_dir(self.paths.index_dir)
        self._segments, self._grown, self._base = 0, 0, size + grown

    def read_back(self, appended: Appended, from_medium: bool = True) -> bytes:
        """The JSON of a record this appender wrote, read and authenticated again from the
        drive (a new descriptor, its page cache dropped: store/readback.py; not dropped
        unless FROM_MEDIUM, for a reader that only wants the record again). Not parsed: the
        caller decodes it if it needs it (format/index_records.loads)."""
        raw = self._read_raw(appended, from_medium)
        try:
            return open_record_under([self._key], self.vault_id, raw)[1]
        except AuthenticationFailed:
            raise FormatError(f"index record {raw.record_no} failed authentication") from None

    def _read_raw(self, appended: Appended, from_medium: bool) -> journal_fmt.RawRecord:
        segment = self.paths.index_dir / segment_name(appended.record_no)
        path, at = (segment, 0) if segment.exists() else (self.paths.journal, appended.offset)
        with open(path, "rb") as handle:
            if from_medium:
                readback.from_medium(handle.fileno())
            handle.seek(at)
            framed = handle.read(appended.length)
        split = journal_fmt.split_from(framed, appended.offset, appended.offset, appended.record_no)
        if len(split.records) != 1 or split.torn_tail:
            raise FormatError(f"index record {appended.record_no} is not where it was written")
        return split.records[0]

    def rewrite(self, records: list[dict[str, Any]]) -> None:
        self.end = rewrite_journal(self.paths, self._key, self.vault_id, records)
        self.next_record = len(records)
        self._segments, self._grown, self._base = 0, 0, self.end
        # Not known without reading it back: a path index made now would not match, so
        # none is made until the next append (the index is rebuilt by the next writer).
        self.last_offset, self.last_nonce = (journal_fmt.PRELUDE_LEN if not records else -1), b""


def rekey_patches(paths: VaultPaths, vault_keys: VaultKeys) -> list[list[Patch]]:
    """In-place rewrites, in batches for redo records of at most about 16 MiB, that put
    every record still under an earlier epoch's index key under the current one (the same
    plaintext, a new nonce: the same length). Records that open under no key are left
    for verify and repair to report."""
    vault_id = vault_keys.vault_id
    try:
        data = paths.journal.read_bytes()
        journal_fmt.check_prelude(data, vault_id)
    except (FileNotFoundError, FormatError):
        return []
    if segments(paths):  # patches go to the base only: fold the segments into it first
        JournalAppender(paths, vault_keys).fold(force=True)
        data = paths.journal.read_bytes()
    keys = vault_keys.index_newest_first()
    batches: list[list[Patch]] = [[]]
    size = 0
    for raw in journal_fmt.split(data).records:
        try:
            which, plain = open_record_under(keys, vault_id, raw)
        except AuthenticationFailed:
            continue
        if which == 0:
            continue
        framed = bytes(sealed_record(keys[0], vault_id, raw.record_no, plain)[1])
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
    body = bytearray(journal_fmt.prelude(vault_id))
    for number, record in enumerate(records):
        body += sealed_record(key, vault_id, number, cj.dumps(record))[1]
    paths.index_dir.mkdir(exist_ok=True)
    with media_errors("the index"):
        # The segments go first: one left behind would be read after the new base.
        for _first, path in segments(paths):
            with contextlib.suppress(FileNotFoundError):
                fsio.unlink(path)
        fsync_dir(paths.index_dir)
        write_durable(paths.journal, bytes(body), paths.tmp, "journal.tmp")
    fsync_dir(paths.index_dir)
    return len(body)
