"""index/paths.mvs: the path index, a sorted snapshot of the live files (docs/FORMAT.md,
"Path index").

    prelude (64): magic "MVPATHS\\1" | vault_id 16 | snapshot_id 16 | dir_offset u64 |
                  dir_len u32 | zeros
    pages:        one after another from byte 64, each nonce 12 | AES-256-GCM ciphertext
    directory:    at dir_offset, nonce 12 | AES-256-GCM ciphertext

Page n's AAD is vault_id || snapshot_id || u64(n); the directory's uses u64(2^64 - 1).
A page is a canonical-JSON object {"rows": [ROW, ...]}, ROW = [file_id, pack, offset,
header_len, payload_len, path, size, sha256, added_at, mtime_ns, replaces], sorted by path
(then time added), one row per file not removed (replaces: the ids of the versions it
replaced). The directory says which journal record the snapshot was made after and where
each page is, so one path is found by reading the directory and one page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medvault.errors import FormatError
from medvault.format import canonical_json as cj
from medvault.format.binary import Reader, u32, u64
from medvault.format.entry import Kind
from medvault.format.index_records import Located

MAGIC = b"MVPATHS\x01"
PRELUDE_LEN = 64
NONCE_LEN = 12
DIRECTORY_PAGE = 2**64 - 1
MAX_DIRECTORY = 64 * 1024 * 1024
MAX_PAGE = 16 * 1024 * 1024
ROW_FIELDS = 11


@dataclass(frozen=True)
class Prelude:
    vault_id: bytes
    snapshot_id: bytes
    dir_offset: int
    dir_len: int

    def encode(self) -> bytes:
        head = MAGIC + self.vault_id + self.snapshot_id + u64(self.dir_offset) + u32(self.dir_len)
        return head + bytes(PRELUDE_LEN - len(head))


def decode_prelude(data: bytes, vault_id: bytes, file_size: int) -> Prelude:
    r = Reader(data[:PRELUDE_LEN], "path index")
    r.expect(MAGIC, "magic")
    if r.take(16) != vault_id:
        raise FormatError("path index: belongs to another vault")
    snapshot_id = r.take(16)
    dir_offset, dir_len = r.u64(), r.u32()
    if r.take(r.remaining) != bytes(PRELUDE_LEN - 52):
        raise FormatError("path index: prelude padding is not zero")
    if not NONCE_LEN + 16 <= dir_len <= MAX_DIRECTORY:
        raise FormatError("path index: impossible directory length")
    if dir_offset < PRELUDE_LEN or dir_offset + dir_len != file_size:
        raise FormatError("path index: directory is not at the end")
    return Prelude(vault_id, snapshot_id, dir_offset, dir_len)


def aad(vault_id: bytes, snapshot_id: bytes, page: int) -> bytes:
    return vault_id + snapshot_id + u64(page)


@dataclass(frozen=True)
class PageRef:
    first: str
    last: str
    offset: int
    length: int
    count: int


@dataclass(frozen=True)
class Covers:
    """The journal the snapshot was made from: its first RECORDS records, ending at byte
    JOURNAL_END; the last of them starts at LAST_OFFSET and has nonce LAST_NONCE."""

    records: int
    journal_end: int
    last_offset: int
    last_nonce: str


@dataclass(frozen=True)
class Directory:
    covers: Covers
    files: int
    packs: tuple[str, ...]  # every pack holding an entry the index still places
    pages: tuple[PageRef, ...]

    def encode(self) -> bytes:
        return cj.dumps(
            {
                "covers": {
                    "records": self.covers.records,
                    "journal_end": self.covers.journal_end,
                    "last_offset": self.covers.last_offset,
                    "last_nonce": self.covers.last_nonce,
                },
                "files": self.files,
                "packs": list(self.packs),
                "pages": [[p.first, p.last, p.offset, p.length, p.count] for p in self.pages],
            }
        )


def decode_directory(plain: bytes, dir_offset: int) -> Directory:
    what = "path index directory"
    obj = cj.loads_object(plain, what)
    if set(obj) != {"covers", "files", "packs", "pages"}:
        raise FormatError(f"{what}: unexpected fields")
    cov = cj.field(obj, "covers", dict, what)
    if set(cov) != {"records", "journal_end", "last_offset", "last_nonce"}:
        raise FormatError(f"{what}: unexpected 'covers' fields")
    covers = Covers(
        _count(cj.field(cov, "records", int, what), what),
        _count(cj.field(cov, "journal_end", int, what), what),
        _count(cj.field(cov, "last_offset", int, what), what),
        cj.field(cov, "last_nonce", str, what),
    )
    packs = cj.field(obj, "packs", list, what)
    if not all(isinstance(p, str) for p in packs):
        raise FormatError(f"{what}: 'packs' must list names")
    pages: list[PageRef] = []
    expected_offset, files = PRELUDE_LEN, 0
    previous_last: str | None = None
    for raw in cj.field(obj, "pages", list, what):
        ref = _page_ref(raw, what)
        if ref.offset != expected_offset or ref.first > ref.last:
            raise FormatError(f"{what}: pages out of place")
        if previous_last is not None and ref.first < previous_last:
            raise FormatError(f"{what}: pages out of order")
        expected_offset, previous_last = ref.offset + ref.length, ref.last
        files += ref.count
        pages.append(ref)
    if expected_offset != dir_offset:
        raise FormatError(f"{what}: pages do not end where the directory starts")
    if cj.field(obj, "files", int, what) != files:
        raise FormatError(f"{what}: file count does not match its pages")
    return Directory(covers, files, tuple(packs), tuple(pages))


def _count(value: int, what: str) -> int:
    if value < 0:
        raise FormatError(f"{what}: negative number")
    return value


def _page_ref(raw: Any, what: str) -> PageRef:
    if not isinstance(raw, list) or len(raw) != 5:
        raise FormatError(f"{what}: a page reference must be a list of 5")
    first, last, offset, length, count = raw
    if not (isinstance(first, str) and isinstance(last, str)):
        raise FormatError(f"{what}: page paths must be strings")
    for number in (offset, length, count):
        if type(number) is not int or number < 0:
            raise FormatError(f"{what}: page numbers must be counts")
    if not NONCE_LEN + 16 <= length <= MAX_PAGE or count < 1:
        raise FormatError(f"{what}: impossible page size")
    return PageRef(first, last, offset, length, count)


def encode_page(rows: list[list[Any]]) -> bytes:
    return cj.dumps({"rows": rows})


def decode_page(plain: bytes, ref: PageRef) -> list[list[Any]]:
    """The page's rows, each checked for shape and types, sorted and within REF's range."""
    what = "path index page"
    obj = cj.loads_object(plain, what)
    if set(obj) != {"rows"}:
        raise FormatError(f"{what}: unexpected fields")
    rows: list[list[Any]] = cj.field(obj, "rows", list, what)
    if len(rows) != ref.count:
        raise FormatError(f"{what}: row count does not match the directory")
    previous = ""
    for row in rows:
        _check_row(row, what)
        path = row[5]
        if path < previous:  # one path may have several rows (see engine/path_index.py)
            raise FormatError(f"{what}: rows out of order")
        previous = path
    if rows[0][5] != ref.first or rows[-1][5] != ref.last:
        raise FormatError(f"{what}: rows do not match the directory's range")
    return rows


_ROW_TYPES = (str, str, int, int, int, str, int, str, str, int, list)


def _check_row(row: Any, what: str) -> None:
    if type(row) is not list or len(row) != ROW_FIELDS:
        raise FormatError(f"{what}: a row must be a list of {ROW_FIELDS}")
    if tuple(map(type, row)) != _ROW_TYPES:
        raise FormatError(f"{what}: a row field has the wrong type")
    # Spelled out, not min() and all(): this runs for every row of a 100,000-file listing.
    if row[2] < 0 or row[3] < 0 or row[4] < 0 or row[6] < 0:  # mtime_ns may be before 1970
        raise FormatError(f"{what}: a row holds a negative number")
    refs = row[10]
    if refs and not all(type(ref) is str for ref in refs):
        raise FormatError(f"{what}: a row's replaced ids must be strings")


def located_of(row: list[Any]) -> Located:
    """The file a checked page row (see decode_page) places."""
    file_id, pack, offset, header_len, payload_len, path, size, sha256, added_at, mtime, refs = row
    return Located(
        file_id,
        pack,
        offset,
        header_len,
        payload_len,
        int(Kind.FILE),
        path,
        size,
        sha256,
        added_at,
        mtime,
        tuple(refs),
    )


def row_of(loc: Located) -> list[Any]:
    """The page row of file LOC."""
    return [
        loc.file_id,
        loc.pack,
        loc.offset,
        loc.header_len,
        loc.payload_len,
        loc.path,
        loc.size,
        loc.sha256,
        loc.added_at,
        loc.mtime_ns,
        list(loc.references),
    ]
