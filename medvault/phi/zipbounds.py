"""A ZIP archive's central directory, checked against Limits before zipfile reads it.

zipfile.ZipFile parses the whole central directory, one ZipInfo per record, before any
entry cap can be applied: a 47 MB file of 1,000,000 records costs 14 s and 400 MB. So the
end records are read here first, with bounded reads from the end of the file (at most
64 KiB + 98 bytes), and an archive is handed to zipfile only when it is no larger than
max_zip_bytes, its directory declares at most max_zip_entries records in at most
max_zip_directory bytes, and stepping over those bytes finds exactly that many records.
zipfile then parses the same bytes, so it builds at most max_zip_entries ZipInfos.

The layout is held to what Office writers produce (no bytes before the archive, the
directory right before its end record, a ZIP64 end record right before its locator);
anything else is "unreadable" rather than guessed at, as zipfile would.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from medvault.phi.model import MIB, Limits, Skipped

END = struct.Struct("<4s4H2LH")  # signature, disks, entries here and in all, size, offset
END_SIGNATURE = b"PK\x05\x06"
MAX_COMMENT = 0xFFFF
LOCATOR64 = struct.Struct("<4sLQL")  # signature, disk, ZIP64 end record offset, disks
LOCATOR64_SIGNATURE = b"PK\x06\x07"
END64 = struct.Struct("<4sQ2H2L4Q")  # ..., entries here and in all, size, offset
END64_SIGNATURE = b"PK\x06\x06"
END64_BODY = END64.size - 12  # its "size of the rest" field, with no extensible data
RECORD = struct.Struct("<4s24xHHH12x")  # a directory record: name, extra, comment lengths
RECORD_SIGNATURE = b"PK\x01\x02"


@dataclass(frozen=True)
class Directory:
    """Where the central directory is and how many records it holds."""

    offset: int
    size: int
    entries: int


def check_directory(handle: BinaryIO, limits: Limits) -> Directory:
    """The archive's central directory, or Skipped: "refused" over a limit, "unreadable"
    when the end records are missing, truncated or inconsistent."""
    file_size = os.fstat(handle.fileno()).st_size
    if file_size > limits.max_zip_bytes:
        raise Skipped(
            "refused",
            f"ZIP archive of {file_size // MIB} MiB (limit {limits.max_zip_bytes // MIB} MiB)",
        )
    end_at, end = _end_record(handle, file_size)
    directory, directory_end = _declared(handle, end_at, end)
    if directory.entries > limits.max_zip_entries:
        raise Skipped("refused", f"ZIP archive with more than {limits.max_zip_entries} entries")
    if directory.size > limits.max_zip_directory:
        raise Skipped(
            "refused",
            f"ZIP directory of {directory.size} bytes "
            f"(limit {limits.max_zip_directory // MIB} MiB)",
        )
    if directory.offset + directory.size != directory_end:
        raise _damaged("the directory does not end where its end record begins")
    _count_records(handle, directory, limits)
    return directory


def _damaged(what: str) -> Skipped:
    return Skipped("unreadable", f"damaged ZIP archive ({what})")


def _read_at(handle: BinaryIO, offset: int, size: int) -> bytes:
    handle.seek(offset)
    return handle.read(size)


def _end_record(handle: BinaryIO, file_size: int) -> tuple[int, tuple[int, ...]]:
    """The end-of-central-directory record and its offset, found as zipfile finds it
    (at the very end, else the last signature in the final 64 KiB + 22 bytes), and
    required to end the file exactly with its comment."""
    tail_at = max(file_size - END.size - MAX_COMMENT, 0)
    tail = _read_at(handle, tail_at, file_size - tail_at)
    last = tail[-END.size :]
    if len(last) == END.size and last.startswith(END_SIGNATURE) and last.endswith(b"\0\0"):
        found = len(tail) - END.size
    else:
        found = tail.rfind(END_SIGNATURE)
        if found < 0:
            raise _damaged("no end-of-directory record")
    raw = tail[found : found + END.size]
    if len(raw) != END.size:
        raise _damaged("truncated end-of-directory record")
    end = END.unpack(raw)
    if found + END.size + end[7] != len(tail):
        raise _damaged("the end record's comment length does not match the file")
    return tail_at + found, end


def _declared(handle: BinaryIO, end_at: int, end: tuple[int, ...]) -> tuple[Directory, int]:
    """The directory the end records declare, and where it must end: at the ZIP64 end
    record when a ZIP64 locator sits right before the end record (zipfile then takes the
    ZIP64 figures), else at the end record."""
    _sig, disk, disk_of_directory, _here, entries, size, offset, _comment = end
    locator_at = end_at - LOCATOR64.size
    locator = _read_at(handle, locator_at, LOCATOR64.size) if locator_at >= 0 else b""
    if not locator.startswith(LOCATOR64_SIGNATURE):
        if disk or disk_of_directory:
            raise _damaged("an archive split over several disks")
        return Directory(offset, size, entries), end_at
    _sig64, locator_disk, end64_offset, disks = LOCATOR64.unpack(locator)
    end64_at = locator_at - END64.size
    if locator_disk or disks > 1 or end64_at < 0 or end64_offset != end64_at:
        raise _damaged("a ZIP64 locator that does not point right before itself")
    end64 = END64.unpack(_read_at(handle, end64_at, END64.size))
    sig64, body, _made, _needs, disk64, disk_of_directory64, _here64, count, size64, at = end64
    if sig64 != END64_SIGNATURE or body != END64_BODY or disk64 or disk_of_directory64:
        raise _damaged("a ZIP64 end record that is missing or malformed")
    return Directory(at, size64, count), end64_at


def _count_records(handle: BinaryIO, directory: Directory, limits: Limits) -> None:
    """Step over the directory's records (no objects built): there must be exactly as
    many as declared, filling the declared size, and never more than the cap."""
    data = _read_at(handle, directory.offset, directory.size)
    if len(data) != directory.size:
        raise _damaged("truncated central directory")
    position = count = 0
    while position < len(data):
        if position + RECORD.size > len(data):
            raise _damaged("truncated central directory record")
        signature, name, extra, comment = RECORD.unpack_from(data, position)
        if signature != RECORD_SIGNATURE:
            raise _damaged("bad central directory record")
        position += RECORD.size + name + extra + comment
        count += 1
        if count > limits.max_zip_entries:
            raise Skipped("refused", f"ZIP archive with more than {limits.max_zip_entries} entries")
    if position != len(data) or count != directory.entries:
        raise _damaged("the directory does not hold the records its end record declares")
