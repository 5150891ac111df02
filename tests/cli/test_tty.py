"""On a real terminal (pexpect pty) the passphrase is typed twice and never echoes."""

from __future__ import annotations

from pathlib import Path

import pexpect
import pytest

from tests.conftest import Workspace
from tests.support.terminal import (
    answer_new_passphrase,
    default_sigint,
    spawn_medvault,
    wait_for_exit,
)

pytestmark = pytest.mark.tty
SECRET = "purple-otter-ledger-91-quartz"


def _spawn(ws: Workspace, *args: str | Path) -> pexpect.spawn:
    return spawn_medvault(
        ws.env, *args, timeout=30, dimensions=(40, 160), preexec_fn=default_sigint
    )


def test_create_prompts_twice_without_echo(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    child = _spawn(ws, "create", drive, "--label", "tty")
    answer_new_passphrase(child, SECRET)
    status, transcript = wait_for_exit(child)
    assert status == 0, transcript
    assert "Created vault" in transcript
    assert SECRET not in transcript  # no echo on the terminal
    # The typed passphrase really is the vault's passphrase.
    good = tmp_path / "pp.txt"
    good.write_text(SECRET + "\n")
    listing = ws.cli(
        "ls", drive, passphrase=False, extra_env={"MEDVAULT_PASSPHRASE_FILE": str(good)}
    )
    assert listing.returncode == 0, listing.stderr


def test_mismatched_confirmation_asks_again(ws: Workspace, drive: Path) -> None:
    child = _spawn(ws, "create", drive)
    answer_new_passphrase(child, SECRET, SECRET + "x")
    child.expect("do not match")
    answer_new_passphrase(child, SECRET)
    status, rest = wait_for_exit(child)
    assert status == 0
    assert SECRET not in rest


def test_unlock_prompt_and_ctrl_c(ws: Workspace, drive: Path) -> None:
    ws.create_fast(drive)
    child = _spawn(ws, "ls", drive)
    child.expect("Vault passphrase: ")
    child.sendintr()
    status, _rest = wait_for_exit(child)
    assert status == 130


def test_progress_bar_on_a_terminal(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    ws.create_fast(drive)
    big = tmp_path / "scan.bin"
    big.write_bytes(b"\0" * (8 * 1024 * 1024))
    env = dict(ws.env, MEDVAULT_PASSPHRASE_FILE=str(ws.passfile))
    child = spawn_medvault(env, "add", drive, big, "-v")
    child.expect("encrypting")
    status, rest = wait_for_exit(child)
    assert status == 0
    assert "added scan.bin" in rest
