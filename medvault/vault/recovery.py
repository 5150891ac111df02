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
from medvault.errors import EscrowRefused, MedvaultError, NotAVault
from medvault.format import pack as pfmt
from medvault.keys.shares import ParsedShare, combine_parsed
from medvault.org import identify_key
from medvault.registry.records import KeyPackage
from medvault.secret import VaultKey
from medvault.store.layout import VaultPaths, locate
from medvault.store.packs import list_packs
from medvault.vault.session import UnlockedVault, read_headers, unlock_with_key


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
    except EscrowRefused as exc:
        if "not in this organisation" not in exc.message:
            raise
        # Name the org whose config was checked: shares of another org are the usual cause.
        raise EscrowRefused(
            f"the shares rebuild an escrow key that is not one of {org.name}'s "
            f"(org id {org.org_id}, config {org.path}): shares of another organisation?",
            hint="use that organisation's org.toml (--org), or this organisation's shares; "
            "nothing was recovered",
        ) from None
    used = list({s.member_index: s for s in shares}.values())[: shares[0].threshold]
    approvers = tuple(
        key.admins[s.member_index]
        if s.member_index < len(key.admins)
        else f"holder of share {s.member_index + 1}"
        for s in used
    )
    return EscrowIdentity(private, approvers)


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
