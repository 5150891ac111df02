"""index/journal.mvi: the encrypted, append-only index (docs/FORMAT.md, "Index").

    prelude: magic "MVINDEX\\1" | vault_id 16 | zeros up to 512 bytes
    record:  ct_len u32 | nonce 12 | ct   (AES-256-GCM, AAD = vault_id || u64 record_no)

Binding the record number means a dropped, duplicated or reordered record fails. The
index is a cache: `repair` rebuilds it from the objects, and verify cross-checks the two.
Since vault header version 3 each commit's records are a segment file of their own, read
after the base (store/journal.py); a record cut short at the end of a base written by an
older medvault (a torn append) is ignored and dropped by the next writer.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from medvault.errors import FormatError
from medvault.format.binary import Reader, u32, u64

MAGIC = b"MVINDEX\x01"
# A whole sector: fusefat refuses to extend a file shorter than 512 bytes (EPERM), and a
# record then never shares the prelude's sector.
PRELUDE_LEN = 512
NONCE_LEN = 12
MAX_RECORD = 64 * 1024 * 1024


def prelude(vault_id: bytes) -> bytes:
    head = MAGIC + vault_id
    return head + bytes(PRELUDE_LEN - len(head))


def check_prelude(data: bytes, vault_id: bytes) -> None:
    r = Reader(data[:PRELUDE_LEN], "index")
    r.expect(MAGIC, "magic")
    if r.take(16) != vault_id:
        raise FormatError("index: belongs to another vault")
    if r.take(PRELUDE_LEN - 24) != bytes(PRELUDE_LEN - 24):
        raise FormatError("index: prelude padding is not zero")


def aad(vault_id: bytes, record_no: int) -> bytes:
    return vault_id + u64(record_no)


def frame(nonce: bytes, ciphertext: bytes) -> bytes:
    return u32(len(ciphertext)) + nonce + ciphertext


FRAME_HEAD = 4 + NONCE_LEN  # ct_len, nonce: the ciphertext follows


def frame_room(nonce: bytes, ciphertext_len: int) -> bytearray:
    """A record's frame with its head filled and CIPHERTEXT_LEN bytes of room after
    FRAME_HEAD, for the ciphertext to be sealed into (see frame)."""
    room = bytearray(FRAME_HEAD + ciphertext_len)
    room[:FRAME_HEAD] = u32(ciphertext_len) + nonce
    return room


@dataclass(frozen=True)
class RawRecord:
    record_no: int
    offset: int
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True)
class SplitJournal:
    records: list[RawRecord]
    valid_length: int  # bytes up to the end of the last complete record
    torn_tail: bool


def split(data: bytes) -> SplitJournal:
    """Cut the journal into records; a short final record is reported, not raised."""
    return split_from(data, 0, PRELUDE_LEN, 0)


def split_from(data: bytes, base: int, start: int, first_record: int) -> SplitJournal:
    """Cut the records out of DATA, which holds the journal from byte BASE on, starting at
    byte START (a record boundary) with record number FIRST_RECORD. Offsets are the
    journal's own."""
    pos = start
    records: list[RawRecord] = []
    end_of_data = base + len(data)
    while pos < end_of_data:
        number = first_record + len(records)
        if end_of_data - pos < 4 + NONCE_LEN:
            return SplitJournal(records, pos, True)
        at = pos - base
        (ct_len,) = struct.unpack(">I", data[at : at + 4])
        if ct_len > MAX_RECORD or ct_len < 16:
            raise FormatError(f"index: record {number} has an impossible length")
        end = pos + 4 + NONCE_LEN + ct_len
        if end > end_of_data:
            return SplitJournal(records, pos, True)
        nonce = data[at + 4 : at + 4 + NONCE_LEN]
        records.append(RawRecord(number, pos, nonce, data[at + 4 + NONCE_LEN : end - base]))
        pos = end
    return SplitJournal(records, pos, False)


def count_records(read_at: Callable[[int, int], bytes], size: int) -> tuple[int, bool]:
    """(number of whole records, torn tail) of a journal file of SIZE bytes, walked by
    the records' length fields alone (READ_AT(offset, n) reads the file): what split()
    says of the same bytes, without reading the ciphertexts. FormatError as split()."""
    pos, count = PRELUDE_LEN, 0
    while pos < size:
        if size - pos < 4 + NONCE_LEN:
            return count, True
        (ct_len,) = struct.unpack(">I", read_at(pos, 4))
        if ct_len > MAX_RECORD or ct_len < 16:
            raise FormatError(f"index: record {count} has an impossible length")
        end = pos + 4 + NONCE_LEN + ct_len
        if end > size:
            return count, True
        count += 1
        pos = end
    return count, False


def read_records(read: Callable[[int], bytes], start: int, count: int) -> Iterator[RawRecord]:
    """The first COUNT records of a journal file read in order by READ(n) from byte START (a
    record boundary), one at a time: count_records has checked their lengths, so a record
    cut short now means the file changed under the reader (FormatError)."""
    pos = start
    for number in range(count):
        head = read(4 + NONCE_LEN)
        (ct_len,) = struct.unpack(">I", head[:4]) if len(head) == 4 + NONCE_LEN else (-1,)
        ciphertext = read(ct_len) if 16 <= ct_len <= MAX_RECORD else b""
        if len(ciphertext) != ct_len or ct_len < 16:
            raise FormatError(f"index: record {number} changed while it was read")
        yield RawRecord(number, pos, head[4:], ciphertext)
        pos += 4 + NONCE_LEN + ct_len
