"""`medvault erase`: cryptographic erase (NIST SP 800-88 Rev. 2, "Cryptographic Erase").

The vault key exists only wrapped: in the header's passphrase/recovery slots, in the
header's escrow key packages, and in the registry's key packages. Erase destroys all of
them (registry first, so a failure on the drive can be retried with the passphrase),
overwrites both header copies in place and deletes them, overwrites and deletes what
interrupted writes left in tmp/, removes the index and the custody log, and checks that
nothing can open the vault any more. Version 2 headers are only ever rewritten in place
(docs/FORMAT.md section 3), so the two copies are the only header versions on the drive.
The objects stay as undecryptable ciphertext (format the drive to reclaim the space).
With `wipe_free_space`, the drive's free space is overwritten too: it reaches header
versions that medvault 0.1 (which renamed new headers over old ones) left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from medvault.crypto.symmetric import random_bytes
from medvault.engine.session import UnlockedVault, read_headers
from medvault.errors import IntegrityError, MedvaultError
from medvault.registry.actions import Action
from medvault.registry.records import EventSink, KeyPackage
from medvault.store import fsio
from medvault.store.fsio import FULL_ERRNOS, fsync_dir, media_errors, write_durable
from medvault.store.layout import VaultPaths
from medvault.store.lock import writer_lock
from medvault.store.packs import list_packs
from medvault.vault.custody import record
from medvault.vault.env import Env

METHOD = (
    "Cryptographic Erase (NIST SP 800-88 Rev. 2): every key copy destroyed, the externally "
    "managed ones (registry key packages) included; both vault header copies, the only "
    "header versions a version 2 vault keeps, overwritten in place with random data and "
    "deleted; leftovers of interrupted writes in tmp/ overwritten and deleted"
)
# Files in tmp/ up to this size are overwritten before they are deleted: a header copy or
# README in flight. Larger ones are partial packs, ciphertext under keys that erase destroys.
OVERWRITE_TMP_UP_TO = 1 << 20
WIPE_FILE_LIMIT = (1 << 30) - 1  # under FAT32's 4 GiB file limit, with room
WIPE_BLOCK = 1 << 20


class EraseRegistry(EventSink, Protocol):
    def destroy_key_packages(self, vault_id: str, at: str) -> int: ...

    def key_packages(self, vault_id: str) -> list[KeyPackage]: ...


@dataclass(frozen=True)
class Erased:
    vault_id: str
    label: str
    at: str
    key_packages_destroyed: int
    header_copies_destroyed: int
    slots_destroyed: int
    objects_left: int
    bytes_left: int
    verified: list[str]
    header_version: int
    tmp_files_overwritten: int
    free_space_wiped: int | None  # bytes overwritten, or None when not asked


WipeProgress = Callable[[int], None]  # bytes just written


def erase_vault(
    vault: UnlockedVault,
    registry: EraseRegistry,
    env: Env,
    wipe_free_space: bool = False,
    progress: WipeProgress | None = None,
) -> Erased:
    header = vault.require_header()
    paths = vault.paths
    with writer_lock(paths.lock):
        at = env.timestamp()
        destroyed = registry.destroy_key_packages(vault.vault_id_hex, at)
        copies = _destroy_headers(paths)
        tmp_overwritten = _destroy_tmp(paths)
        with media_errors("the vault's index and log"):
            shutil.rmtree(paths.index_dir, ignore_errors=True)
            shutil.rmtree(paths.log, ignore_errors=True)
        wiped = _wipe_free_space(paths, progress) if wipe_free_space else None
        objects, size = _ciphertext_left(paths)
        erased = Erased(
            vault.vault_id_hex,
            header.body.label,
            at,
            destroyed,
            copies,
            len(header.body.slots) + len(header.body.escrow),
            objects,
            size,
            _verify(paths, registry, vault.vault_id_hex),
            header.body.version,
            tmp_overwritten,
            wiped,
        )
        replace_readme(paths, erased)
    record(
        registry,
        env,
        Action.ERASE,
        {
            "method": METHOD,
            "key_packages_destroyed": destroyed,
            "header_copies_destroyed": copies,
            "slots_destroyed": erased.slots_destroyed,
            "objects_left": objects,
            "bytes_left": size,
            "verified": erased.verified,
            "header_version": erased.header_version,
            "tmp_files_overwritten": tmp_overwritten,
            "free_space_wiped_bytes": wiped,
        },
        vault_id=vault.vault_id_hex,
    )
    return erased


def _destroy_headers(paths: VaultPaths) -> int:
    """Overwrite each copy in place with random bytes (the same length), then delete it.
    On flash media, wear levelling may keep an old sector: see docs/THREAT_MODEL.md."""
    count = 0
    for path in (paths.header_a, paths.header_b):
        with media_errors("a vault header copy"):
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            with open(path, "r+b") as handle:
                fsio.write(handle, random_bytes(size), path)
                fsio.fsync(handle, path)
            fsio.unlink(path)
            count += 1
    fsync_dir(paths.root)
    return count


def _overwrite(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        fsio.write(handle, random_bytes(size), path)
        fsio.fsync(handle, path)


def _destroy_tmp(paths: VaultPaths) -> int:
    """Overwrite and delete what interrupted writes left in tmp/ (a header copy written
    by medvault 0.1 through tmp/ may be one of them); returns how many were overwritten."""
    count = 0
    if not paths.tmp.is_dir():
        return 0
    with media_errors("a leftover in tmp/"):
        for item in sorted(paths.tmp.iterdir()):
            if item.is_symlink() or not item.is_file():
                continue
            size = item.stat().st_size
            if size <= OVERWRITE_TMP_UP_TO:
                _overwrite(item, size)
                count += 1
            fsio.unlink(item)
        fsync_dir(paths.tmp)
    return count


def _wipe_free_space(paths: VaultPaths, progress: WipeProgress | None) -> int:
    """Fill the drive's free space with random data, then delete the filler: every free
    cluster, wherever an earlier file left it, is overwritten (SP 800-88 Clear at the file
    system's level; it cannot reach sectors the device itself has remapped)."""
    block = random_bytes(WIPE_BLOCK)  # one random block repeated: no pattern to compress
    written = 0
    fillers: list[Path] = []
    try:
        with media_errors("the drive's free space"):
            paths.tmp.mkdir(exist_ok=True)
            while True:
                filler = paths.tmp / f"wipe-{len(fillers):04d}"
                fillers.append(filler)
                full = not _fill(filler, block, progress)
                written += filler.stat().st_size
                if full:
                    break
    finally:
        for filler in fillers:
            with contextlib.suppress(OSError):
                fsio.unlink(filler)
        with contextlib.suppress(OSError):
            fsync_dir(paths.tmp)
    return written


def _fill(filler: Path, block: bytes, progress: WipeProgress | None) -> bool:
    """Write FILLER up to WIPE_FILE_LIMIT; False once the drive is full. PROGRESS gets the
    bytes of each write."""
    with open(filler, "wb", buffering=0) as handle:
        size = 0
        while size < WIPE_FILE_LIMIT:
            try:
                step = handle.write(block[: WIPE_FILE_LIMIT - size])
                size += step
            except OSError as exc:
                if exc.errno not in FULL_ERRNOS | {errno.EPERM, errno.EIO}:  # fusefat's 'full'
                    raise
                _sync_quietly(handle.fileno())
                return False
            if progress is not None:
                progress(step)
        _sync_quietly(handle.fileno())
    return True


def _sync_quietly(fd: int) -> None:
    """A full drive may refuse the flush of its last partial block; what it took stays."""
    with contextlib.suppress(OSError):
        os.fsync(fd)


def _ciphertext_left(paths: VaultPaths) -> tuple[int, int]:
    files = [p for p in paths.objects.rglob("*") if p.is_file()] if paths.objects.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def _verify(paths: VaultPaths, registry: EraseRegistry, vault_id: str) -> list[str]:
    """Check, not assume: no header copy, no key package, so no route to the vault key."""
    checks: list[str] = []
    if read_headers(paths).parsed:
        raise IntegrityError("a vault header copy is still readable after erase")
    checks.append("no vault header copy is readable on the drive")
    if registry.key_packages(vault_id):
        raise IntegrityError("the registry still holds a key package after erase")
    checks.append("the registry holds no key package for the vault")
    checks.append(f"{len(list_packs(paths))} object(s) remain as ciphertext with no key")
    return checks


def replace_readme(paths: VaultPaths, erased: Erased) -> None:
    text = (
        "MEDVAULT: CRYPTOGRAPHICALLY ERASED\n"
        "==================================\n\n"
        f"Vault {erased.vault_id} was erased on {erased.at} (UTC).\n"
        "Every copy of its key that medvault kept was destroyed: both header copies were\n"
        "overwritten and deleted, and the registry's key packages emptied. The remaining\n"
        "files are ciphertext that nothing can decrypt. The drive can be formatted and\n"
        "reused. On flash media the device may still hold copies of overwritten sectors\n"
        "(wear levelling), readable only by invasive means: see the certificate.\n"
    )
    with contextlib.suppress(MedvaultError), media_errors("the README"):
        write_durable(paths.readme, text.encode(), paths.tmp, "readme.tmp")
