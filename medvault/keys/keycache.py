"""Remember-on-this-workstation: a vault key cached in the OS keyring, with an expiry.

Only real OS secret stores are used (SecretService/libsecret, KWallet, macOS Keychain,
Windows Credential Locker). A plaintext or file-based backend (keyrings.alt and the like) is
refused: a vault key there would be a key next to the data.

keyring has no expiry of its own, so the entry carries one, and a non-secret marker file
under MEDVAULT_HOME/remembered/ says which vault keys may be cached until when. Every
medvault start deletes the keyring entry of each expired marker (purge_expired), so a key
does not outlive its window on a workstation where medvault runs again. On SecretService
(GNOME Keyring) the entry goes into the in-memory "session" collection when there is one,
so it also dies when the keyring daemon stops at logout; elsewhere it stays in the login
keyring until it is purged or locked.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol, cast

from medvault.config import home_folder, medvault_home
from medvault.errors import KeyCacheRefused
from medvault.secret import Secret

SERVICE = "medvault-unlock"
ALLOWED_BACKENDS = {
    "keyring.backends.SecretService.Keyring",
    "keyring.backends.libsecret.Keyring",
    "keyring.backends.kwallet.DBusKeyring",
    "keyring.backends.macOS.Keyring",
    "keyring.backends.Windows.WinVaultKeyring",
}
SECRETSERVICE_BACKEND = "keyring.backends.SecretService.Keyring"
# GNOME Keyring's collection that lives only in the daemon's memory (lost at logout).
SESSION_COLLECTION = "/org/freedesktop/secrets/aliases/session"
VAULT_ID = re.compile(r"[0-9a-f]{32}")
MAX_DUPLICATES = 8  # delete_password removes one entry per call


class Backend(Protocol):
    def get_password(self, service: str, username: str) -> str | None: ...

    def set_password(self, service: str, username: str, password: str) -> None: ...

    def delete_password(self, service: str, username: str) -> None: ...


def _markers() -> Path:
    """Non-secret notes that a key may be cached, so other commands skip the keyring
    (importing it costs ~6 MiB and a D-Bus round trip) when nothing was remembered."""
    return medvault_home() / "remembered"


def _marker(vault_id: str) -> Path:
    return _markers() / vault_id


def _marked_expiry(vault_id: str) -> datetime | None:
    try:
        return datetime.fromisoformat(_marker(vault_id).read_text().strip())
    except (OSError, ValueError):
        return None


def may_be_cached(vault_id: str, now: datetime) -> bool:
    expires = _marked_expiry(vault_id)
    return expires is not None and now < expires


def marked_vaults() -> list[str]:
    """The vault ids with a marker (cheap: one directory listing, no keyring)."""
    try:
        names = os.listdir(_markers())
    except OSError:
        return []
    return sorted(name for name in names if VAULT_ID.fullmatch(name))


def _backends() -> list[object]:
    import keyring
    from keyring.backends.chainer import ChainerBackend

    backend = keyring.get_keyring()
    if isinstance(backend, ChainerBackend):
        return list(backend.backends)
    return [backend]


def _name(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def secure_backend() -> Backend:
    """The keyring backend, if it is a real OS secret store; refuses anything else."""
    backends = _backends()
    names = [_name(b) for b in backends]
    if not backends or any(name not in ALLOWED_BACKENDS for name in names):
        shown = ", ".join(names) or "none"
        raise KeyCacheRefused(f"the keyring backend here ({shown}) is not a secure OS keyring")
    return cast(Backend, backends[0])


def _session_store(backend: Backend) -> Backend | None:
    """BACKEND aimed at SecretService's in-memory session collection, if it has one."""
    if _name(backend) != SECRETSERVICE_BACKEND:
        return None
    session = type(backend)()
    session.preferred_collection = SESSION_COLLECTION  # type: ignore[attr-defined]
    try:
        collection = session.get_preferred_collection()  # type: ignore[attr-defined]
    except Exception:  # no such collection (KeePassXC and others): use the default one
        return None
    collection.connection.close()
    return session


def _stores(backend: Backend) -> list[Backend]:
    """Where an entry may be: the session collection first, then the default one (where
    keys were kept before, and where they go when there is no session collection)."""
    session = _session_store(backend)
    return [session, backend] if session is not None else [backend]


def _refused(action: str, exc: Exception) -> KeyCacheRefused:
    return KeyCacheRefused(f"the OS keyring could not {action}: {type(exc).__name__}")


def remember(vault_id: str, vmk: Secret, expires: datetime) -> str:
    """Cache VMK until EXPIRES; returns where: "session" (memory only) or "keyring"."""
    backend = secure_backend()
    store = _stores(backend)[0]
    entry = {"v": 1, "key": base64.b64encode(vmk.reveal()).decode(), "expires": expires.isoformat()}
    home_folder("remembered")  # 0700 on the way, whatever the umask
    marker = _marker(vault_id)
    # The marker first: a key in the keyring without one could never be purged.
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with open(fd, "w") as handle:
        handle.write(expires.isoformat() + "\n")
    try:
        store.set_password(SERVICE, vault_id, json.dumps(entry))
    except Exception as exc:
        with contextlib.suppress(OSError):
            marker.unlink()
        raise _refused("store the key", exc) from None
    return "keyring" if store is backend else "session"


def recall(vault_id: str, now: datetime) -> Secret | None:
    """The cached key, or None (no entry, expired, keyring unusable or insecure)."""
    if not may_be_cached(vault_id, now):
        if _marker(vault_id).exists():
            with contextlib.suppress(KeyCacheRefused):
                forget(vault_id)  # expired: delete the key now, not just ignore it
        return None
    try:
        raw = next(_entries(secure_backend(), vault_id), None)
    except (KeyCacheRefused, _KeyringFailed):
        return None
    key = _valid_key(raw, now)
    if key is None:
        with contextlib.suppress(KeyCacheRefused):
            forget(vault_id)
    return key


class _KeyringFailed(Exception):
    pass


def _entries(backend: Backend, vault_id: str) -> Iterator[str]:
    for store in _stores(backend):
        try:
            raw = store.get_password(SERVICE, vault_id)
        except Exception as exc:
            raise _KeyringFailed from exc
        if isinstance(raw, str):
            yield raw


def _valid_key(raw: str | None, now: datetime) -> Secret | None:
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
        expires = datetime.fromisoformat(entry["expires"])
        key = base64.b64decode(entry["key"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    if now >= expires or len(key) != 32:
        return None
    return Secret(key)


def forget(vault_id: str) -> bool:
    """Delete the cached key from every place it may be; True if there was one.

    Raises KeyCacheRefused when the keyring cannot be reached although a marker says a
    key may be there; the marker is kept then, so the next medvault start tries again."""
    marked = _marker(vault_id).exists()
    try:
        removed = _delete_everywhere(secure_backend(), vault_id)
    except KeyCacheRefused:
        if marked:
            raise
        return False
    with contextlib.suppress(OSError):
        _marker(vault_id).unlink()
    return removed


def forget_if_marked(vault_id: str) -> bool:
    """forget(), but only when a marker says a key may be cached (no keyring otherwise)."""
    return _marker(vault_id).exists() and forget(vault_id)


def _delete_everywhere(backend: Backend, vault_id: str) -> bool:
    from keyring.errors import PasswordDeleteError

    removed = False
    for store in _stores(backend):
        for _ in range(MAX_DUPLICATES):
            try:
                store.delete_password(SERVICE, vault_id)
            except PasswordDeleteError:
                break
            except Exception as exc:
                raise _refused("delete the key", exc) from None
            removed = True
    return removed


def cached_vaults() -> list[str]:
    """Every vault id whose key may be cached here: the markers, and on SecretService every
    medvault entry in the keyring (a marker may have been deleted)."""
    ids = set(marked_vaults())
    try:
        backend = secure_backend()
    except KeyCacheRefused:
        if ids:
            raise
        return []  # no usable keyring and no marker: nothing can be cached here
    if _name(backend) == SECRETSERVICE_BACKEND:
        for store in _stores(backend):
            ids.update(_listed(store))
    return sorted(ids)


def _listed(store: Backend) -> list[str]:
    try:
        collection = store.get_preferred_collection()  # type: ignore[attr-defined]
        try:
            items = collection.search_items({"service": SERVICE})
            names = [item.get_attributes().get("username", "") for item in items]
        finally:
            collection.connection.close()
    except Exception as exc:
        raise _refused("list its entries", exc) from None
    return [name for name in names if VAULT_ID.fullmatch(name)]


def purge_expired(now: datetime) -> list[str]:
    """Delete the cached key of every vault whose marker has expired (or is unreadable);
    the vault ids purged. Without markers this is one directory listing: no keyring."""
    purged = []
    for vault_id in marked_vaults():
        if may_be_cached(vault_id, now):
            continue
        with contextlib.suppress(KeyCacheRefused):  # kept: tried again at the next start
            forget(vault_id)
            purged.append(vault_id)
    return purged
