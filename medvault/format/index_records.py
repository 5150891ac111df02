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

import functools
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


# A file entry's fields and the exact type of each (bool is not an int here), in the order
# from_record reads them; encode_add writes them in canonical (sorted) order: _FILE_KEYS.
_FILE_ENTRY = {
    "id": str, "off": int, "hlen": int, "plen": int, "kind": int, "refs": list, "path": str,
    "size": int, "sha256": str, "added_at": str, "mtime_ns": int,
}  # fmt: skip
_FILE_FIELDS = operator.itemgetter(*_FILE_ENTRY)
_FILE_TYPES = tuple(_FILE_ENTRY.values())


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
        out += _entry_json(entry)
    out += b'],"op":"add","pack":' + cj.dumps(pack) + b"}"
    return out


# A file entry's canonical JSON (keys sorted) with its values filled in: the same bytes as
# cj.dumps(entry.to_record()) for the Located of exactly _LOCATED_TYPES, in a fifth of the
# time (a commit of 1,024 entries is on the critical path of every add of small files).
_FILE_ENTRY_JSON = (
    '{"added_at":%s,"hlen":%d,"id":%s,"kind":%d,"mtime_ns":%d,"off":%d,"path":%s,'
    '"plen":%d,"refs":[%s],"sha256":%s,"size":%d}'
)
_LOCATED_TYPES = (str, str, int, int, int, int, str, int, str, str, int, tuple)


def _entry_json(entry: Located) -> bytes:
    """cj.dumps(ENTRY.to_record())."""
    if (
        tuple(map(type, entry)) != _LOCATED_TYPES
        or entry.kind != efmt.Kind.FILE
        or (entry.references and not all(type(ref) is str for ref in entry.references))
    ):
        return cj.dumps(entry.to_record())  # a tombstone, or anything unusual
    text = cj.string
    return (
        _FILE_ENTRY_JSON
        % (
            text(entry.added_at),
            entry.header_len,
            text(entry.file_id),
            entry.kind,
            entry.mtime_ns,
            entry.offset,
            text(entry.path),
            entry.payload_len,
            ",".join(map(text, entry.references)),
            text(entry.sha256),
            entry.size,
        )
    ).encode()


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


def loads(plain: bytes) -> IndexRecord:
    """decode() of an index record's JSON, PLAIN, each entry made a Located as it is parsed:
    a record of thousands of entries is never also held as a dict per entry."""
    decoder = cj.pairs_decoder(functools.partial(_entry_at_once, _pack_named_last(plain)))
    return decode(cj.loads_object(plain, RECORD, decoder))


def _placed(pack: str, entry: Any) -> Located:
    """ENTRY of PACK's add record: a JSON object, or the Located `loads` made of it already
    (in the pack it guessed, which must be PACK)."""
    if isinstance(entry, Located):
        return entry if entry.pack == pack else entry._replace(pack=pack)
    return Located.from_record(pack, entry)


def _pack_named_last(plain: bytes) -> str:
    """The pack named at the end of PLAIN, where encode_add writes it (its last key), or
    "": only a guess, so that entries are made in their pack as they are parsed rather than
    copied into it afterwards; decode() puts each in the record's pack either way."""
    _head, found, name = plain.rpartition(b',"pack":"')
    if not found or not name.endswith(b'"}') or b'"' in name[:-2] or b"\\" in name:
        return ""
    return name[:-2].decode("utf-8", "replace")


# A file entry as encode_add writes it: its keys in canonical order (eleven distinct keys,
# so none repeats), and the exact types of their values in that order.
_FILE_KEYS = tuple(sorted(_FILE_ENTRY))
_FILE_VALUE_TYPES = tuple(_FILE_ENTRY[key] for key in _FILE_KEYS)


def _entry_at_once(pack: str, pairs: list[tuple[str, Any]]) -> Any:
    """Each object of a record as it is parsed (PAIRS, its keys and values in order). Any
    object with an "id" but no "op" is an index entry: made a Located in PACK at once (in one step
    when it is a file entry exactly as encode_add writes it, which is what a refresh reads
    back; field by field otherwise, which says what is wrong). Anything else stays a dict,
    and decode() judges where each one sits."""
    if len(pairs) == len(_FILE_KEYS):
        names, values = zip(*pairs, strict=True)
        if (
            names == _FILE_KEYS
            and tuple(map(type, values)) == _FILE_VALUE_TYPES
            and values[3] == efmt.Kind.FILE
            and not (values[8] and not all(type(ref) is str for ref in values[8]))
        ):
            added_at, hlen, file_id, kind, mtime_ns, off, path, plen, refs, sha256, size = values
            return Located(
                file_id, pack, off, hlen, plen, kind, path, size, sha256, added_at, mtime_ns,
                tuple(refs),
            )  # fmt: skip
    obj = cj.checked_object(pairs)
    if "id" in obj and "op" not in obj:
        return Located.from_record(pack, obj)
    return obj
