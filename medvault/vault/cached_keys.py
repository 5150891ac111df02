"""A vault key cached on this workstation (`unlock --remember`, `lock`), and the events
that record it: a lost-drive report must know whether, and until when, a key of the lost
vault was kept where someone could use it without the passphrase."""

from __future__ import annotations

from datetime import datetime, timedelta

from medvault.engine.session import UnlockedVault
from medvault.errors import KeyCacheRefused, MedvaultError
from medvault.keys import keycache
from medvault.registry.actions import Action
from medvault.registry.records import EventSink
from medvault.vault.custody import record
from medvault.vault.env import Env


def remember(
    vault: UnlockedVault, lifetime: timedelta, registry: EventSink, env: Env
) -> tuple[datetime, str]:
    """Cache VAULT's key for LIFETIME and record a `remember` event; when it expires, and
    where the keyring keeps it ("session": in memory until logout)."""
    expires = env.now() + lifetime
    kept_in = keycache.remember(vault.vault_id_hex, vault.keys.vault_key(), expires)
    backend = type(keycache.secure_backend()).__module__
    details = {"expires": expires.isoformat(), "backend": backend, "kept_in": kept_in}
    record(registry, env, Action.REMEMBER, details, vault=vault)
    return expires, kept_in


def forget(vault_ids: list[str], registry: EventSink, env: Env) -> tuple[list[str], dict[str, str]]:
    """Delete the cached key of each of VAULT_IDS, then record a `lock` event for each key
    deleted. Returns the ids whose key was deleted, and why each that could not be was not."""
    forgotten: list[str] = []
    failed: dict[str, str] = {}
    for vault_id in vault_ids:
        try:
            if keycache.forget(vault_id):
                forgotten.append(vault_id)
        except KeyCacheRefused as exc:
            failed[vault_id] = exc.message
    for vault_id in forgotten:
        record(registry, env, Action.LOCK, {}, vault_id=vault_id)
    return forgotten, failed


def forget_after(vault_id: str, reason: str, registry: EventSink, env: Env) -> None:
    """After REASON (erase, passwd, recover, incident lost): delete the key of VAULT_ID
    cached on this workstation, if a marker says there may be one, and record a `lock`
    event so a lost-drive report knows the key is gone. A keyring that cannot be reached
    gets a warning: the command itself has succeeded."""
    try:
        removed = keycache.forget_if_marked(vault_id)
    except KeyCacheRefused as exc:
        env.warn(f"{exc.message}; run `medvault lock {vault_id}` to delete the cached key")
        return
    if not removed:
        return
    try:
        record(registry, env, Action.LOCK, {"reason": reason}, vault_id=vault_id)
    except MedvaultError as exc:  # may run while another error is on its way out (erase)
        env.warn(f"the cached key was deleted; its lock event was not recorded: {exc.message}")
