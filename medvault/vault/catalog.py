"""What is in the vault: built from the index journal, plus any pack the index lacks.

Index record kinds (JSON inside each encrypted record):
  {"op": "add", "pack": NAME, "entries": [ENTRY, ...]}   entries now live in pack NAME
  {"op": "drop", "packs": [NAME, ...]}                    those packs were deleted (compact)
ENTRY = {"id", "off", "hlen", "plen", "kind", ...metadata fields}
A later location for the same id wins (compaction moves entries). An id named in a
tombstone's "removes" or a file's "replaces" is no longer live.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from medvault.errors import FormatError, IntegrityError, MedvaultError
from medvault.format import canonical_json as cj
from medvault.format import entry as efmt
from medvault.format.meta import FileMeta, TombstoneMeta
from medvault.format.vault_header import Tally
from medvault.store.entries import OpenedHeader, open_header
from medvault.store.journal import read_journal
from medvault.store.packs import PackReader, list_packs
from medvault.vault.session import UnlockedVault


@dataclass(frozen=True, slots=True)
class Located:
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
        what = "index entry"
        base = Located(
            file_id=cj.field(rec, "id", str, what),
            pack=pack,
            offset=cj.field(rec, "off", int, what),
            header_len=cj.field(rec, "hlen", int, what),
            payload_len=cj.field(rec, "plen", int, what),
            kind=cj.field(rec, "kind", int, what),
            references=_ids(cj.field(rec, "refs", list, what), "index entry: 'refs'"),
        )
        if base.kind != efmt.Kind.FILE:
            return base
        return replace(
            base,
            path=cj.field(rec, "path", str, what),
            size=cj.field(rec, "size", int, what),
            sha256=cj.field(rec, "sha256", str, what),
            added_at=cj.field(rec, "added_at", str, what),
            mtime_ns=cj.field(rec, "mtime_ns", int, what),
        )

    @staticmethod
    def from_opened(pack: str, offset: int, opened: OpenedHeader) -> Located:
        h = opened.header
        base = Located(
            file_id=h.file_id.hex(),
            pack=pack,
            offset=offset,
            header_len=h.header_len,
            payload_len=h.payload_len,
            kind=int(h.kind),
        )
        if h.kind != efmt.Kind.FILE:
            return replace(base, references=TombstoneMeta.decode(opened.meta).removes)
        meta = FileMeta.decode(opened.meta)
        return replace(
            base,
            path=meta.path,
            size=meta.size,
            sha256=meta.sha256,
            added_at=meta.added_at,
            mtime_ns=meta.mtime_ns,
            references=meta.replaces,
        )


def _ids(values: list[Any], what: str) -> tuple[str, ...]:
    """A JSON list that must hold only strings (file or pack ids)."""
    if not all(isinstance(v, str) for v in values):
        raise FormatError(f"{what} must list ids")
    return tuple(values)


def add_record(pack: str, entries: list[Located]) -> dict[str, Any]:
    return {"op": "add", "pack": pack, "entries": [e.to_record() for e in entries]}


@dataclass
class Catalog:
    located: dict[str, Located] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    packs_on_disk: list[str] = field(default_factory=list)
    index_damage: str | None = None
    unindexed_packs: list[str] = field(default_factory=list)
    scan_damage: dict[str, str] = field(default_factory=dict)  # pack -> problem

    def place(self, loc: Located) -> None:
        self.located[loc.file_id] = loc
        self.removed.update(loc.references)

    def live(self) -> list[Located]:
        files = [
            loc
            for loc in self.located.values()
            if loc.kind == efmt.Kind.FILE and loc.file_id not in self.removed
        ]
        newest: dict[str, Located] = {}
        for loc in sorted(files, key=lambda x: x.added_at):
            newest[loc.path] = loc
        return sorted(newest.values(), key=lambda x: x.path)

    def by_path(self) -> dict[str, Located]:
        return {loc.path: loc for loc in self.live()}

    def referenced_packs(self) -> set[str]:
        return {loc.pack for loc in self.located.values()}

    def tombstones(self) -> Tally:
        """The tombstones placed here, each id once (a compact's copy is the same id)."""
        return Tally.of(
            bytes.fromhex(x.file_id) for x in self.located.values() if x.kind == efmt.Kind.TOMBSTONE
        )


def walk_pack(vault: UnlockedVault, reader: PackReader) -> Iterator[Located | MedvaultError]:
    """Authenticate each entry header in order; yields locations, or the error that stopped it."""
    size = reader.logical_size()
    offset = 0
    while offset < size:
        try:
            header_len = efmt.peek_header_len(reader.read(offset, 12))
            opened = open_header(vault.keys, reader.read(offset, header_len))
            loc = Located.from_opened(reader.name, offset, opened)
        except MedvaultError as exc:
            yield exc
            return
        yield loc
        offset += loc.header_len + loc.payload_len
    if offset != size:
        yield IntegrityError(f"pack {reader.name}: last entry runs past the end")


def scan_packs(vault: UnlockedVault, names: list[str], catalog: Catalog) -> None:
    for name in names:
        try:
            with PackReader(vault.paths, vault.vault_id, name, vault.part_size) as rd:
                for item in walk_pack(vault, rd):
                    if isinstance(item, MedvaultError):
                        catalog.scan_damage[name] = item.message
                    elif item.file_id not in catalog.located:
                        catalog.place(item)
        except MedvaultError as exc:
            catalog.scan_damage[name] = exc.message


def load_catalog(vault: UnlockedVault, use_index: bool = True) -> Catalog:
    catalog = Catalog(packs_on_disk=list_packs(vault.paths))
    on_disk = set(catalog.packs_on_disk)
    journal = read_journal(vault.paths, vault.keys) if use_index else None
    if journal is not None:
        catalog.index_damage = journal.damage
    if journal is None or journal.damage is not None:
        # The index is a cache: without it, read every pack.
        scan_packs(vault, catalog.packs_on_disk, catalog)
        return catalog
    try:
        for rec in journal.records:
            op = cj.field(rec, "op", str, "index record")
            if op == "add":
                pack = cj.field(rec, "pack", str, "index record")
                for raw in cj.field(rec, "entries", list, "index record"):
                    catalog.place(Located.from_record(pack, raw))
            elif op == "drop":
                gone = set(_ids(cj.field(rec, "packs", list, "index record"), "index: 'packs'"))
                for fid in [f for f, loc in catalog.located.items() if loc.pack in gone]:
                    del catalog.located[fid]
            else:
                raise FormatError(f"index: unknown record {op!r}")
    except FormatError as exc:
        fresh = Catalog(packs_on_disk=catalog.packs_on_disk, index_damage=exc.message)
        scan_packs(vault, fresh.packs_on_disk, fresh)
        return fresh
    catalog.unindexed_packs = sorted(on_disk - catalog.referenced_packs())
    scan_packs(vault, catalog.unindexed_packs, catalog)
    return catalog
