"""Escrow recovery: M admins' shares rebuild the org escrow key in memory, which opens a
vault's key package (from the vault header, or from the registry when both header copies
are gone). The key is used only inside the recovery command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from medvault.config import OrgConfig
from medvault.crypto.escrow import EscrowPrivateKey
from medvault.crypto.key_schedule import VaultKeys
from medvault.engine.session import UnlockedVault, read_headers, unlock_with_key
from medvault.errors import EscrowRefused, MedvaultError, NotAVault
from medvault.format import pack as pfmt
from medvault.keys.shares import ParsedShare, approvers, combine_parsed
from medvault.registry.actions import Action
from medvault.registry.records import CustodyRegistry, KeyPackage
from medvault.secret import Secret, VaultKey
from medvault.store.layout import VaultPaths, locate
from medvault.store.packs import list_packs
from medvault.vault.env import Env
from medvault.vault.maintenance import change_passphrase
from medvault.vault.org import ForeignEscrowKey, identify_key
from medvault.vault.reading import ExtractResult, extract


class KeyPackageSource(Protocol):
    def key_packages(self, vault_id: str) -> list[KeyPackage]: ...


@dataclass
class EscrowIdentity:
    """The rebuilt escrow key and who supplied the shares (from their share numbers)."""

    private: EscrowPrivateKey
    approvers: tuple[str, ...]

    @property
    def key_id(self) -> str:
        return self.private.public.key_id

    def __repr__(self) -> str:
        return f"EscrowIdentity({self.key_id}, approvers={self.approvers})"


def escrow_identity(org: OrgConfig, shares: Sequence[ParsedShare]) -> EscrowIdentity:
    try:
        key, private = identify_key(org, combine_parsed(shares))
    except ForeignEscrowKey:
        # Name the org whose config was checked: shares of another org are the usual cause.
        raise EscrowRefused(
            f"the shares rebuild an escrow key that is not one of {org.name}'s "
            f"(org id {org.org_id}, config {org.path}): shares of another organisation?",
            hint="use that organisation's org.toml (--org), or this organisation's shares; "
            "nothing was recovered",
        ) from None
    named = approvers(key.admins, shares, unnamed="holder of share {number}")
    return EscrowIdentity(private, named)


def _vault_facts_from_packs(paths: VaultPaths) -> tuple[bytes, int]:
    """Vault id and part size from any pack's prelude: every object says whose it is."""
    for name in list_packs(paths):
        part0 = paths.pack_dir(name) / pfmt.part_filename(name, 0)
        try:
            with open(part0, "rb") as handle:
                prelude = pfmt.decode_prelude(handle.read(pfmt.PRELUDE_LEN))
        except (OSError, MedvaultError):
            continue
        return prelude.vault_id, prelude.part_size
    raise NotAVault(f"no readable object in {paths.root}: nothing to recover")


def escrow_unlock(
    path: Path,
    identity: EscrowIdentity,
    registry: KeyPackageSource | None,
    org: OrgConfig | None = None,
) -> UnlockedVault:
    """Open the vault with the escrow key. With REGISTRY, the key package comes from the
    registry (works with both header copies destroyed); otherwise from the vault header.
    ORG (the config the shares matched) names a vault of another organisation."""
    paths = locate(path)
    copies = read_headers(paths)
    if registry is None:
        if not copies.parsed:
            raise NotAVault(
                "no readable vault header", hint="use --from-registry to use the registry's copy"
            )
        for parsed in copies.best_first():
            for slot in parsed.header.body.escrow:
                if slot.key_id != identity.key_id:
                    continue
                try:
                    vmk = identity.private.open(slot.sealed, parsed.header.vault_id)
                    return unlock_with_key(copies, vmk)
                except MedvaultError:
                    continue
        body = copies.any.header.body
        if org is not None and body.org_id != org.org_id:
            raise EscrowRefused(
                f"this vault belongs to {body.org_name} (org id {body.org_id}), not to "
                f"{org.name} (org id {org.org_id}), whose escrow key the shares rebuild",
                hint=f"{body.org_name}'s security admins must recover it; nothing was recovered",
            )
        raise EscrowRefused(
            f"this vault has no key package for escrow key {identity.key_id}",
            hint="it may be sealed to another org key; `medvault info` lists its key ids",
        )
    if copies.parsed:
        vault_id = copies.any.header.vault_id
        part_size = copies.any.header.body.part_size
    else:
        vault_id, part_size = _vault_facts_from_packs(paths)
    for package in registry.key_packages(vault_id.hex()):
        if package.key_id != identity.key_id:
            continue
        try:
            vmk = identity.private.open(package.sealed, vault_id)
        except MedvaultError:
            continue
        try:
            return unlock_with_key(copies, vmk)
        except MedvaultError:
            # No authentic header copy left: work from the objects alone.
            key = VaultKey(vmk.reveal(), epoch=None)  # no header to say the key's epoch
            keys = VaultKeys(key, vault_id)
            return UnlockedVault(paths, None, keys, copies, set(), vault_id, part_size)
    raise EscrowRefused(
        f"the registry has no key package for vault {vault_id.hex()} and key {identity.key_id}"
    )


@dataclass(frozen=True)
class Recovery:
    """A vault opened by the escrow key, with what every recovery event records: why,
    who approved, with which escrow key, and whether its key package was the registry's."""

    vault: UnlockedVault
    identity: EscrowIdentity
    reason: str
    from_registry: bool

    def details(self) -> dict[str, object]:
        return {
            "reason": self.reason.strip(),
            "approvers": list(self.identity.approvers),
            "escrow_key_id": self.identity.key_id,
            "from_registry": self.from_registry,
        }


def recover_files(
    recovery: Recovery,
    wanted: list[str],
    dest_dir: Path,
    force: bool,
    registry: CustodyRegistry,
    env: Env,
) -> ExtractResult:
    """Extract the WANTED files (all if none) of the recovered vault: a `recover` event."""
    details = recovery.details()
    return extract(
        recovery.vault,
        wanted,
        dest_dir,
        force,
        registry,
        env,
        action=Action.RECOVER,
        details=details,
    )


def reset_passphrase(
    recovery: Recovery, new_passphrase: Secret, registry: CustodyRegistry, env: Env
) -> None:
    """Replace the recovered vault's passphrase: a `recover-reset` event."""
    details = recovery.details()
    change_passphrase(recovery.vault, new_passphrase, registry, env, Action.RECOVER_RESET, details)
