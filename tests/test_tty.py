"""On a real terminal (pexpect pty) the passphrase is typed twice and never echoes."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pexpect
import pytest

from tests.conftest import Workspace

pytestmark = pytest.mark.tty
SECRET = "purple-otter-ledger-91-quartz"


def _default_sigint() -> None:
    # A suite started in the background of a shell without job control inherits SIGINT
    # ignored, and so would the child: its Ctrl-C would then be lost, unlike on a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(ws: Workspace, *args: str | Path) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable,
        ["-m", "medvault", *map(str, args)],
        env=ws.env,
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 160),
        preexec_fn=_default_sigint,
    )


def test_create_prompts_twice_without_echo(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    child = _spawn(ws, "create", drive, "--label", "tty")
    child.expect("New vault passphrase: ")
    child.sendline(SECRET)
    child.expect("Repeat to confirm: ")
    child.sendline(SECRET)
    child.expect(pexpect.EOF)
    transcript = child.before
    child.close()
    assert child.exitstatus == 0, transcript
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
    child.expect("New vault passphrase: ")
    child.sendline(SECRET)
    child.expect("Repeat to confirm: ")
    child.sendline(SECRET + "x")
    child.expect("do not match")
    child.expect("New vault passphrase: ")
    child.sendline(SECRET)
    child.expect("Repeat to confirm: ")
    child.sendline(SECRET)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert SECRET not in (child.before or "")


def test_unlock_prompt_and_ctrl_c(ws: Workspace, drive: Path) -> None:
    ws.create_fast(drive)
    child = _spawn(ws, "ls", drive)
    child.expect("Vault passphrase: ")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130


def test_progress_bar_on_a_terminal(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    ws.create_fast(drive)
    big = tmp_path / "scan.bin"
    big.write_bytes(b"\0" * (8 * 1024 * 1024))
    env = dict(ws.env, MEDVAULT_PASSPHRASE_FILE=str(ws.passfile))
    child = pexpect.spawn(
        sys.executable,
        ["-m", "medvault", "add", str(drive), str(big)],
        env=env,
        encoding="utf-8",
        timeout=60,
    )
    child.expect("encrypting")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "added scan.bin" in (child.before or "")
