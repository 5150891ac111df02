"""Reading entries back from packs: authenticate an entry and stream its plaintext, find it
again when a compact moved it or the index misplaces it, and keep a few pack readers open.
Used by extract, verify, the write read-back and the plaintext checks of export and scan."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from typing import TypeVar

from medvault.engine.catalog import Located, load_catalog, walk_pack
from medvault.engine.pipeline import decrypt_stream
from medvault.engine.session import UnlockedVault
from medvault.errors import IntegrityError, MedvaultError
from medvault.format import entry as efmt
from medvault.format import pack as pfmt
from medvault.format.meta import FileMeta
from medvault.store.entries import OpenedHeader, open_header
from medvault.store.packs import PackReader
from medvault.store.sequential import BLOCK

T = TypeVar("T")
# Payloads above this are hashed on a worker thread while the next block is decrypted;
# below it, handing blocks to a thread costs more than it saves.
HASH_ON_WORKER = 1024 * 1024


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
    opened, meta = open_file_entry(vault, blob[: loc.header_len], loc)
    h = opened.header
    if h.payload_len != loc.payload_len:
        raise IntegrityError("object payload length does not match its size")
    dec = opened.decryptor(meta.size)
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


def open_file_entry(
    vault: UnlockedVault, header: bytes, loc: Located
) -> tuple[OpenedHeader, FileMeta]:
    """LOC's entry HEADER authenticated and its metadata parsed: it must be the file the
    index names, with the payload length its size gives (FORMAT.md §5, step 6)."""
    opened = open_header(vault.keys, header)
    h = opened.header
    if h.file_id.hex() != loc.file_id or opened.kind != efmt.Kind.FILE:
        raise IntegrityError("object is not the file the index names")
    meta = FileMeta.decode(opened.meta)
    if h.payload_len != opened.payload_length_for(meta.size):
        raise IntegrityError("object payload length does not match its size")
    return opened, meta


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
WALKED_PACKS: dict[tuple[str, str], dict[str, Located]] = {}
WALKED_KEEP = 4


def found_by_header(vault: UnlockedVault, loc: Located) -> Located | None:
    """LOC where a walk of its pack finds an authenticated header with its file id, when
    that is somewhere else (the index's offset or lengths are wrong, the entry intact)."""
    key = (str(vault.paths.root), loc.pack)
    if key not in WALKED_PACKS:
        if not pack_exists(vault, loc.pack):
            return None
        found: dict[str, Located] = {}
        with contextlib.suppress(MedvaultError), open_reader(vault, loc.pack) as reader:
            for item in walk_pack(vault, reader):
                if isinstance(item, Located):
                    found[item.file_id] = item
        while len(WALKED_PACKS) >= WALKED_KEEP:
            WALKED_PACKS.pop(next(iter(WALKED_PACKS)))
        WALKED_PACKS[key] = found
    at = WALKED_PACKS[key].get(loc.file_id)
    if at is None or at.kind != loc.kind:
        return None
    place = (at.offset, at.header_len, at.payload_len)
    if place == (loc.offset, loc.header_len, loc.payload_len):
        return None
    return loc._replace(offset=at.offset, header_len=at.header_len, payload_len=at.payload_len)


def authenticate_entry(vault: UnlockedVault, reader: PackReader, loc: Located) -> None:
    if loc.kind == efmt.Kind.FILE:
        stream_entry(vault, reader, loc, discard_plaintext)
        return
    opened = open_header(vault.keys, reader.read(loc.offset, loc.header_len))
    if opened.header.payload_len != loc.payload_len:
        raise IntegrityError("object payload length does not match the walk")
    if loc.payload_len != opened.payload_length_for(0):
        raise IntegrityError("a tombstone's payload is not empty")
    dec = opened.decryptor(0)
    pos, end = loc.offset + loc.header_len, loc.offset + loc.header_len + loc.payload_len
    while pos < end:
        block = reader.read(pos, min(BLOCK, end - pos))
        pos += len(block)
        dec.update(block)
    dec.finalize()


def discard_plaintext(_data: bytes | memoryview) -> None:
    return None


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
