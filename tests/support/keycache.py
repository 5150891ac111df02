"""Vault keys cached by `unlock --remember` in a real SecretService
(tests/support/secret_service.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from medvault.keys.passphrase import to_secret
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.cli import run_medvault
from tests.support.secret_service import SecretService, secret_service


def fast_vault(ws: Workspace, root: Path, name: str) -> tuple[Path, str]:
    """A vault on the new drive ROOT/NAME, made through the library with a light Argon2id
    (FAST_KDF): the commands under test unlock it at the header's parameters in well
    under a second. Returns the drive and the vault id."""
    drive = root / name
    drive.mkdir()
    registry = ws.registry()
    try:
        created = create_vault(
            drive, name, to_secret(PASSPHRASE), ws.org, registry, Env(kdf=FAST_KDF)
        )
    finally:
        registry.close()
    return drive, created.vault_id


def remember(env: dict[str, str], ws: Workspace, drive: Path, duration: str = "8h") -> None:
    """`unlock DRIVE --remember DURATION` with the workspace's passphrase file; it must
    succeed."""
    done = run_medvault(
        env, "unlock", drive, "--remember", duration, "--passphrase-file", ws.passfile
    )
    assert done.returncode == 0, done.stderr


@contextmanager
def remembered(
    ws: Workspace, home: Path, *drives: Path
) -> Iterator[tuple[SecretService, dict[str, str]]]:
    """A real keyring in HOME holding the key of each of DRIVES (`unlock --remember 8h`),
    and the environment in which medvault uses that keyring."""
    with secret_service(home) as keyring:
        env = keyring.medvault_env(ws.env)
        for drive in drives:
            remember(env, ws, drive)
        yield keyring, env


Entry = dict[str, object]


def rewrite_entry(keyring: SecretService, vault_id: str, change: Callable[[Entry], None]) -> None:
    """VAULT_ID's keyring entry read, CHANGEd and written back where it was."""
    entry = json.loads(keyring.secret(vault_id) or "{}")
    change(entry)
    (where,) = keyring.entries()[vault_id]
    keyring.put(vault_id, json.dumps(entry), where)


def expire(ws: Workspace, keyring: SecretService, vault_id: str) -> None:
    """As if the window had passed: the marker and the entry both say so."""
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    (ws.home / "remembered" / vault_id).write_text(past + "\n")
    rewrite_entry(keyring, vault_id, lambda entry: entry.update(expires=past))
