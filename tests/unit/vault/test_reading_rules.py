"""The reading side's rules (vault/reading.py) one at a time: which stored files a name
selects, what `ls` lists, names too long for a Linux file system, where an entry is after
a compact moved it, and the pack readers an extract keeps open.

Found by the mutation campaign: these were reached only through CLI tests that
did not pin them.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from medvault.engine.catalog import Located, load_catalog
from medvault.engine.entry_reading import ReaderCache, moved_since_listing
from medvault.engine.session import UnlockedVault, open_headers, unlock
from medvault.errors import AlreadyExists, MediaFull, NotFound, UnsafePath
from medvault.format import entry as efmt
from medvault.keys.passphrase import to_secret
from medvault.registry.sql import Registry
from medvault.vault import reading
from medvault.vault.add import add_files
from medvault.vault.env import Env
from medvault.vault.maintenance import compact, remove_paths
from medvault.vault.reading import NAME_MAX_BYTES, extract, list_files, select
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace


def _loc(path: str, file_id: str) -> Located:
    return Located(
        file_id=file_id, pack="p", offset=0, header_len=1, payload_len=1, kind=efmt.Kind.FILE,
        path=path,
    )  # fmt: skip


LIVE = [
    _loc("a/b.txt", "01"),
    _loc("a/b/c.txt", "02"),
    _loc("a/bc.txt", "03"),
    _loc("ab.txt", "04"),
    _loc("z.txt", "05"),
]


def _paths(locs: list[Located]) -> list[str]:
    return [x.path for x in locs]


def test_a_name_is_taken_as_written_but_for_slashes_around_it() -> None:
    """Only "/" is stripped from the ends of a name: a name that begins or ends with
    another character keeps it."""
    live = [_loc("X/aX.txt", "01"), _loc("Xb", "02")]
    assert _paths(select(live, ["/X/aX.txt"])) == ["X/aX.txt"]
    assert _paths(select(live, ["Xb/"])) == ["Xb"]
    assert _paths(select(live, ["X"])) == ["X/aX.txt"]


def test_no_name_selects_every_file_as_listed() -> None:
    assert select(LIVE, []) == LIVE


def test_a_name_selects_that_file_or_the_files_under_that_folder_only() -> None:
    assert _paths(select(LIVE, ["a/b"])) == ["a/b/c.txt"]  # not a/b.txt, not a/bc.txt
    assert _paths(select(LIVE, ["a/b.txt"])) == ["a/b.txt"]
    assert _paths(select(LIVE, ["/a/b.txt/"])) == ["a/b.txt"]  # slashes around are ignored
    assert _paths(select(LIVE, ["a"])) == ["a/b.txt", "a/b/c.txt", "a/bc.txt"]


def test_names_that_overlap_select_each_file_once_in_path_order() -> None:
    assert _paths(select(LIVE, ["z.txt", "a/b", "a", "a/b/c.txt"])) == [
        "a/b.txt",
        "a/b/c.txt",
        "a/bc.txt",
        "z.txt",
    ]


def test_a_name_that_selects_nothing_is_refused_naming_it() -> None:
    with pytest.raises(NotFound) as caught:
        select(LIVE, ["a", "a/b/c"])
    assert caught.value.message == "a/b/c is not in the vault"
    assert caught.value.hint == "`medvault ls` lists what is"


def _unlock(drive: Path) -> UnlockedVault:
    return unlock(open_headers(drive), to_secret(PASSPHRASE))


def _add(vault: UnlockedVault, src: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    add_files(vault, [src], False, Registry("sqlite://"), Env(kdf=FAST_KDF))


def test_ls_lists_the_live_files_of_the_index(ws: Workspace, tmp_path: Path, drive: Path) -> None:
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"a.txt": b"a", "b.txt": b"b"})
    remove_paths(vault, ["src/a.txt"], Registry("sqlite://"), Env(kdf=FAST_KDF))
    live, catalog = list_files(vault)
    assert _paths(live) == ["src/b.txt"]
    assert catalog.index_damage is None and catalog.live() == live
    assert set(catalog.located) == set(load_catalog(vault).located)  # the tombstone too


def test_a_name_of_255_bytes_in_a_long_path_extracts(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """Linux takes names up to 255 bytes, whatever the whole path's length: the longest
    name a stored path can hold (FORMAT.md: at most 255 bytes a part) extracts."""
    vault = ws.create_unlocked(drive)
    longest = "n" * (NAME_MAX_BYTES - 4) + ".txt"
    assert len(longest.encode()) == NAME_MAX_BYTES
    _add(vault, tmp_path / "src", {f"folder/{longest}": b"long name"})
    out = tmp_path / "out"
    out.mkdir()
    result = extract(vault, [], out, False, Registry("sqlite://"), Env(kdf=FAST_KDF))
    assert not result.failed and not result.refused
    assert (out / "src" / "folder" / longest).read_bytes() == b"long name"


def test_an_entry_a_compact_moved_is_found_where_the_index_places_it_now(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"keep.txt": b"kept" * 100, "gone.txt": b"gone" * 1000})
    (before,) = [x for x in load_catalog(vault).live() if x.path == "src/keep.txt"]
    assert moved_since_listing(vault, before) is None  # its pack is there
    remove_paths(vault, ["src/gone.txt"], Registry("sqlite://"), Env(kdf=FAST_KDF))
    compact(vault, Registry("sqlite://"), Env(kdf=FAST_KDF))
    now = moved_since_listing(_unlock(drive), before)
    assert now is not None and now.pack != before.pack
    assert now == load_catalog(vault).located[before.file_id]
    # A file the index no longer holds anywhere has no place now.
    stranger = Located(
        file_id="ff" * 16, pack=before.pack, offset=0, header_len=1, payload_len=1,
        kind=efmt.Kind.FILE, path="src/never.txt",
    )  # fmt: skip
    assert moved_since_listing(vault, stranger) is None


def test_an_entry_whose_pack_is_gone_but_still_indexed_there_has_not_moved(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """A pack deleted by hand (not by a compact): the index still places the entry in it,
    so it has not moved anywhere; reading it fails as it is."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"a.txt": b"a"})
    (loc,) = load_catalog(vault).live()
    next((drive / "MEDVAULT" / "objects").rglob(f"{loc.pack}.mvo")).unlink()
    assert moved_since_listing(vault, loc) is None


def test_a_file_already_at_dest_is_found_after_files_in_a_new_folder(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """The check that nothing is overwritten asks each file's own folder: a folder new at
    DEST (src/a) does not hide a file already there in its parent (src/b.txt)."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"a/x.txt": b"x", "b.txt": b"b"})
    out = tmp_path / "out"
    (out / "src").mkdir(parents=True)
    (out / "src" / "b.txt").write_bytes(b"mine")
    with pytest.raises(AlreadyExists):
        extract(vault, [], out, False, Registry("sqlite://"), Env(kdf=FAST_KDF))
    assert (out / "src" / "b.txt").read_bytes() == b"mine"
    assert not (out / "src" / "a").exists()


def _open_to(pack_file: Path) -> int:
    """How many of this process's open files are PACK_FILE."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(pack_file):
                count += 1
        except OSError:
            continue
    return count


def test_the_reader_cache_keeps_recent_packs_open_and_closes_what_it_drops(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    vault = ws.create_unlocked(drive)
    for number in range(ReaderCache.KEEP + 1):  # one pack per add
        _add(vault, tmp_path / f"src{number}", {"f.txt": bytes([number])})
    packs = sorted({x.pack for x in load_catalog(vault).live()})
    files = {
        pack: next((drive / "MEDVAULT" / "objects").rglob(f"{pack}.mvo")).resolve()
        for pack in packs
    }
    assert len(packs) == ReaderCache.KEEP + 1
    cache = ReaderCache(vault)
    first = cache.get(packs[0])
    assert cache.get(packs[0]) is first and _open_to(files[packs[0]]) == 1
    cache.drop(packs[0])
    assert _open_to(files[packs[0]]) == 0
    assert cache.get(packs[0]) is not first  # reopened
    cache.drop("0" * 32)  # a pack it never opened: nothing to do
    for pack in packs[1:]:
        cache.get(pack)
    # KEEP readers at most: the least recently used (packs[0]) was closed.
    assert [_open_to(files[p]) for p in packs] == [0] + [1] * ReaderCache.KEEP
    cache.get(packs[1])  # used again: now packs[2] is the oldest
    cache.get(packs[0])
    assert [_open_to(files[p]) for p in packs] == [1, 1, 0] + [1] * (ReaderCache.KEEP - 2)
    cache.close()
    assert all(_open_to(files[p]) == 0 for p in packs)


def test_a_long_path_on_a_linux_file_system_is_not_held_to_fat_rules(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """Off FAT/exFAT only a name longer than 255 bytes is refused: a path over 255 bytes
    with a name FAT could not hold (a colon) extracts."""
    vault = ws.create_unlocked(drive)
    name = ("d" * 200) + "/" + ("n" * 60) + ":x.txt"
    _add(vault, tmp_path / "src", {name: b"colon"})
    out = tmp_path / "out"
    out.mkdir()
    result = extract(vault, [], out, False, Registry("sqlite://"), Env(kdf=FAST_KDF))
    assert not result.failed and not result.refused
    assert (out / "src" / name).read_bytes() == b"colon"


@pytest.mark.parametrize("where", ["opening DEST", "writing a file", "finishing"])
def test_a_full_disk_while_extracting_names_what_could_not_be_written(
    ws: Workspace, tmp_path: Path, drive: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """ENOSPC (a fault this disk cannot be made to give on cue) is reported as the disk being
    full, naming DEST, or the file being written."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"a.txt": b"a"})
    out = tmp_path / "out"

    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if where == "opening DEST":
        monkeypatch.setattr(reading.Landing, "open", full)
    elif where == "writing a file":
        monkeypatch.setattr(reading, "extract_one", full)
    else:
        monkeypatch.setattr(reading.Landing, "finish", full)
    with pytest.raises(MediaFull) as caught:
        extract(vault, [], out, False, Registry("sqlite://"), Env(kdf=FAST_KDF))
    named = out / "src" / "a.txt" if where == "writing a file" else out
    assert caught.value.message.startswith(f"cannot write {named}: ")


def test_a_folder_at_dest_that_links_outside_refuses_the_extract(
    ws: Workspace, tmp_path: Path, drive: Path
) -> None:
    """Each stored path's whole folder is resolved at DEST: a link deeper than its first
    folder (src/deep -> outside) is caught before anything is written."""
    vault = ws.create_unlocked(drive)
    _add(vault, tmp_path / "src", {"deep/x.txt": b"x"})
    out, outside = tmp_path / "out", tmp_path / "outside"
    (out / "src").mkdir(parents=True)
    outside.mkdir()
    (out / "src" / "deep").symlink_to(outside)
    with pytest.raises(UnsafePath, match="would be written outside"):
        extract(vault, [], out, False, Registry("sqlite://"), Env(kdf=FAST_KDF))
    assert list(outside.iterdir()) == []
