"""`add` of a folder streams. The plan is walked twice (check, then store)
instead of being held, committed entries are not kept unless asked, and the path index is
written from the journal's new records one at a time, in path order: yet what it lists, the
clash checks and the custody digest are exactly what they were when everything was held."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from medvault.engine import path_index, writing
from medvault.engine.catalog import Located, load_catalog
from medvault.engine.path_index import live_files, open_snapshot
from medvault.engine.session import UnlockedVault
from medvault.errors import AlreadyExists
from medvault.format import entry as efmt
from medvault.store.packs import list_packs
from medvault.vault.add import SourcePlan, add_planned, plan, walk_files
from tests.conftest import Workspace
from tests.support.library_vault import LibraryVault

# Names whose path order differs from a plain per-folder sort of names: "a.txt" < "a/..."
# because "." < "/", "a-b" < "a/" too, but "a0" > "a/"; and non-ASCII after ASCII.
TRICKY = [
    "a/b/c.txt",
    "a/b.txt",
    "a.txt",
    "a-b/x.txt",
    "a0/y.txt",
    "a b.txt",
    "ab/z.txt",
    "é/1.txt",
    "Z.txt",
    "a/b/c/d/e.txt",
    "a/ba.txt",
]


def _tree(root: Path, names: list[str]) -> dict[str, bytes]:
    out = {}
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(40) + name.encode()
        path.write_bytes(data)
        out[f"{root.name}/{name}"] = data
    return out


@pytest.fixture
def drive(ws: Workspace, tmp_path: Path) -> Iterator[LibraryVault]:
    made = LibraryVault(ws, tmp_path)
    yield made
    made.registry.close()


@pytest.fixture
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Packs of 7 entries, pages of 5 rows and a path index from 10 files on: a few dozen
    files make many index records (groups), pages and rebuilds."""
    monkeypatch.setattr(writing, "PACK_ENTRIES", 7)
    monkeypatch.setattr(path_index, "PAGE_ROWS", 5)
    monkeypatch.setattr(path_index, "REBUILD_MIN_ENTRIES", 10)


def test_walk_yields_files_in_path_order(tmp_path: Path) -> None:
    _tree(tmp_path / "t", TRICKY)
    walked = [p[len(str(tmp_path / "t")) + 1 :] for p in walk_files(str(tmp_path / "t"))]
    assert walked == sorted(TRICKY)
    assert walked != sorted(TRICKY, key=lambda n: n.split("/"))  # the case that matters


def test_source_plan_is_the_list_plan_and_checks_before_storing(tmp_path: Path) -> None:
    _tree(tmp_path / "t", TRICKY)
    sources = [tmp_path / "t"]
    streamed = SourcePlan(sources)
    assert not streamed.checked
    streamed.check()
    assert (streamed.count, streamed.bytes) == (
        len(TRICKY),
        sum(40 + len(n.encode()) for n in TRICKY),
    )
    assert list(streamed) == plan(sources)
    assert [p.stored for p in streamed] == sorted(f"t/{n}" for n in TRICKY)


def test_same_top_name_from_two_sources_is_refused_in_the_check(tmp_path: Path) -> None:
    _tree(tmp_path / "one" / "t", ["x.txt"])
    _tree(tmp_path / "two" / "t", ["x.txt"])
    with pytest.raises(Exception, match="would both be stored as"):
        SourcePlan([tmp_path / "one" / "t", tmp_path / "two" / "t"]).check()


def _expected_digest(vault: UnlockedVault, paths: set[str]) -> str:
    files = [loc for loc in load_catalog(vault).live() if loc.path in paths]
    return hashlib.sha256("".join(sorted(loc.sha256 for loc in files)).encode()).hexdigest()


def test_streamed_add_keeps_nothing_and_indexes_everything(
    drive: LibraryVault, tmp_path: Path, small_groups: None
) -> None:
    names = [*TRICKY, *(f"d{i % 4}/f{i:03d}.txt" for i in range(60))]
    files = _tree(tmp_path / "t", names)
    vault = drive.open()
    reported: list[str] = []
    result = add_planned(
        vault,
        SourcePlan([tmp_path / "t"], vault_root=drive.drive),
        False,
        drive.registry,
        drive.env,
        on_commit=lambda done: reported.extend(x.path for x in done),
        keep_files=False,
    )
    assert result.files == []
    assert result.count == len(names) == len(reported)
    assert result.bytes == sum(len(d) for d in files.values())
    assert len(list_packs(vault.paths)) >= len(names) // 7  # many groups
    catalog = load_catalog(vault)
    assert {x.path for x in catalog.live()} == set(files)
    # The path index was written from the journal's records and agrees with the journal.
    assert path_index.check(vault, _all_live(vault)) == "ok"
    snapshot = open_snapshot(vault)
    assert snapshot is not None
    assert snapshot.files == len(names)
    snapshot.close()
    with live_files(vault) as live:
        assert live.snapshot is not None
        assert [x.path for x in live.all()] == sorted(files)
    event = drive.registry.events(vault.vault_id_hex)[-1].event
    assert event.details["files"] == len(names)
    assert event.details["requested"] == len(names)
    assert event.details["sha256_of_digests"] == _expected_digest(vault, set(files))


def test_a_pack_of_small_files_closes_at_1024_entries(drive: LibraryVault, tmp_path: Path) -> None:
    """An index record (built and sealed at its commit, read back whole by the path index's
    refresh) holds at most 1,024 entries: 1,025 tiny files make a pack of 1,024 and one
    of 1."""
    _tree(tmp_path / "t", [f"d{i % 8}/f{i:04d}" for i in range(1025)])
    vault = drive.open()
    add_planned(vault, SourcePlan([tmp_path / "t"]), False, drive.registry, drive.env)
    per_pack: dict[str, int] = {}
    for located in load_catalog(vault).live():
        per_pack[located.pack] = per_pack.get(located.pack, 0) + 1
    assert sorted(per_pack.values()) == [1, 1024]


def _all_live(vault: UnlockedVault) -> list[Located]:
    """Every file the journal does not remove, as the path index must list it."""
    catalog = load_catalog(vault)
    files = [
        x
        for x in catalog.located.values()
        if x.kind == efmt.Kind.FILE and x.file_id not in catalog.removed
    ]
    return sorted(files, key=writing.path_order)


def test_path_index_merges_overlapping_groups_and_earlier_files(
    drive: LibraryVault, tmp_path: Path, small_groups: None
) -> None:
    """A list plan in shuffled order gives groups whose path ranges overlap, on top of files
    already in the vault and a replaced one: the index still lists them in order."""
    vault = drive.open()
    first = _tree(tmp_path / "first", [f"k{i:02d}.txt" for i in range(15)])
    add_planned(vault, plan([tmp_path / "first"]), False, drive.registry, drive.env)
    second = _tree(tmp_path / "second", [f"m{i:02d}.txt" for i in range(40)])
    shuffled = plan([tmp_path / "second"])
    random.Random(7).shuffle(shuffled)
    (tmp_path / "first" / "k03.txt").write_bytes(b"new version")
    replacing = [p for p in plan([tmp_path / "first"]) if p.stored == "first/k03.txt"]
    add_planned(vault, shuffled + replacing, True, drive.registry, drive.env)
    live = _all_live(vault)
    assert path_index.check(vault, live) == "ok"
    with live_files(vault) as listing:
        assert listing.snapshot is not None
        paths = [x.path for x in listing.all()]
    assert paths == sorted({*first, *second})
    assert len([x for x in live if x.path == "first/k03.txt"]) == 1


def test_clash_with_the_vault_is_refused_before_anything_is_written(
    drive: LibraryVault, tmp_path: Path
) -> None:
    _tree(tmp_path / "t", ["a.txt", "b.txt"])
    vault = drive.open()
    add_planned(vault, SourcePlan([tmp_path / "t"]), False, drive.registry, drive.env)
    packs = set(list_packs(vault.paths))
    _tree(tmp_path / "t", ["c.txt", "d.txt"])
    with pytest.raises(AlreadyExists, match=r"t/a.txt is already in the vault \(and 1 more\)"):
        add_planned(vault, SourcePlan([tmp_path / "t"]), False, drive.registry, drive.env)
    assert set(list_packs(vault.paths)) == packs
    result = add_planned(vault, SourcePlan([tmp_path / "t"]), True, drive.registry, drive.env)
    assert result.count == 4
    assert sorted(x.path for x in load_catalog(vault).live()) == [
        "t/a.txt",
        "t/b.txt",
        "t/c.txt",
        "t/d.txt",
    ]


def test_file_appearing_between_check_and_store_is_refused_as_a_clash(
    drive: LibraryVault, tmp_path: Path
) -> None:
    _tree(tmp_path / "t", ["b.txt"])
    vault = drive.open()
    add_planned(vault, plan([tmp_path / "t"]), False, drive.registry, drive.env)
    (tmp_path / "t" / "b.txt").unlink()
    _tree(tmp_path / "t", ["a.txt"])
    later = SourcePlan([tmp_path / "t"])
    later.check()  # sees only a.txt: no clash
    _tree(tmp_path / "t", ["b.txt"])  # appears after the check, a path the vault has
    with pytest.raises(AlreadyExists, match=r"t/b.txt is already in the vault"):
        add_planned(vault, later, False, drive.registry, drive.env)
    assert [x.path for x in load_catalog(vault).live()] == ["t/b.txt"]


@pytest.mark.parametrize("swap", ["symlink", "fifo"])
def test_file_swapped_between_check_and_store_is_refused(
    drive: LibraryVault, tmp_path: Path, swap: str
) -> None:
    """The storing walk only stats each file (the check opened it): a file turned into a
    link or a FIFO after the check is refused when the store reaches it; a.txt,
    still in the uncommitted group, is not added (nothing was reported as added)."""
    from medvault.errors import SourceUnreadable

    _tree(tmp_path / "t", ["a.txt", "b.txt"])
    later = SourcePlan([tmp_path / "t"])
    later.check()
    target = tmp_path / "t" / "b.txt"
    target.unlink()
    if swap == "symlink":
        target.symlink_to(tmp_path / "t" / "a.txt")
    elif swap == "fifo":
        os.mkfifo(target)
    expected = {"symlink": "symbolic link", "fifo": "not a regular file"}[swap]
    vault = drive.open()
    with pytest.raises(SourceUnreadable, match=expected):
        add_planned(vault, later, False, drive.registry, drive.env)
    assert load_catalog(vault).live() == []
    assert set((tmp_path / "t").iterdir()) >= {tmp_path / "t" / "a.txt"}


def test_file_removed_between_check_and_store_is_not_stored(
    drive: LibraryVault, tmp_path: Path
) -> None:
    _tree(tmp_path / "t", ["a.txt", "b.txt"])
    later = SourcePlan([tmp_path / "t"])
    later.check()
    (tmp_path / "t" / "b.txt").unlink()
    result = add_planned(drive.open(), later, False, drive.registry, drive.env)
    assert (later.count, result.count) == (2, 1)
    assert [x.path for x in load_catalog(drive.open()).live()] == ["t/a.txt"]
