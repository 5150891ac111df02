"""`medvault ls` and `medvault extract`: every byte authenticated before the user sees it.

Extraction writes DEST/.<random>.medvault-partial (mode 0600), and renames it to the
final name only after the payload's end-of-stream check and the SHA-256 both pass. A
partial file that is not renamed is zeroed before it is deleted. Onto FAT/exFAT, names
those file systems refuse are found before anything is written. Below DEST nothing is
reached through a symbolic link, and nothing there is replaced without --force, even if it
appears during the extract (engine/landing.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from medvault.engine.catalog import Catalog, Located, load_catalog
from medvault.engine.decrypt_ahead import Decrypted, decrypted_in_order
from medvault.engine.entry_reading import ReaderCache, following_compact, stream_entry
from medvault.engine.landing import Landing, Refused, Staged, Target
from medvault.engine.names import FAT_FILESYSTEMS, fat_problem, shown
from medvault.engine.path_index import LiveFiles, live_files
from medvault.engine.session import UnlockedVault
from medvault.engine.writing import digest_of_digests
from medvault.errors import (
    AlreadyExists,
    IntegrityError,
    MedvaultError,
    NotFound,
    UnsafePath,
    UnsupportedVersion,
)
from medvault.format.meta import FileMeta, normalize_path
from medvault.registry.actions import Action
from medvault.registry.records import CustodyRegistry
from medvault.store.fsio import media_errors
from medvault.vault.custody import record as record_event
from medvault.vault.env import Env
from medvault.workstation.mounts import filesystem_of

# Files up to this size are decrypted in memory and written by landing's writer threads.
LAND_IN_MEMORY = 1024 * 1024
NAME_MAX_BYTES = 255  # the longest file name Linux file systems take
# File systems that take any name a stored path can hold (no NUL or "/", at most 255
# bytes, checked up front): extraction to them skips creating each name empty first.
POSIX_NAMES = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "zfs", "f2fs", "ramfs"})


def list_files(vault: UnlockedVault) -> tuple[list[Located], Catalog]:
    catalog = load_catalog(vault)
    return catalog.live(), catalog


def select(live: list[Located], wanted: list[str]) -> list[Located]:
    """Files whose path equals, or sits under, each wanted path; every name must match."""
    if not wanted:
        return live
    chosen: dict[str, Located] = {}
    for raw in wanted:
        prefix = normalize_path(raw.strip("/"))
        hits = [x for x in live if x.path == prefix or x.path.startswith(prefix + "/")]
        if not hits:
            raise NotFound(f"{raw} is not in the vault", hint="`medvault ls` lists what is")
        for hit in hits:
            chosen[hit.file_id] = hit
    return sorted(chosen.values(), key=lambda x: x.path)


class Destinations:
    """Where stored paths land under DEST_DIR, refusing any that would escape it. Each
    folder is resolved, checked and made a Path once (one extract of many files in few
    folders): pathlib's parsing cost more than the rest of this per file."""

    def __init__(self, dest_dir: Path) -> None:
        self.dest_dir = dest_dir
        self._folders: dict[str, Path] = {}
        self._base = ""

    def of(self, stored: str) -> Target:
        normalize_path(stored)  # the name is one plain component: it cannot leave its folder
        folder, _, name = stored.rpartition("/")
        parent = self._folders.get(folder)
        if parent is None:
            parent = self._folders[folder] = self._checked(folder, stored)
        return Target(parent, name)

    def _checked(self, folder: str, stored: str) -> Path:
        base_dir = str(self.dest_dir)
        if not self._base:
            self._base = os.path.join(os.path.realpath(base_dir), "")
        parent = os.path.join(base_dir, *folder.split("/")) if folder else base_dir
        if not os.path.join(os.path.realpath(parent), "").startswith(self._base):
            raise UnsafePath(f"stored path {stored!r} would be written outside {self.dest_dir}")
        return Path(parent)


@dataclass
class ExtractResult:
    files: int = 0  # extracted
    written: list[Path] = field(default_factory=list)  # their paths, when kept (keep_written)
    failed: dict[str, str] = field(default_factory=dict)
    newer: list[str] = field(default_factory=list)  # failed: written by a newer medvault
    bytes: int = 0
    digests: bytearray = field(default_factory=bytearray)  # each file's SHA-256, 32 bytes
    # Not extracted because of what is at its place in DEST (a link, a file that appeared).
    refused: dict[str, MedvaultError] = field(default_factory=dict)
    untimed: list[str] = field(default_factory=list)  # extracted; mtime could not be set
    keep_written: bool = True
    decrypted_ahead: int = 0  # files a second process decrypted (engine/decrypt_ahead.py)

    def landed(self, item: Staged) -> None:
        """ITEM has its name in DEST: count it (and keep its path if asked)."""
        self.files += 1
        self.bytes += item.size
        self.digests += bytes.fromhex(item.sha256)
        if self.keep_written:
            self.written.append(item.target)
        if item.untimed:
            self.untimed.append(item.spot.stored)

    def sha256_of_digests(self) -> str:
        return digest_of_digests(
            self.digests[at : at + 32].hex() for at in range(0, len(self.digests), 32)
        )


def extract(
    vault: UnlockedVault,
    wanted: list[str],
    dest_dir: Path,
    force: bool,
    registry: CustodyRegistry,
    env: Env,
    progress: Callable[[int], None] | None = None,
    action: Action = Action.EXTRACT,
    details: dict[str, object] | None = None,
    keep_written: bool = True,
) -> ExtractResult:
    """Extract the chosen files; the custody event records counts and digests, not names.

    Nothing is held per file but its SHA-256 (and its path with KEEP_WRITTEN): with no
    WANTED paths (the whole vault) the list is walked twice from the path index, once to
    check every name and target before anything is written, then to extract, so an
    extract of a million files does not hold a million entries."""
    with live_files(vault) as live:
        return _extract(
            vault, live, wanted, dest_dir, force, registry, env, progress, action, details,
            keep_written,
        )  # fmt: skip


def _extract(
    vault: UnlockedVault,
    live: LiveFiles,
    wanted: list[str],
    dest_dir: Path,
    force: bool,
    registry: CustodyRegistry,
    env: Env,
    progress: Callable[[int], None] | None,
    action: Action,
    details: dict[str, object] | None,
    keep_written: bool,
) -> ExtractResult:
    # The same snapshot (its pages and the journal's tail read once) gives both walks.
    chosen: Callable[[], Iterable[Located]] = live.all
    if wanted:
        selected = live.select(wanted)
        chosen = lambda: selected  # noqa: E731
    destinations = Destinations(dest_dir)

    def targets() -> Iterator[tuple[Located, Target]]:
        return ((loc, destinations.of(loc.path)) for loc in chosen())

    fat, small_files = check_targets(dest_dir, targets(), force)
    result = ExtractResult(keep_written=keep_written)
    probe = fat or filesystem_of(dest_dir) not in POSIX_NAMES
    with media_errors(str(dest_dir)):
        landing = Landing.open(
            dest_dir, probe_names=probe, force=force, shared_ok=fat, on_landed=result.landed
        )
    readers = ReaderCache(vault)
    try:
        # Before any pack is opened here: the helper must share no file offset with us.
        # Closed however the loop ends, so that the helper never outlives it.
        ahead = decrypted_in_order(vault, targets(), small_files, LAND_IN_MEMORY)
        with contextlib.closing(ahead):
            for (loc, target), decrypted in ahead:
                _extract_or_note(vault, readers, landing, loc, target, result, progress, decrypted)
        with media_errors(str(dest_dir)):
            landing.finish()
    except BaseException:
        landing.discard()
        raise
    finally:
        readers.close()
        result.refused.update((item.spot.stored, error) for item, error in landing.refused)
        record_event(
            registry,
            env,
            action,
            {
                **(details or {}),
                "files": result.files,
                "bytes": result.bytes,
                "failed": len(result.failed),
                "sha256_of_digests": result.sha256_of_digests(),
            },
            vault=vault,
        )
    return result


def _extract_or_note(
    vault: UnlockedVault,
    readers: ReaderCache,
    landing: Landing,
    loc: Located,
    target: Target,
    result: ExtractResult,
    progress: Callable[[int], None] | None,
    decrypted: Decrypted | None = None,
) -> None:
    """Extract one file (DECRYPTED: its plaintext, decrypted ahead and authenticated); a
    damaged file (or one from a newer format), or one refused for what is on its way in
    DEST, is noted in RESULT and the others still extract."""
    try:
        with media_errors(target):
            if decrypted is None:
                extract_one(vault, readers, landing, loc, target, progress)
            else:
                spot = landing.prepare(loc.path, target)
                landing.write_small(spot, decrypted.plaintext, decrypted.sha256, decrypted.mtime_ns)
                result.decrypted_ahead += 1
                if progress:
                    progress(loc.payload_len)
    except (IntegrityError, UnsupportedVersion) as exc:
        result.failed[loc.path] = exc.message
        if isinstance(exc, UnsupportedVersion):
            result.newer.append(loc.path)
    except Refused as exc:  # a link or another user's folder on its way: this file only
        result.refused[loc.path] = exc.error


class Checked(NamedTuple):
    fat: bool  # DEST is FAT/exFAT
    small_files: int  # files of at most LAND_IN_MEMORY bytes


def check_targets(
    dest_dir: Path, targets: Iterable[tuple[Located, Target]], force: bool
) -> Checked:
    """One walk of TARGETS before anything is written: refuse a name DEST_DIR cannot take
    (a refused rename would come only after the plaintext reached the disk): onto FAT/exFAT
    (`fat`) every rule of fat_problem, elsewhere names longer than 255 bytes;
    then, unless FORCE, a target already there (a dangling link too): the rename makes the
    same check again, race-free. A folder that does not exist holds none of them, so
    extracting into a new folder stats each folder once rather than every file."""
    kind = filesystem_of(dest_dir)
    fat = kind in FAT_FILESYSTEMS
    check = fat_problem if fat else _too_long
    seen: dict[str, str | None] = {}  # folder names repeat on every path under them
    folders: dict[str, bool] = {}
    first_bad: tuple[str, str, str] | None = None
    bad = 0
    existing: Path | None = None
    small = 0
    for loc, target in targets:
        small += loc.size <= LAND_IN_MEMORY
        if fat or len(loc.path.encode()) > NAME_MAX_BYTES:
            *folder_parts, name = loc.path.split("/")
            for part in folder_parts:
                if part not in seen:
                    seen[part] = check(part)
            problems = [(part, seen[part]) for part in folder_parts] + [(name, check(name))]
            for part, problem in problems:
                if problem is not None:
                    first_bad = first_bad or (loc.path, part, problem)
                    bad += 1
        if force or existing is not None or first_bad is not None:
            continue
        folder = loc.path.rpartition("/")[0]
        there = folders.get(folder)
        if there is None:
            there = folders[folder] = target.folder.exists()
        if there and os.path.lexists(target):
            existing = target.path
    if first_bad is not None:
        path, part, problem = first_bad
        more = f" (and {bad - 1} more)" if bad > 1 else ""
        raise UnsafePath(
            f"{shown(path)} cannot be written to {kind} at {shown(dest_dir)}: "
            f"{shown(part)!r} {problem}{more}",
            hint="nothing was extracted; extract to a Linux file system (ext4, tmpfs), or "
            "name only the other files",
        )
    if existing is not None:
        raise AlreadyExists(f"{existing} already exists", hint="use --force to overwrite")
    return Checked(fat, small)


def _too_long(name: str) -> str | None:
    return "is longer than 255 bytes" if len(name.encode()) > NAME_MAX_BYTES else None


def decrypt_entry(
    vault: UnlockedVault,
    readers: ReaderCache,
    loc: Located,
    sink: Callable[[bytes | memoryview], None],
    progress: Callable[[int], None] | None,
) -> FileMeta:
    try:
        return stream_entry(vault, readers.get(loc.pack), loc, sink, progress)
    except IntegrityError:  # FormatError too (a subclass)
        readers.drop(loc.pack)  # a compact may have replaced it: reopen it next time
        raise


def extract_one(
    vault: UnlockedVault,
    readers: ReaderCache,
    landing: Landing,
    loc: Located,
    target: Path | Target,
    progress: Callable[[int], None] | None,
) -> None:
    """Decrypt LOC (in memory when small, else into a partial file) and stage it for its
    batch's rename; if LOC's pack was compacted away since the listing, from where the
    index places it now."""
    spot = landing.prepare(loc.path, target)
    if loc.size <= LAND_IN_MEMORY:
        pieces: list[bytes] = []

        def decrypt_small(at: Located) -> FileMeta:
            pieces.clear()
            return decrypt_entry(
                vault, readers, at, lambda data: pieces.append(bytes(data)), progress
            )

        meta = following_compact(vault, loc, decrypt_small)
        landing.write_small(spot, b"".join(pieces), meta.sha256, meta.mtime_ns)
        return
    opened: list[Staged] = []

    def decrypt_at(at: Located) -> FileMeta:
        # A compact moved the entry after the first try: a new partial file, never one
        # written again from its start (fusefat loses a file emptied and rewritten).
        while opened:
            landing.abandon(opened.pop())
        partial, out = landing.open_partial(spot)
        opened.append(partial)
        with out:
            return decrypt_entry(vault, readers, at, out.write, progress)

    try:
        meta = following_compact(vault, loc, decrypt_at)
    except BaseException:
        while opened:
            landing.abandon(opened.pop())
        raise
    landing.stage(opened[0], meta.size, meta.sha256, meta.mtime_ns)
