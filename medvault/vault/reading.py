"""`medvault ls` and `medvault extract`: every byte authenticated before the user sees it.

Extraction writes DEST/.<random>.medvault-partial (mode 0600), and renames it to the
final name only after the payload's end-of-stream check and the SHA-256 both pass. A
partial file that is not renamed is zeroed before it is deleted. Onto FAT/exFAT, names
those file systems refuse are found before anything is written. Below DEST nothing is
reached through a symbolic link, and nothing there is replaced without --force, even if it
appears during the extract (vault/landing.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from medvault.crypto.payload import ciphertext_length
from medvault.errors import (
    AlreadyExists,
    IntegrityError,
    MedvaultError,
    NotFound,
    UnsafePath,
    UnsupportedVersion,
)
from medvault.format import entry as efmt
from medvault.format import pack as pfmt
from medvault.format.meta import FileMeta, normalize_path
from medvault.registry.records import CustodyRegistry
from medvault.store.entries import open_header
from medvault.store.fsio import media_errors
from medvault.store.packs import PackReader
from medvault.store.staging import filesystem_of
from medvault.vault.catalog import Catalog, Located, load_catalog, walk_pack
from medvault.vault.custody import digest_of_digests
from medvault.vault.custody import record as record_event
from medvault.vault.env import Env
from medvault.vault.landing import Landing, Refused, Staged
from medvault.vault.names import FAT_FILESYSTEMS, fat_problem, shown
from medvault.vault.path_index import live_files
from medvault.vault.pipeline import BLOCK, decrypt_stream
from medvault.vault.session import UnlockedVault

READ_BLOCK = 1024 * 1024
# Payloads above this are hashed on a worker thread while the next block is decrypted;
# below it, handing blocks to a thread costs more than it saves.
HASH_ON_WORKER = 1024 * 1024
# Files up to this size are decrypted in memory and written by landing's writer threads.
LAND_IN_MEMORY = 1024 * 1024
NAME_MAX_BYTES = 255  # the longest file name Linux file systems take
# File systems that take any name a stored path can hold (no NUL or "/", at most 255
# bytes, checked up front): extraction to them skips creating each name empty first.
POSIX_NAMES = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "zfs", "f2fs", "ramfs"})
T = TypeVar("T")


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


def destination(dest_dir: Path, stored: str, resolved: dict[str, str] | None = None) -> Path:
    """Where a stored path lands under DEST; refuses anything that would escape it.
    RESOLVED caches folders already resolved (one extract of many files in few folders);
    strings, not Paths: pathlib's parsing cost more than the rest of this per file."""
    normalize_path(stored)
    base_dir = str(dest_dir)
    folder, _, name = stored.rpartition("/")
    parent = os.path.join(base_dir, *folder.split("/")) if folder else base_dir
    cache = {} if resolved is None else resolved
    if base_dir not in cache:
        cache[base_dir] = os.path.realpath(base_dir)
    if parent not in cache:
        cache[parent] = os.path.realpath(parent)
    base, at = cache[base_dir], os.path.join(cache[parent], name)
    if not at.startswith(os.path.join(base, "")):
        raise UnsafePath(f"stored path {stored!r} would be written outside {dest_dir}")
    return Path(parent, name)


def stream_entry(
    vault: UnlockedVault,
    reader: PackReader,
    loc: Located,
    sink: Callable[[bytes | memoryview], None],
    progress: Callable[[int], None] | None = None,
) -> FileMeta:
    """Authenticate an entry and pass its plaintext to SINK (provisional until return)."""
    small = loc.payload_len <= HASH_ON_WORKER
    # A small entry is read in one piece, header and payload (one read per file when
    # thousands are extracted); the header still decides, and must agree with the index.
    blob = reader.read(loc.offset, loc.header_len + (loc.payload_len if small else 0))
    opened = open_header(vault.keys, blob[: loc.header_len])
    h = opened.header
    if h.file_id.hex() != loc.file_id or h.kind != efmt.Kind.FILE:
        raise IntegrityError("object is not the file the index names")
    meta = FileMeta.decode(opened.meta)
    if h.payload_len != ciphertext_length(meta.size) or h.payload_len != loc.payload_len:
        raise IntegrityError("object payload length does not match its size")
    dec = opened.decryptor()
    if h.payload_len > HASH_ON_WORKER:
        blocks = reader.stream(loc.offset + loc.header_len, h.payload_len, BLOCK)
        digest = decrypt_stream(blocks, dec, sink, progress)
    else:
        block = blob[loc.header_len :]  # small: h.payload_len == loc.payload_len, checked above
        plain = dec.update(block)
        digest = hashlib.sha256(plain)
        sink(plain)
        if progress:
            progress(len(block))
    last = dec.finalize()
    digest.update(last)
    sink(last)
    if digest.hexdigest() != meta.sha256:
        raise IntegrityError("plaintext SHA-256 does not match the stored digest")
    return meta


def plaintext_sha256(vault: UnlockedVault, loc: Located) -> str:
    """Decrypt LOC from the drive, authenticated, and return its plaintext's SHA-256:
    the read-back check before a plaintext copy is deleted."""
    return following_compact(vault, loc, lambda at: _sha256_of(vault, at))


def _sha256_of(vault: UnlockedVault, loc: Located) -> str:
    digest = hashlib.sha256()
    with open_reader(vault, loc.pack) as reader:
        stream_entry(vault, reader, loc, digest.update)
    return digest.hexdigest()


def open_reader(vault: UnlockedVault, pack: str) -> PackReader:
    return PackReader(vault.paths, vault.vault_id, pack, vault.part_size)


def pack_exists(vault: UnlockedVault, pack: str) -> bool:
    return (vault.paths.pack_dir(pack) / pfmt.part_filename(pack, 0)).exists()


def moved_since_listing(vault: UnlockedVault, loc: Located) -> Located | None:
    """Where LOC's entry is now, if a compact rewrote its pack after the listing was made
    (the old pack is gone and the index places the same entry elsewhere), else None."""
    if pack_exists(vault, loc.pack):
        return None
    now = load_catalog(vault).located.get(loc.file_id)
    return now if now is not None and now.pack != loc.pack else None


def following_compact(vault: UnlockedVault, loc: Located, read: Callable[[Located], T]) -> T:
    """READ(LOC); if that fails because a compact rewrote and deleted LOC's pack since the
    listing was made, READ the same entry where the index places it now; if it fails
    because the index places the entry where it is not, READ it where the pack's own
    authenticated headers put it. Nothing extra is read when LOC is right."""
    try:
        return read(loc)
    except IntegrityError:
        moved = moved_since_listing(vault, loc) or found_by_header(vault, loc)
        if moved is None:
            raise
        return read(moved)


# Packs walked to find misplaced entries (vault folder, pack -> file id -> location). A
# pack is never changed once named (a re-key rewrites headers at the same length), so
# what a walk found stays true; a few are kept, as an extract reads pack after pack.
_WALKED: dict[tuple[str, str], dict[str, Located]] = {}
WALKED_KEEP = 4


def found_by_header(vault: UnlockedVault, loc: Located) -> Located | None:
    """LOC where a walk of its pack finds an authenticated header with its file id, when
    that is somewhere else (the index's offset or lengths are wrong, the entry intact)."""
    key = (str(vault.paths.root), loc.pack)
    if key not in _WALKED:
        if not pack_exists(vault, loc.pack):
            return None
        found: dict[str, Located] = {}
        with contextlib.suppress(MedvaultError), open_reader(vault, loc.pack) as reader:
            for item in walk_pack(vault, reader):
                if isinstance(item, Located):
                    found[item.file_id] = item
        while len(_WALKED) >= WALKED_KEEP:
            _WALKED.pop(next(iter(_WALKED)))
        _WALKED[key] = found
    at = _WALKED[key].get(loc.file_id)
    if at is None or at.kind != loc.kind:
        return None
    place = (at.offset, at.header_len, at.payload_len)
    if place == (loc.offset, loc.header_len, loc.payload_len):
        return None
    return replace(loc, offset=at.offset, header_len=at.header_len, payload_len=at.payload_len)


@dataclass
class ExtractResult:
    written: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    newer: list[str] = field(default_factory=list)  # failed: written by a newer medvault
    bytes: int = 0
    digests: list[str] = field(default_factory=list)
    # Not extracted because of what is at its place in DEST (a link, a file that appeared).
    refused: dict[str, MedvaultError] = field(default_factory=dict)
    untimed: list[str] = field(default_factory=list)  # extracted; mtime could not be set


def extract(
    vault: UnlockedVault,
    wanted: list[str],
    dest_dir: Path,
    force: bool,
    registry: CustodyRegistry,
    env: Env,
    progress: Callable[[int], None] | None = None,
    action: str = "extract",
    details: dict[str, object] | None = None,
) -> ExtractResult:
    """Extract the chosen files; the custody event records counts and digests, not names."""
    with live_files(vault) as live:
        chosen = live.select(wanted)
    resolved: dict[str, str] = {}
    targets = [(loc, destination(dest_dir, loc.path, resolved)) for loc in chosen]
    fat = _check_names(dest_dir, chosen)
    if not force:
        existing = _first_existing(targets)
        if existing is not None:
            raise AlreadyExists(f"{existing} already exists", hint="use --force to overwrite")
    result = ExtractResult()
    probe = fat or filesystem_of(dest_dir) not in POSIX_NAMES
    with media_errors(str(dest_dir)):
        landing = Landing.open(dest_dir, probe_names=probe, force=force, shared_ok=fat)
    readers = ReaderCache(vault)
    try:
        for loc, target in targets:
            _extract_or_note(vault, readers, landing, loc, target, result, progress)
        with media_errors(str(dest_dir)):
            landing.finish()
    except BaseException:
        landing.discard()
        raise
    finally:
        readers.close()
        _note_landed(landing, result)
        record_event(
            registry,
            env,
            action,
            {
                **(details or {}),
                "files": len(result.written),
                "bytes": result.bytes,
                "failed": len(result.failed),
                "sha256_of_digests": digest_of_digests(result.digests),
            },
            vault=vault,
        )
    return result


def _extract_or_note(
    vault: UnlockedVault,
    readers: ReaderCache,
    landing: Landing,
    loc: Located,
    target: Path,
    result: ExtractResult,
    progress: Callable[[int], None] | None,
) -> None:
    """Extract one file; a damaged file (or one from a newer format), or one refused for
    what is on its way in DEST, is noted in RESULT and the others still extract."""
    try:
        with media_errors(str(target)):
            _extract_one(vault, readers, landing, loc, target, progress)
    except (IntegrityError, UnsupportedVersion) as exc:
        result.failed[loc.path] = exc.message
        if isinstance(exc, UnsupportedVersion):
            result.newer.append(loc.path)
    except Refused as exc:  # a link or another user's folder on its way: this file only
        result.refused[loc.path] = exc.error


def _note_landed(landing: Landing, result: ExtractResult) -> None:
    """What LANDING put in place (or refused at the last step), into RESULT."""
    result.written = [item.target for item in landing.landed]
    result.bytes = sum(item.size for item in landing.landed)
    result.digests = [item.sha256 for item in landing.landed]
    result.untimed = [item.spot.stored for item in landing.landed if item.untimed]
    result.refused.update((item.spot.stored, error) for item, error in landing.refused)


def _first_existing(targets: list[tuple[Located, Path]]) -> Path | None:
    """The first target already there (a dangling link too), so that nothing is written
    when one is; the rename makes the same check again, race-free. A folder that does not
    exist holds none of them, so extracting into a new folder stats each folder once rather
    than every file."""
    folders: dict[str, bool] = {}
    for loc, target in targets:
        folder = loc.path.rpartition("/")[0]
        there = folders.get(folder)
        if there is None:
            there = folders[folder] = target.parent.exists()
        if there and os.path.lexists(target):
            return target
    return None


def _check_names(dest_dir: Path, chosen: list[Located]) -> bool:
    """Refuse before writing anything if a name cannot be created at DEST_DIR (a refused
    rename would come only after the plaintext reached the disk): onto FAT/exFAT (True is
    returned) every rule of fat_problem, elsewhere names longer than 255 bytes."""
    kind = filesystem_of(dest_dir)
    fat = kind in FAT_FILESYSTEMS
    check = fat_problem if fat else _too_long
    seen: dict[str, str | None] = {}  # folder names repeat on every path under them
    bad = []
    for loc in chosen:
        if not fat and len(loc.path.encode()) <= NAME_MAX_BYTES:
            continue  # no part of it can be longer
        for part in loc.path.split("/"):
            if part not in seen:
                seen[part] = check(part)
            if (problem := seen[part]) is not None:
                bad.append((loc.path, part, problem))
    if bad:
        path, part, problem = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UnsafePath(
            f"{shown(path)} cannot be written to {kind} at {shown(dest_dir)}: "
            f"{shown(part)!r} {problem}{more}",
            hint="nothing was extracted; extract to a Linux file system (ext4, tmpfs), or "
            "name only the other files",
        )
    return fat


def _too_long(name: str) -> str | None:
    return "is longer than 255 bytes" if len(name.encode()) > NAME_MAX_BYTES else None


def _decrypt(
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


class ReaderCache:
    """Open pack readers, kept while consecutive files come from the same pack (files
    added together sit together): reopening the pack for each small file costs more than
    decrypting it."""

    KEEP = 4

    def __init__(self, vault: UnlockedVault) -> None:
        self.vault = vault
        self._open: dict[str, PackReader] = {}

    def get(self, pack: str) -> PackReader:
        reader = self._open.pop(pack, None)
        if reader is None:
            reader = open_reader(self.vault, pack)
        self._open[pack] = reader  # most recent last
        while len(self._open) > self.KEEP:
            self._open.pop(next(iter(self._open))).close()
        return reader

    def drop(self, pack: str) -> None:
        reader = self._open.pop(pack, None)
        if reader is not None:
            reader.close()

    def close(self) -> None:
        for reader in self._open.values():
            reader.close()
        self._open.clear()


def _extract_one(
    vault: UnlockedVault,
    readers: ReaderCache,
    landing: Landing,
    loc: Located,
    target: Path,
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
            return _decrypt(vault, readers, at, lambda data: pieces.append(bytes(data)), progress)

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
            return _decrypt(vault, readers, at, out.write, progress)

    try:
        meta = following_compact(vault, loc, decrypt_at)
    except BaseException:
        while opened:
            landing.abandon(opened.pop())
        raise
    landing.stage(opened[0], meta.size, meta.sha256, meta.mtime_ns)
