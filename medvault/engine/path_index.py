"""The path index: list the vault, or find one path, without reading the whole journal.

The journal (store/journal.py) holds every change since the vault was made, so reading it
costs time and memory in proportion to the vault's history. The path index
(format/path_index_file.py) is a sorted snapshot of the live files as of one journal record,
in encrypted pages of PAGE_ROWS rows. A reader takes the snapshot plus the journal records
written after it (the tail, kept short by rebuilding the snapshot once it grows): finding
one path reads the directory, one page and the tail; listing streams the pages in order.

It is a cache, like the journal itself: a missing, damaged or stale snapshot (one whose
last record is not in the journal where it says) is simply not used, and readers fall back
to the whole journal (engine/catalog.py), which stays the authority.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import heapq
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from medvault.crypto.symmetric import (
    GCM_TAG_LEN,
    gcm_open,
    gcm_seal,
    random_bytes,
)
from medvault.engine.catalog import Catalog, Located, load_catalog
from medvault.engine.session import UnlockedVault
from medvault.engine.writing import Group, path_order
from medvault.errors import FormatError, MedvaultError, NotFound
from medvault.format import entry as efmt
from medvault.format import index_records
from medvault.format import path_index_file as snapshot_fmt
from medvault.format.index_records import AddRecord
from medvault.format.meta import normalize_path
from medvault.secret import Secret
from medvault.store import fsio
from medvault.store.fsio import fsync_dir, media_errors
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
    """An open path index, checked against the journal, with the journal's tail."""

    def __init__(
        self,
        vault: UnlockedVault,
        handle: BinaryIO,
        prelude: snapshot_fmt.Prelude,
        directory: snapshot_fmt.Directory,
    ) -> None:
        self.vault = vault
        self._handle = handle
        self.prelude = prelude
        self.directory = directory
        self._key = vault.keys.path_index()
        self._lasts = [page.last for page in directory.pages]
        self.tail = Tail()

    @property
    def files(self) -> int:
        return self.directory.files

    def close(self) -> None:
        self._handle.close()

    def page(self, number: int) -> list[Located]:
        ref = self.directory.pages[number]
        self._handle.seek(ref.offset)
        data = self._handle.read(ref.length)
        if len(data) != ref.length:
            raise FormatError("path index: a page is cut short")
        aad = snapshot_fmt.aad(self.vault.vault_id, self.prelude.snapshot_id, number)
        plain = gcm_open(
            self._key, data[: snapshot_fmt.NONCE_LEN], data[snapshot_fmt.NONCE_LEN :], aad
        )
        return [_located(row) for row in snapshot_fmt.decode_page(plain, ref)]

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


def _located(row: list[Any]) -> Located:
    file_id, pack, offset, header_len, payload_len, path, size, sha256, added_at, mtime, refs = row
    return Located(
        file_id,
        pack,
        offset,
        header_len,
        payload_len,
        int(efmt.Kind.FILE),
        path,
        size,
        sha256,
        added_at,
        mtime,
        tuple(refs),
    )


def _row(loc: Located) -> list[Any]:
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


def open_snapshot(vault: UnlockedVault) -> Snapshot | None:
    """The path index with the journal's tail applied, or None when there is none or it
    cannot be used (damaged, stale, or the journal after it is damaged): then read the whole
    journal instead, which also reports any damage."""
    try:
        handle = open(vault.paths.path_index, "rb")  # noqa: SIM115 (Snapshot closes it)
    except OSError:
        return None
    try:
        snapshot = _read_directory(vault, handle)
        _read_tail(vault, snapshot)
    except (MedvaultError, OSError, ValueError):
        handle.close()
        return None
    return snapshot


def _read_directory(vault: UnlockedVault, handle: BinaryIO) -> Snapshot:
    size = os.fstat(handle.fileno()).st_size
    prelude = snapshot_fmt.decode_prelude(
        handle.read(snapshot_fmt.PRELUDE_LEN), vault.vault_id, size
    )
    handle.seek(prelude.dir_offset)
    data = handle.read(prelude.dir_len)
    key = vault.keys.path_index()
    aad = snapshot_fmt.aad(vault.vault_id, prelude.snapshot_id, snapshot_fmt.DIRECTORY_PAGE)
    plain = gcm_open(key, data[: snapshot_fmt.NONCE_LEN], data[snapshot_fmt.NONCE_LEN :], aad)
    return Snapshot(
        vault, handle, prelude, snapshot_fmt.decode_directory(plain, prelude.dir_offset)
    )


def _read_tail(vault: UnlockedVault, snapshot: Snapshot) -> None:
    """Check the journal still holds the record the snapshot was made after, where the
    snapshot says, then apply every record after it."""
    covers = snapshot.directory.covers
    for record in records_after(
        vault.paths,
        vault.keys,
        covers.records,
        covers.last_offset,
        covers.last_nonce,
        covers.journal_end,
    ):
        snapshot.tail.apply(record)


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

    def select(self, wanted: list[str]) -> list[Located]:
        """Files whose path equals, or sits under, each wanted path; every one must match."""
        if not wanted:
            return list(self.all())
        chosen: dict[str, Located] = {}
        for raw in wanted:
            prefix = normalize_path(raw.strip("/"))
            hits = [
                x
                for x in self._between(prefix, prefix + "/\U0010ffff")
                if x.path == prefix or x.path.startswith(prefix + "/")
            ]
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

    def close(self) -> None:
        if self.snapshot is not None:
            self.snapshot.close()

    def __enter__(self) -> LiveFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    catalog: Catalog,
    journal: JournalAppender,
    groups: Sequence[Group] = (),
    replaced: frozenset[str] | set[str] = frozenset(),
) -> None:
    """After a writer's last commit: CATALOG is what the journal said before the GROUPS
    this writer appended (whose entries replace or remove the ids REPLACED). Rebuild the
    path index when it is due. The new entries are read back from the journal one record
    at a time, in path order, so an add of 100,000 files never holds them all."""
    added = sum(g.entries for g in groups)
    if vault.keys.older_epochs:
        return  # a re-key is unfinished: the journal may still mix keys (vault/rekey.py)
    if journal.last_offset < 0 or not rebuild_due(vault, len(catalog.located) + added):
        return
    removed = catalog.removed | replaced
    existing = sorted(
        (
            x
            for x in catalog.located.values()
            if x.kind == efmt.Kind.FILE and x.file_id not in removed
        ),
        key=path_order,
    )
    packs = catalog.referenced_packs() | {g.pack for g in groups}
    try:
        write_snapshot(
            vault,
            lambda: heapq.merge(existing, _new_rows(journal, groups), key=path_order),
            packs,
            journal.next_record,
            journal.end,
            journal.last_offset,
            journal.last_nonce,
        )
    except MedvaultError:
        # Only a cache: the files are committed, and readers use the journal meanwhile. A
        # drive that is full or gone says so again at the command's next write.
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
        record = index_records.decode(journal.read_back(group.appended))
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
    records: int,
    journal_end: int,
    last_offset: int,
    last_nonce: bytes,
) -> None:
    """Write the path index of the files LIVE() gives (every file not removed, in
    path_order) and PACKS (every pack the index names), which must be what the journal's
    first RECORDS records say (its last starting at LAST_OFFSET with LAST_NONCE, ending at
    JOURNAL_END). Every file not removed, not only the newest of each path: two can share a
    path (catalog.live() shows the newest), and if the newest is removed later, the older
    one is what the journal lists again. Written in tmp/ and renamed into place; a crash
    leaves the old one, which still matches the journal (records are only ever appended).

    The file is written once, front to back, with no seek: fusefat loses a prelude written
    back over a file smaller than a cluster (docs/RELIABILITY.md). So LIVE() is walked twice,
    first to measure the pages (which places the directory, named in the prelude), then to
    write them; memory stays one page, whatever the vault's size."""
    key = vault.keys.path_index()
    snapshot_id = random_bytes(16)
    refs, digests = _measure(live())
    directory = snapshot_fmt.Directory(
        snapshot_fmt.Covers(records, journal_end, last_offset, last_nonce.hex()),
        sum(ref.count for ref in refs),
        tuple(sorted(packs)),
        tuple(refs),
    )
    sealed_directory = _seal(
        key,
        directory.encode(),
        snapshot_fmt.aad(vault.vault_id, snapshot_id, snapshot_fmt.DIRECTORY_PAGE),
    )
    dir_offset = refs[-1].offset + refs[-1].length if refs else snapshot_fmt.PRELUDE_LEN
    prelude = snapshot_fmt.Prelude(vault.vault_id, snapshot_id, dir_offset, len(sealed_directory))
    tmp = vault.paths.tmp / "paths.mvs.tmp"
    with media_errors("the path index"):
        try:
            with fsio.create(tmp) as handle:
                fsio.write(handle, prelude.encode(), tmp)
                for number, sealed in enumerate(_sealed_pages(vault, snapshot_id, live(), digests)):
                    if len(sealed) != refs[number].length:
                        raise FormatError("path index: a page is not the length measured")
                    fsio.write(handle, sealed, tmp)
                fsio.write(handle, sealed_directory, tmp)
                fsio.fsync(handle, tmp)
            fsio.replace(tmp, vault.paths.path_index)
        except BaseException:
            _remove_quietly(tmp)
            raise
        fsync_dir(vault.paths.index_dir)


def _measure(rows: Iterable[Located]) -> tuple[list[snapshot_fmt.PageRef], list[bytes]]:
    """Where each page of ROWS will be and how long (a sealed page is its plaintext plus a
    fixed nonce and tag), and a digest of each, to check the second walk gives the same."""
    refs: list[snapshot_fmt.PageRef] = []
    digests: list[bytes] = []
    offset = snapshot_fmt.PRELUDE_LEN
    for chunk in _pages(iter(rows)):
        plain = snapshot_fmt.encode_page([_row(x) for x in chunk])
        length = snapshot_fmt.NONCE_LEN + len(plain) + GCM_TAG_LEN
        refs.append(snapshot_fmt.PageRef(chunk[0].path, chunk[-1].path, offset, length, len(chunk)))
        digests.append(hashlib.sha256(plain).digest())
        offset += length
    return refs, digests


def _sealed_pages(
    vault: UnlockedVault, snapshot_id: bytes, rows: Iterable[Located], digests: list[bytes]
) -> Iterator[bytes]:
    """The pages of ROWS sealed, each checked to be the one _measure saw (DIGESTS)."""
    key = vault.keys.path_index()
    plains = (snapshot_fmt.encode_page([_row(x) for x in chunk]) for chunk in _pages(iter(rows)))
    for number, (plain, digest) in enumerate(itertools.zip_longest(plains, digests)):
        if plain is None or digest != hashlib.sha256(plain).digest():
            raise FormatError("path index: the files changed while it was written")
        yield _seal(key, plain, snapshot_fmt.aad(vault.vault_id, snapshot_id, number))


def _pages(rows: Iterator[Located]) -> Iterator[list[Located]]:
    while chunk := list(itertools.islice(rows, PAGE_ROWS)):
        yield chunk


def _seal(key: Secret, plain: bytes, aad: bytes) -> bytes:
    nonce = random_bytes(snapshot_fmt.NONCE_LEN)
    return nonce + gcm_seal(key, nonce, plain, aad)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


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
    with media_errors("the path index"):
        fsio.unlink(vault.paths.path_index, missing_ok=True)
    fsync_dir(vault.paths.index_dir)
    refresh(vault, catalog, JournalAppender(vault.paths, vault.keys))
    return True
