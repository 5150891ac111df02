"""`medvault add` walks its folders to check them while the passphrase is asked and
stretched (cli/files_cmd.py): the checking walk runs in its own thread, started before the
unlock, and what it finds is reported only once the vault is unlocked, as before: a wrong
passphrase is still reported as such, whatever the folders hold."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from medvault.cli import files_cmd
from medvault.cli import unlock as unlock_module
from medvault.cli.main import cli
from medvault.errors import SourceUnreadable, WrongPassphrase
from medvault.vault.add import SourcePlan
from tests.conftest import Workspace


def _invoke(ws: Workspace, passfile: Path, *args: str | Path) -> Result:
    env = {
        "MEDVAULT_HOME": str(ws.home),
        "MEDVAULT_PASSPHRASE_FILE": str(passfile),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def _drive_and_notes(ws: Workspace, tmp_path: Path) -> tuple[Path, Path]:
    drive = tmp_path / "drive"
    drive.mkdir()
    ws.create_fast(drive)
    src = tmp_path / "notes"
    src.mkdir()
    for n in range(3):
        (src / f"n{n}.txt").write_bytes(os.urandom(50))
    return drive, src


def test_the_checking_walk_runs_while_the_vault_is_unlocked(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive, src = _drive_and_notes(ws, tmp_path)
    started = threading.Event()
    seen: dict[str, Any] = {}
    real_check, real_unlock = SourcePlan.check, files_cmd.unlock_vault

    def check(plan: SourcePlan) -> None:
        seen["walked in"] = threading.current_thread().name
        started.set()
        real_check(plan)

    def unlock(*args: Any, **kwargs: Any) -> Any:
        seen["walking before the unlock ended"] = started.wait(10)
        return real_unlock(*args, **kwargs)

    monkeypatch.setattr(SourcePlan, "check", check)
    monkeypatch.setattr(files_cmd, "unlock_vault", unlock)
    result = _invoke(ws, ws.passfile, "add", drive, src)
    assert result.exit_code == 0, (result.output, result.exception)
    assert seen == {"walked in": "medvault-check", "walking before the unlock ended": True}
    assert "3 file(s)" in result.output


def test_what_the_walk_finds_is_reported_after_the_unlock(ws: Workspace, tmp_path: Path) -> None:
    """A name that is not UTF-8 inside a folder: refused (nothing added) with the right
    passphrase; with a wrong one, the passphrase is what is reported."""
    drive, src = _drive_and_notes(ws, tmp_path)
    with open(os.path.join(os.fsencode(src), b"bad\xff.txt"), "wb") as handle:
        handle.write(b"x")
    refused = _invoke(ws, ws.passfile, "add", drive, src)
    assert isinstance(refused.exception, SourceUnreadable), (refused.output, refused.exception)
    assert "is not valid UTF-8" in refused.exception.message
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase at all\n")
    wrong.chmod(0o600)
    locked = _invoke(ws, wrong, "add", drive, src)
    assert isinstance(locked.exception, WrongPassphrase), (locked.output, locked.exception)
    listed = _invoke(ws, ws.passfile, "ls", drive, "--json")
    assert listed.exit_code == 0 and listed.output.strip() == "[]", listed.output


@pytest.mark.parametrize("command", ["add", "ls"])
def test_a_command_invoked_in_process_returns_after_its_lost_drive_check(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """A program (or click's test runner) that invokes `cli` itself gets control back
    only once the lost-drive check has ended, also when the command failed after the
    unlock (add refuses a name that is not UTF-8): a check left running would read the
    registry of whatever $MEDVAULT_HOME is later."""
    drive, src = _drive_and_notes(ws, tmp_path)
    with open(os.path.join(os.fsencode(src), b"bad\xff.txt"), "wb") as handle:
        handle.write(b"x")
    ended = threading.Event()
    real_check = unlock_module.warn_if_lost

    def slow_check(*args: Any, **kwargs: Any) -> bool:
        time.sleep(2)  # far longer than the rest of the command takes
        try:
            return real_check(*args, **kwargs)
        finally:
            ended.set()

    monkeypatch.setattr(unlock_module, "warn_if_lost", slow_check)
    args = ("add", drive, src) if command == "add" else ("ls", drive)
    result = _invoke(ws, ws.passfile, *args)
    if command == "add":
        assert isinstance(result.exception, SourceUnreadable), (result.output, result.exception)
    else:
        assert result.exit_code == 0, (result.output, result.exception)
    assert ended.is_set()
