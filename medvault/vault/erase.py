"""`medvault erase`: cryptographic erase (NIST SP 800-88 Rev. 2, "Cryptographic Erase").

The vault key exists only wrapped: in the header's passphrase/recovery slots, in the
header's escrow key packages, and in the registry's key packages. Erase destroys all of
them (registry first, so a failure on the drive can be retried with the passphrase),
overwrites and deletes both header copies, removes the index and the custody log, and
checks that nothing can open the vault any more. The objects stay as undecryptable
ciphertext (format the drive to reclaim the space).
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from typing import Protocol

from medvault.crypto.symmetric import random_bytes
from medvault.errors import IntegrityError, MedvaultError
from medvault.registry.records import EventSink, KeyPackage
from medvault.store import fsio
from medvault.store.fsio import fsync_dir, media_errors, write_durable
from medvault.store.layout import VaultPaths
from medvault.store.lock import writer_lock
from medvault.store.packs import list_packs
from medvault.vault.custody import record
from medvault.vault.env import Env
from medvault.vault.session import UnlockedVault, read_headers

METHOD = (
    "Cryptographic Erase (NIST SP 800-88 Rev. 2): every key copy destroyed, the externally "
    "managed ones (registry key packages) included"
)


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


def erase_vault(vault: UnlockedVault, registry: EraseRegistry, env: Env) -> Erased:
    header = vault.require_header()
    paths = vault.paths
    with writer_lock(paths.lock):
        at = env.timestamp()
        destroyed = registry.destroy_key_packages(vault.vault_id_hex, at)
        copies = _destroy_headers(paths)
        with media_errors("the vault's index and log"):
            shutil.rmtree(paths.index_dir, ignore_errors=True)
            shutil.rmtree(paths.log, ignore_errors=True)
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
        )
        _replace_readme(paths, erased)
    record(
        registry,
        env,
        "erase",
        {
            "method": METHOD,
            "key_packages_destroyed": destroyed,
            "header_copies_destroyed": copies,
            "slots_destroyed": erased.slots_destroyed,
            "objects_left": objects,
            "bytes_left": size,
            "verified": erased.verified,
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


def _replace_readme(paths: VaultPaths, erased: Erased) -> None:
    text = (
        "MEDVAULT: CRYPTOGRAPHICALLY ERASED\n"
        "==================================\n\n"
        f"Vault {erased.vault_id} was erased on {erased.at} (UTC).\n"
        "Every copy of its key was destroyed; the remaining files are ciphertext that\n"
        "nothing can decrypt. The drive can be formatted and reused.\n"
    )
    with contextlib.suppress(MedvaultError), media_errors("the README"):
        write_durable(paths.readme, text.encode(), paths.tmp, "readme.tmp")
