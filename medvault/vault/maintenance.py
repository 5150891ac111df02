"""rm, compact, repair and passwd: everything that changes a vault without adding files."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace

from medvault.config import current_passphrase_policy
from medvault.crypto.symmetric import random_bytes
from medvault.engine import path_index
from medvault.engine.catalog import Catalog, Located, load_catalog, walk_pack
from medvault.engine.entry_reading import open_reader, stream_entry
from medvault.engine.session import UnlockedVault, check_headers_written, write_headers
from medvault.engine.upgrade import copy_upgraded, needs_upgrade
from medvault.engine.writing import Committer, open_journal, sweep_tmp
from medvault.errors import IntegrityError, MedvaultError
from medvault.format import entry as efmt
from medvault.format import pack as pfmt
from medvault.format import vault_header as hfmt
from medvault.format.index_records import add_record, drop_record
from medvault.format.meta import MAX_REFERENCES, TombstoneMeta
from medvault.keys.passphrase import policy_record
from medvault.keys.slots import make_slot
from medvault.registry.actions import Action
from medvault.registry.records import CustodyRegistry
from medvault.secret import Secret
from medvault.store import fsio
from medvault.store.entries import open_header, seal_entry
from medvault.store.journal import rewrite_journal
from medvault.store.layout import VaultPaths
from medvault.store.lock import writer_lock
from medvault.store.packs import PackReader, delete_pack
from medvault.store.readback import needs_readback
from medvault.vault.custody import record as record_event
from medvault.vault.env import Env
from medvault.vault.verify import (
    REMOVALS_OK,
    header_now,
    misplaced_entries,
    short_packs,
    verify,
)

# One tombstone names at most this many files, so its metadata stays under the 64 KiB cap.
TOMBSTONE_BATCH = MAX_REFERENCES


def remove_paths(
    vault: UnlockedVault, wanted: list[str], registry: CustodyRegistry, env: Env
) -> int:
    """Write tombstones naming every file under WANTED; returns how many were removed.

    The header records the tombstones (FORMAT.md section 3.3) around the write: first as
    pending, then as recorded, so a crash anywhere leaves a header that accepts what the
    packs hold, and a tombstone deleted later no longer matches it."""
    with writer_lock(vault.paths.lock):
        sweep_tmp(vault.paths)
        # Through the path index when it can be used: removing one file from a vault of a
        # million does not load the whole journal.
        with path_index.live_files(vault) as files:
            chosen = files.select(wanted)
            catalog = files.catalog
        ids = tuple(sorted(x.file_id for x in chosen))
        batches = [ids[at : at + TOMBSTONE_BATCH] for at in range(0, len(ids), TOMBSTONE_BATCH)]
        tombstone_ids = [random_bytes(16) for _ in batches]
        recorded = _recorded_removals(vault, catalog)
        journal = open_journal(vault, catalog)
        adding = hfmt.Tally.of(tombstone_ids)
        if batches:
            write_removals(vault, hfmt.Removals(recorded, adding))
        with Committer(vault, journal, read_back=_read_back(vault)) as committer:
            for file_id, batch in zip(tombstone_ids, batches, strict=True):
                write_tombstone(vault, committer, file_id, batch, env)
        if batches:
            write_removals(vault, hfmt.Removals(recorded.plus(adding)))
    record_event(
        registry,
        env,
        Action.RM,
        {"files": len(ids), "bytes": sum(x.size for x in chosen)},
        vault=vault,
    )
    return len(ids)


def _recorded_removals(vault: UnlockedVault, catalog: Catalog | None) -> hfmt.Tally:
    """The tombstones the header records, with an interrupted rm's pending ones counted
    when the packs hold them. A header from before the record existed starts it from what
    the vault holds now (nothing earlier can be proven). Never adopts a count the header
    does not accept: a tombstone deleted meanwhile stays missing. Only those two cases
    count the tombstones present, from CATALOG (read now when None: the caller used the
    path index, which lists live files only)."""
    removals = header_now(vault).body.removals
    if removals is not None and removals.pending is None:
        return removals.recorded
    present = (catalog if catalog is not None else load_catalog(vault)).tombstones()
    if removals is None:
        return present
    if removals.pending is not None and present == removals.recorded.plus(removals.pending):
        return present
    return removals.recorded


def write_removals(vault: UnlockedVault, removals: hfmt.Removals) -> None:
    """Both header copies, in place, with REMOVALS (the next sequence number)."""
    current = header_now(vault)
    body = replace(current.body, removals=removals)
    vault.header = write_headers(
        vault.paths, vault.keys, replace(current, seq=current.seq + 1, body=body)
    )
    vault.authentic_copies = {"vault.mvh", "vault.mvh.bak"}


def _read_back(vault: UnlockedVault) -> bool:
    """On FUSE and removable drives, tombstones and compact's copies are read back before
    they count (compact deletes the old packs once its copies are committed)."""
    return needs_readback(vault.paths.root, "auto")


def write_tombstone(
    vault: UnlockedVault, committer: Committer, file_id: bytes, ids: tuple[str, ...], env: Env
) -> None:
    meta = TombstoneMeta(ids, env.timestamp(), env.actor.user, env.actor.host).encode()
    sealed = seal_entry(vault.keys, file_id, efmt.Kind.TOMBSTONE, meta, 0)
    entry = sealed.header + sealed.encryptor().finish_bytes()
    writer = committer.entry(len(entry))
    offset = writer.position
    writer.write(entry)
    committer.add_pending(
        Located(
            file_id=file_id.hex(),
            pack=writer.name,
            offset=offset,
            header_len=len(sealed.header),
            payload_len=sealed.payload_len,
            kind=int(efmt.Kind.TOMBSTONE),
            references=ids,
        )
    )


@dataclass
class CompactResult:
    packs_rewritten: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    entries_dropped: int = 0
    entries_upgraded: int = 0  # format 1.0 entries written again as format 1.1


def _pack_sizes(vault: UnlockedVault, names: list[str]) -> tuple[dict[str, int], set[str]]:
    """Each pack's size, and the packs written in an older format than writers write now
    (format 1.0): compact rewrites those whatever their live share, so a compacted vault is
    all format 1.1. One opening of each pack gives both."""
    sizes, old_format = {}, set()
    for name in names:
        with open_reader(vault, name) as reader:
            sizes[name] = reader.logical_size()
            if needs_upgrade(reader):
                old_format.add(name)
    return sizes, old_format


def compact(
    vault: UnlockedVault, registry: CustodyRegistry, env: Env, threshold: float = 0.5
) -> CompactResult:
    """Rewrite packs whose live bytes are under THRESHOLD of their size; drop dead entries."""
    result = CompactResult()
    with writer_lock(vault.paths.lock):
        sweep_tmp(vault.paths)
        catalog = load_catalog(vault)
        if catalog.index_damage or catalog.scan_damage:
            raise IntegrityError("the vault has damage; run `medvault repair` before compacting")
        sizes, old_format = _pack_sizes(vault, catalog.packs_on_disk)
        live_ids = {x.file_id for x in catalog.live()}
        keep = _entries_to_keep(catalog, live_ids)
        live_bytes: dict[str, int] = dict.fromkeys(sizes, 0)
        for loc in catalog.located.values():
            if loc.file_id in keep and loc.pack in live_bytes:
                live_bytes[loc.pack] += loc.header_len + loc.payload_len
        victims = [n for n in sizes if live_bytes[n] < threshold * sizes[n] or n in old_format]
        if not victims:
            return result
        journal = open_journal(vault, catalog)
        with Committer(vault, journal, read_back=_read_back(vault)) as committer:
            for name in victims:
                movers = [
                    x for x in catalog.located.values() if x.pack == name and x.file_id in keep
                ]
                upgrade = name in old_format
                with open_reader(vault, name) as reader:
                    for loc in sorted(movers, key=lambda x: x.offset):
                        moved = _move_entry(vault, reader, loc, committer, upgrade)
                        result.bytes_after += moved.header_len + moved.payload_len
                        result.entries_upgraded += upgrade
                        if committer.full:
                            committer.commit()
        journal.append(drop_record(victims))
        for name in victims:
            delete_pack(vault.paths, name)
        result.packs_rewritten = len(victims)
        result.bytes_before = sum(sizes[n] for n in victims)
        result.entries_dropped = sum(
            1 for x in catalog.located.values() if x.pack in victims and x.file_id not in keep
        )
    record_event(
        registry,
        env,
        Action.COMPACT,
        {
            "packs": result.packs_rewritten,
            "reclaimed_bytes": result.bytes_before - result.bytes_after,
            "entries_upgraded": result.entries_upgraded,
        },
        vault=vault,
    )
    return result


def _entries_to_keep(catalog: Catalog, live_ids: set[str]) -> set[str]:
    """Live files and every tombstone. Tombstones are kept even when what they hid is gone:
    the header counts them (FORMAT.md section 3.3), so dropping one would look like a
    deleted tombstone; each is a few hundred bytes (up to 1,000 ids)."""
    keep = set(live_ids)
    keep.update(x.file_id for x in catalog.located.values() if x.kind == efmt.Kind.TOMBSTONE)
    return keep


def _move_entry(
    vault: UnlockedVault, reader: PackReader, loc: Located, committer: Committer, upgrade: bool
) -> Located:
    """LOC's entry in COMMITTER's pack: written again as format 1.1 when UPGRADE, else
    copied verbatim. Returns where it now is."""
    if upgrade:
        return copy_upgraded(vault, reader, loc, committer)
    return _copy_entry(reader, loc, committer)


def _copy_entry(reader: PackReader, loc: Located, committer: Committer) -> Located:
    """Entries are bound to vault and file id, not to a pack, so bytes move verbatim."""
    writer = committer.entry(loc.header_len + loc.payload_len)
    offset = writer.position
    remaining, pos = loc.header_len + loc.payload_len, loc.offset
    while remaining:
        block = reader.read(pos, min(remaining, 4 * 1024 * 1024))
        writer.write(block)
        pos += len(block)
        remaining -= len(block)
    moved = loc._replace(pack=writer.name, offset=offset)
    committer.add_pending(moved)
    return moved


@dataclass
class RepairResult:
    headers_restored: list[str] = field(default_factory=list)
    index_rebuilt: bool = False
    path_index_rewritten: bool = False
    tmp_swept: int = 0
    orphan_parts_removed: int = 0
    spare_packs_removed: dict[str, str] = field(default_factory=dict)
    damaged_packs: dict[str, str] = field(default_factory=dict)
    removals: str = REMOVALS_OK  # verify's finding after the repair (FORMAT.md section 3.3)
    # --accept-missing-removals: [tombstones recorded before, tombstones recorded now]
    removals_accepted: list[int] | None = None


def repair(
    vault: UnlockedVault,
    registry: CustodyRegistry,
    env: Env,
    accept_missing_removals: bool = False,
) -> RepairResult:
    """ACCEPT_MISSING_REMOVALS: record the tombstones the packs hold now as the vault's
    removals, once someone has checked what a missing tombstone brought back."""
    result = RepairResult()
    with writer_lock(vault.paths.lock):
        result.tmp_swept = sweep_tmp(vault.paths)
        if vault.authentic_copies != {"vault.mvh", "vault.mvh.bak"}:
            result.headers_restored = sorted(
                {"vault.mvh", "vault.mvh.bak"} - vault.authentic_copies
            )
            vault.header = write_headers(vault.paths, vault.keys, vault.require_header())
            vault.authentic_copies = {"vault.mvh", "vault.mvh.bak"}
        result.orphan_parts_removed = _remove_orphan_parts(vault.paths)
        fresh = load_catalog(vault, use_index=False)
        result.index_rebuilt = _rebuild_index(vault, fresh)
        _settle_pending_removals(vault, fresh)
        if accept_missing_removals:
            result.removals_accepted = _accept_removals(vault, fresh)
        result.spare_packs_removed = _remove_spare_packs(vault)
        result.path_index_rewritten = path_index.replace_if_unsound(vault)
    # Objects have no second copy: name every pack with damage, payloads included (after
    # the lock is released: verify waits while a writer holds it).
    report = verify(vault)
    result.damaged_packs = report.packs_with_damage()
    # Never rewritten to match the packs: a deleted tombstone stays reported.
    result.removals = report.removals
    details: dict[str, object] = {
        "headers_restored": result.headers_restored,
        "index_rebuilt": result.index_rebuilt,
        "damaged_packs": len(result.damaged_packs),
        "spare_packs_removed": len(result.spare_packs_removed),
    }
    if result.removals_accepted is not None:
        details["removals_accepted"] = result.removals_accepted
    record_event(registry, env, Action.REPAIR, details, vault=vault)
    return result


def _rebuild_index(vault: UnlockedVault, fresh: Catalog) -> bool:
    """Write the index again from FRESH (the packs walked, the index not used) when the
    index is damaged, misses packs, or places entries where they are not; whether it did.
    FRESH gains what an authentic index places in packs the walk cannot read to the end."""
    current = load_catalog(vault)
    unindexed = set(current.unindexed_packs)
    if current.index_damage is None:
        # The index is authentic: what it places in a pack the walk cannot read to the
        # end stays known, so files after the damage (and tombstones) are not lost.
        short = short_packs(vault, current, fresh)
        for loc in current.located.values():
            if loc.pack in short and loc.file_id not in fresh.located:
                fresh.place(loc)
            # A copy the walk met first in a pack the index lacks (an interrupted compact's,
            # maybe cut short) does not take the place of the indexed one, read intact.
            there = fresh.located.get(loc.file_id)
            if there is not None and there.pack in unindexed and loc.pack not in short:
                fresh.place(loc)
    records = [
        add_record(name, [x for x in fresh.located.values() if x.pack == name])
        for name in sorted({x.pack for x in fresh.located.values()})
    ]
    if current.index_damage or current.unindexed_packs or _differs(current, fresh):
        rebuild = True
    else:  # entries the index places where they are not: rebuilt from where they are
        rebuild = bool(misplaced_entries(current, fresh))
    if rebuild:
        rewrite_journal(vault.paths, vault.keys.index(), vault.vault_id, records)
    return rebuild


def _accept_removals(vault: UnlockedVault, scanned: Catalog) -> list[int] | None:
    """Record the tombstones the packs hold as the vault's removals, when the header's
    record does not accept them; returns [count before, count now], or None if it did."""
    removals = header_now(vault).body.removals
    present = scanned.tombstones()
    if removals is not None and removals.accepts(present):
        return None
    write_removals(vault, hfmt.Removals(present))
    return [-1 if removals is None else removals.recorded.count, present.count]


def _settle_pending_removals(vault: UnlockedVault, scanned: Catalog) -> None:
    """An rm interrupted after it recorded its tombstones as pending: record what the packs
    hold when the header accepts it (the tombstones were written, or were not)."""
    removals = header_now(vault).body.removals
    if removals is None or removals.pending is None:
        return
    present = scanned.tombstones()
    if removals.accepts(present):
        write_removals(vault, hfmt.Removals(present))


def _remove_spare_packs(vault: UnlockedVault) -> dict[str, str]:
    """Packs no index record names that hold nothing of their own (pack -> why removed).

    A compact stopped between writing a pack's copies and dropping the old pack leaves one
    of the two out of the index, holding only entries the index finds elsewhere: it is
    deleted once every one of those entries has authenticated elsewhere, payload included.
    A write stopped before its index record, on a file system that then lost the pack's
    data (FAT after a yank: fsck truncated it to nothing), leaves an unindexed pack with no
    data at all: it is deleted too, as is a pack of several parts (one entry) whose later
    part the yank cost but whose entry the index places, authentic, elsewhere, and a pack
    cut short (a compact's copies, the drive pulled before they were on it: fusefat can lose
    what sync(2) said was written) whose readable entries, at least one, the index all
    places, authentic, elsewhere: a compact copies every live entry of a pack, so what the
    cut cost is elsewhere too. Any other unreadable pack that still holds data is kept (it
    may be a committed pack whose damage also cost it its index record): verify names it."""
    catalog = load_catalog(vault)
    if catalog.index_damage:
        return {}
    removed = {}
    for name in catalog.unindexed_packs:
        if any(x.pack == name for x in catalog.located.values()):
            continue  # the only copy of something: keep it
        ids, why = _spare_entries(vault, catalog, name)
        if ids is not None and all(_authentic(vault, catalog.located.get(i)) for i in ids):
            delete_pack(vault.paths, name)
            removed[name] = why
    return removed


def _spare_entries(
    vault: UnlockedVault, catalog: Catalog, name: str
) -> tuple[list[str] | None, str]:
    """The ids of the entries the unindexed pack NAME can be seen to hold, and why it would
    go once each is found, authentic, elsewhere; None when it must be kept whatever."""
    readable: list[str] = []
    with contextlib.suppress(MedvaultError), open_reader(vault, name) as reader:
        readable = [x.file_id for x in walk_pack(vault, reader) if isinstance(x, Located)]
    if name not in catalog.scan_damage:
        return readable, "a spare copy left by an interrupted compact"
    if _holds_no_data(vault.paths, name):
        return [], "empty, and no index record names it (a write that never committed)"
    if _first_part_is_bare(vault.paths, name):
        return [], (
            "its first part lost all but its prelude (the drive pulled while it was "
            "written), the entry header with the file's key included: no one can decrypt "
            "its other parts, and no index record names it"
        )
    only = _entry_of_parts(vault, name)
    if only is not None:
        return [only], "empty, and no index record names it (a write that never committed)"
    if readable:
        return readable, (
            f"cut short; the {len(readable)} entries it can be seen to hold are each "
            "stored elsewhere (a copy an interrupted compact was writing)"
        )
    return None, ""


def _entry_of_parts(vault: UnlockedVault, name: str) -> str | None:
    """The file id of the one entry of NAME when it is a pack of several parts (such a pack
    holds one entry and nothing else: FORMAT.md section 4) whose entry header, in part 0,
    authenticates; else None. A later part may be damaged (FAT's fsck truncates a part a
    yank cut off to nothing): the pack still holds only that entry."""
    try:
        with open(vault.paths.pack_dir(name) / pfmt.part_filename(name, 0), "rb") as part:
            prelude = pfmt.decode_prelude(part.read(pfmt.PRELUDE_LEN))
            if prelude.part_count < 2 or prelude.vault_id != vault.vault_id:
                return None
            start = part.read(12)
            header = start + part.read(efmt.peek_header_len(start) - len(start))
        return open_header(vault.keys, header).header.file_id.hex()
    except (OSError, MedvaultError):
        return None


def _holds_no_data(paths: VaultPaths, name: str) -> bool:
    """Part 0 no longer than its prelude and no other part: deleting it loses nothing."""
    folder = paths.pack_dir(name)
    return _first_part_is_bare(paths, name) and not any(folder.glob(f"{name}.*.mvp"))


def _first_part_is_bare(paths: VaultPaths, name: str) -> bool:
    """Part 0 no longer than its prelude. A pack of several parts holds one entry, whose
    header (with the file's wrapped key) starts part 0 (FORMAT.md section 4): without it
    the other parts are ciphertext nobody can decrypt, so deleting them loses nothing."""
    try:
        size = (paths.pack_dir(name) / pfmt.part_filename(name, 0)).stat().st_size
    except OSError:
        return False
    return size <= pfmt.PRELUDE_LEN


def _authentic(vault: UnlockedVault, loc: Located | None) -> bool:
    if loc is None:
        return False
    try:
        with open_reader(vault, loc.pack) as reader:
            stream_entry(vault, reader, loc, lambda _data: None)
    except MedvaultError:
        return False
    return True


def _differs(a: Catalog, b: Catalog) -> bool:
    return {x.file_id for x in a.live()} != {x.file_id for x in b.live()}


def _remove_orphan_parts(paths: VaultPaths) -> int:
    removed = 0
    if not paths.objects.is_dir():
        return 0
    for shard in paths.objects.iterdir():
        if not shard.is_dir():
            continue
        for part in shard.glob("*.mvp"):
            name = part.name.split(".")[0]
            if not (shard / pfmt.part_filename(name, 0)).exists():
                with contextlib.suppress(OSError):
                    fsio.unlink(part)
                    removed += 1
    return removed


def _policy_record(vault: UnlockedVault, passphrase: Secret) -> dict[str, object]:
    """The org policy in force here, checked with the vault's label and org name as words
    an attacker would try first."""
    policy, org_name = current_passphrase_policy()
    body = vault.require_header().body
    return policy_record(passphrase, policy, (body.label, body.org_name, org_name or ""))


def change_passphrase(
    vault: UnlockedVault,
    new_passphrase: Secret,
    registry: CustodyRegistry,
    env: Env,
    action: Action = Action.PASSWD,
    details: dict[str, object] | None = None,
) -> None:
    """O(1): only the header's passphrase slot changes; no object is touched. Escrow
    recovery uses this too (action "recover-reset", with approvers and reason)."""
    with writer_lock(vault.paths.lock):
        current = vault.require_header()
        body = current.body
        slot_id = max(s.slot_id for s in body.slots) + 1
        slot = make_slot(
            vault.keys.vault_key(),
            vault.vault_id,
            slot_id,
            new_passphrase,
            env.kdf,
            env.timestamp(),
        )
        # The passphrase slot is replaced; a recovery-code slot stays.
        kept = tuple(s for s in body.slots if isinstance(s, hfmt.RecoveryCodeSlot))
        new_body = hfmt.HeaderBody(**{**body.__dict__, "slots": (slot, *kept)})
        header = hfmt.VaultHeader(vault.vault_id, current.seq + 1, new_body)
        vault.header = write_headers(vault.paths, vault.keys, header)
        # Neither copy may still hold the slot replaced (a dropped write would keep it).
        check_headers_written(vault.paths, vault.keys, vault.header)
        vault.authentic_copies = {"vault.mvh", "vault.mvh.bak"}
    record_event(
        registry,
        env,
        action,
        {
            "slot_id": slot_id,
            "kdf_t": env.kdf.time_cost,
            "kdf_m_kib": env.kdf.memory_kib,
            "kdf_p": env.kdf.parallelism,
            "passphrase_policy": _policy_record(vault, new_passphrase),
            **(details or {}),
        },
        vault=vault,
    )
