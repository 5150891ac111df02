"""Writing and reading the drive's encrypted custody log (format/custody_log.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from medvault.crypto.key_schedule import VaultKeys
from medvault.crypto.symmetric import AuthenticationFailed, gcm_open, gcm_seal, random_bytes
from medvault.errors import FormatError
from medvault.format import custody_log as log_fmt
from medvault.secret import Secret
from medvault.store.fsio import media_errors, write_durable
from medvault.store.layout import VaultPaths
from medvault.store.redo import Patch


@dataclass
class DriveLog:
    events: list[dict[str, Any]] = field(default_factory=list)  # custody_log.EVENT_FIELDS
    damaged: list[str] = field(default_factory=list)  # file names that failed checks
    truncated: bool = False  # more than MAX_EVENTS files: the rest were not read


def _open(keys: list[Secret], sealed: log_fmt.SealedEvent) -> tuple[int, bytes]:
    """(which of KEYS opened SEALED, the body)."""
    for number, key in enumerate(keys):
        try:
            return number, gcm_open(key, sealed.nonce, sealed.ciphertext, sealed.aad)
        except AuthenticationFailed:
            continue
    raise AuthenticationFailed("no key of this vault opens the entry")


def rekey_patches(paths: VaultPaths, vault_keys: VaultKeys) -> tuple[list[Patch], int]:
    """In-place rewrites that put every log entry still under an earlier epoch's key under
    the current one (same length, new nonce); and how many entries could not be read."""
    keys = vault_keys.custody_log_newest_first()
    patches: list[Patch] = []
    damaged = 0
    try:
        names = sorted(n for n in os.listdir(paths.log) if log_fmt.NAME.fullmatch(n))
    except FileNotFoundError:
        return [], 0
    for name in names:
        try:
            with open(paths.log / name, "rb") as handle:
                sealed = log_fmt.decode(handle.read(log_fmt.MAX_FILE + 1), name)
            which, body = _open(keys, sealed)
        except (OSError, FormatError, AuthenticationFailed):
            damaged += 1
            continue
        if which == 0:
            continue
        nonce = random_bytes(log_fmt.NONCE_LEN)
        fresh = log_fmt.SealedEvent(
            sealed.vault_id, sealed.event_id, nonce, gcm_seal(keys[0], nonce, body, sealed.aad)
        )
        patches.append(Patch(f"log/{name}", 0, log_fmt.encode(fresh)))
    return patches, damaged


def append(paths: VaultPaths, vault_keys: VaultKeys, event: dict[str, Any]) -> None:
    """Write EVENT as log/<event_id>.mve (temp file, fsync, rename, fsync the folder)."""
    vault_id = vault_keys.vault_id
    event_id = bytes.fromhex(event["event_id"])
    nonce = random_bytes(log_fmt.NONCE_LEN)
    body = log_fmt.event_body(event)
    aad = log_fmt.MAGIC + vault_id + event_id
    sealed = log_fmt.SealedEvent(
        vault_id, event_id, nonce, gcm_seal(vault_keys.custody_log(), nonce, body, aad)
    )
    with media_errors("the drive's custody log"):
        paths.log.mkdir(exist_ok=True)
        # The temp file sits in log/ itself: an add sweeping tmp/ never races with it.
        write_durable(
            paths.log / log_fmt.filename(event_id),
            log_fmt.encode(sealed),
            paths.log,
            event["event_id"] + ".tmp",
        )


def read_all(paths: VaultPaths, vault_keys: VaultKeys) -> DriveLog:
    """Every authentic event on the drive, oldest first (under the current epoch's log key
    or an earlier one an unfinished re-key has not re-encrypted yet); damaged entries are
    named."""
    vault_id = vault_keys.vault_id
    out = DriveLog()
    try:
        names = sorted(n for n in os.listdir(paths.log) if n.endswith(log_fmt.SUFFIX))
    except FileNotFoundError:
        return out
    if len(names) > log_fmt.MAX_EVENTS:
        names, out.truncated = names[: log_fmt.MAX_EVENTS], True
    keys = vault_keys.custody_log_newest_first()
    for name in names:
        try:
            if not log_fmt.NAME.fullmatch(name):
                raise FormatError("unexpected file name")
            with open(paths.log / name, "rb") as handle:
                sealed = log_fmt.decode(handle.read(log_fmt.MAX_FILE + 1), name)
            if sealed.vault_id != vault_id:
                raise FormatError("belongs to another vault")
            obj = log_fmt.parse_body(_open(keys, sealed)[1])
            if obj["event_id"] != sealed.event_id.hex() or obj["vault_id"] != vault_id.hex():
                raise FormatError("event does not match its envelope")
        except (OSError, FormatError, AuthenticationFailed):
            out.damaged.append(name)
            continue
        del obj["v"]
        out.events.append(obj)
    out.events.sort(key=lambda e: (e["at"], e["event_id"]))
    return out
