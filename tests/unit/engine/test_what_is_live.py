"""What is live (docs/FORMAT.md section 5), as the catalog reads it from the journal: ids
named in `refs` by an authentic record stay removed when the entry naming them is gone,
a replaced file stays replaced when its replacement cannot be read, and two live files at
one path with equal `added_at` are told apart by the order the journal placed them."""

from __future__ import annotations

from pathlib import Path

import pytest

from medvault.crypto.key_schedule import VaultKeys
from medvault.engine.catalog import load_catalog
from medvault.engine.entry_reading import open_reader
from medvault.engine.session import HeaderCopies, UnlockedVault
from medvault.errors import IntegrityError
from medvault.format import entry as efmt
from medvault.format.index_records import Located, add_record, drop_record
from medvault.secret import VaultKey
from medvault.store.journal import JournalAppender
from medvault.store.layout import VaultPaths

AT = "2026-11-22T12:00:00.000000Z"
PACKS = ["a" * 26, "b" * 25 + "a", "c" * 25 + "a"]


def _vault(root: Path) -> UnlockedVault:
    paths = VaultPaths(root / "MEDVAULT")
    for folder in (paths.index_dir, paths.objects, paths.tmp, paths.log):
        folder.mkdir(parents=True)
    vault_id = bytes(range(16))
    keys = VaultKeys(VaultKey(bytes(32)), vault_id)
    return UnlockedVault(paths, None, keys, HeaderCopies(paths), set(), vault_id, 1 << 30)


def _file(fid: str, pack: str, path: str, at: str = AT, replaces: tuple[str, ...] = ()) -> Located:
    kind = int(efmt.Kind.FILE)
    return Located(fid * 32, pack, 0, 200, 72, kind, path, 0, "0" * 64, at, 0, replaces)


def _tomb(fid: str, pack: str, removes: str) -> Located:
    return Located(fid * 32, pack, 0, 200, 72, int(efmt.Kind.TOMBSTONE), references=(removes,))


def _journal(vault: UnlockedVault, *records: dict[str, object]) -> None:
    journal = JournalAppender(vault.paths, vault.keys)
    for record in records:
        journal.append(dict(record))


def test_a_removal_recorded_in_the_journal_holds_when_its_tombstone_pack_is_gone(
    tmp_path: Path,
) -> None:
    vault = _vault(tmp_path)
    _journal(
        vault,
        add_record(PACKS[0], [_file("1", PACKS[0], "lab/a.csv")]),
        add_record(PACKS[1], [_tomb("2", PACKS[1], "1" * 32)]),
        drop_record([PACKS[1]]),  # the tombstone's pack deleted: its refs still count
    )
    catalog = load_catalog(vault)
    assert catalog.index_damage is None
    assert catalog.live() == []


def test_a_file_whose_replacement_cannot_be_read_is_damaged_not_rolled_back(
    tmp_path: Path,
) -> None:
    vault = _vault(tmp_path)
    new = _file("2", PACKS[1], "lab/a.csv", "2026-11-23T12:00:00.000000Z", ("1" * 32,))
    _journal(
        vault,
        add_record(PACKS[0], [_file("1", PACKS[0], "lab/a.csv")]),
        add_record(PACKS[1], [new]),
    )
    live = load_catalog(vault).live()
    assert [loc.file_id for loc in live] == ["2" * 32]  # the replacement, not the old one
    with pytest.raises(IntegrityError, match="missing"):
        open_reader(vault, live[0].pack)  # its pack is not on the drive: unreadable


def test_on_equal_added_at_the_file_the_journal_placed_first_later_wins(tmp_path: Path) -> None:
    vault = _vault(tmp_path)
    first, second = _file("1", PACKS[0], "lab/a.csv"), _file("2", PACKS[1], "lab/a.csv")
    _journal(vault, add_record(PACKS[0], [first]), add_record(PACKS[1], [second]))
    assert [loc.file_id for loc in load_catalog(vault).live()] == ["2" * 32]
    # A later location for the first (a compact moving it) does not change the order.
    relocated = _file("1", PACKS[2], "lab/a.csv")
    _journal(vault, add_record(PACKS[2], [relocated]))
    assert [loc.file_id for loc in load_catalog(vault).live()] == ["2" * 32]
