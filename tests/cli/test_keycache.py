"""The workstation key cache works on a real SecretService, expires,
is removed by `lock`, and a plaintext keyring backend is refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.support.cli import run_medvault
from tests.support.keycache import expire
from tests.support.paths import REPO_ROOT
from tests.support.secret_service import secret_service


def test_remember_then_lock_on_real_secret_service(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    created = json.loads(ws.cli("create", drive, "--json", check=True).stdout)
    vault_id = created["vault_id"]
    with secret_service(tmp_path / "home") as keyring:
        env = keyring.medvault_env(ws.env)  # the real SecretService this time
        env.pop("MEDVAULT_PASSPHRASE_FILE", None)
        # Without a cached key and without a passphrase source, commands fail at once.
        assert run_medvault(env, "ls", drive).returncode == 13
        remembered = run_medvault(
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
        assert run_medvault(env, "add", drive, src).returncode == 0
        assert "note.txt" in run_medvault(env, "ls", drive).stdout
        # Nothing of the key on the drive.
        key = entry["key"].encode()
        for path in drive.rglob("*"):
            if path.is_file():
                assert key not in path.read_bytes()
        locked = run_medvault(env, "lock", drive)
        assert locked.returncode == 0
        assert "Forgot" in locked.stdout
        assert keyring.entries() == {}
        assert run_medvault(env, "ls", drive).returncode == 13


def test_expired_key_is_not_used_and_is_deleted(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    created = json.loads(ws.cli("create", drive, "--json", check=True).stdout)
    vault_id = created["vault_id"]
    with secret_service(tmp_path / "home") as keyring:
        env = keyring.medvault_env(ws.env)  # the real SecretService this time
        env.pop("MEDVAULT_PASSPHRASE_FILE", None)
        run_medvault(
            {**env, "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile)},
            "unlock",
            drive,
            "--remember",
            "1m",
        )
        assert run_medvault(env, "ls", drive).returncode == 0
        # Move the expiry into the past (as if a minute had gone by), in both places.
        expire(ws, keyring, vault_id)
        assert run_medvault(env, "ls", drive).returncode == 13
        assert keyring.entries() == {}


def test_plaintext_keyring_backend_is_refused(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    # The keyring is checked first: no vault (nor passphrase) is needed to be refused.
    home = tmp_path / "home"
    home.mkdir()
    root = REPO_ROOT
    env = {
        **ws.env,
        "HOME": str(home),
        # The repo first (for tests.support.plaintext_keyring), then whatever ran this test had.
        "PYTHONPATH": os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "PYTHON_KEYRING_BACKEND": "tests.support.plaintext_keyring.PlaintextKeyring",
        "MEDVAULT_PASSPHRASE_FILE": str(ws.passfile),
    }
    result = run_medvault(env, "unlock", drive, "--remember", "8h")
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
