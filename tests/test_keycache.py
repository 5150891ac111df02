"""Issue 3, acceptance 7: the workstation key cache works on a real SecretService, expires,
is removed by `lock`, and a plaintext keyring backend is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.secret_service import secret_service


def _cli(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medvault", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def test_remember_then_lock_on_real_secret_service(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    created = json.loads(ws.cli("create", drive, "--json", check=True).stdout)
    vault_id = created["vault_id"]
    with secret_service(tmp_path / "home") as keyring:
        env = {**ws.env, **keyring.env}
        env.pop("MEDVAULT_PASSPHRASE_FILE", None)
        env.pop("PYTHON_KEYRING_BACKEND", None)  # the real SecretService this time
        # Without a cached key and without a passphrase source, commands fail at once.
        assert _cli(env, "ls", drive).returncode == 13
        remembered = _cli(
            {**env, "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile)},
            "unlock",
            drive,
            "--remember",
            "8h",
        )
        assert remembered.returncode == 0, remembered.stderr
        entry = json.loads(keyring.secret(vault_id) or "{}")
        assert set(entry) == {"v", "key", "expires"}
        src = tmp_path / "note.txt"
        src.write_text("no passphrase needed\n")
        assert _cli(env, "add", drive, src).returncode == 0
        assert "note.txt" in _cli(env, "ls", drive).stdout
        # Nothing of the key on the drive.
        key = entry["key"].encode()
        for path in drive.rglob("*"):
            if path.is_file():
                assert key not in path.read_bytes()
        locked = _cli(env, "lock", drive)
        assert locked.returncode == 0
        assert "Forgot" in locked.stdout
        assert keyring.entries() == {}
        assert _cli(env, "ls", drive).returncode == 13


def test_expired_key_is_not_used_and_is_deleted(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    created = json.loads(ws.cli("create", drive, "--json", check=True).stdout)
    vault_id = created["vault_id"]
    with secret_service(tmp_path / "home") as keyring:
        env = {**ws.env, **keyring.env}
        env.pop("MEDVAULT_PASSPHRASE_FILE", None)
        env.pop("PYTHON_KEYRING_BACKEND", None)  # the real SecretService this time
        _cli(
            {**env, "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile)},
            "unlock",
            drive,
            "--remember",
            "1m",
        )
        assert _cli(env, "ls", drive).returncode == 0
        # Move the expiry into the past (as if a minute had gone by), in both places.
        past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        entry = json.loads(keyring.secret(vault_id) or "{}")
        entry["expires"] = past
        (session,) = keyring.entries()[vault_id]
        keyring.put(vault_id, json.dumps(entry), session)
        (ws.home / "remembered" / vault_id).write_text(past + "\n")
        assert _cli(env, "ls", drive).returncode == 13
        assert keyring.entries() == {}


def test_plaintext_keyring_backend_is_refused(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    # The keyring is checked first: no vault (nor passphrase) is needed to be refused.
    home = tmp_path / "home"
    home.mkdir()
    root = Path(__file__).resolve().parents[1]
    env = {
        **ws.env,
        "HOME": str(home),
        # The repo first (for tests.plaintext_keyring), then whatever ran this test had.
        "PYTHONPATH": os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "PYTHON_KEYRING_BACKEND": "tests.plaintext_keyring.PlaintextKeyring",
        "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile),
    }
    result = _cli(env, "unlock", drive, "--remember", "8h")
    assert result.returncode == 21
    assert "not a secure OS keyring" in result.stderr
    assert not (home / "plaintext-keyring.json").exists()


@pytest.mark.parametrize("text", ["8", "0m", "8w", "8d"])
def test_bad_durations(ws: Workspace, drive: Path, text: str) -> None:
    assert ws.cli("unlock", drive, "--remember", text).returncode == 2


def test_no_keyring_at_all_is_a_clear_error(ws: Workspace, drive: Path) -> None:
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    result = ws.cli("unlock", drive, "--remember", "8h", extra_env=env)
    assert result.returncode == 21
