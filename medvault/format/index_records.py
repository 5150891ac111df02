"""What an index journal record holds: the JSON inside each encrypted record (docs/FORMAT.md,
"Index"), encoded and decoded here only (the catalog, the path index and compact use it).

  {"op": "add", "pack": NAME, "entries": [ENTRY, ...]}   entries now live in pack NAME
  {"op": "drop", "packs": [NAME, ...]}                    those packs were deleted (compact)
  ENTRY = {"id", "off", "hlen", "plen", "kind", "refs", and for a file:
           "path", "size", "sha256", "added_at", "mtime_ns"}

A later location for the same id wins (compaction moves entries). An id named in a
tombstone's "removes" or a file's "replaces" ("refs") is no longer live.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from medvault.errors import FormatError
from medvault.format import canonical_json as cj
from medvault.format import entry as efmt
from medvault.format.meta import FileMeta

RECORD = "index record"
ENTRY = "index entry"


class Located(NamedTuple):
    """One entry: where it is (pack, offset, lengths) and, for a file, its metadata.

    A named tuple, not a frozen dataclass: listing 100,000 files builds 100,000 of them,
    and a frozen dataclass's __init__ (one object.__setattr__ per field) cost three times
    a tuple's. Changed copies come from `_replace`."""

    file_id: str
    pack: str
    offset: int
    header_len: int
    payload_len: int
    kind: int
    path: str = ""
    size: int = 0
    sha256: str = ""
    added_at: str = ""
    mtime_ns: int = 0
    references: tuple[str, ...] = ()  # replaces (files) or removes (tombstones)

    def to_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.file_id,
            "off": self.offset,
            "hlen": self.header_len,
            "plen": self.payload_len,
            "kind": self.kind,
            "refs": list(self.references),
        }
        if self.kind == efmt.Kind.FILE:
            out.update(
                path=self.path,
                size=self.size,
                sha256=self.sha256,
                added_at=self.added_at,
                mtime_ns=self.mtime_ns,
            )
        return out

    @staticmethod
    def from_record(pack: str, rec: dict[str, Any]) -> Located:
        # The common case, a well-formed file entry, checked in one comparison of types;
        # anything else takes the field-by-field path, which says what is wrong.
        if type(rec) is dict and rec.get("kind") == efmt.Kind.FILE:
            try:
                values = _FILE_FIELDS(rec)
            except KeyError:
                values = ()
            if tuple(map(type, values)) == _FILE_TYPES and all(
                type(ref) is str for ref in values[5]
            ):
                # Located's order: id, pack, off..kind, path..mtime_ns, refs.
                return Located._make((values[0], pack, *values[1:5], *values[6:], tuple(values[5])))
        return Located._checked(pack, rec)

    @staticmethod
    def _checked(pack: str, rec: dict[str, Any]) -> Located:
        base = Located(
            file_id=cj.field(rec, "id", str, ENTRY),
            pack=pack,
            offset=cj.field(rec, "off", int, ENTRY),
            header_len=cj.field(rec, "hlen", int, ENTRY),
            payload_len=cj.field(rec, "plen", int, ENTRY),
            kind=cj.field(rec, "kind", int, ENTRY),
            references=ids(cj.field(rec, "refs", list, ENTRY), "index entry: 'refs'"),
        )
        if base.kind != efmt.Kind.FILE:
            return base
        return base._replace(
            path=cj.field(rec, "path", str, ENTRY),
            size=cj.field(rec, "size", int, ENTRY),
            sha256=cj.field(rec, "sha256", str, ENTRY),
            added_at=cj.field(rec, "added_at", str, ENTRY),
            mtime_ns=cj.field(rec, "mtime_ns", int, ENTRY),
        )


# A file entry's fields, and their exact types (bool is not an int here), in that order.
_FILE_FIELDS = operator.itemgetter(
    "id", "off", "hlen", "plen", "kind", "refs", "path", "size", "sha256", "added_at", "mtime_ns"
)
_FILE_TYPES = (str, int, int, int, int, list, str, int, str, str, int)


def file_entry(
    file_id: str, pack: str, offset: int, header_len: int, payload_len: int, meta: FileMeta
) -> Located:
    """The index entry of a file entry at OFFSET in PACK whose metadata is META."""
    return Located(
        file_id=file_id,
        pack=pack,
        offset=offset,
        header_len=header_len,
        payload_len=payload_len,
        kind=int(efmt.Kind.FILE),
        path=meta.path,
        size=meta.size,
        sha256=meta.sha256,
        added_at=meta.added_at,
        mtime_ns=meta.mtime_ns,
        references=meta.replaces,
    )


@dataclass(frozen=True)
class AddRecord:
    """ENTRIES now live in PACK."""

    pack: str
    entries: tuple[Located, ...]


@dataclass(frozen=True)
class DropRecord:
    """PACKS were deleted (compact): their entries are gone unless placed again later."""

    packs: frozenset[str]


IndexRecord = AddRecord | DropRecord


def ids(values: list[Any], what: str) -> tuple[str, ...]:
    """A JSON list that must hold only strings (file or pack ids)."""
    if not all(isinstance(v, str) for v in values):
        raise FormatError(f"{what} must list ids")
    return tuple(values)


def add_record(pack: str, entries: list[Located]) -> dict[str, Any]:
    return {"op": "add", "pack": pack, "entries": [e.to_record() for e in entries]}


def encode_add(pack: str, entries: Sequence[Located]) -> bytearray:
    """cj.dumps(add_record(PACK, ENTRIES)), the same bytes, built one entry at a time: a
    commit then holds the record's JSON once, not also a dict per entry, a str and bytes."""
    out = bytearray(b'{"entries":[')
    for number, entry in enumerate(entries):
        if number:
            out += b","
        out += cj.dumps(entry.to_record())
    out += b'],"op":"add","pack":' + cj.dumps(pack) + b"}"
    return out


def drop_record(packs: list[str]) -> dict[str, Any]:
    return {"op": "drop", "packs": packs}


def decode(record: dict[str, Any]) -> IndexRecord:
    op = cj.field(record, "op", str, RECORD)
    if op == "add":
        pack = cj.field(record, "pack", str, RECORD)
        raw = cj.field(record, "entries", list, RECORD)
        return AddRecord(pack, tuple(_placed(pack, entry) for entry in raw))
    if op == "drop":
        return DropRecord(frozenset(ids(cj.field(record, "packs", list, RECORD), "index: 'packs'")))
    raise FormatError(f"index: unknown record {op!r}")


def _placed(pack: str, entry: Any) -> Located:
    """ENTRY of PACK's add record: a JSON object, or the Located `loads` made of it already
    (in no pack yet)."""
    if isinstance(entry, Located):
        return entry._replace(pack=pack)
    return Located.from_record(pack, entry)


def _entry_at_once(obj: dict[str, Any]) -> Any:
    # Any object with an "id" but no "op" is an index entry: made a Located as soon as it
    # is parsed. Anything else stays a dict, and decode() judges where each one sits.
    if "id" in obj and "op" not in obj:
        return Located.from_record("", obj)
    return obj


_RECORD_DECODER = cj.decoder(_entry_at_once)


def loads(plain: bytes) -> IndexRecord:
    """decode() of an index record's JSON, PLAIN, each entry made a Located as it is parsed:
    a record of thousands of entries is never also held as a dict per entry."""
    return decode(cj.loads_object(plain, RECORD, _RECORD_DECODER))
