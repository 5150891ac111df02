"""What is in the vault: built from the index journal (its records are
format/index_records.py's), plus any pack the index lacks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from medvault.engine.session import UnlockedVault
from medvault.errors import FormatError, IntegrityError, MedvaultError
from medvault.format import entry as efmt
from medvault.format import index_records
from medvault.format.index_records import AddRecord, file_entry
from medvault.format.index_records import Located as Located  # the catalog's unit
from medvault.format.meta import FileMeta, TombstoneMeta
from medvault.format.vault_header import Tally
from medvault.store.entries import OpenedHeader, open_header
from medvault.store.journal import read_journal
from medvault.store.packs import PackReader, list_packs


def located_at(pack: str, offset: int, opened: OpenedHeader) -> Located:
    """The index entry for the authentic entry OPENED at OFFSET in PACK."""
    h = opened.header
    file_id = h.file_id.hex()
    if opened.kind == efmt.Kind.FILE:
        meta = FileMeta.decode(opened.meta)
        return file_entry(file_id, pack, offset, h.header_len, h.payload_len, meta)
    removes = TombstoneMeta.decode(opened.meta).removes
    return Located(
        file_id, pack, offset, h.header_len, h.payload_len, int(opened.kind), references=removes
    )


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
            loc = located_at(reader.name, offset, opened)
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
            record = index_records.decode(rec)
            if isinstance(record, AddRecord):
                for loc in record.entries:
                    catalog.place(loc)
            else:
                gone = record.packs
                for fid in [f for f, loc in catalog.located.items() if loc.pack in gone]:
                    del catalog.located[fid]
    except FormatError as exc:
        fresh = Catalog(packs_on_disk=catalog.packs_on_disk, index_damage=exc.message)
        scan_packs(vault, fresh.packs_on_disk, fresh)
        return fresh
    catalog.unindexed_packs = sorted(on_disk - catalog.referenced_packs())
    scan_packs(vault, catalog.unindexed_packs, catalog)
    return catalog
