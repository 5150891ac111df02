"""The rules verify judges an index and the packs by (vault/verify.py), one at a time, on
catalogs built by hand: what is an interrupted write (work for `repair`, exit 24) and what
is damage (exit 19), and the words and JSON keys `medvault verify` reports them in.

A mutation run changed these rules one at a time without a test noticing; each
test here names what it pins. Scenarios on a real vault are in
tests/unit/vault/test_verify_scenarios.py.
"""

from __future__ import annotations

from medvault.engine.catalog import Catalog, Located
from medvault.format import entry as efmt
from medvault.vault.verify import (
    VerifyReport,
    index_in_flight,
    index_status,
    misplaced_entries,
    unindexed_packs,
)

FILE, TOMBSTONE = efmt.Kind.FILE, efmt.Kind.TOMBSTONE


def _loc(file_id: str, pack: str, offset: int = 0, path: str = "", kind: int = FILE) -> Located:
    return Located(
        file_id=file_id,
        pack=pack,
        offset=offset,
        header_len=100,
        payload_len=50,
        kind=kind,
        path=path or (f"{file_id}.txt" if kind == FILE else ""),
        added_at="2026-12-05T10:00:00Z",
    )


def _catalog(
    locs: list[Located],
    unindexed: tuple[str, ...] = (),
    scan_damage: dict[str, str] | None = None,
    index_damage: str | None = None,
) -> Catalog:
    catalog = Catalog(
        packs_on_disk=sorted({x.pack for x in locs} | set(unindexed) | set(scan_damage or {})),
        index_damage=index_damage,
        unindexed_packs=list(unindexed),
        scan_damage=dict(scan_damage or {}),
    )
    for loc in locs:
        catalog.place(loc)
    return catalog


# Four kinds of pack out of the index, two of each where the kind allows: with entries of
# their own (one of them also unreadable past its entries), only copies, unreadable empty.
MIXED = _catalog(
    [
        _loc("f1", "pend1"),
        _loc("f2", "pend1", offset=150),
        _loc("f3", "pend2"),
        _loc("f4", "indexed"),
    ],
    unindexed=("pend1", "pend2", "spare1", "spare2", "bad1", "bad2"),
    scan_damage={"pend2": "cut short", "bad1": "not a pack", "bad2": "not a pack"},
)


def test_each_kind_of_unindexed_pack_is_named_with_its_own_fix() -> None:
    assert index_status(MIXED, MIXED) == (
        "not in the index yet: pack pend1 (2 entries), pend2 (1 entry), written by an "
        "interrupted add, rm or compact; the next write to the vault or `medvault repair` "
        "indexes it; "
        "pack bad1, bad2 is in no index record and cannot be read (an interrupted write, or "
        "damage); `medvault repair` removes it if it holds no data; "
        "pack spare1, spare2 holds only copies of entries stored elsewhere (an interrupted "
        "compact); `medvault repair` removes it"
    )


def test_a_spare_alone_is_named_as_a_spare() -> None:
    spare = _catalog([_loc("f1", "p1")], unindexed=("spare",))
    assert index_status(spare, spare) == (
        "pack spare holds only copies of entries stored elsewhere (an interrupted compact); "
        "`medvault repair` removes it"
    )


def test_the_readable_unindexed_packs_are_work_for_repair_and_the_unreadable_are_not() -> None:
    assert unindexed_packs(MIXED) == {
        "pend1": "not yet indexed: 2 entries written by an interrupted add, rm or compact; "
        "run `medvault repair` to index it",
        "spare1": "holds only copies of entries stored elsewhere (an interrupted compact); "
        "run `medvault repair` to remove it",
        "spare2": "holds only copies of entries stored elsewhere (an interrupted compact); "
        "run `medvault repair` to remove it",
    }
    one = _catalog([_loc("f1", "p1")], unindexed=("p1",))
    assert unindexed_packs(one) == {
        "p1": "not yet indexed: 1 entry written by an interrupted add, rm or compact; "
        "run `medvault repair` to index it"
    }


def test_index_damage_comes_first_and_is_reported_as_it_is() -> None:
    damaged = _catalog([_loc("f1", "p1")], unindexed=("p1",), index_damage="index MAC fails")
    assert index_status(damaged, MIXED) == "index MAC fails"
    assert not index_in_flight(damaged, damaged)


def test_index_and_packs_that_disagree_about_the_files_are_reported() -> None:
    indexed = _catalog([_loc("f1", "p1")])
    scanned = _catalog([_loc("f1", "p1"), _loc("f2", "p1", offset=150)])
    assert index_status(indexed, scanned) == "index and objects disagree about which files exist"
    assert index_status(indexed, indexed) == "ok"
    # A damaged pack explains a disagreement: that pack is named instead.
    assert index_status(indexed, scanned, {"p1": "cut short"}) == "ok"
    # So does a pack the walk could not read to its end.
    cut = _catalog(list(scanned.located.values()), scan_damage={"p1": "cut short"})
    assert index_status(indexed, cut) == "ok"


def _in_flight_alone(
    locs: list[Located], unindexed: tuple[str, ...] = (), scan_damage: dict[str, str] | None = None
) -> bool:
    """index_in_flight for a catalog that is both the index's and the walk's view."""
    catalog = _catalog(locs, unindexed=unindexed, scan_damage=scan_damage)
    return index_in_flight(catalog, catalog)


def test_one_interrupted_write_is_in_flight_and_more_is_not() -> None:
    assert _in_flight_alone([_loc("f1", "p1"), _loc("f2", "new")], ("new",))
    # Spares beside it hold only copies: still one interrupted write.
    assert _in_flight_alone([_loc("f1", "p1"), _loc("f2", "new")], ("new", "s1", "s2"))
    assert _in_flight_alone([_loc("f1", "p1")], ("s1",))
    # Two packs with entries of their own: index records were lost.
    assert not _in_flight_alone([_loc("f1", "n1"), _loc("f2", "n2")], ("n1", "n2"))
    # An unindexed pack that cannot be read is damage, not a write in flight.
    assert not _in_flight_alone([_loc("f1", "p1")], ("bad",), {"bad": "not a pack"})
    # Nothing out of the index: nothing in flight.
    assert not _in_flight_alone([_loc("f1", "p1")])
    # The index and the packs disagree about the files: not just a write in flight.
    one = _catalog([_loc("f1", "p1"), _loc("f2", "new")], unindexed=("new",))
    more = _catalog([_loc("f1", "p1"), _loc("f2", "new"), _loc("f3", "p1", offset=150)])
    assert not index_in_flight(one, more)
    assert index_in_flight(one, more, {"p1": "cut short"})


def test_an_entry_the_index_places_wrong_in_its_own_pack_is_misplaced() -> None:
    indexed = _catalog(
        [  # those with nothing to say first: the others are still looked at
            _loc("f3", "p2", offset=0),
            _loc("f4", "p2", offset=150),
            _loc("f1", "p1", offset=0),
            _loc("f2", "p1", offset=150),
            _loc("t1", "p1", offset=300, kind=TOMBSTONE),
        ]
    )
    scanned = _catalog(
        [
            _loc("f1", "p1", offset=0),  # where the index says
            _loc("f2", "p1", offset=450),  # elsewhere in its pack
            _loc("t1", "p1", offset=600, kind=TOMBSTONE),  # a tombstone: named by its id
            _loc("f3", "p3", offset=0),  # in another pack: not misplaced (missing there)
        ]  # f4: not found at all
    )
    assert misplaced_entries(indexed, scanned) == {
        "f2.txt": "pack p1: the index places it at offset 150, its authenticated header is at "
        "offset 450",
        "t1": "pack p1: the index places it at offset 300, its authenticated header is at "
        "offset 600",
    }


def test_an_entry_whose_lengths_differ_from_the_index_is_misplaced() -> None:
    indexed = _catalog([_loc("f1", "p1"), _loc("f2", "p1", offset=150)])
    for field in ("header_len", "payload_len"):
        at = _loc("f1", "p1")
        found = at._replace(**{field: getattr(at, field) + 1})
        scanned = _catalog([found, _loc("f2", "p1", offset=150)])
        assert list(misplaced_entries(indexed, scanned)) == ["f1.txt"], field


def test_the_json_report_has_every_documented_key_with_its_value() -> None:
    report = VerifyReport(
        headers={"vault.mvh": "ok"},
        index="idx",
        files_ok=3,
        bytes_ok=40,
        damaged={"a": "bad"},
        missing={"b": "gone"},
        damaged_packs={"p": "cut"},
        pack_of={"a": "p2"},
        path_index="pi",
        removals="rem",
        unindexed={"u": "new"},
        misplaced={"m": "moved"},
    )
    # docs/CLI.md, verify: {ok, needs_repair, headers, index, files_ok, bytes_ok, damaged,
    # missing, damaged_packs, path_index, removals, unindexed, misplaced}
    assert report.to_json() == {
        "ok": False,
        "needs_repair": True,
        "headers": {"vault.mvh": "ok"},
        "index": "idx",
        "files_ok": 3,
        "bytes_ok": 40,
        "damaged": {"a": "bad"},
        "missing": {"b": "gone"},
        "damaged_packs": {"p": "cut"},
        "path_index": "pi",
        "removals": "rem",
        "unindexed": {"u": "new"},
        "misplaced": {"m": "moved"},
    }


def test_every_pack_with_damage_is_named_with_its_first_problem() -> None:
    report = VerifyReport(
        damaged={"x/a.txt": "MAC fails", "x/b.txt": "cut", "x/c.txt": "also"},
        pack_of={"x/a.txt": "p1", "x/b.txt": "p2", "x/c.txt": "p2"},
        damaged_packs={"p1": "tombstone entry at offset 9: MAC fails", "p3": "short"},
    )
    assert report.packs_with_damage() == {
        "p1": "tombstone entry at offset 9: MAC fails",  # the pack's own problem first
        "p2": "x/b.txt: cut",
        "p3": "short",
    }


def test_what_counts_as_damage_and_what_as_work_for_repair() -> None:
    clean = VerifyReport(headers={"vault.mvh": "ok", "vault.mvh.bak": "ok"})
    assert clean.ok and clean.damage_free and not clean.needs_repair
    in_flight = VerifyReport(index="not in the index yet: ...", index_in_flight=True)
    in_flight.unindexed = {"p": "not yet indexed"}
    assert in_flight.damage_free and in_flight.needs_repair and not in_flight.ok
    for damage in (
        VerifyReport(headers={"vault.mvh.bak": "stale copy (older sequence number)"}),
        VerifyReport(index="index and objects disagree about which files exist"),
        VerifyReport(damaged={"a": "x"}),
        VerifyReport(missing={"a": "x"}),
        VerifyReport(damaged_packs={"p": "x"}),
        VerifyReport(path_index="entry 3 names a file that does not exist"),
        VerifyReport(removals="not proven: ..."),
    ):
        assert not damage.damage_free and not damage.ok, damage
    misplaced = VerifyReport(misplaced={"a": "moved"})
    assert misplaced.damage_free and misplaced.needs_repair
