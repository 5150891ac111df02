"""The path index: list the vault, or find one path, without reading the whole journal.

The journal (store/journal.py) holds every change since the vault was made, so reading it
costs time and memory in proportion to the vault's history. The path index
(format/path_index_file.py; its file is read and written by store/path_snapshot.py) is a
sorted snapshot of the live files as of one journal record, in encrypted pages of PAGE_ROWS
rows. A reader takes the snapshot plus the journal records written after it (the tail, kept
short by rebuilding the snapshot once it grows): finding one path reads the directory, one
page and the tail; listing streams the pages in order.

It is a cache, like the journal itself: a missing, damaged or stale snapshot (one whose
last record is not in the journal where it says) is simply not used, and readers fall back
to the whole journal (engine/catalog.py), which stays the authority.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from medvault.engine.catalog import Catalog, Located, load_catalog
from medvault.engine.session import UnlockedVault
from medvault.engine.writing import Group, path_order
from medvault.errors import FormatError, MedvaultError, NotFound
from medvault.format import entry as efmt
from medvault.format import index_records
from medvault.format import path_index_file as snapshot_fmt
from medvault.format.index_records import AddRecord
from medvault.format.meta import normalize_path
from medvault.store import path_snapshot
from medvault.store.journal import JournalAppender, records_after
from medvault.store.packs import list_packs

PAGE_ROWS = 512
WAITING = "not used until the index names every pack"
SOUND = frozenset({"ok", "none", WAITING})  # what verify does not count as damage
# Rebuild the snapshot once the tail holds this many entries, or an eighth of the files in
# the snapshot if that is more: each entry is then rewritten a bounded number of times.
REBUILD_MIN_ENTRIES = 1024
REBUILD_FRACTION = 8


@dataclass
class Tail:
    """The journal records after the snapshot, applied as Catalog.place would."""

    placed: dict[str, Located] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    gone: set[str] = field(default_factory=set)  # ids a drop in the tail deleted
    dropped: set[str] = field(default_factory=set)
    packs: set[str] = field(default_factory=set)
    entries: int = 0

    def apply(self, raw: dict[str, Any]) -> None:
        record = index_records.decode(raw)
        if isinstance(record, AddRecord):
            self.packs.add(record.pack)
            for loc in record.entries:
                self.placed[loc.file_id] = loc
                self.gone.discard(loc.file_id)
                self.removed.update(loc.references)
                self.entries += 1
        else:
            packs = record.packs
            self.dropped |= packs
            self.packs -= packs
            for fid in [f for f, loc in self.placed.items() if loc.pack in packs]:
                del self.placed[fid]
                self.gone.add(fid)

    def resolve(self, loc: Located) -> Located | None:
        """A snapshot entry as the tail leaves it: moved, or None when it is gone."""
        if loc.file_id in self.removed or loc.file_id in self.gone:
            return None
        moved = self.placed.get(loc.file_id)
        if moved is not None:
            return moved
        return None if loc.pack in self.dropped else loc

    def new_files(self) -> list[Located]:
        """Live files the tail places, by path."""
        files = [
            loc
            for loc in self.placed.values()
            if loc.kind == efmt.Kind.FILE and loc.file_id not in self.removed
        ]
        return sorted(files, key=lambda x: x.path)


class Snapshot:
    """An open path index (store/path_snapshot.py) with the journal's tail applied."""

    def __init__(self, vault: UnlockedVault, file: path_snapshot.SnapshotFile) -> None:
        self.vault = vault
        self._file = file
        self.directory = file.directory
        self._lasts = [page.last for page in file.directory.pages]
        self.tail = Tail()

    @property
    def files(self) -> int:
        return self.directory.files

    def close(self) -> None:
        self._file.close()

    def page(self, number: int) -> list[Located]:
        return self._file.page(number)

    def read_tail(self) -> None:
        """Check the journal still holds the record the snapshot was made after, where the
        snapshot says, then apply every record after it."""
        covers = self.directory.covers
        vault = self.vault
        for record in records_after(
            vault.paths,
            vault.keys,
            covers.records,
            covers.last_offset,
            covers.last_nonce,
            covers.journal_end,
        ):
            self.tail.apply(record)

    def rows(self, low: str = "", high: str | None = None) -> Iterator[Located]:
        """Snapshot entries with LOW <= path <= HIGH (all when HIGH is None), as the tail
        leaves them, in path order."""
        start = bisect.bisect_left(self._lasts, low)
        tail = self.tail
        untouched = not (tail.removed or tail.gone or tail.placed or tail.dropped)
        for number in range(start, len(self.directory.pages)):
            ref = self.directory.pages[number]
            if high is not None and ref.first > high:
                return
            page = self.page(number)
            if ref.first < low or (high is not None and ref.last > high):
                page = [x for x in page if low <= x.path and (high is None or x.path <= high)]
            if untouched:
                yield from page
                continue
            for loc in page:
                resolved = tail.resolve(loc)
                if resolved is not None:
                    yield resolved

    def live(self, low: str = "", high: str | None = None) -> Iterator[Located]:
        """Live files with LOW <= path <= HIGH in path order: the snapshot's merged with the
        tail's, the newest where a path has more than one (as Catalog.live)."""
        tail = [
            x for x in self.tail.new_files() if x.path >= low and (high is None or x.path <= high)
        ]
        rows = self.rows(low, high)
        merged = heapq.merge(rows, tail, key=lambda x: x.path) if tail else rows
        newest: Located | None = None
        for loc in merged:
            if newest is not None and loc.path == newest.path:
                if loc.added_at >= newest.added_at:
                    newest = loc
                continue
            if newest is not None:
                yield newest
            newest = loc
        if newest is not None:
            yield newest

    def packs(self) -> set[str]:
        return (set(self.directory.packs) - self.tail.dropped) | self.tail.packs

    def every_file(self) -> Iterator[Located]:
        """Every file not removed, not only the newest of each path (what a new path index
        holds), in path_order: the snapshot's rows as the tail leaves them, merged with the
        tail's own files."""
        tail = sorted(self.tail.new_files(), key=path_order)
        return _once_each(heapq.merge(self.rows(), tail, key=path_order))


def _once_each(rows: Iterable[Located]) -> Iterator[Located]:
    """ROWS with each entry once: a file the tail moved (a compact) comes both from the
    snapshot, resolved to where the tail put it, and from the tail, with the same
    path_order, so the two are neighbours."""
    key: tuple[str, str] | None = None
    seen: set[str] = set()
    for loc in rows:
        order = path_order(loc)
        if order != key:
            key, seen = order, set()
        if loc.file_id not in seen:
            seen.add(loc.file_id)
            yield loc


def open_snapshot(vault: UnlockedVault) -> Snapshot | None:
    """The path index with the journal's tail applied, or None when there is none or it
    cannot be used (damaged, stale, or the journal after it is damaged): then read the whole
    journal instead, which also reports any damage."""
    try:
        file = path_snapshot.open_file(vault.paths, vault.keys)
    except (MedvaultError, OSError, ValueError):
        return None
    snapshot = Snapshot(vault, file)
    try:
        snapshot.read_tail()
    except (MedvaultError, OSError, ValueError):
        snapshot.close()
        return None
    return snapshot


@dataclass
class LiveFiles:
    """What is in the vault, from the path index when it can be used, else from the whole
    journal (CATALOG set; INDEX_DAMAGE says why the journal could not be read)."""

    vault: UnlockedVault
    snapshot: Snapshot | None
    catalog: Catalog | None

    @property
    def index_damage(self) -> str | None:
        return None if self.catalog is None else self.catalog.index_damage

    def all(self) -> Iterator[Located]:
        return self._between("", None)

    def under(self, prefix: str) -> Iterator[Located]:
        """Live files whose path is PREFIX (a normalised stored path) or sits under it."""
        for x in self._between(prefix, prefix + "/\U0010ffff"):
            if x.path == prefix or x.path.startswith(prefix + "/"):
                yield x

    def select(self, wanted: list[str]) -> list[Located]:
        """Files whose path equals, or sits under, each wanted path; every one must match."""
        if not wanted:
            return list(self.all())
        chosen: dict[str, Located] = {}
        for raw in wanted:
            hits = list(self.under(normalize_path(raw.strip("/"))))
            if not hits:
                raise NotFound(f"{raw} is not in the vault", hint="`medvault ls` lists what is")
            for hit in hits:
                chosen[hit.file_id] = hit
        return sorted(chosen.values(), key=lambda x: x.path)

    def _between(self, low: str, high: str | None) -> Iterator[Located]:
        """Live files with LOW <= path <= HIGH (no upper bound: None), in path order."""
        if self.snapshot is not None:
            last: str | None = None
            try:
                for loc in self.snapshot.live(low, high):
                    last = loc.path
                    yield loc
                return
            except (MedvaultError, ValueError):
                # A damaged page: the journal has the rest, after what was already given.
                self.snapshot.close()
                self.snapshot = None
                if last is not None:
                    low = last + "\0"
        if self.catalog is None:
            self.catalog = load_catalog(self.vault)
        for loc in self.catalog.live():
            if loc.path >= low and (high is None or loc.path <= high):
                yield loc

    def before(self) -> Before:
        """What the vault holds now, as refresh needs it after a writer's commits: from the
        path index when it is in use (memory does not grow with the vault), else the
        catalog (the journal read whole)."""
        snapshot = self.snapshot
        if snapshot is not None:
            entries = snapshot.files + snapshot.tail.entries
            return Before(snapshot.every_file, snapshot.packs(), entries)
        if self.catalog is None:
            self.catalog = load_catalog(self.vault)
        return before_catalog(self.catalog)

    def close(self) -> None:
        if self.snapshot is not None:
            self.snapshot.close()

    def __enter__(self) -> LiveFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Before:
    """What the journal said before a writer's commits: EVERY_FILE() gives every file not
    removed in path_order (called once for each walk the new path index takes), PACKS the
    packs it names, ENTRIES how many entries it places."""

    every_file: Callable[[], Iterable[Located]]
    packs: set[str]
    entries: int


def before_catalog(catalog: Catalog) -> Before:
    """Before, from the whole journal (CATALOG)."""
    files = sorted(
        (
            x
            for x in catalog.located.values()
            if x.kind == efmt.Kind.FILE and x.file_id not in catalog.removed
        ),
        key=path_order,
    )
    return Before(lambda: files, catalog.referenced_packs(), len(catalog.located))


def live_files(vault: UnlockedVault) -> LiveFiles:
    snapshot = open_snapshot(vault)
    if snapshot is not None:
        on_disk = set(list_packs(vault.paths))
        if on_disk <= snapshot.packs():
            return LiveFiles(vault, snapshot, None)
        snapshot.close()  # a pack the index lacks (a crash before its record): read it all
    return LiveFiles(vault, None, load_catalog(vault))


def refresh(
    vault: UnlockedVault,
    before: Before,
    journal: JournalAppender,
    groups: Sequence[Group] = (),
    replaced: frozenset[str] | set[str] = frozenset(),
) -> None:
    """After a writer's last commit: BEFORE is what the journal said before the GROUPS
    this writer appended (whose entries replace or remove the ids REPLACED). Rebuild the
    path index when it is due. The new entries are read back from the journal one record
    at a time, in path order, so an add of 100,000 files never holds them all."""
    added = sum(g.entries for g in groups)
    if vault.keys.older_epochs:
        return  # a re-key is unfinished: the journal may still mix keys (vault/rekey.py)
    if journal.last_offset < 0 or not rebuild_due(vault, before.entries + added):
        return

    def existing() -> Iterator[Located]:
        return (x for x in before.every_file() if x.file_id not in replaced)

    packs = before.packs | {g.pack for g in groups}
    try:
        write_snapshot(
            vault,
            lambda: heapq.merge(existing(), _new_rows(journal, groups), key=path_order),
            packs,
            journal,
        )
    except (MedvaultError, ValueError):
        # Only a cache: the files are committed, and readers use the journal meanwhile. A
        # drive that is full or gone says so again at the command's next write; a damaged
        # page of the old index is verify's and repair's to report.
        return


def _new_rows(journal: JournalAppender, groups: Sequence[Group]) -> Iterator[Located]:
    """The files of GROUPS in path order. Groups whose ranges do not overlap are read one
    after the other (an add walks its sources in path order, so usually all of them are
    one chain); only overlapping chains are merged, each holding one record at a time."""
    chains: list[list[Group]] = []
    for group in sorted(groups, key=lambda g: g.first):
        for chain in chains:
            if chain[-1].last < group.first:
                chain.append(group)
                break
        else:
            chains.append([group])
    return heapq.merge(*(_chain_rows(journal, chain) for chain in chains), key=path_order)


def _chain_rows(journal: JournalAppender, chain: list[Group]) -> Iterator[Located]:
    for group in chain:
        # From the page cache if there: the commit read it back from the drive already
        # where that is asked (engine/writing.py), and this index is only a cache.
        record = index_records.loads(journal.read_back(group.appended, from_medium=False))
        if not isinstance(record, AddRecord) or record.pack != group.pack:
            raise FormatError(f"index record {group.appended.record_no} is not the one written")
        entries = sorted(record.entries, key=path_order)
        yield from (x for x in entries if x.kind == efmt.Kind.FILE)


def rebuild_due(vault: UnlockedVault, entries: int) -> bool:
    """Whether to (re)write the path index of a vault whose journal places ENTRIES entries:
    none or an unusable one and the vault is big enough to need it, or one whose tail has
    grown long."""
    snapshot = open_snapshot(vault)
    if snapshot is None:
        return entries >= REBUILD_MIN_ENTRIES
    try:
        return snapshot.tail.entries >= max(REBUILD_MIN_ENTRIES, snapshot.files // REBUILD_FRACTION)
    finally:
        snapshot.close()


def write_snapshot(
    vault: UnlockedVault,
    live: Callable[[], Iterable[Located]],
    packs: set[str],
    journal: JournalAppender,
) -> None:
    """Write the path index of the files LIVE() gives (every file not removed, in
    path_order) and PACKS (every pack the index names), which must be what JOURNAL's records
    so far say. Every file not removed, not only the newest of each path: two can share a
    path (catalog.live() shows the newest), and if the newest is removed later, the older
    one is what the journal lists again. A crash leaves the old one, which still matches the
    journal (records are only ever appended)."""
    covers = snapshot_fmt.Covers(
        journal.next_record, journal.end, journal.last_offset, journal.last_nonce.hex()
    )
    path_snapshot.write(vault.paths, vault.keys, live, packs, covers, PAGE_ROWS)


def check(vault: UnlockedVault, live: list[Located]) -> str:
    """verify's word on the path index, given the live files the journal gives: "ok",
    "none" (a vault too small to need one), or what is wrong with it."""
    if not vault.paths.path_index.exists():
        return "none"
    snapshot = open_snapshot(vault)
    if snapshot is None:
        return "damaged, or made from another index: not used (`medvault repair` rewrites it)"
    if not set(list_packs(vault.paths)) <= snapshot.packs():
        snapshot.close()  # readers do not use it while the index lacks a pack (see index)
        return WAITING
    try:
        listed = list(snapshot.live())
    except (MedvaultError, ValueError) as exc:
        return f"damaged ({exc}): `medvault repair` rewrites it"
    finally:
        snapshot.close()
    if listed != live:
        return "disagrees with the index (`medvault repair` rewrites it)"
    return "ok"


def replace_if_unsound(vault: UnlockedVault) -> bool:
    """repair: remove a path index verify would fault, and write a new one if the vault
    is big enough to need it. True if the old one was removed."""
    catalog = load_catalog(vault)
    if catalog.index_damage is not None or check(vault, catalog.live()) in SOUND:
        return False
    path_snapshot.remove(vault.paths)
    refresh(vault, before_catalog(catalog), JournalAppender(vault.paths, vault.keys))
    return True
