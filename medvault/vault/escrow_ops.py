"""`medvault escrow reseal`: seal a vault's key to the organisation's current escrow keys.

A plain reseal (a scheduled rotation) changes only the key packages, in both header copies
(rewritten in place) and in the registry (the superseded packages emptied); no file is
touched. The vault key stays the same, so whoever opened a package sealed to the old key
before the reseal still holds a key that opens the vault: when an escrow key this vault
was ever sealed to is flagged compromised (`incident key-compromised`), or with --rekey,
the reseal re-keys the vault instead (vault/rekey.py): a new vault key, every file key
re-wrapped. The registry is updated first on a plain reseal, so a drive never carries a
key package the organisation has no record of.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

from medvault.config import OrgConfig
from medvault.engine.session import UnlockedVault, write_headers
from medvault.errors import EscrowRefused, MedvaultError
from medvault.format import vault_header as hfmt
from medvault.keys.key_packages import seal_key_packages
from medvault.registry.actions import Action
from medvault.registry.records import KeyPackage, StoredEvent
from medvault.secret import Secret
from medvault.store.fsio import media_errors, write_durable
from medvault.store.lock import writer_lock
from medvault.vault.create import readme_text
from medvault.vault.custody import record as record_event
from medvault.vault.env import Env
from medvault.vault.org_keys import escrow_public_keys
from medvault.vault.rekey import Progress, RekeyRegistry, rekey


class ResealRegistry(RekeyRegistry, Protocol):
    def events(self) -> list[StoredEvent]: ...

    def package_history(self, vault_id: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Resealed:
    key_ids_before: list[str]
    key_ids_after: list[str]
    rekeyed: bool
    compromised: list[str]  # flagged key ids this vault was ever sealed to
    key_epoch: int
    entries_rewrapped: int = 0
    recovery_code: str | None = None


def flagged_keys(registry: ResealRegistry) -> set[str]:
    """Escrow key ids flagged compromised (`incident key-compromised`)."""
    return {
        str(s.event.details.get("key_id"))
        for s in registry.events()
        if s.event.action == Action.ESCROW_COMPROMISED
    }


def compromised_keys(vault: UnlockedVault, registry: ResealRegistry) -> list[str]:
    """Flagged escrow key ids that the vault's CURRENT key was ever sealed to: its header's
    packages, and every package the registry recorded since the vault's last re-key (a
    package from before it holds a key that opens nothing any more)."""
    rekeyed_at = max(
        (
            s.event.at
            for s in registry.events()
            if s.event.vault_id == vault.vault_id_hex
            and s.event.action == Action.RESEAL
            and s.event.details.get("rekey") is True
        ),
        default="",
    )
    current = {slot.key_id for slot in vault.require_header().body.escrow}
    current |= {
        str(p["key_id"])
        for p in registry.package_history(vault.vault_id_hex)
        if str(p["created_at"]) >= rekeyed_at
    }
    return sorted(current & flagged_keys(registry))


def reseal(
    vault: UnlockedVault,
    org: OrgConfig,
    registry: ResealRegistry,
    env: Env,
    reason: str,
    *,
    passphrase: Secret | None = None,
    rekey_requested: bool = False,
    progress: Progress | None = None,
) -> Resealed:
    """Reseal VAULT to ORG's current keys; re-key it when asked, when a key its current
    vault key was ever sealed to is flagged compromised, or when an earlier re-key was
    interrupted. Refuses to seal to a key that is itself flagged compromised."""
    bad_targets = sorted({k.key_id for k in org.active_keys} & flagged_keys(registry))
    if bad_targets:
        raise EscrowRefused(
            f"escrow key {', '.join(bad_targets)} is flagged compromised: nothing is sealed to it",
            hint="rotate the organisation's key first (medvault org rotate), put the new "
            "org.toml in place, then reseal",
        )
    compromised = compromised_keys(vault, registry)
    unfinished = bool(vault.require_header().body.previous)
    if rekey_requested or compromised or unfinished:
        if passphrase is None:
            raise ValueError("a re-key needs the passphrase that unlocked the vault")
        result, details = _rekey(vault, passphrase, org, registry, env, compromised, progress)
    else:
        result = _reseal_packages(vault, org, registry, env)
        details = {"rekey": False}
    _refresh_readme(vault, org, result.key_ids_after, env)
    record_event(
        registry,
        env,
        Action.RESEAL,
        {
            "reason": reason,
            "approvers": [env.actor.user],
            "key_ids_before": result.key_ids_before,
            "key_ids_after": result.key_ids_after,
            **details,
        },
        vault=vault,
    )
    return result


def _rekey(
    vault: UnlockedVault,
    passphrase: Secret,
    org: OrgConfig,
    registry: ResealRegistry,
    env: Env,
    compromised: list[str],
    progress: Progress | None,
) -> tuple[Resealed, dict[str, object]]:
    """A new vault key sealed to ORG's keys (vault/rekey.py); the result and what the
    reseal event records of it."""
    done = rekey(vault, passphrase, org, registry, env, progress)
    result = Resealed(
        done.key_ids_before,
        done.key_ids_after,
        True,
        compromised,
        done.key_epoch,
        done.entries_rewrapped,
        done.recovery_code,
    )
    details: dict[str, object] = {
        "rekey": True,
        "resumed": done.resumed,
        "key_epoch": done.key_epoch,
        "entries_rewrapped": done.entries_rewrapped,
        "log_entries_reencrypted": done.log_entries_reencrypted,
        "compromised_key_ids": compromised,
    }
    return result, details


def _refresh_readme(vault: UnlockedVault, org: OrgConfig, key_ids: list[str], env: Env) -> None:
    """The drive's plaintext notice names the escrow keys: name the new ones. Only a notice
    (nothing reads it), so a drive that refuses it gets a warning, not an error."""
    header = vault.require_header()
    text = readme_text(org, vault.vault_id_hex, tuple(key_ids), header.body.created_at)
    try:
        with media_errors("the README"):
            write_durable(vault.paths.readme, text.encode(), vault.paths.tmp, "readme.tmp")
    except MedvaultError as exc:
        env.warn(f"README-MEDVAULT.txt still names the old escrow key ({exc.message})")


def _reseal_packages(
    vault: UnlockedVault, org: OrgConfig, registry: ResealRegistry, env: Env
) -> Resealed:
    with writer_lock(vault.paths.lock):
        current = vault.require_header()
        before = [slot.key_id for slot in current.body.escrow]
        slots = seal_key_packages(vault.keys.vault_key(), vault.vault_id, escrow_public_keys(org))
        header = hfmt.VaultHeader(
            vault.vault_id, current.seq + 1, replace(current.body, escrow=slots)
        )
        packages = [KeyPackage(vault.vault_id_hex, s.key_id, s.suite, s.sealed) for s in slots]
        registry.replace_key_packages(vault.vault_id_hex, packages, env.timestamp())
        vault.header = write_headers(vault.paths, vault.keys, header)
        vault.authentic_copies = {"vault.mvh", "vault.mvh.bak"}
    after = [slot.key_id for slot in slots]
    return Resealed(before, after, False, [], vault.header.body.key_epoch)
