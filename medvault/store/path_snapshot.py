"""index/paths.mvs on the drive: the path index's sealed pages and directory, read and
written. format/path_index_file.py owns the bytes; engine/path_index.py decides what goes
in a snapshot and when, and applies the journal records written after it."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from medvault.crypto.key_schedule import VaultKeys
from medvault.crypto.symmetric import GCM_TAG_LEN, gcm_open, gcm_seal, random_bytes
from medvault.errors import FormatError
from medvault.format import path_index_file as snapshot_fmt
from medvault.format.index_records import Located
from medvault.secret import Secret
from medvault.store import fsio
from medvault.store.fsio import filesystem_type, fsync_dir, media_errors
from medvault.store.layout import VaultPaths

# Where the prelude cannot be written last: sealed pages up to this size are kept from the
# measuring walk and written from memory (about 5,000 files); a bigger index walks the
# files again instead of holding them. At 8 MiB the pages of a 10,000-file add (1.8 MiB)
# were ~0.8 MiB of its peak (issue 23, goal 5); walking again costs that add ~0.1 s.
KEEP_SEALED_BYTES = 1024 * 1024
# Kernel file systems where writing the prelude last, back over a placeholder, is safe: the
# file is then made from one walk of the files (fusefat loses such a write: see write()).
PRELUDE_LAST_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "f2fs", "btrfs"})


class SnapshotFile:
    """An open path index file whose prelude and directory have been authenticated; each
    page is authenticated as it is read."""

    def __init__(
        self,
        keys: VaultKeys,
        handle: BinaryIO,
        prelude: snapshot_fmt.Prelude,
        directory: snapshot_fmt.Directory,
    ) -> None:
        self._keys = keys
        self._handle = handle
        self.prelude = prelude
        self.directory = directory

    def page(self, number: int) -> list[Located]:
        ref = self.directory.pages[number]
        self._handle.seek(ref.offset)
        data = self._handle.read(ref.length)
        if len(data) != ref.length:
            raise FormatError("path index: a page is cut short")
        aad = snapshot_fmt.aad(self._keys.vault_id, self.prelude.snapshot_id, number)
        plain = _open_sealed(self._keys.path_index(), data, aad)
        return [snapshot_fmt.located_of(row) for row in snapshot_fmt.decode_page(plain, ref)]

    def close(self) -> None:
        self._handle.close()


def open_file(paths: VaultPaths, keys: VaultKeys) -> SnapshotFile:
    """The vault's path index with its directory read; raises OSError when there is none
    and FormatError (or ValueError) when it does not authenticate or parse."""
    handle = open(paths.path_index, "rb")  # noqa: SIM115 (SnapshotFile closes it)
    try:
        size = os.fstat(handle.fileno()).st_size
        prelude = snapshot_fmt.decode_prelude(
            handle.read(snapshot_fmt.PRELUDE_LEN), keys.vault_id, size
        )
        handle.seek(prelude.dir_offset)
        data = handle.read(prelude.dir_len)
        aad = snapshot_fmt.aad(keys.vault_id, prelude.snapshot_id, snapshot_fmt.DIRECTORY_PAGE)
        plain = _open_sealed(keys.path_index(), data, aad)
        directory = snapshot_fmt.decode_directory(plain, prelude.dir_offset)
    except BaseException:
        handle.close()
        raise
    return SnapshotFile(keys, handle, prelude, directory)


def write(
    paths: VaultPaths,
    keys: VaultKeys,
    live: Callable[[], Iterable[Located]],
    packs: set[str],
    covers: snapshot_fmt.Covers,
    rows_per_page: int,
) -> None:
    """Write the path index of the files LIVE() gives (in path order) and PACKS, made from
    the journal COVERS describes. Written in tmp/ and renamed into place, so a crash leaves
    the old one. Memory stays about one page (up to KEEP_SEALED_BYTES where the pages are
    measured first), whatever the vault's size.

    On PRELUDE_LAST_FILESYSTEMS the pages are sealed and written as LIVE() gives them, after
    a placeholder, and the prelude (which names where the directory starts) is written over
    it last: one walk of the files. Elsewhere the file is written once, front to back, with
    no seek: fusefat loses a prelude written back over a file smaller than a cluster
    (docs/RELIABILITY.md). The pages are then measured first (which places the directory),
    and written from memory while they fit in KEEP_SEALED_BYTES; beyond that LIVE() is
    walked a second time to seal them again."""
    snapshot = _Snapshot(keys, keys.path_index(), random_bytes(16), packs, covers, rows_per_page)
    tmp = paths.tmp / "paths.mvs.tmp"
    with media_errors("the path index"):
        try:
            with fsio.create(tmp) as handle:
                if filesystem_type(os.fstat(handle.fileno()).st_dev) in PRELUDE_LAST_FILESYSTEMS:
                    _write_prelude_last(handle, tmp, snapshot, live)
                else:
                    _write_measured(handle, tmp, snapshot, live)
                fsio.fsync(handle, tmp)
            fsio.replace(tmp, paths.path_index)
        except BaseException:
            _remove_quietly(tmp)
            raise
        fsync_dir(paths.index_dir)


def remove(paths: VaultPaths) -> None:
    """Remove the vault's path index (readers then use the whole journal)."""
    with media_errors("the path index"):
        fsio.unlink(paths.path_index, missing_ok=True)
    fsync_dir(paths.index_dir)


@dataclass(frozen=True)
class _Snapshot:
    """The path index being written: what its pages and directory are sealed with."""

    keys: VaultKeys
    key: Secret  # the path index key
    snapshot_id: bytes
    packs: set[str]
    covers: snapshot_fmt.Covers
    rows_per_page: int

    def pages(self, rows: Iterable[Located]) -> Iterator[list[Located]]:
        return _pages(iter(rows), self.rows_per_page)

    def seal(self, number: int, plain: bytes) -> bytes:
        """Page NUMBER (or the directory, DIRECTORY_PAGE) sealed."""
        aad = snapshot_fmt.aad(self.keys.vault_id, self.snapshot_id, number)
        return _seal(self.key, plain, aad)

    def closing(self, refs: list[snapshot_fmt.PageRef]) -> tuple[bytes, bytes]:
        """The prelude and the sealed directory of the pages REFS."""
        count = sum(ref.count for ref in refs)
        directory = snapshot_fmt.Directory(
            self.covers, count, tuple(sorted(self.packs)), tuple(refs)
        )
        sealed_directory = self.seal(snapshot_fmt.DIRECTORY_PAGE, directory.encode())
        dir_offset = refs[-1].offset + refs[-1].length if refs else snapshot_fmt.PRELUDE_LEN
        prelude = snapshot_fmt.Prelude(
            self.keys.vault_id, self.snapshot_id, dir_offset, len(sealed_directory)
        )
        return prelude.encode(), sealed_directory


def _write_prelude_last(
    handle: BinaryIO, tmp: Path, snapshot: _Snapshot, live: Callable[[], Iterable[Located]]
) -> None:
    """One walk: a placeholder, each page sealed and written as it is made, the directory,
    then the prelude over the placeholder."""
    fsio.write(handle, bytes(snapshot_fmt.PRELUDE_LEN), tmp)
    refs: list[snapshot_fmt.PageRef] = []
    offset = snapshot_fmt.PRELUDE_LEN
    for number, chunk in enumerate(snapshot.pages(live())):
        sealed = snapshot.seal(number, _page_plaintext(chunk))
        refs.append(_page_ref(chunk, offset, len(sealed)))
        fsio.write(handle, sealed, tmp)
        offset += len(sealed)
    prelude, sealed_directory = snapshot.closing(refs)
    fsio.write(handle, sealed_directory, tmp)
    handle.seek(0)
    fsio.write(handle, prelude, tmp)


def _write_measured(
    handle: BinaryIO, tmp: Path, snapshot: _Snapshot, live: Callable[[], Iterable[Located]]
) -> None:
    """Front to back, no seek: the pages measured first, then written (kept from the
    measuring walk, or sealed again from a second one)."""
    refs, digests, kept = _measure(snapshot, live())
    prelude, sealed_directory = snapshot.closing(refs)
    fsio.write(handle, prelude, tmp)
    sealed_pages = kept if kept is not None else _sealed_pages(snapshot, live(), digests)
    for number, sealed in enumerate(sealed_pages):
        if len(sealed) != refs[number].length:
            raise FormatError("path index: a page is not the length measured")
        fsio.write(handle, sealed, tmp)
    fsio.write(handle, sealed_directory, tmp)


def _measure(
    snapshot: _Snapshot, rows: Iterable[Located]
) -> tuple[list[snapshot_fmt.PageRef], list[bytes], list[bytes] | None]:
    """Where each page of ROWS will be and how long (a sealed page is its plaintext plus a
    fixed nonce and tag), a digest of each, to check a second walk gives the same, and the
    pages sealed, while they all fit in KEEP_SEALED_BYTES (None beyond: walk again)."""
    refs: list[snapshot_fmt.PageRef] = []
    digests: list[bytes] = []
    kept: list[bytes] | None = []
    offset = snapshot_fmt.PRELUDE_LEN
    for number, chunk in enumerate(snapshot.pages(rows)):
        plain = _page_plaintext(chunk)
        length = snapshot_fmt.NONCE_LEN + len(plain) + GCM_TAG_LEN
        refs.append(_page_ref(chunk, offset, length))
        digests.append(hashlib.sha256(plain).digest())
        offset += length
        if kept is not None and offset > KEEP_SEALED_BYTES:
            kept = None  # too big to hold: sealed again on a second walk
        if kept is not None:
            kept.append(snapshot.seal(number, plain))
    return refs, digests, kept


def _sealed_pages(
    snapshot: _Snapshot, rows: Iterable[Located], digests: list[bytes]
) -> Iterator[bytes]:
    """The pages of ROWS sealed, each checked to be the one _measure saw (DIGESTS)."""
    plains = (_page_plaintext(chunk) for chunk in snapshot.pages(rows))
    for number, (plain, digest) in enumerate(itertools.zip_longest(plains, digests)):
        if plain is None or digest != hashlib.sha256(plain).digest():
            raise FormatError("path index: the files changed while it was written")
        yield snapshot.seal(number, plain)


def _page_ref(chunk: list[Located], offset: int, length: int) -> snapshot_fmt.PageRef:
    return snapshot_fmt.PageRef(chunk[0].path, chunk[-1].path, offset, length, len(chunk))


def _page_plaintext(chunk: list[Located]) -> bytes:
    return snapshot_fmt.encode_page([snapshot_fmt.row_of(x) for x in chunk])


def _pages(rows: Iterator[Located], rows_per_page: int) -> Iterator[list[Located]]:
    while chunk := list(itertools.islice(rows, rows_per_page)):
        yield chunk


def _seal(key: Secret, plain: bytes, aad: bytes) -> bytes:
    nonce = random_bytes(snapshot_fmt.NONCE_LEN)
    return nonce + gcm_seal(key, nonce, plain, aad)


def _open_sealed(key: Secret, data: bytes, aad: bytes) -> bytes:
    return gcm_open(key, data[: snapshot_fmt.NONCE_LEN], data[snapshot_fmt.NONCE_LEN :], aad)


def _remove_quietly(path: os.PathLike[str]) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
