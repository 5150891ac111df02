"""verify's judgements on a real vault, in-process: each header copy's status, whether the
packs hold the tombstones the header records, short packs and damaged dead entries.

The pure rules (index and packs out of step) are in tests/unit/vault/test_verify_rules.py;
the CLI's exit codes for the same cases in tests/campaigns/test_tamper.py and
tests/unit/vault/test_removals_proven.py.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from medvault.crypto.payload import PayloadEncryptor, ciphertext_length
from medvault.engine import path_index
from medvault.engine.catalog import Catalog, Located, load_catalog
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.engine.writing import Committer, open_journal
from medvault.format import entry as efmt
from medvault.format.meta import TombstoneMeta
from medvault.format.pack import id_to_name
from medvault.keys.passphrase import to_secret
from medvault.registry.sql import Registry
from medvault.store.entries import seal_header
from medvault.store.packs import PackReader, PackWriter
from medvault.vault import verify as verify_module
from medvault.vault.add import add_files
from medvault.vault.env import Env
from medvault.vault.maintenance import remove_paths, repair
from medvault.vault.verify import REMOVALS_OK, header_status, removals_status, verify
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace, put_back_version_2_header

NOT_PROVEN_TAIL = (
    "; files removed earlier may be listed again. Check `medvault ls` against the "
    "registry's rm events"
)


def _unlock(drive: Path) -> UnlockedVault:
    return unlock(open_headers(drive), to_secret(PASSPHRASE))


def _add(vault: UnlockedVault, root: Path, files: dict[str, bytes]) -> None:
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (src / name).write_bytes(data)
    add_files(vault, [src], False, Registry("sqlite://"), Env(kdf=FAST_KDF))


def _headers(drive: Path) -> Path:
    return drive / "MEDVAULT"


def test_each_header_copy_is_named_ok_missing_stale_or_failed(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    vault = ws.create_unlocked(drive)
    assert header_status(vault) == {"vault.mvh": "ok", "vault.mvh.bak": "ok"}
    first_seq = vault.require_header().seq
    older = (_headers(drive) / "vault.mvh.bak").read_bytes()

    # Another vault's header of the same sequence number parses, and is not this vault's.
    other = tmp_path / "other"
    other.mkdir()
    ws.create_fast(other)
    assert _unlock(other).require_header().seq == first_seq
    shutil.copyfile(_headers(other) / "vault.mvh", _headers(drive) / "vault.mvh.bak")
    assert header_status(_unlock(drive)) == {
        "vault.mvh": "ok",
        "vault.mvh.bak": "failed authentication",
    }

    (_headers(drive) / "vault.mvh.bak").unlink()
    assert header_status(_unlock(drive)) == {"vault.mvh": "ok", "vault.mvh.bak": "missing"}

    # This vault's own earlier header, put back: authentic, and older than the one in force.
    vault = _unlock(drive)
    _add(vault, tmp_path, {"a.txt": b"a"})
    remove_paths(vault, ["src/a.txt"], Registry("sqlite://"), Env(kdf=FAST_KDF))
    (_headers(drive) / "vault.mvh.bak").write_bytes(older)
    now = _unlock(drive)
    assert now.require_header().seq > first_seq
    assert header_status(now) == {
        "vault.mvh": "ok",
        "vault.mvh.bak": "stale copy (older sequence number)",
    }
    assert not verify(now).ok


@pytest.fixture
def two_removed(ws: Workspace, tmp_path: Path, drive: Path) -> tuple[UnlockedVault, list[Located]]:
    """A vault with two files removed by two rms (two tombstones) and one kept; its
    tombstones as the walk of the packs finds them."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path, {"a.txt": b"a", "b.txt": b"b", "c.txt": b"c"})
    for name in ("src/a.txt", "src/b.txt"):
        remove_paths(vault, [name], Registry("sqlite://"), Env(kdf=FAST_KDF))
    vault = _unlock(drive)
    scanned = load_catalog(vault, use_index=False)
    tombstones = [x for x in scanned.located.values() if x.kind == efmt.Kind.TOMBSTONE]
    assert len(tombstones) == 2
    return vault, tombstones


def _holding(locs: list[Located]) -> Catalog:
    catalog = Catalog()
    for loc in locs:
        catalog.place(loc)
    return catalog


def _another(tombstone: Located) -> Located:
    return tombstone._replace(file_id=os.urandom(16).hex())


def test_the_packs_must_hold_exactly_the_tombstones_the_header_records(
    two_removed: tuple[UnlockedVault, list[Located]],
) -> None:
    vault, (t1, t2) = two_removed
    assert removals_status(vault, _holding([t1, t2])) == REMOVALS_OK
    assert removals_status(vault, _holding([t2, t1, t1])) == REMOVALS_OK  # a compact's copy
    assert removals_status(vault, _holding([t1])) == (
        "not proven: 1 of the 2 tombstone(s) the header records are not in any pack "
        "(deleted, or in a damaged pack)" + NOT_PROVEN_TAIL
    )
    assert removals_status(vault, _holding([])) == (
        "not proven: 2 of the 2 tombstone(s) the header records are not in any pack "
        "(deleted, or in a damaged pack)" + NOT_PROVEN_TAIL
    )
    assert removals_status(vault, _holding([t1, t2, _another(t1)])) == (
        "not proven: the packs hold 3 tombstones, the header records 2 (an older header put "
        "back?)" + NOT_PROVEN_TAIL
    )
    assert removals_status(vault, _holding([t1, _another(t2)])) == (
        "not proven: the tombstones in the packs are not the ones the header records"
        + NOT_PROVEN_TAIL
    )


def test_an_rm_by_another_process_since_unlock_is_judged_on_the_header_now(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """The vault was unlocked before another process removed a file: the header read then
    records no tombstone, the one on the drive now records the new one."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path, {"a.txt": b"a", "b.txt": b"b"})
    earlier = _unlock(drive)
    remove_paths(_unlock(drive), ["src/a.txt"], Registry("sqlite://"), Env(kdf=FAST_KDF))
    scanned = load_catalog(earlier, use_index=False)
    (tombstone,) = [x for x in scanned.located.values() if x.kind == efmt.Kind.TOMBSTONE]
    assert removals_status(earlier, scanned) == REMOVALS_OK
    assert verify(earlier).ok
    # What neither header records is still not proven, judged on the header now.
    assert removals_status(earlier, _holding([tombstone, _another(tombstone)])) == (
        "not proven: the packs hold 2 tombstones, the header records 1 (an older header put "
        "back?)" + NOT_PROVEN_TAIL
    )
    # Either read accepts what the walk found (FORMAT.md section 3.3): the earlier header
    # records no tombstone, which is what a walk before the rm found.
    assert removals_status(earlier, _holding([])) == REMOVALS_OK


PRELUDE = 56  # a pack part's prelude (FORMAT.md): entry offsets count from its end


def _pack_file(drive: Path, pack: str) -> Path:
    return drive / "MEDVAULT" / "objects" / pack[:2] / f"{pack}.mvo"


def _flip_last_payload_byte(drive: Path, loc: Located) -> None:
    path = _pack_file(drive, loc.pack)
    data = bytearray(path.read_bytes())
    data[PRELUDE + loc.offset + loc.header_len + loc.payload_len - 1] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def with_dead_entries(ws: Workspace, tmp_path: Path, drive: Path) -> dict[str, Located]:
    """a.txt, b.txt, c.txt added together (one pack), then a.txt and c.txt removed by one
    rm (one tombstone, in a pack of its own): the entries of a and c are dead."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path, {"a.txt": b"a" * 300, "b.txt": b"b" * 300, "c.txt": b"c" * 300})
    by_path = {x.path: x for x in load_catalog(vault).live()}
    remove_paths(vault, ["src/a.txt", "src/c.txt"], Registry("sqlite://"), Env(kdf=FAST_KDF))
    scanned = load_catalog(_unlock(drive), use_index=False)
    (tombstone,) = [x for x in scanned.located.values() if x.kind == efmt.Kind.TOMBSTONE]
    return {**by_path, "tombstone": tombstone}


def test_a_changed_byte_in_a_removed_files_entry_is_damage_of_its_pack(
    with_dead_entries: dict[str, Located], drive: Path
) -> None:
    a, c = with_dead_entries["src/a.txt"], with_dead_entries["src/c.txt"]
    assert a.pack == c.pack and a.offset < c.offset
    _flip_last_payload_byte(drive, c)
    _flip_last_payload_byte(drive, a)
    report = verify(_unlock(drive))
    # Both dead entries fail: the pack is named once, at the first of them.
    assert list(report.damaged_packs) == [a.pack]
    assert report.damaged_packs[a.pack].startswith(f"removed file entry at offset {a.offset}: ")
    assert report.files_ok == 1 and not report.damaged and not report.ok
    assert report.index == "ok"  # the damage explains itself: the index is not blamed


def test_a_changed_byte_in_a_tombstone_is_damage_of_its_pack(
    with_dead_entries: dict[str, Located], drive: Path
) -> None:
    tombstone = with_dead_entries["tombstone"]
    _flip_last_payload_byte(drive, tombstone)
    report = verify(_unlock(drive))
    assert list(report.damaged_packs) == [tombstone.pack]
    assert report.damaged_packs[tombstone.pack].startswith(
        f"tombstone entry at offset {tombstone.offset}: "
    )
    assert report.files_ok == 1 and not report.ok


def test_dead_entries_intact_are_not_damage(
    with_dead_entries: dict[str, Located], drive: Path
) -> None:
    report = verify(_unlock(drive))
    assert report.ok and report.files_ok == 1 and report.bytes_ok == 300
    assert report.damaged_packs == {} and report.removals == REMOVALS_OK


def test_a_commit_between_the_index_read_and_the_pack_walk_is_read_again(
    ws: Workspace, tmp_path: Path, drive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer renamed its pack into objects/ and holds the lock; verify reads the index
    (no record of the pack yet); the writer appends the record (a new journal segment) and
    lets go; verify walks the packs. The two reads are of different moments: verify reads
    again instead of reporting the pack as left out of the index."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "one", {"a.txt": b"a"})
    index = drive / "MEDVAULT" / "index"
    before = {p.name: p.read_bytes() for p in index.iterdir()}
    _add(vault, tmp_path / "two", {"b.txt": b"b"})
    after = {p.name: p.read_bytes() for p in index.iterdir()}
    committed = {name: data for name, data in after.items() if before.get(name) != data}
    assert set(committed) - set(before), "the commit adds a journal segment"
    for name in committed:  # back to the moment before the record
        if name in before:
            (index / name).write_bytes(before[name])
        else:
            (index / name).unlink()
    vault.paths.lock.write_bytes(b"")  # the writer's lock
    real_load = verify_module.load_catalog
    reads: list[bool] = []

    def load_then_commit(v: UnlockedVault, use_index: bool = True) -> Catalog:
        catalog = real_load(v, use_index=use_index)
        if use_index and not reads:
            for name, data in committed.items():
                (index / name).write_bytes(data)
            vault.paths.lock.unlink()
        reads.append(use_index)
        return catalog

    monkeypatch.setattr(verify_module, "load_catalog", load_then_commit)
    indexed, scanned = verify_module.settled_catalogs(_unlock(drive))
    assert indexed.unindexed_packs == []
    assert verify_module.index_status(indexed, scanned) == "ok"
    assert reads == [True, False, True, False]  # read twice


def test_verify_reports_progress_over_every_live_files_payload(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path, {"a.txt": b"a" * 1000, "b.txt": b"b" * 70_000})
    done: list[int] = []
    assert verify(vault, done.append).ok
    assert sum(done) == sum(x.payload_len for x in load_catalog(vault).live())


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record each catalog read settled_catalogs makes (True: the index; False: a walk)."""
    real_load = verify_module.load_catalog
    reads: list[bool] = []

    def counting(v: UnlockedVault, use_index: bool = True) -> Catalog:
        reads.append(use_index)
        return real_load(v, use_index=use_index)

    monkeypatch.setattr(verify_module, "load_catalog", counting)
    return reads


def _interrupted_add(vault: UnlockedVault, tmp_path: Path, drive: Path) -> None:
    """An add whose pack reached objects/ and whose index record did not."""
    index = drive / "MEDVAULT" / "index"
    before = {p.name: p.read_bytes() for p in index.iterdir()}
    _add(vault, tmp_path / "late", {"late.txt": b"late"})
    for path in index.iterdir():
        if path.name not in before:
            path.unlink()
        elif path.read_bytes() != before[path.name]:
            path.write_bytes(before[path.name])


@pytest.mark.parametrize("writer_lock", [False, True], ids=["no-lock", "lock-held"])
def test_a_quiet_vault_is_read_once(
    ws: Workspace,
    tmp_path: Path,
    drive: Path,
    monkeypatch: pytest.MonkeyPatch,
    writer_lock: bool,
) -> None:
    """Nothing changes between the index read and the pack walk and they agree: one of
    each, no retry, whether or not a writer holds the lock."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path, {"a.txt": b"a"})
    if writer_lock:
        vault.paths.lock.write_bytes(b"")
    reads = _counting_reads(monkeypatch)
    indexed, scanned = verify_module.settled_catalogs(vault)
    assert reads == [True, False]
    assert verify_module.index_status(indexed, scanned) == "ok"


def test_a_pack_out_of_the_index_with_no_writer_is_reported_without_waiting(
    ws: Workspace, tmp_path: Path, drive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path, {"a.txt": b"a"})
    _interrupted_add(vault, tmp_path, drive)
    reads = _counting_reads(monkeypatch)
    indexed, scanned = verify_module.settled_catalogs(_unlock(drive))
    assert reads == [True, False]
    assert len(indexed.unindexed_packs) == 1
    assert verify_module.index_in_flight(indexed, scanned)


def test_a_pack_out_of_the_index_under_a_dead_writers_lock_is_reported_after_the_tries(
    ws: Workspace, tmp_path: Path, drive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock stays (its writer died): verify waits SETTLE_TRIES reads for the record,
    then reports what it found."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path, {"a.txt": b"a"})
    _interrupted_add(vault, tmp_path, drive)
    vault.paths.lock.write_bytes(b"")
    reads = _counting_reads(monkeypatch)
    indexed, scanned = verify_module.settled_catalogs(_unlock(drive))
    assert reads == [True, False] * verify_module.SETTLE_TRIES
    assert len(indexed.unindexed_packs) == 1
    assert verify_module.index_in_flight(indexed, scanned)


def test_every_live_file_is_counted_and_a_missing_pack_does_not_stop_the_rest(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "one", {"a.txt": b"a" * 10})
    _add(vault, tmp_path / "two", {"b.txt": b"b" * 200, "c.txt": b"c" * 3000})
    (a,) = [x for x in load_catalog(vault).live() if x.path == "src/a.txt"]
    assert verify(vault).bytes_ok == 3210
    _pack_file(drive, a.pack).unlink()
    report = verify(_unlock(drive))
    assert report.missing == {"src/a.txt": f"pack {a.pack} is missing"}
    assert (report.files_ok, report.bytes_ok) == (2, 3200)


def test_a_damaged_live_file_is_named_with_its_pack(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path, {"a.txt": b"a" * 100, "b.txt": b"b" * 100})
    (a,) = [x for x in load_catalog(vault).live() if x.path == "src/a.txt"]
    _flip_last_payload_byte(drive, a)
    report = verify(_unlock(drive))
    assert list(report.damaged) == ["src/a.txt"] and report.pack_of == {"src/a.txt": a.pack}
    assert report.packs_with_damage() == {a.pack: f"src/a.txt: {report.damaged['src/a.txt']}"}
    assert report.files_ok == 1


def test_a_pack_cut_between_two_entries_is_damage_and_the_index_is_not_blamed(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """The walk of a pack cut exactly after an entry ends cleanly; the index still places
    the next entry past the end: that pack is damaged, and the index's disagreement with
    the walk comes from it."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path, {"a.txt": b"a" * 100, "b.txt": b"b" * 100})
    a, b = sorted(load_catalog(vault).live(), key=lambda x: x.offset)
    assert a.pack == b.pack
    path = _pack_file(drive, a.pack)
    cut = a.offset + a.header_len + a.payload_len
    path.write_bytes(path.read_bytes()[: PRELUDE + cut])
    report = verify(_unlock(drive))
    end = b.offset + b.header_len + b.payload_len
    assert report.damaged_packs == {
        a.pack: f"the index places entries up to offset {end}; the pack ends at {cut}"
    }
    assert report.index == "ok"
    assert list(report.damaged) == [b.path] and report.files_ok == 1


def test_short_packs_takes_the_furthest_entry_of_each_pack_and_reads_every_pack(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """On catalogs made by hand over a real pack: the entry the index places furthest
    decides, whatever order the index lists them in, and a pack that cannot be opened is
    named without stopping the others."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path, {"a.txt": b"a" * 100})
    (a,) = load_catalog(vault).live()
    size = a.offset + a.header_len + a.payload_len
    far = a._replace(file_id="f" * 32, offset=size)  # ends past the pack's end
    near = a._replace(file_id="e" * 32)
    # "2222...2y": names are base32, whose digits sort before its letters, so this sorts
    # before every name but one in 2^125 ("2aaa..." did not: a pack named "23..." sorts
    # before it, one run in about 170).
    gone = id_to_name(bytes.fromhex("d6b5ad6b5a" * 3 + "d6"))
    assert gone < a.pack
    lost = a._replace(file_id="d" * 32, pack=gone)
    indexed = _holding([far, near, lost])
    scanned = Catalog(packs_on_disk=[gone, a.pack])
    problems = verify_module.short_packs(vault, indexed, scanned)
    assert problems == {
        gone: f"pack {gone}: part 0 is missing",
        a.pack: f"the index places entries up to offset {size + size}; the pack ends at {size}",
    }
    # A pack the walk could not read is named by the walk's problem and not read again.
    walked_bad = Catalog(packs_on_disk=[gone, a.pack], scan_damage={a.pack: "cut in an entry"})
    assert verify_module.short_packs(vault, indexed, walked_bad) == {
        gone: f"pack {gone}: part 0 is missing",
        a.pack: "cut in an entry",
    }
    # Where the walk found the entry in the same pack, its place there decides.
    found_near = _holding([far._replace(offset=a.offset)])
    found_near.packs_on_disk = [a.pack]
    assert verify_module.short_packs(vault, _holding([far]), found_near) == {}


@pytest.mark.parametrize(
    ("pack_gone", "writer_lock", "reported"),
    [(True, False, True), (True, True, False), (False, True, True)],
    ids=["deleted-no-writer", "deleted-by-a-compact", "damaged-under-a-lock"],
)
def test_a_damaged_pack_is_dropped_only_when_a_writer_deleted_it_meanwhile(
    with_dead_entries: dict[str, Located],
    drive: Path,
    monkeypatch: pytest.MonkeyPatch,
    pack_gone: bool,
    writer_lock: bool,
    reported: bool,
) -> None:
    """The tombstone's pack is deleted after verify read the catalogs (a compact does
    that, holding the writer lock), or damaged and still there."""
    tombstone = with_dead_entries["tombstone"]
    pack = _pack_file(drive, tombstone.pack)
    real_settled = verify_module.settled_catalogs

    def then_change(v: UnlockedVault) -> tuple[Catalog, Catalog]:
        catalogs = real_settled(v)
        if pack_gone:
            pack.unlink()
        else:
            _flip_last_payload_byte(drive, tombstone)
        if writer_lock:
            v.paths.lock.write_bytes(b"")
        return catalogs

    monkeypatch.setattr(verify_module, "settled_catalogs", then_change)
    report = verify(_unlock(drive))
    assert (tombstone.pack in report.damaged_packs) is reported
    assert set(report.damaged_packs) <= {tombstone.pack}


@pytest.fixture
def with_path_index(
    ws: Workspace, tmp_path: Path, drive: Path, monkeypatch: pytest.MonkeyPatch
) -> UnlockedVault:
    """A vault with a path index: small pages and a rebuild after 4 entries (as in
    tests/unit/engine/test_path_index.py), then 6 files."""
    monkeypatch.setattr(path_index, "PAGE_ROWS", 3)
    monkeypatch.setattr(path_index, "REBUILD_MIN_ENTRIES", 4)
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "one", {f"f{n}.txt": bytes([n]) for n in range(6)})
    assert vault.paths.path_index.exists()
    return _unlock(drive)


def _recording_checks(monkeypatch: pytest.MonkeyPatch) -> list[list[Located]]:
    real_check = path_index.check
    seen: list[list[Located]] = []

    def recording(v: UnlockedVault, live: list[Located]) -> str:
        seen.append(live)
        return real_check(v, live)

    monkeypatch.setattr(path_index, "check", recording)
    return seen


def test_the_path_index_is_judged_once_on_the_live_files_verify_read(
    with_path_index: UnlockedVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _recording_checks(monkeypatch)
    report = verify(with_path_index)
    assert report.path_index == "ok" and report.ok
    assert seen == [load_catalog(with_path_index).live()]


def test_a_path_index_a_writer_moved_on_is_judged_on_a_fresh_read(
    with_path_index: UnlockedVault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer adds files after verify read the catalogs: the path index then names
    files the catalogs do not; read again, they agree."""
    vault = with_path_index
    real_settled = verify_module.settled_catalogs

    def then_a_writer_adds(v: UnlockedVault) -> tuple[Catalog, Catalog]:
        catalogs = real_settled(v)
        _add(_unlock(v.paths.root.parent), tmp_path / "two", {f"g{n}.txt": b"g" for n in range(6)})
        return catalogs

    monkeypatch.setattr(verify_module, "settled_catalogs", then_a_writer_adds)
    seen = _recording_checks(monkeypatch)
    report = verify(vault)
    assert report.path_index == "ok"
    assert len(seen) == 2 and seen[1] == load_catalog(vault).live() != seen[0]


def test_an_interrupted_add_beside_a_damaged_pack_is_still_only_in_flight(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """A pack cut between two entries (damage, named) and an add's pack not yet indexed:
    the disagreement between index and walk comes from the damaged pack, so the index's
    own problem is still only the interrupted write."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path, {"a.txt": b"a" * 100, "b.txt": b"b" * 100})
    a, b = sorted(load_catalog(vault).live(), key=lambda x: x.offset)
    _interrupted_add(vault, tmp_path, drive)
    path = _pack_file(drive, a.pack)
    path.write_bytes(path.read_bytes()[: PRELUDE + a.offset + a.header_len + a.payload_len])
    report = verify(_unlock(drive))
    assert list(report.damaged_packs) == [a.pack] and list(report.damaged) == [b.path]
    assert len(report.unindexed) == 1 and report.index.startswith("not in the index yet")
    assert report.index_in_flight


def test_every_pack_with_a_damaged_dead_entry_is_named(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """Two packs, each with two removed files changed: each pack is named once, at its
    first changed entry, whichever pack is walked first."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "one", {"a.txt": b"a" * 300, "c.txt": b"c" * 300})
    _add(vault, tmp_path / "two", {"d.txt": b"d" * 300, "e.txt": b"e" * 300})
    removed = load_catalog(vault).live()
    remove_paths(vault, ["src"], Registry("sqlite://"), Env(kdf=FAST_KDF))
    for loc in removed:
        _flip_last_payload_byte(drive, loc)
    report = verify(_unlock(drive))
    first = {}
    for loc in sorted(removed, key=lambda x: x.offset, reverse=True):
        first[loc.pack] = loc.offset
    assert set(report.damaged_packs) == set(first) and len(first) == 2
    for pack, offset in first.items():
        assert report.damaged_packs[pack].startswith(f"removed file entry at offset {offset}: ")


def test_a_vault_opened_without_its_header_is_judged_on_the_header_on_the_drive(
    two_removed: tuple[UnlockedVault, list[Located]],
) -> None:
    """Escrow recovery opens a vault whose header copies are gone (header None) and then
    writes them again: the removals are judged on the header the drive holds."""
    vault, (t1, t2) = two_removed
    headerless = dataclasses.replace(vault, header=None)
    assert removals_status(headerless, _holding([t1, t2])) == REMOVALS_OK
    assert removals_status(headerless, _holding([t1])).startswith(
        "not proven: 1 of the 2 tombstone(s)"
    )


def test_a_header_from_before_the_removal_record_put_back_leaves_the_removals_unproven(
    two_removed: tuple[UnlockedVault, list[Located]], drive: Path
) -> None:
    """The vault was unlocked with a header that records the removals; the drive's header
    now is a version 2 one (no record): what the first header records is still judged."""
    vault, (t1, t2) = two_removed
    put_back_version_2_header(vault)
    assert verify_module.header_now(vault).body.removals is None
    assert removals_status(vault, _holding([t1, t2])) == REMOVALS_OK
    assert removals_status(vault, _holding([t2])) == (
        "not proven: 1 of the 2 tombstone(s) the header records are not in any pack "
        "(deleted, or in a damaged pack)" + NOT_PROVEN_TAIL
    )
    fresh = _unlock(drive)
    assert fresh.require_header().body.removals is None
    assert removals_status(fresh, _holding([t2])) == verify_module.REMOVALS_NOT_RECORDED


@pytest.mark.parametrize("suite", [efmt.SUITE_V1, efmt.SUITE_PADDED])
def test_a_tombstone_whose_payload_is_not_empty_is_damage(
    ws: Workspace, tmp_path: Path, drive: Path, suite: int
) -> None:
    """FORMAT.md section 5: a tombstone's payload is the empty plaintext (72 bytes in format
    1.0, 512 zeros padded in 1.1). One authentic in every other way but carrying more is
    named as damage by verify, in both formats."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path, {"a.txt": b"alpha\n"})
    meta = TombstoneMeta((), "2026-12-05T00:00:00.000000Z", "t", "h").encode()
    plain = b"x" * (1 if suite == efmt.SUITE_V1 else 513)
    file_id = bytes(range(16))
    sealed = seal_header(
        vault.keys, file_id, efmt.Kind.TOMBSTONE, meta, ciphertext_length(len(plain)),
        suite=suite,
    )  # fmt: skip
    enc = PayloadEncryptor(sealed.keys.payload, sealed.keys.context)
    entry = sealed.header + enc.update(plain) + enc.finish_bytes()
    with Committer(vault, open_journal(vault, load_catalog(vault))) as committer:
        writer = committer.entry(len(entry))
        offset = writer.position
        writer.write(entry)
        committer.add_pending(
            Located(file_id.hex(), writer.name, offset, len(sealed.header),
                    len(entry) - len(sealed.header), int(efmt.Kind.TOMBSTONE))
        )  # fmt: skip
    report = verify(_unlock(drive))
    assert not report.ok
    assert "tombstone's payload is not empty" in " ".join(report.packs_with_damage().values())


def test_repair_removes_a_spare_copy_of_one_entry_whose_later_part_is_gone(
    ws: Workspace, tmp_path: Path
) -> None:
    """A compact cut by a yank can leave, out of the index, a pack of several parts holding a
    copy of one entry, with a later part truncated to nothing by fsck. It holds nothing the
    index does not place, authentic, elsewhere: repair removes it and verify is clean."""
    drive = tmp_path / "drive"
    drive.mkdir()
    ws.create_fast(drive, part_size=64 * 1024)
    vault = _unlock(drive)
    _add(vault, tmp_path, {"big.bin": os.urandom(150_000)})
    (big,) = [x for x in load_catalog(vault).live() if x.path == "src/big.bin"]
    with PackReader(vault.paths, vault.vault_id, big.pack, vault.part_size) as reader:
        entry = reader.read(big.offset, big.header_len + big.payload_len)
    spare = PackWriter(vault.paths, vault.vault_id, vault.part_size)
    spare.reserve(len(entry))
    spare.write(entry)
    spare.commit()  # in objects/, in no index record: as a compact cut before its record
    last = vault.paths.pack_dir(spare.name) / f"{spare.name}.002.mvp"
    last.write_bytes(b"")  # what fsck leaves of a part the yank cut off
    assert not verify(_unlock(drive)).ok
    result = repair(_unlock(drive), Registry("sqlite://"), Env(kdf=FAST_KDF))
    assert spare.name in result.spare_packs_removed
    assert not list(vault.paths.pack_dir(spare.name).glob(f"{spare.name}*"))
    assert verify(_unlock(drive)).ok
