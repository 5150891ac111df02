"""The expiry stored in the keyring entry is enforced on its own
(keys/keycache.py `_valid_key`), not only through the marker file.

tests/cli/test_keycache_expiry.py moves both expiries into the past, so the marker alone
decides there. Here the marker still says the key may be cached for hours and only the
keyring entry says it has expired (a marker rewritten, restored from a backup, or copied
from another account): a command must not use that key, and must delete it. The entries
that cannot be read as a key with an expiry are refused the same way. On a real
gnome-keyring (tests/support/secret_service.py), through the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import Workspace
from tests.support.cli import run_medvault
from tests.support.keycache import Entry, fast_vault, remember, rewrite_entry
from tests.support.secret_service import secret_service


def _expired(entry: Entry) -> None:
    entry["expires"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()


def _no_expiry(entry: Entry) -> None:
    del entry["expires"]


def _not_a_time(entry: Entry) -> None:
    entry["expires"] = "tomorrow"


def _short_key(entry: Entry) -> None:
    entry["key"] = str(entry["key"])[:20] + "=="  # valid base64, not 32 bytes


TAMPERINGS: list[Callable[[Entry], None]] = [_expired, _no_expiry, _not_a_time, _short_key]


def test_an_entry_expired_in_the_keyring_is_refused_and_deleted(
    ws: Workspace, tmp_path: Path
) -> None:
    drive, vault_id = fast_vault(ws, tmp_path, "usb")
    marker = ws.home / "remembered" / vault_id
    with secret_service(tmp_path / "home") as keyring:
        env = keyring.medvault_env(ws.env)  # the real SecretService
        for change in TAMPERINGS:
            remember(env, ws, drive)
            if change is _expired:  # the control, once: the untouched entry opens the vault
                assert run_medvault(env, "ls", drive).returncode == 0
            marked = marker.read_text()
            rewrite_entry(keyring, vault_id, change)
            assert marker.read_text() == marked  # the marker still says: hours left
            listed = run_medvault(env, "ls", drive)
            assert listed.returncode == 13, (change.__name__, listed.stdout, listed.stderr)
            assert "no passphrase" in listed.stderr.lower(), (change.__name__, listed.stderr)
            assert keyring.entries() == {}, change.__name__
            assert not marker.exists(), change.__name__
