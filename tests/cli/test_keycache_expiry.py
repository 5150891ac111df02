"""A key cached by `unlock --remember` ends when it says, on a real
gnome-keyring. An expired entry is gone after any medvault command; `lock VAULT_ID` and
`lock --all` need no drive; erase, passwd, recover and incident lost forget the vault's
key; passwd, erase and escrow reseal never accept a cached key instead of the passphrase;
a lost-drive report with an unexpired `remember` event says "reportable".

Vaults are made through the library with a light Argon2id (conftest.FAST_KDF): the
commands under test unlock them at the header's parameters, in well under a second.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.support.cli import run_medvault
from tests.support.keycache import expire, fast_vault, remember, remembered
from tests.support.secret_service import LOGIN, SESSION

NOT_A_VAULT_ID = "ab" * 16  # an entry with no marker and no vault in the registry


def _locks(ws: Workspace, vault_id: str) -> list[dict[str, object]]:
    return [s.event.details for s in ws.registry().events(vault_id) if s.event.action == "lock"]


def test_an_expired_key_is_deleted_by_any_command(ws: Workspace, tmp_path: Path) -> None:
    one, one_id = fast_vault(ws, tmp_path, "one")
    two, two_id = fast_vault(ws, tmp_path, "two")
    with remembered(ws, tmp_path / "home", one, two) as (keyring, env):
        expire(ws, keyring, one_id)
        # A command that never looks at that vault: the expired key goes anyway.
        assert run_medvault(env, "--version").returncode == 0
        assert set(keyring.entries()) == {two_id}
        assert not (ws.home / "remembered" / one_id).exists()
        expire(ws, keyring, two_id)
        assert run_medvault(env, "audit", "head").returncode == 0
        assert keyring.entries() == {}
        assert os.listdir(ws.home / "remembered") == []


def test_a_remembered_key_is_kept_in_memory_only(ws: Workspace, tmp_path: Path) -> None:
    drive, vault_id = fast_vault(ws, tmp_path, "usb")
    with remembered(ws, tmp_path / "home", drive) as (keyring, _):
        assert keyring.entries() == {vault_id: [SESSION]}
        keyring.put(NOT_A_VAULT_ID, "{}", LOGIN)  # a control: the login keyring is on disk
        keyring.restart_daemon()  # logout, login
        assert keyring.entries() == {NOT_A_VAULT_ID: [LOGIN]}


def test_lock_by_id_and_lock_all_need_no_drive(ws: Workspace, tmp_path: Path) -> None:
    one, one_id = fast_vault(ws, tmp_path, "one")
    two, two_id = fast_vault(ws, tmp_path, "two")
    with remembered(ws, tmp_path / "home", one, two) as (keyring, env):
        keyring.put(NOT_A_VAULT_ID, "{}", LOGIN)  # no marker: found by listing the keyring
        shutil.rmtree(one)  # the drives are lost
        shutil.rmtree(two)
        by_id = run_medvault(env, "lock", one_id)
        assert by_id.returncode == 0, by_id.stderr
        assert f"Forgot the key of vault {one_id}" in by_id.stdout
        assert set(keyring.entries()) == {two_id, NOT_A_VAULT_ID}
        every = run_medvault(env, "lock", "--all", "--json")
        assert every.returncode == 0, every.stderr
        assert json.loads(every.stdout) == {
            "forgotten": sorted([two_id, NOT_A_VAULT_ID]),
            "not_cached": [],
        }
        assert keyring.entries() == {}
        assert os.listdir(ws.home / "remembered") == []
        assert _locks(ws, one_id) == [{}]
        assert _locks(ws, two_id) == [{}]
        again = run_medvault(env, "lock", "--all")
        assert (again.returncode, again.stdout) == (0, "No vault key was cached here.\n")
        assert run_medvault(env, "lock").returncode == 2
        assert run_medvault(env, "lock", one_id, "--all").returncode == 2


def test_passwd_erase_and_reseal_refuse_a_cached_key(ws: Workspace, tmp_path: Path) -> None:
    drive, vault_id = fast_vault(ws, tmp_path, "usb")
    header = (drive / "MEDVAULT" / "vault.mvh").read_bytes()
    new = tmp_path / "new.txt"
    new.write_text("a different passphrase of mine\n")
    new.chmod(0o600)
    with remembered(ws, tmp_path / "home", drive) as (keyring, env):
        assert run_medvault(env, "ls", drive).returncode == 0  # a listed command uses the key
        refused = {
            "passwd": run_medvault(env, "passwd", drive, "--new-passphrase-file", new),
            "erase": run_medvault(env, "erase", drive, "--yes", "--out", tmp_path / "cert"),
            "reseal": run_medvault(env, "escrow", "reseal", drive, "--reason", "rotation"),
        }
        for name, result in refused.items():
            assert result.returncode == 13, (name, result.stderr)
            assert "no passphrase" in result.stderr.lower(), (name, result.stderr)
        assert (drive / "MEDVAULT" / "vault.mvh").read_bytes() == header
        assert not (tmp_path / "cert" / "certificate.txt").exists()
        assert set(keyring.entries()) == {vault_id}


def test_erase_forgets_the_vaults_key(ws: Workspace, tmp_path: Path) -> None:
    drive, vault_id = fast_vault(ws, tmp_path, "usb")
    other, other_id = fast_vault(ws, tmp_path, "other")
    with remembered(ws, tmp_path / "home", drive, other) as (keyring, env):
        erased = run_medvault(
            env, "erase", drive, "--yes", "--out", tmp_path / "cert",
            "--passphrase-file", ws.passfile,
        )  # fmt: skip
        assert erased.returncode == 0, erased.stderr
        assert set(keyring.entries()) == {other_id}
        assert _locks(ws, vault_id) == [{"reason": "erase"}]


def test_a_rekey_forgets_the_vaults_old_key(ws: Workspace, tmp_path: Path) -> None:
    """The key cached before a re-key is the old vault key: the re-key deletes it."""
    drive, vault_id = fast_vault(ws, tmp_path, "usb")
    with remembered(ws, tmp_path / "home", drive) as (keyring, env):
        plain = run_medvault(env, "escrow", "reseal", drive, "--reason", "r",
                             "--passphrase-file", ws.passfile)  # fmt: skip
        assert plain.returncode == 0, plain.stderr
        assert set(keyring.entries()) == {vault_id}  # a plain reseal keeps the same key
        rekeyed = run_medvault(env, "escrow", "reseal", drive, "--reason", "r", "--rekey",
                               "--passphrase-file", ws.passfile)  # fmt: skip
        assert rekeyed.returncode == 0, rekeyed.stderr
        assert set(keyring.entries()) == set()
        assert _locks(ws, vault_id) == [{"reason": "rekey"}]


def test_passwd_and_recover_forget_the_vaults_key(ws: Workspace, tmp_path: Path) -> None:
    drive, vault_id = fast_vault(ws, tmp_path, "usb")
    new = tmp_path / "new.txt"
    new.write_text("a different passphrase of mine\n")
    new.chmod(0o600)
    shares = [ws.home / "shares" / "alice.txt", ws.home / "shares" / "bob.txt"]
    share_args = [arg for share in shares for arg in ("--share", share)]
    with remembered(ws, tmp_path / "home", drive) as (keyring, env):
        changed = run_medvault(
            env, "passwd", drive, "--new-passphrase-file", new, "--passphrase-file", ws.passfile
        )
        assert changed.returncode == 0, changed.stderr
        assert keyring.entries() == {}
        ws.passfile.write_text(new.read_text())
        remember(env, ws, drive)
        reset = run_medvault(
            env, "recover", drive, "--reason", "INC-1", "--reset-passphrase",
            "--new-passphrase-file", ws.passfile, *share_args,
        )  # fmt: skip
        assert reset.returncode == 0, reset.stderr
        assert keyring.entries() == {}
        remember(env, ws, drive)
        extracted = run_medvault(
            env, "recover", drive, "--reason", "INC-2", "--to", tmp_path / "out", *share_args
        )
        assert extracted.returncode == 0, extracted.stderr
        assert keyring.entries() == {}
        reasons = [lock["reason"] for lock in _locks(ws, vault_id)]
        assert reasons == ["passwd", "recover", "recover"]


def test_a_lost_drive_with_an_unexpired_remembered_key_is_reportable(
    ws: Workspace, tmp_path: Path
) -> None:
    laptop_drive, laptop_id = fast_vault(ws, tmp_path, "laptop")
    desk_drive, desk_id = fast_vault(ws, tmp_path, "desk")
    # The privacy officer's workstation: its own MEDVAULT_HOME, the same registry.
    office = tmp_path / "office"
    office.mkdir()
    shutil.copy(ws.home / "org.toml", office / "org.toml")
    registry = f"sqlite:///{ws.home / 'registry.sqlite'}"
    now = datetime.now(UTC).isoformat()
    with remembered(ws, tmp_path / "home", laptop_drive, desk_drive) as (keyring, env):
        # The laptop is lost with its drive: the report is made elsewhere.
        elsewhere = {**env, "MEDVAULT_HOME": str(office), "MEDVAULT_REGISTRY": registry}
        lost = run_medvault(
            elsewhere, "incident", "lost", laptop_id, "--discovered-at", now,
            "--reported-by", "Pat", "--out", tmp_path / "pack1", "--json",
        )  # fmt: skip
        assert lost.returncode == 0, lost.stderr
        report = json.loads((tmp_path / "pack1" / "report.json").read_text())
        assert report["determination"]["conclusion"] == "reportable"
        finding = next(f for f in report["findings"] if f["key"] == "key_not_on_drive")
        assert finding["holds"] is False
        assert "unlock --remember" in finding["statement"]
        # Only the drive is lost, and the report is made on the workstation that cached
        # its key: the key is deleted there first, so it is not with the drive.
        lost = run_medvault(
            env, "incident", "lost", desk_id, "--discovered-at", now,
            "--reported-by", "Pat", "--out", tmp_path / "pack2", "--json",
        )  # fmt: skip
        assert lost.returncode == 0, lost.stderr
        assert json.loads(lost.stdout)["conclusion"] == "secured, not reportable"
        assert set(keyring.entries()) == {laptop_id}
        assert _locks(ws, desk_id) == [{"reason": "incident lost"}]


def _purge_in_child(ws: Workspace, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    probe = (
        "import sys; from medvault.cli.main import purge_expired_keys; purge_expired_keys(); "
        "print('keyring' in sys.modules)"
    )
    return subprocess.run(
        [sys.executable, "-c", probe],
        env={**ws.env, **extra},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_the_purge_is_cheap_without_markers_and_keeps_a_marker_it_cannot_act_on(
    ws: Workspace,
) -> None:
    assert _purge_in_child(ws, {}).stdout.strip() == "False"
    (ws.home / "remembered").mkdir()
    assert _purge_in_child(ws, {}).stdout.strip() == "False"
    marker = ws.home / "remembered" / NOT_A_VAULT_ID
    marker.write_text((datetime.now(UTC) - timedelta(seconds=1)).isoformat() + "\n")
    # No usable keyring (the workspace's fail backend): the entry cannot be shown gone,
    # so the marker stays and the next start tries again.
    assert _purge_in_child(ws, {}).stdout.strip() == "True"
    assert marker.exists()


@pytest.mark.parametrize("path", ["passwd", "erase", "escrow reseal", "recover", "unlock"])
def test_commands_that_change_keys_are_not_on_the_cached_key_list(path: str) -> None:
    from medvault.cli.unlock import MAY_USE_CACHED_KEY

    assert path not in MAY_USE_CACHED_KEY


def test_every_command_on_the_cached_key_list_exists() -> None:
    import click

    from medvault.cli.main import cli
    from medvault.cli.unlock import MAY_USE_CACHED_KEY

    ctx = click.Context(cli)
    for path in MAY_USE_CACHED_KEY:
        command: click.Command | None = cli
        for name in path.split():
            assert isinstance(command, click.Group), path
            command = command.get_command(ctx, name)
        assert command is not None, path
