"""`medvault create`: a new vault that is escrowed before it is reported created.

Order matters (fail closed): the key package goes into the registry first, then the
drive gets its files, then both header copies are read back and checked, and only then
is the vault marked active.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from medvault.config import OrgConfig
from medvault.crypto.escrow import EscrowPublicKey
from medvault.crypto.key_schedule import VaultKeys
from medvault.crypto.symmetric import new_key, random_bytes
from medvault.engine.session import UnlockedVault, read_headers, unlock, write_headers
from medvault.errors import AlreadyExists, IntegrityError, MedvaultError, NotAVault
from medvault.format import index_journal
from medvault.format import vault_header as header_fmt
from medvault.keys.key_packages import seal_key_packages
from medvault.keys.passphrase import policy_record
from medvault.keys.recovery_code import make_recovery_slot
from medvault.keys.slots import make_slot
from medvault.registry.actions import Action
from medvault.registry.records import CustodyRegistry, KeyPackage
from medvault.secret import Secret
from medvault.store.fsio import media_errors, write_durable
from medvault.store.layout import VaultPaths, for_new_vault
from medvault.vault.custody import record as record_event
from medvault.vault.env import Env
from medvault.vault.org_keys import escrow_public_keys

DEFAULT_PART_SIZE = header_fmt.MAX_PART_SIZE


@dataclass(frozen=True)
class Created:
    paths: VaultPaths
    vault_id: str
    escrow_key_ids: tuple[str, ...]


def readme_text(org: OrgConfig, vault_id: str, key_ids: tuple[str, ...], created_at: str) -> str:
    return (
        "MEDVAULT ENCRYPTED DRIVE\n"
        "========================\n\n"
        f"This folder is an encrypted medvault vault belonging to {org.name}.\n"
        "Its contents cannot be read without the owner's passphrase, its recovery\n"
        "code (if one was made) or the organisation's escrow key. If you found\n"
        "this drive, please return it:\n\n"
        f"  {org.contact}\n\n"
        f"Vault id:        {vault_id}\n"
        f"Escrow key id:   {', '.join(key_ids)}\n"
        f"Created (UTC):   {created_at}\n\n"
        "Do not delete or rename anything in this folder.\n"
    )


def create_vault(
    drive: Path,
    label: str,
    passphrase: Secret,
    org: OrgConfig,
    registry: CustodyRegistry,
    env: Env,
    part_size: int = DEFAULT_PART_SIZE,
    recovery_code: Secret | None = None,
) -> Created:
    if not drive.is_dir():
        raise NotAVault(f"{drive} is not a folder or mounted drive")
    paths = for_new_vault(drive)
    if paths.header_a.exists() or paths.header_b.exists() or paths.objects.exists():
        raise AlreadyExists(f"{paths.root} already holds a vault")
    escrow_keys = escrow_public_keys(org)
    vault_id = random_bytes(16)
    vmk = new_key()
    body = _new_header_body(
        vmk, vault_id, label, org, passphrase, recovery_code, escrow_keys, env, part_size
    )
    header = header_fmt.VaultHeader(vault_id, 1, body)
    packages = [KeyPackage(vault_id.hex(), e.key_id, e.suite, e.sealed) for e in body.escrow]
    registry.record_vault(vault_id.hex(), label, org.org_id, body.created_at, env.actor, packages)

    made_root = not paths.root.exists()
    try:
        _write_new_vault(paths, vmk, header, org, tuple(k.key_id for k in escrow_keys))
        vault = _check_both_copies(paths, passphrase, header)
    except BaseException:
        registry.set_vault_status(vault_id.hex(), "aborted")
        with contextlib.suppress(OSError):
            if made_root:
                shutil.rmtree(paths.root)
        raise
    registry.set_vault_status(vault_id.hex(), "active")
    key_ids = tuple(k.key_id for k in escrow_keys)
    details = _create_details(label, passphrase, org, env, recovery_code, key_ids, packages)
    record_event(registry, env, Action.CREATE, details, vault=vault)
    return Created(paths, vault_id.hex(), key_ids)


def _new_header_body(
    vmk: Secret,
    vault_id: bytes,
    label: str,
    org: OrgConfig,
    passphrase: Secret,
    recovery_code: Secret | None,
    escrow_keys: Sequence[EscrowPublicKey],
    env: Env,
    part_size: int,
) -> header_fmt.HeaderBody:
    """A new vault's header body: slot 1 the passphrase, slot 2 the recovery code if any,
    the vault key sealed to every active escrow key."""
    created_at = env.timestamp()
    slots: list[header_fmt.Slot] = [make_slot(vmk, vault_id, 1, passphrase, env.kdf, created_at)]
    if recovery_code is not None:
        slots.append(make_recovery_slot(vmk, vault_id, 2, recovery_code, created_at))
    return header_fmt.HeaderBody(
        created_at=created_at,
        label=label,
        org_name=org.name,
        org_id=org.org_id,
        contact=org.contact,
        part_size=part_size,
        slots=tuple(slots),
        escrow=seal_key_packages(vmk, vault_id, escrow_keys),
    )


def _create_details(
    label: str,
    passphrase: Secret,
    org: OrgConfig,
    env: Env,
    recovery_code: Secret | None,
    key_ids: tuple[str, ...],
    packages: list[KeyPackage],
) -> dict[str, object]:
    """The create event's details: what the custody report proves the vault was made with."""
    return {
        "label_sha256": _digest(label),
        "recovery_code_slot": 2 if recovery_code is not None else None,
        "escrow_key_ids": list(key_ids),
        "kdf": {
            "alg": "argon2id",
            "t": env.kdf.time_cost,
            "m_kib": env.kdf.memory_kib,
            "p": env.kdf.parallelism,
        },
        "escrow_suites": sorted({p.suite for p in packages}),
        # Checked here again, so the evidence does not depend on the caller.
        "passphrase_policy": policy_record(passphrase, org.passphrase_policy, (org.name, label)),
    }


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write_new_vault(
    paths: VaultPaths,
    vmk: Secret,
    header: header_fmt.VaultHeader,
    org: OrgConfig,
    key_ids: tuple[str, ...],
) -> None:
    with media_errors("the new vault"):
        for folder in (paths.root, paths.objects, paths.index_dir, paths.log, paths.tmp):
            folder.mkdir(exist_ok=True)
        notice = readme_text(org, header.vault_id.hex(), key_ids, header.body.created_at)
        write_durable(paths.readme, notice.encode(), paths.tmp, "readme.tmp")
        write_durable(
            paths.journal, index_journal.prelude(header.vault_id), paths.tmp, "journal.tmp"
        )
    write_headers(paths, VaultKeys(vmk, header.vault_id), header)


def _check_both_copies(
    paths: VaultPaths, passphrase: Secret, header: header_fmt.VaultHeader
) -> UnlockedVault:
    copies = read_headers(paths)
    if len(copies.parsed) != 2:
        raise IntegrityError("a header copy did not read back after writing; check the drive")
    try:
        vault = unlock(copies, passphrase)
    except MedvaultError as exc:
        raise IntegrityError(f"the header did not verify after writing: {exc.message}") from None
    if vault.authentic_copies != {"vault.mvh", "vault.mvh.bak"} or vault.header != header:
        raise IntegrityError("a header copy did not verify after writing; check the drive")
    return vault
