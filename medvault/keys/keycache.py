"""Remember-on-this-workstation: a vault key cached in the OS keyring, with an expiry.

Only real OS secret stores are used (SecretService/libsecret, KWallet, macOS Keychain,
Windows Credential Locker). A plaintext or file-based backend (keyrings.alt and the like) is
refused: a vault key there would be a key next to the data. keyring has no expiry of its
own, so the entry carries one and is deleted once it has passed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from datetime import datetime
from pathlib import Path

from medvault.config import medvault_home
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


def _marker(vault_id: str) -> Path:
    """A non-secret note that a key may be cached, so other commands skip the keyring
    (importing it costs ~6 MiB and a D-Bus round trip) when nothing was remembered."""
    return medvault_home() / "remembered" / vault_id


def may_be_cached(vault_id: str, now: datetime) -> bool:
    try:
        expires = datetime.fromisoformat(_marker(vault_id).read_text().strip())
    except (OSError, ValueError):
        return False
    return now < expires


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


def secure_backend() -> object:
    """The keyring backend, if it is a real OS secret store; refuses anything else."""
    backends = _backends()
    names = [_name(b) for b in backends]
    if not backends or any(name not in ALLOWED_BACKENDS for name in names):
        shown = ", ".join(names) or "none"
        raise KeyCacheRefused(f"the keyring backend here ({shown}) is not a secure OS keyring")
    return backends[0]


def remember(vault_id: str, vmk: Secret, expires: datetime) -> None:
    from keyring.errors import KeyringError

    backend = secure_backend()
    entry = {"v": 1, "key": base64.b64encode(vmk.reveal()).decode(), "expires": expires.isoformat()}
    try:
        backend.set_password(SERVICE, vault_id, json.dumps(entry))  # type: ignore[attr-defined]
    except KeyringError as exc:
        raise KeyCacheRefused(f"the OS keyring refused to store the key: {exc}") from None
    marker = _marker(vault_id)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(expires.isoformat() + "\n")


def recall(vault_id: str, now: datetime) -> Secret | None:
    """The cached key, or None (no entry, expired, keyring unusable or insecure)."""
    if not may_be_cached(vault_id, now):
        if _marker(vault_id).exists():
            forget(vault_id)  # expired: delete the key now, not just ignore it
        return None
    from keyring.errors import KeyringError

    try:
        backend = secure_backend()
        raw = backend.get_password(SERVICE, vault_id)  # type: ignore[attr-defined]
    except (KeyCacheRefused, KeyringError):
        return None
    if not isinstance(raw, str):
        return None
    try:
        entry = json.loads(raw)
        expires = datetime.fromisoformat(entry["expires"])
        key = base64.b64decode(entry["key"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        forget(vault_id)
        return None
    if now >= expires or len(key) != 32:
        forget(vault_id)
        return None
    return Secret(key)


def forget(vault_id: str) -> bool:
    """Delete the cached key; True if there was one."""
    from keyring.errors import KeyringError, PasswordDeleteError

    with contextlib.suppress(OSError):
        _marker(vault_id).unlink()
    try:
        backend = secure_backend()
        backend.delete_password(SERVICE, vault_id)  # type: ignore[attr-defined]
    except PasswordDeleteError:
        return False
    except (KeyCacheRefused, KeyringError):
        return False
    return True
