"""index/paths.mvs on the drive: the path index's sealed pages and directory, read and
written. format/path_index_file.py owns the bytes; engine/path_index.py decides what goes
in a snapshot and when, and applies the journal records written after it."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from medvault.crypto.key_schedule import VaultKeys
from medvault.crypto.symmetric import GCM_TAG_LEN, gcm_open, gcm_seal, random_bytes
from medvault.errors import FormatError
from medvault.format import path_index_file as snapshot_fmt
from medvault.format.index_records import Located
from medvault.secret import Secret
from medvault.store import fsio
from medvault.store.fsio import fsync_dir, media_errors
from medvault.store.layout import VaultPaths

# Sealed pages up to this size are kept from the measuring walk and written from memory
# (about 5,000 files); a bigger index walks the files again instead of holding them. At 8
# MiB the pages of a 10,000-file add (1.8 MiB) were ~0.8 MiB of its peak (issue 23, goal
# 5); walking again costs that add ~0.1 s.
KEEP_SEALED_BYTES = 1024 * 1024


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
    the old one.

    The file is written once, front to back, with no seek: fusefat loses a prelude written
    back over a file smaller than a cluster (docs/RELIABILITY.md). So the pages are measured
    first (which places the directory, named in the prelude), then written. While they fit
    in KEEP_SEALED_BYTES they are sealed as they are measured and written from memory;
    beyond that LIVE() is walked a second time to seal them again, and memory stays one
    page, whatever the vault's size."""
    key = keys.path_index()
    snapshot_id = random_bytes(16)
    refs, digests, kept = _measure(keys, snapshot_id, live(), rows_per_page)
    directory = snapshot_fmt.Directory(
        covers, sum(ref.count for ref in refs), tuple(sorted(packs)), tuple(refs)
    )
    sealed_directory = _seal(
        key,
        directory.encode(),
        snapshot_fmt.aad(keys.vault_id, snapshot_id, snapshot_fmt.DIRECTORY_PAGE),
    )
    dir_offset = refs[-1].offset + refs[-1].length if refs else snapshot_fmt.PRELUDE_LEN
    prelude = snapshot_fmt.Prelude(keys.vault_id, snapshot_id, dir_offset, len(sealed_directory))
    tmp = paths.tmp / "paths.mvs.tmp"
    with media_errors("the path index"):
        try:
            with fsio.create(tmp) as handle:
                fsio.write(handle, prelude.encode(), tmp)
                sealed_pages: Iterable[bytes] = (
                    kept
                    if kept is not None
                    else _sealed_pages(
                        keys, snapshot_id, _pages(iter(live()), rows_per_page), digests
                    )
                )
                for number, sealed in enumerate(sealed_pages):
                    if len(sealed) != refs[number].length:
                        raise FormatError("path index: a page is not the length measured")
                    fsio.write(handle, sealed, tmp)
                fsio.write(handle, sealed_directory, tmp)
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


def _measure(
    keys: VaultKeys, snapshot_id: bytes, rows: Iterable[Located], rows_per_page: int
) -> tuple[list[snapshot_fmt.PageRef], list[bytes], list[bytes] | None]:
    """Where each page of ROWS will be and how long (a sealed page is its plaintext plus a
    fixed nonce and tag), a digest of each, to check a second walk gives the same, and the
    pages sealed, while they all fit in KEEP_SEALED_BYTES (None beyond: walk again)."""
    refs: list[snapshot_fmt.PageRef] = []
    digests: list[bytes] = []
    kept: list[bytes] | None = []
    key = keys.path_index()
    offset = snapshot_fmt.PRELUDE_LEN
    for number, chunk in enumerate(_pages(iter(rows), rows_per_page)):
        plain = _page_plaintext(chunk)
        length = snapshot_fmt.NONCE_LEN + len(plain) + GCM_TAG_LEN
        refs.append(snapshot_fmt.PageRef(chunk[0].path, chunk[-1].path, offset, length, len(chunk)))
        digests.append(hashlib.sha256(plain).digest())
        offset += length
        if kept is not None and offset > KEEP_SEALED_BYTES:
            kept = None  # too big to hold: sealed again on a second walk
        if kept is not None:
            aad = snapshot_fmt.aad(keys.vault_id, snapshot_id, number)
            kept.append(_seal(key, plain, aad))
    return refs, digests, kept


def _sealed_pages(
    keys: VaultKeys, snapshot_id: bytes, chunks: Iterator[list[Located]], digests: list[bytes]
) -> Iterator[bytes]:
    """The pages of CHUNKS sealed, each checked to be the one _measure saw (DIGESTS)."""
    key = keys.path_index()
    plains = (_page_plaintext(chunk) for chunk in chunks)
    for number, (plain, digest) in enumerate(itertools.zip_longest(plains, digests)):
        if plain is None or digest != hashlib.sha256(plain).digest():
            raise FormatError("path index: the files changed while it was written")
        yield _seal(key, plain, snapshot_fmt.aad(keys.vault_id, snapshot_id, number))


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
