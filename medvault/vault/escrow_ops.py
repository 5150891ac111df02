"""`medvault escrow reseal`: seal a vault's key to the organisation's current escrow keys.

Only the key packages change (in both header copies and in the registry); no payload is
re-encrypted. The registry is updated first so a drive never carries a key package the
organisation has no record of.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from medvault.config import OrgConfig
from medvault.format import vault_header as hfmt
from medvault.keys.escrow import seal_key_packages
from medvault.registry.records import EventSink, KeyPackage
from medvault.store.lock import writer_lock
from medvault.vault.custody import record as record_event
from medvault.vault.env import Env
from medvault.vault.org_keys import escrow_public_keys
from medvault.vault.session import UnlockedVault, write_headers


class ResealRegistry(EventSink, Protocol):
    def replace_key_packages(self, vault_id: str, packages: list[KeyPackage], at: str) -> None: ...


def reseal(
    vault: UnlockedVault, org: OrgConfig, registry: ResealRegistry, env: Env, reason: str
) -> tuple[list[str], list[str]]:
    """Returns (key ids before, key ids after)."""
    with writer_lock(vault.paths.lock):
        current = vault.require_header()
        before = [slot.key_id for slot in current.body.escrow]
        slots = seal_key_packages(vault.vmk, vault.vault_id, escrow_public_keys(org))
        header = hfmt.VaultHeader(
            vault.vault_id, current.seq + 1, replace(current.body, escrow=slots)
        )
        packages = [KeyPackage(vault.vault_id_hex, s.key_id, s.suite, s.sealed) for s in slots]
        registry.replace_key_packages(vault.vault_id_hex, packages, env.timestamp())
        vault.header = write_headers(vault.paths, vault.vmk, header)
        vault.authentic_copies = {"vault.mvh", "vault.mvh.bak"}
    after = [slot.key_id for slot in slots]
    record_event(
        registry,
        env,
        "reseal",
        {
            "reason": reason,
            "approvers": [env.actor.user],
            "key_ids_before": before,
            "key_ids_after": after,
        },
        vault=vault,
    )
    return before, after
