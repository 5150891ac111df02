"""`medvault verify`: authenticate every header copy, the index, every object and part.

Every entry is authenticated, payload included: live files by decrypting them, and also
the entries no file points at any more (removed or replaced files, tombstones), so a byte
changed anywhere in a pack is reported, not only where it would hurt an extraction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from medvault.engine import path_index
from medvault.engine.catalog import Catalog, Located, load_catalog
from medvault.engine.entry_reading import (
    authenticate_entry,
    discard_plaintext,
    following_compact,
    open_reader,
    pack_exists,
    stream_entry,
)
from medvault.engine.session import UnlockedVault, header_copy_status, read_headers
from medvault.errors import MedvaultError
from medvault.format import entry as efmt
from medvault.format import vault_header as hfmt
from medvault.keys import header_auth
from medvault.store.journal import segments as journal_segments

REMOVALS_OK = "ok"
REMOVALS_NOT_RECORDED = (
    "not recorded: this vault's header is from an earlier medvault, so a deleted tombstone "
    "would not be noticed; the next `medvault rm` starts the record"
)
REMOVALS_SOUND = frozenset({REMOVALS_OK, REMOVALS_NOT_RECORDED})
# A commit takes milliseconds: a writer lock held through all the tries (a dead writer's)
# no longer delays the report.
SETTLE_TRIES = 40
SETTLE_PAUSE_S = 0.05


@dataclass
class VerifyReport:
    headers: dict[str, str] = field(default_factory=dict)
    index: str = "ok"
    files_ok: int = 0
    bytes_ok: int = 0
    damaged: dict[str, str] = field(default_factory=dict)  # stored path -> problem
    missing: dict[str, str] = field(default_factory=dict)
    damaged_packs: dict[str, str] = field(default_factory=dict)
    pack_of: dict[str, str] = field(default_factory=dict)  # damaged stored path -> its pack
    path_index: str = "none"  # "ok", "none" (not needed yet), or what is wrong with it
    removals: str = REMOVALS_OK  # whether the packs hold every tombstone the header records
    # Not damage, work for `repair`: packs no index record names yet (pack -> what it is),
    # and entries the index places where they are not (stored path or id -> where they are).
    unindexed: dict[str, str] = field(default_factory=dict)
    misplaced: dict[str, str] = field(default_factory=dict)
    # `index` names only what one interrupted write leaves (the packs in `unindexed`)
    index_in_flight: bool = False

    def packs_with_damage(self) -> dict[str, str]:
        """Every pack with damage of any kind (pack -> first problem): what has no second
        copy, so `repair` cannot fix it."""
        out = dict(self.damaged_packs)
        for path, problem in self.damaged.items():
            out.setdefault(self.pack_of[path], f"{path}: {problem}")
        return out

    @property
    def damage_free(self) -> bool:
        """Nothing damaged, missing or unproven (exit 19 otherwise)."""
        return (
            all(v == "ok" for v in self.headers.values())
            and (self.index == "ok" or self.index_in_flight)
            and not self.damaged
            and not self.missing
            and not self.damaged_packs
            and self.path_index in path_index.SOUND
            and self.removals in REMOVALS_SOUND
        )

    @property
    def needs_repair(self) -> bool:
        """Work an interrupted write left, which `repair` finishes (exit 24)."""
        return bool(self.unindexed or self.misplaced)

    @property
    def ok(self) -> bool:
        return self.damage_free and not self.needs_repair

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "needs_repair": self.needs_repair,
            "headers": self.headers,
            "index": self.index,
            "files_ok": self.files_ok,
            "bytes_ok": self.bytes_ok,
            "damaged": self.damaged,
            "missing": self.missing,
            "damaged_packs": self.damaged_packs,
            "path_index": self.path_index,
            "removals": self.removals,
            "unindexed": self.unindexed,
            "misplaced": self.misplaced,
        }


def header_status(vault: UnlockedVault) -> dict[str, str]:
    """Each header copy: "ok", or why it is not the authentic copy in force."""
    return header_copy_status(vault)


def _journal_mark(vault: UnlockedVault) -> tuple[int, int, tuple[str, ...]] | None:
    """What changes when a writer commits: the base file, and the segments (a commit adds
    one; a fold replaces the base and deletes them)."""
    try:
        st = vault.paths.journal.stat()
    except FileNotFoundError:
        return None
    names = tuple(path.name for _first, path in journal_segments(vault.paths))
    return st.st_size, st.st_mtime_ns, names


def settled_catalogs(vault: UnlockedVault) -> tuple[Catalog, Catalog]:
    """The index and a scan of the packs as of one moment. A writer committing meanwhile
    (a pack renamed into objects/ before its index record is appended, or a commit
    between the two reads) is not damage: read again until nothing changed in between
    and no pack waits for its record, or nobody holds the writer lock (then what is
    left is a real problem, reported as before)."""
    for _ in range(SETTLE_TRIES):
        mark = _journal_mark(vault)
        indexed = load_catalog(vault)
        scanned = load_catalog(vault, use_index=False)
        still = _journal_mark(vault) == mark and set(indexed.packs_on_disk) == set(
            scanned.packs_on_disk
        )
        if still and (index_status(indexed, scanned) == "ok" or not vault.paths.lock.exists()):
            break
        time.sleep(SETTLE_PAUSE_S)
    return indexed, scanned


def index_status(
    indexed: Catalog, scanned: Catalog, pack_problems: Mapping[str, str] | None = None
) -> str:
    """Whether the index agrees with the objects ("ok"), or what is wrong with it. When a
    pack is damaged the two may disagree because of it: that pack is named instead."""
    if indexed.index_damage:
        return indexed.index_damage
    if indexed.unindexed_packs:
        return _unindexed(indexed)
    return _agreement(indexed, scanned, pack_problems)


def _agreement(indexed: Catalog, scanned: Catalog, pack_problems: Mapping[str, str] | None) -> str:
    live_index = {x.file_id for x in indexed.live()}
    live_scan = {x.file_id for x in scanned.live()}
    if not scanned.scan_damage and not pack_problems and live_index != live_scan:
        return "index and objects disagree about which files exist"
    return "ok"


def index_in_flight(
    indexed: Catalog, scanned: Catalog, pack_problems: Mapping[str, str] | None = None
) -> bool:
    """Whether the index's only problem is what one interrupted write leaves, which is not
    damage: packs no index record names, all readable, at most one of them holding entries
    of its own (a writer renames one pack at a time before its record; compact's spares
    hold only copies). Several such packs mean index records were lost: damage."""
    if indexed.index_damage or not indexed.unindexed_packs:
        return False
    kinds = _unindexed_kinds(indexed)
    if any(name in indexed.scan_damage for name, _ in kinds):
        return False
    if sum(1 for _, count in kinds if count) > 1:
        return False
    return _agreement(indexed, scanned, pack_problems) == "ok"


def _unindexed_kinds(indexed: Catalog) -> list[tuple[str, int]]:
    """Each pack no index record names, with how many entries of its own it holds (the
    index finds none of them elsewhere)."""
    counts = dict.fromkeys(indexed.unindexed_packs, 0)
    for loc in indexed.located.values():
        if loc.pack in counts:
            counts[loc.pack] += 1
    return sorted(counts.items())


def _unindexed(indexed: Catalog) -> str:
    """Name the packs an interrupted write left out of the index, and what fixes them."""
    kinds = _unindexed_kinds(indexed)
    unreadable = sorted(n for n, c in kinds if c == 0 and n in indexed.scan_damage)
    spares = sorted(n for n, c in kinds if c == 0 and n not in indexed.scan_damage)
    pending = {name: n for name, n in kinds if n}
    said = []
    if pending:
        names = ", ".join(
            f"{name} ({n} {'entry' if n == 1 else 'entries'})"
            for name, n in sorted(pending.items())
        )
        said.append(
            f"not in the index yet: pack {names}, written by an interrupted add, rm or "
            "compact; the next write to the vault or `medvault repair` indexes it"
        )
    if unreadable:
        said.append(
            f"pack {', '.join(unreadable)} is in no index record and cannot be read (an "
            "interrupted write, or damage); `medvault repair` removes it if it holds no data"
        )
    if spares:
        said.append(
            f"pack {', '.join(spares)} holds only copies of entries stored elsewhere "
            "(an interrupted compact); `medvault repair` removes it"
        )
    return "; ".join(said)


def unindexed_packs(indexed: Catalog) -> dict[str, str]:
    """The readable packs an interrupted write left out of the index (pack -> what it is
    and what fixes it): not damage, their entries authenticate and are read directly."""
    out = {}
    for name, count in _unindexed_kinds(indexed):
        if name in indexed.scan_damage:
            continue
        if count:
            out[name] = (
                f"not yet indexed: {count} {'entry' if count == 1 else 'entries'} written by "
                "an interrupted add, rm or compact; run `medvault repair` to index it"
            )
        else:
            out[name] = (
                "holds only copies of entries stored elsewhere (an interrupted compact); "
                "run `medvault repair` to remove it"
            )
    return out


def misplaced_entries(indexed: Catalog, scanned: Catalog) -> dict[str, str]:
    """Entries the (authentic) index places at an offset of their pack where the walk of
    that pack did not find them, though it found them elsewhere in it, intact (stored path,
    or id for a tombstone -> where): readers find them by their headers; `repair` rewrites
    the index."""
    out = {}
    for file_id, loc in indexed.located.items():
        found = scanned.located.get(file_id)
        if found is None or found.pack != loc.pack:
            continue
        if (found.offset, found.header_len, found.payload_len) != (
            loc.offset,
            loc.header_len,
            loc.payload_len,
        ):
            out[loc.path or file_id] = (
                f"pack {loc.pack}: the index places it at offset {loc.offset}, its "
                f"authenticated header is at offset {found.offset}"
            )
    return out


def header_now(vault: UnlockedVault) -> hfmt.VaultHeader:
    """The header in force on the drive now, authentic under this vault's key: another
    process may have changed it since this one unlocked."""
    for parsed in read_headers(vault.paths).best_first():
        if header_auth.is_authentic(vault.keys, parsed):
            return parsed.header
    return vault.require_header()


def removals_status(vault: UnlockedVault, scanned: Catalog) -> str:
    """Whether the packs hold exactly the tombstones the header records (FORMAT.md section
    3.3). The header is read before and after the walk: an rm that ran meanwhile changed
    it, and either read accepts what the walk found."""
    before = vault.header.body.removals if vault.header is not None else None
    present = scanned.tombstones()
    if before is not None and before.accepts(present):
        return REMOVALS_OK
    after = header_now(vault).body.removals
    if after is None:
        return REMOVALS_NOT_RECORDED if before is None else _unproven(before.recorded, present)
    if after.accepts(present):
        return REMOVALS_OK
    return _unproven(after.recorded, present)


def _unproven(recorded: hfmt.Tally, present: hfmt.Tally) -> str:
    if present.count < recorded.count:
        what = (
            f"{recorded.count - present.count} of the {recorded.count} tombstone(s) the "
            "header records are not in any pack (deleted, or in a damaged pack)"
        )
    elif present.count > recorded.count:
        what = (
            f"the packs hold {present.count} tombstones, the header records "
            f"{recorded.count} (an older header put back?)"
        )
    else:
        what = "the tombstones in the packs are not the ones the header records"
    return (
        f"not proven: {what}; files removed earlier may be listed again. Check `medvault "
        "ls` against the registry's rm events"
    )


def short_packs(vault: UnlockedVault, indexed: Catalog, scanned: Catalog) -> dict[str, str]:
    """Packs the walk in SCANNED could not read to the end (pack -> first problem), and
    those where the (authentic) index places an entry past the pack's end: a pack cut
    exactly between two entries walks cleanly."""
    out = dict(scanned.scan_damage)
    walked = set(scanned.packs_on_disk) - set(out)
    ends: dict[str, int] = {}
    for loc in indexed.located.values():
        found = scanned.located.get(loc.file_id)
        if found is not None and found.pack == loc.pack:
            loc = found  # the walk found it in this pack: misplaced at most, not cut off
        if loc.pack in walked:
            end = loc.offset + loc.header_len + loc.payload_len
            ends[loc.pack] = max(ends.get(loc.pack, 0), end)
    for pack, end in sorted(ends.items()):
        try:
            with open_reader(vault, pack) as reader:
                size = reader.logical_size()
        except MedvaultError as exc:
            out[pack] = exc.message
            continue
        if size < end:
            out[pack] = f"the index places entries up to offset {end}; the pack ends at {size}"
    return out


def pack_damage(
    vault: UnlockedVault, indexed: Catalog, scanned: Catalog, live_ids: set[str]
) -> dict[str, str]:
    """Problems of the packs SCANNED read (pack -> first problem), beyond the live files
    (LIVE_IDS): a short pack, or an entry no file points at that fails."""
    out = short_packs(vault, indexed, scanned)
    for pack, problem in dead_entry_damage(vault, scanned, live_ids).items():
        out.setdefault(pack, problem)
    return out


def dead_entry_damage(vault: UnlockedVault, scanned: Catalog, live_ids: set[str]) -> dict[str, str]:
    """Authenticate the payload of every entry that is not a live file (removed or replaced
    files, tombstones): nothing reads them, but a changed byte there is still tampering."""
    out: dict[str, str] = {}
    dead = [x for x in scanned.located.values() if x.file_id not in live_ids]
    for loc in sorted(dead, key=lambda x: (x.pack, x.offset)):
        if loc.pack in out:
            continue
        try:
            with open_reader(vault, loc.pack) as reader:
                authenticate_entry(vault, reader, loc)
        except MedvaultError as exc:
            what = "removed file" if loc.kind == efmt.Kind.FILE else "tombstone"
            out[loc.pack] = f"{what} entry at offset {loc.offset}: {exc.message}"
    return out


def verify(vault: UnlockedVault, progress: Callable[[int], None] | None = None) -> VerifyReport:
    report = VerifyReport(headers=header_status(vault))
    indexed, scanned = settled_catalogs(vault)
    live_index = {x.file_id: x for x in indexed.live()}
    live_scan = {x.file_id: x for x in scanned.live()}
    on_disk = set(scanned.packs_on_disk)
    everything: dict[str, Located] = {**live_scan, **live_index}
    for loc in sorted(everything.values(), key=lambda x: x.path):
        if loc.pack not in on_disk:
            report.missing[loc.path] = f"pack {loc.pack} is missing"
            continue
        try:
            _check_entry(vault, loc, progress)
        except MedvaultError as exc:
            report.damaged[loc.path] = exc.message
            report.pack_of[loc.path] = loc.pack
            continue
        report.files_ok += 1
        report.bytes_ok += loc.size
    report.damaged_packs = {
        pack: problem
        for pack, problem in pack_damage(vault, indexed, scanned, set(everything)).items()
        # a pack a running compact deleted after the catalogs were read is not damage
        if pack_exists(vault, pack) or not vault.paths.lock.exists()
    }
    report.index = index_status(indexed, scanned, report.damaged_packs)
    report.index_in_flight = index_in_flight(indexed, scanned, report.damaged_packs)
    report.unindexed = unindexed_packs(indexed) if indexed.index_damage is None else {}
    report.misplaced = misplaced_entries(indexed, scanned) if indexed.index_damage is None else {}
    report.removals = removals_status(vault, scanned)
    if indexed.index_damage is None:
        report.path_index = path_index.check(vault, indexed.live())
        if report.path_index not in path_index.SOUND:
            # A writer may have moved on between the two reads: judge it on a fresh read.
            report.path_index = path_index.check(vault, load_catalog(vault).live())
    return report


def _check_entry(
    vault: UnlockedVault, loc: Located, progress: Callable[[int], None] | None
) -> None:
    """Authenticate LOC; if a compact moved it since the catalogs were read, where it is now."""

    def check_at(at: Located) -> None:
        with open_reader(vault, at.pack) as reader:
            reader.check_all_parts()
            stream_entry(vault, reader, at, discard_plaintext, progress)

    following_compact(vault, loc, check_at)
