"""Writing entries into packs with group commit (shared by add, rm and compact).

A Committer collects entries in the current pack; `commit()` makes the pack durable
(tmp -> fsync -> rename -> fsync dir), reads it back from the drive when asked
(READ_BACK: engine/verify_written.py), then appends one index record and fsyncs it (and reads
that back too). Only after that are the entries reported as committed.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from medvault.engine.catalog import Catalog, Located
from medvault.engine.session import UnlockedVault, write_headers
from medvault.errors import MedvaultError
from medvault.format import vault_header as hfmt
from medvault.format.index_records import encode_add
from medvault.store import fsio
from medvault.store.fsio import fsync_dir, media_errors
from medvault.store.journal import Appended, JournalAppender, segment_name
from medvault.store.layout import VaultPaths
from medvault.store.packs import PackWriter

PACK_TARGET = 32 * 1024 * 1024  # close a pack of small files at about this size
# ... or at this many entries. A commit holds its entries (~600 bytes each), their index
# record's JSON and its frame (~280 bytes each), and the path index's refresh reads each
# record back whole (its JSON, then a Located per entry). At 4,096 entries, with the record
# built as dicts, that was ~10 MiB of a 10,000-file add's peak; streamed, 1,024 entries
# cost ~0.2 MiB more than 512 did (2,048: ~1.4 MiB). Fewer commits (fsyncs): with 1 GiB of
# other writes pending, that add took ~5% less time than with packs of 512.
PACK_ENTRIES = 1024


def open_journal(vault: UnlockedVault, catalog: Catalog | None) -> JournalAppender:
    """The index, ready for appends, with any pack it lacks (left by a crash between a
    pack's rename and its index record) indexed first. CATALOG None: the caller found
    every pack indexed (engine/path_index.live_files uses the path index only then)."""
    header = vault.require_header()
    if header.body.version < hfmt.FORMAT_VERSION:
        # The index gets segment files now: mark the vault (header version 3) first, so
        # that an older medvault refuses it rather than appending to the base file alone.
        vault.header = write_headers(vault.paths, vault.keys, replace(header, seq=header.seq + 1))
    journal = JournalAppender(vault.paths, vault.keys)
    if catalog is None:
        return journal
    for name in catalog.unindexed_packs:
        if name in catalog.scan_damage:
            continue  # damaged packs are for verify/repair to report, not to index
        entries = [loc for loc in catalog.located.values() if loc.pack == name]
        if entries:
            journal.append_json(encode_add(name, entries))
    return journal


@dataclass(frozen=True)
class Group:
    """One committed pack: its index record, and the first and last of its entries in path
    order, so the path index can be written from the journal one record at a time."""

    appended: Appended
    pack: str
    first: tuple[str, str]  # (path, added_at)
    last: tuple[str, str]
    entries: int


def path_order(loc: Located) -> tuple[str, str]:
    """The order of the path index: by path, older first."""
    return (loc.path, loc.added_at)


class Committer:
    """KEEP: list every committed entry in `committed`; without it only counts, digests
    and where each group's index record is are kept (32 bytes an entry, not ~600), and
    the entries can be read back from the journal (`appended`)."""

    def __init__(
        self,
        vault: UnlockedVault,
        journal: JournalAppender,
        on_commit: Callable[[list[Located]], None] | None = None,
        keep: bool = True,
        read_back: bool = False,
    ) -> None:
        self.vault = vault
        self.read_back = read_back
        self.journal = journal
        self.on_commit = on_commit
        self.keep = keep
        self.writer: PackWriter | None = None
        self.pending: list[Located] = []
        self.committed: list[Located] = []
        self.groups: list[Group] = []
        self.replaced: set[str] = set()  # ids the committed entries replace or remove
        self.count = 0
        self.bytes = 0
        self._digests = bytearray()  # the SHA-256 (32 bytes) of each entry

    def entry(self, length: int) -> PackWriter:
        """The pack to write an entry of LENGTH bytes into, reserved for it: the current
        one if it has room, else a new one once the current one is committed (each part
        is written once, front to back, with its final prelude)."""
        if self.writer is not None and not self.writer.fits(length):
            self.commit()
        if self.writer is None:
            self.writer = PackWriter(self.vault.paths, self.vault.vault_id, self.vault.part_size)
        writer = self.writer
        writer.reserve(length)
        return writer

    @property
    def pending_bytes(self) -> int:
        return 0 if self.writer is None else self.writer.position

    def add_pending(self, loc: Located) -> None:
        self.pending.append(loc)

    @property
    def full(self) -> bool:
        """The current pack has reached its size or entry count: time to commit."""
        return self.pending_bytes >= PACK_TARGET or len(self.pending) >= PACK_ENTRIES

    def commit(self) -> None:
        if self.writer is None:
            return
        writer, pending = self.writer, self.pending
        self.writer, self.pending = None, []
        if not pending:
            writer.abort()
            return
        try:
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        if self.read_back:
            # Here, not at the top: readback needs reading, which needs the path index,
            # which needs this module.
            from medvault.engine.verify_written import not_verified, read_back_pack

            read_back_pack(self.vault, writer.name, pending)
        try:
            appended = self.journal.append_json(encode_add(writer.name, pending))
        except MedvaultError:
            # Not indexed, not reported: take the pack off the drive too, so that no file
            # the user was not told about is listed (from an unindexed pack) afterwards.
            self._withdraw(writer.name, self.journal.next_record)
            raise
        if self.read_back:
            try:
                self.journal.read_back(appended)
            except MedvaultError as exc:
                segment = self.vault.paths.index_dir / segment_name(appended.record_no)
                if segment.exists():  # else a fold took it into the base: repair's to mend
                    self._withdraw(writer.name, appended.record_no)
                raise not_verified([loc.path for loc in pending], exc.message) from None
        order = [path_order(loc) for loc in pending]
        self.groups.append(Group(appended, writer.name, min(order), max(order), len(pending)))
        self.count += len(pending)
        self.bytes += sum(loc.size for loc in pending)
        for loc in pending:
            self._digests += bytes.fromhex(loc.sha256)
            self.replaced.update(loc.references)
        if self.keep:
            self.committed.extend(pending)
        if self.on_commit is not None:
            self.on_commit(pending)

    def _withdraw(self, pack: str, record_no: int) -> None:
        """Best effort, while an error is raised: the index segment of record RECORD_NO,
        which this commit may have renamed in, then the pack (part 0 first: what is left is
        never listed)."""
        from medvault.engine.verify_written import remove_pack

        segment = self.vault.paths.index_dir / segment_name(record_no)
        with contextlib.suppress(OSError):
            fsio.unlink(segment, missing_ok=True)
        remove_pack(self.vault, pack)

    def digest_of_digests(self) -> str:
        """custody.digest_of_digests of the committed entries."""
        digests = (self._digests[i : i + 32].hex() for i in range(0, len(self._digests), 32))
        return digest_of_digests(digests)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
        self.writer, self.pending = None, []

    def __enter__(self) -> Committer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def digest_of_digests(sha256_hex: Iterable[str]) -> str:
    """The `sha256_of_digests` of an event: SHA-256 of the files' SHA-256s (lowercase hex),
    sorted and concatenated. One definition for add, extract and scan --into, so the
    extract of exactly the files an add stored shows the same value."""
    return hashlib.sha256("".join(sorted(sha256_hex)).encode()).hexdigest()


def sweep_tmp(paths: VaultPaths) -> int:
    """Delete leftovers of interrupted writes, and make tmp/ again if it is gone (a copy
    of the vault by a tool that skips empty folders leaves none). Only called while
    holding the writer lock."""
    count = 0
    if not paths.tmp.is_dir():
        with media_errors("the vault's tmp/ folder"):
            paths.tmp.mkdir(exist_ok=True)
        fsync_dir(paths.root)
        return count
    for item in sorted(paths.tmp.iterdir()):
        with contextlib.suppress(OSError):
            fsio.unlink(item)
            count += 1
    return count
