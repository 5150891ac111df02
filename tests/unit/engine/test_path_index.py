"""The path index (index/paths.mvs) lists the vault and finds one path
without reading the whole journal, and always agrees with the journal, which stays the
authority: a missing, damaged, stale or rolled-back snapshot is never believed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from medvault.engine import catalog as catalog_module
from medvault.engine import path_index
from medvault.engine.catalog import Located, load_catalog
from medvault.engine.path_index import live_files, open_snapshot
from medvault.errors import AlreadyExists, FormatError, NotFound
from medvault.format import path_index_file as fmt
from medvault.format.index_records import add_record
from medvault.store.journal import JournalAppender, read_journal, rewrite_journal
from medvault.vault import add as add_module
from medvault.vault.add import add_files
from medvault.vault.maintenance import compact, remove_paths, repair
from medvault.vault.reading import extract, select
from medvault.vault.verify import verify
from tests.conftest import Workspace
from tests.support.library_vault import LibraryVault


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 3 rows and a rebuild after 4 new entries, so a handful of files exercises
    many pages, tails and rebuilds."""
    monkeypatch.setattr(path_index, "PAGE_ROWS", 3)
    monkeypatch.setattr(path_index, "REBUILD_MIN_ENTRIES", 4)


class Vault(LibraryVault):
    """The library vault, with files added from ROOT/src and its list read both ways."""

    def __init__(self, ws: Workspace, root: Path) -> None:
        super().__init__(ws, root)
        self.src = root / "src"

    def add(self, names: list[str], replace: bool = False) -> None:
        shutil.rmtree(self.src, ignore_errors=True)
        for name in names:
            path = self.src / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(64) + name.encode())
        tops = sorted({self.src / name.split("/")[0] for name in names})
        add_files(self.open(), tops, replace, self.registry, self.env)

    def full(self) -> list[Located]:
        return load_catalog(self.open()).live()

    def fast(self) -> tuple[list[Located], bool]:
        with live_files(self.open()) as live:
            return list(live.all()), live.snapshot is not None


@pytest.fixture
def vault(ws: Workspace, tmp_path: Path) -> Iterator[Vault]:
    made = Vault(ws, tmp_path)
    yield made
    made.registry.close()


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}/f{i:03d}.txt" for i in range(count)]


def _agree(vault: Vault) -> None:
    fast, used = vault.fast()
    assert used, "the path index was not used"
    assert fast == vault.full()


def test_snapshot_agrees_with_the_journal_through_every_change(
    vault: Vault, small_pages: None
) -> None:
    vault.add(_names("a", 10))
    assert open_snapshot(vault.open()) is not None  # 10 entries >= 4: written
    _agree(vault)
    vault.add(_names("b", 2))  # a short tail: read through the snapshot, not rebuilt
    snapshot = open_snapshot(vault.open())
    assert snapshot is not None
    assert snapshot.tail.entries == 2
    snapshot.close()
    _agree(vault)
    vault.add(["a/f003.txt", "a/f004.txt"], replace=True)  # new versions replace old ones
    _agree(vault)
    removed = remove_paths(vault.open(), ["a/f001.txt", "b"], vault.registry, vault.env)
    assert removed == 3
    _agree(vault)  # tombstones in the tail hide snapshot rows
    compact(vault.open(), vault.registry, vault.env, threshold=1.0)
    _agree(vault)  # entries moved to new packs, old packs dropped
    vault.add(_names("c", 6))  # tail long enough: rebuilt with everything above
    snapshot = open_snapshot(vault.open())
    assert snapshot is not None
    assert snapshot.tail.entries == 0
    snapshot.close()
    _agree(vault)
    assert [x.path for x in vault.full()] == sorted(
        {*_names("a", 10), *_names("c", 6)} - {"a/f001.txt"}
    )


def test_select_takes_a_path_and_everything_under_it_only(vault: Vault, small_pages: None) -> None:
    vault.add(["p/b", "p/b-x", "p/b.txt", "p/ba", "p/c"])
    vault.add(["p/b/c", "p/b/d/e"])  # a file p/b and a folder p/b: separate adds
    full = vault.full()
    with live_files(vault.open()) as live:
        assert live.snapshot is not None
        for wanted in (["p/b"], ["p/b/d"], ["p/b-x"], ["p"], ["p/b/"], ["p/b", "p/c"]):
            assert live.select(wanted) == select(full, wanted)
        assert [x.path for x in live.select(["p/b"])] == ["p/b", "p/b/c", "p/b/d/e"]
        with pytest.raises(NotFound):
            live.select(["p/bb"])


def test_one_lookup_reads_one_page(vault: Vault, small_pages: None) -> None:
    """Independent of the vault's size: the directory and one page, not every page."""
    vault.add(_names("a", 30))
    with live_files(vault.open()) as live:
        snapshot = live.snapshot
        assert snapshot is not None
        assert len(snapshot.directory.pages) == 10
        read: list[int] = []
        original = snapshot.page

        def counting(number: int) -> list[Located]:
            read.append(number)
            return original(number)

        snapshot.page = counting  # type: ignore[method-assign]
        [hit] = live.select(["a/f017.txt"])
    assert hit.path == "a/f017.txt"
    assert read == [5]


def test_a_damaged_snapshot_is_not_believed(vault: Vault, small_pages: None) -> None:
    vault.add(_names("a", 12))
    index = vault.drive / "MEDVAULT" / "index" / "paths.mvs"
    data = bytearray(index.read_bytes())
    # The prelude, the first page, a middle page, the directory: each is caught, at open
    # (prelude, directory) or when the page is read, and the journal answers instead.
    for offset in (10, 70, len(data) // 2, len(data) - 5):
        changed = bytearray(data)
        changed[offset] ^= 0x01
        index.write_bytes(bytes(changed))
        fast, used = vault.fast()
        assert not used, offset
        assert fast == vault.full()
        with live_files(vault.open()) as live:
            assert live.select(["a/f011.txt"])[0].path == "a/f011.txt"
    index.write_bytes(bytes(data[:-1]))  # cut short
    assert not vault.fast()[1]
    index.write_bytes(bytes(data))
    _agree(vault)


def test_a_snapshot_of_a_rewritten_journal_is_not_believed(vault: Vault, small_pages: None) -> None:
    """The journal rewritten (same records, new nonces): the snapshot's last record is no
    longer where it says, so it is not used; repair then writes a matching one."""
    vault.add(_names("a", 12))
    assert vault.fast()[1]
    opened = vault.open()
    records = read_journal(opened.paths, opened.keys).records
    key = opened.keys.index()
    rewrite_journal(opened.paths, key, opened.vault_id, records)
    fast, used = vault.fast()
    assert not used
    assert fast == vault.full()
    assert verify(vault.open()).path_index.startswith("damaged, or made from another index")
    assert repair(vault.open(), vault.registry, vault.env).path_index_rewritten
    _agree(vault)


def test_an_older_snapshot_put_back_still_gives_the_current_files(
    vault: Vault, small_pages: None
) -> None:
    """Rolling the snapshot back loses nothing: it covers fewer records, the tail the rest."""
    vault.add(_names("a", 8))
    index = vault.drive / "MEDVAULT" / "index" / "paths.mvs"
    old = index.read_bytes()
    vault.add(_names("b", 8))
    assert index.read_bytes() != old
    index.write_bytes(old)
    _agree(vault)
    assert {x.path for x in vault.fast()[0]} >= set(_names("b", 8))


def test_a_damaged_record_after_the_snapshot_is_reported(vault: Vault, small_pages: None) -> None:
    vault.add(_names("a", 8))
    vault.add(_names("b", 1))  # one record in the tail
    journal = vault.drive / "MEDVAULT" / "index" / "journal.mvi"
    data = bytearray(journal.read_bytes())
    data[-3] ^= 0x01
    journal.write_bytes(bytes(data))
    with live_files(vault.open()) as live:
        assert live.snapshot is None
        assert live.index_damage is not None


def test_a_pack_the_index_lacks_sends_readers_to_the_whole_journal(
    vault: Vault, small_pages: None
) -> None:
    """A crash between a pack's rename and its index record: the files in it still list."""
    vault.add(_names("a", 8))
    objects = vault.drive / "MEDVAULT" / "objects"
    before = {p.name for p in objects.rglob("*.mvo")}
    index = vault.drive / "MEDVAULT" / "index"
    saved = set(index.iterdir())
    vault.add(["z/late.txt"])  # below the rebuild threshold: only the journal changes
    for new in set(index.iterdir()) - saved:
        new.unlink()  # the record's segment: as if it never landed
    assert {p.name for p in objects.rglob("*.mvo")} != before
    fast, used = vault.fast()
    assert not used
    assert "z/late.txt" in {x.path for x in fast}


def test_small_vaults_have_no_snapshot(ws: Workspace, tmp_path: Path) -> None:
    made = Vault(ws, tmp_path)
    made.add(_names("a", 5))
    assert not (made.drive / "MEDVAULT" / "index" / "paths.mvs").exists()
    fast, used = made.fast()
    assert not used
    assert fast == made.full()
    made.registry.close()


def test_verify_names_a_damaged_path_index_and_repair_rewrites_it(
    vault: Vault, small_pages: None
) -> None:
    vault.add(_names("a", 12))
    assert verify(vault.open()).path_index == "ok"
    index = vault.drive / "MEDVAULT" / "index" / "paths.mvs"
    data = bytearray(index.read_bytes())
    data[200] ^= 0x01  # inside a page: the directory still opens
    index.write_bytes(bytes(data))
    report = verify(vault.open())
    assert report.path_index.startswith("damaged"), report.path_index
    assert not report.ok
    result = repair(vault.open(), vault.registry, vault.env)
    assert result.path_index_rewritten
    assert verify(vault.open()).ok
    _agree(vault)


def test_an_older_file_under_the_same_path_shows_again_when_the_newest_is_removed(
    vault: Vault, small_pages: None
) -> None:
    """Two entries can hold one path (the index lists the newest). The snapshot keeps both,
    so removing the newest shows the older one, as the journal does."""
    vault.add(["p/x.txt", *_names("a", 6)])
    opened = vault.open()
    [old] = [x for x in vault.full() if x.path == "p/x.txt"]
    twin = old._replace(file_id="f" * 32, added_at=old.added_at[:-2] + "9Z")
    journal = JournalAppender(opened.paths, opened.keys)
    journal.append(add_record(old.pack, [twin]))
    vault.add(_names("b", 6))  # the snapshot is rewritten, holding both
    snapshot = open_snapshot(vault.open())
    assert snapshot is not None
    assert snapshot.tail.entries == 0
    snapshot.close()
    assert [x.file_id for x in vault.fast()[0] if x.path == "p/x.txt"] == [twin.file_id]
    remove_paths(vault.open(), ["p/x.txt"], vault.registry, vault.env)  # removes the twin
    _agree(vault)
    assert [x.file_id for x in vault.fast()[0] if x.path == "p/x.txt"] == [old.file_id]


GOOD_ROW = ["ab" * 16, "p1", 0, 200, 100, "a/b.txt", 44, "c" * 64, "2026-12-02T10:00:00Z", 5, []]


@pytest.mark.parametrize(
    ("index", "value", "accepted"),
    [
        (2, -1, False),  # offset
        (3, -1, False),  # header length
        (4, -1, False),  # payload length
        (6, -1, False),  # size
        (9, -1, True),  # mtime_ns before 1970 is a real time
        (10, ["ab" * 16], True),
        (10, [7], False),  # a replaced id that is not a string
        (6, True, False),  # bool is not an int
        (5, 7, False),
    ],
)
def test_a_page_row_is_checked_field_by_field(index: int, value: object, accepted: bool) -> None:
    row = list(GOOD_ROW)
    row[index] = value
    plain = fmt.encode_page([row])
    path = row[5] if isinstance(row[5], str) else ""
    ref = fmt.PageRef(path, path, 0, 100, 1)
    if accepted:
        assert fmt.decode_page(plain, ref) == [row]
    else:
        with pytest.raises(FormatError):
            fmt.decode_page(plain, ref)


def test_add_into_an_indexed_vault_reads_only_the_paths_it_could_clash_with(
    vault: Vault, small_pages: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """add looks the planned paths up in the path index (clash, --replace, --skip-existing)
    and rebuilds the index from it, never from the whole journal."""
    vault.add(_names("a", 10))
    vault.add(_names("b", 3))
    [old] = [x for x in vault.full() if x.path == "a/f001.txt"]
    with monkeypatch.context() as patched:
        patched.setattr(catalog_module, "read_journal", _refused)
        with pytest.raises(AlreadyExists, match=r"a/f001\.txt"):
            vault.add(["a/f001.txt", "c/new.txt"])  # a clash under one of the plan's tops
        vault.add(["a/f001.txt", "a/f002.txt"], replace=True)
        vault.add(_names("c", 7))  # the tail is long enough: rebuilt from the snapshot
        snapshot = open_snapshot(vault.open())
        assert snapshot is not None and snapshot.tail.entries == 0
        snapshot.close()
    _agree(vault)
    listed = [x.path for x in vault.full()]
    assert listed == sorted({*_names("a", 10), *_names("b", 3), *_names("c", 7)})
    catalog = load_catalog(vault.open())
    [new] = [x for x in catalog.live() if x.path == "a/f001.txt"]
    assert new.file_id != old.file_id and old.file_id in catalog.removed


def test_add_of_many_top_level_names_walks_the_list_once(
    vault: Vault, small_pages: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shell glob of more names than add looks up one by one (MANY_TOPS): the clash
    check walks the vault's list once, still through the path index."""
    many = [f"t{i:03d}.txt" for i in range(add_module.MANY_TOPS + 6)]
    vault.add([*many[:5], *_names("a", 6)])
    with monkeypatch.context() as patched:
        patched.setattr(catalog_module, "read_journal", _refused)
        with pytest.raises(AlreadyExists, match=r"t000.txt is already in the vault \(and 4 more\)"):
            vault.add(many)
        vault.add(many, replace=True)
    _agree(vault)
    assert [x.path for x in vault.full()] == sorted([*many, *_names("a", 6)])


def _refused(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the whole journal was read")


def test_rm_in_an_indexed_vault_finds_the_files_through_the_index(
    vault: Vault, small_pages: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rm selects through the path index; the header's record of removals (not pending)
    needs no count of the tombstones present, so the whole journal is not read."""
    vault.add([*_names("a", 6), *_names("b", 3)])
    with monkeypatch.context() as patched:
        patched.setattr(catalog_module, "read_journal", _refused)
        assert remove_paths(vault.open(), ["b", "a/f002.txt"], vault.registry, vault.env) == 4
        with pytest.raises(NotFound):
            remove_paths(vault.open(), ["b"], vault.registry, vault.env)
    _agree(vault)
    assert [x.path for x in vault.full()] == sorted(set(_names("a", 6)) - {"a/f002.txt"})
    assert verify(vault.open()).ok


def test_an_extract_of_everything_walks_the_index_and_keeps_no_list(
    vault: Vault, small_pages: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The whole vault is extracted from two walks of the path index (check, then
    extract); without keep_written no path is kept, only counts and digests; a target
    already in DEST still stops it before anything is written."""
    names = [*_names("a", 7), *_names("b", 5)]
    vault.add(names)
    out = tmp_path / "out"
    with monkeypatch.context() as patched:
        patched.setattr(catalog_module, "read_journal", _refused)
        result = extract(
            vault.open(), [], out, False, vault.registry, vault.env, keep_written=False
        )
        assert (result.files, result.written, len(result.digests)) == (12, [], 12 * 32)
        assert sorted(str(p.relative_to(out)) for p in out.rglob("*.txt")) == names
        (out / "b" / "f004.txt").unlink()
        with pytest.raises(AlreadyExists, match=r"f000\.txt already exists"):
            extract(vault.open(), [], out, False, vault.registry, vault.env)
        assert not (out / "b" / "f004.txt").exists()  # nothing was written
