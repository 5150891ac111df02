"""Terminal habits: a mistyped passphrase, recovery code or command is not the end of the
command, the version and shell completion are there, --as may follow the command's name,
and create's --help lists only the options that make sense for it."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pexpect
import pytest

from medvault.keys.passphrase import to_secret
from medvault.keys.recovery_code import format_code
from medvault.keys.recovery_code import generate as generate_recovery_code
from medvault.vault.create import create_vault
from medvault.vault.env import Env
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace
from tests.support.terminal import (
    answer_new_passphrase,
    default_sigint,
    spawn_medvault,
    wait_for_exit,
)

WRONG = "not the passphrase at all, sorry"
STRONG = "seven sleepy otters dance tango"


def _spawn(env: dict[str, str], *args: str | Path) -> pexpect.spawn:
    return spawn_medvault(env, *args, timeout=30, dimensions=(40, 160), preexec_fn=default_sigint)


def _type_passphrase(child: pexpect.spawn, passphrase: str) -> str:
    """At CHILD's unlock prompt type PASSPHRASE; returns what was shown before the prompt."""
    child.expect("Vault passphrase: ")
    shown = child.before or ""
    child.sendline(passphrase)
    return shown


@pytest.mark.tty
def test_a_wrong_passphrase_at_the_prompt_is_asked_again(ws: Workspace, drive: Path) -> None:
    """A wrong passphrase typed at the prompt is asked again, saying how many tries are
    left; the right one on the second try opens the vault (exit 0)."""
    ws.create_fast(drive)
    child = _spawn(ws.env, "ls", drive)
    _type_passphrase(child, WRONG)
    shown = _type_passphrase(child, PASSPHRASE)
    assert "wrong passphrase; try again (2 left)" in shown
    status, rest = wait_for_exit(child)
    assert status == 0, rest
    assert WRONG not in shown + rest and PASSPHRASE not in rest  # never echoed


@pytest.mark.tty
def test_three_wrong_passphrases_at_the_prompt_exit_3(ws: Workspace, drive: Path) -> None:
    """Three wrong passphrases typed at the prompt end the command with exit 3; it asks no
    fourth time."""
    ws.create_fast(drive)
    child = _spawn(ws.env, "ls", drive)
    shown = [_type_passphrase(child, f"{WRONG} {n}") for n in range(3)]
    status, rest = wait_for_exit(child)
    assert status == 3, rest
    assert "try again (2 left)" in shown[1] and "try again (1 left)" in shown[2]
    assert "Vault passphrase" not in rest and "try again" not in rest
    assert "medvault: error:" in rest


@pytest.mark.tty
def test_a_wrong_passphrase_from_a_file_is_not_asked_again(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """A wrong passphrase from a file (here $MEDVAULT_PASSPHRASE_FILE) exits 3 at once,
    even on a terminal: nothing is asked."""
    ws.create_fast(drive)
    wrong = tmp_path / "wrong.txt"
    wrong.touch(mode=0o600)
    wrong.write_text(WRONG + "\n")
    child = _spawn({**ws.env, "MEDVAULT_PASSPHRASE_FILE": str(wrong)}, "ls", drive)
    status, rest = wait_for_exit(child)
    assert status == 3, rest
    assert "Vault passphrase" not in rest and "try again" not in rest


def _create_with_recovery_code(ws: Workspace, drive: Path) -> str:
    """What `create DRIVE --recovery-code` does, through the library with FAST_KDF;
    returns the printed recovery code."""
    code_text, code = generate_recovery_code()
    registry = ws.registry()
    try:
        create_vault(
            drive, "", to_secret(PASSPHRASE), ws.org, registry, Env(kdf=FAST_KDF),
            recovery_code=code,
        )  # fmt: skip
    finally:
        registry.close()
    return code_text


def _type_recovery_code(child: pexpect.spawn, code: str) -> str:
    """At CHILD's recovery-code prompt type CODE; returns what was shown before the prompt."""
    child.expect(r"Recovery code \(8 groups of 6 digits\): ")
    shown = child.before or ""
    child.sendline(code)
    return shown


def _mistyped(code: str) -> str:
    """CODE with one digit of its third group changed (the group's check fails)."""
    index = 2 * 7 + 3
    return code[:index] + str((int(code[index]) + 1) % 10) + code[index + 1 :]


ANOTHER_VAULTS_CODE = format_code(bytes(16))


@pytest.mark.tty
def test_a_wrong_recovery_code_at_the_prompt_is_asked_again(ws: Workspace, drive: Path) -> None:
    """A recovery code typed at the prompt that is mistyped (its group named) or wrong (it
    opens no slot) is asked again, saying how many tries are left, as a passphrase is;
    the right code on the third try opens the vault (exit 0), never echoed."""
    code = _create_with_recovery_code(ws, drive)
    child = _spawn(ws.env, "ls", drive, "--use-recovery-code")
    _type_recovery_code(child, _mistyped(code))
    second = _type_recovery_code(child, ANOTHER_VAULTS_CODE)
    third = _type_recovery_code(child, code)
    assert "group 3 is mistyped; try again (2 left)" in second
    assert "does not open this vault; try again (1 left)" in third
    status, rest = wait_for_exit(child)
    assert status == 0, rest
    assert code not in second + third + rest and ANOTHER_VAULTS_CODE not in third + rest


@pytest.mark.tty
def test_three_wrong_recovery_codes_at_the_prompt_exit_3(ws: Workspace, drive: Path) -> None:
    """Three wrong recovery codes typed at the prompt end the command with exit 3 (as one
    wrong code from a file does); it asks no fourth time."""
    _create_with_recovery_code(ws, drive)
    child = _spawn(ws.env, "ls", drive, "--use-recovery-code")
    shown = [_type_recovery_code(child, ANOTHER_VAULTS_CODE) for _ in range(3)]
    status, rest = wait_for_exit(child)
    assert status == 3, rest
    assert "try again (2 left)" in shown[1] and "try again (1 left)" in shown[2]
    assert "Recovery code" not in rest and "try again" not in rest
    assert "medvault: error: the recovery code does not open this vault" in rest


@pytest.mark.tty
def test_a_wrong_recovery_code_from_a_file_is_not_asked_again(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """A wrong recovery code from --recovery-code-file exits 3 at once, even on a terminal
    and with --use-recovery-code too: nothing is asked."""
    _create_with_recovery_code(ws, drive)
    wrong = tmp_path / "code.txt"
    wrong.touch(mode=0o600)
    wrong.write_text(ANOTHER_VAULTS_CODE + "\n")
    child = _spawn(ws.env, "ls", drive, "--recovery-code-file", wrong, "--use-recovery-code")
    status, rest = wait_for_exit(child)
    assert status == 3, rest
    assert "Recovery code (" not in rest and "try again" not in rest


def _strict_org(ws: Workspace) -> None:
    """The workspace's org.toml asks for passphrases of at least 32 characters."""
    path = ws.org_created.config_path
    text = path.read_text()
    path.write_text(
        text.replace(
            "\n[[escrow_keys]]", "\n[passphrase_policy]\nmin_length = 32\n\n[[escrow_keys]]", 1
        )
    )


@pytest.mark.tty
def test_a_weak_new_passphrase_at_create_is_asked_again(ws: Workspace, drive: Path) -> None:
    """At `create` on a terminal, a new passphrase the organisation's policy refuses (here
    31 characters where org.toml asks for 32) is asked again with the reason, and the
    vault is made with the next one."""
    _strict_org(ws)
    child = _spawn(ws.env, "create", drive)
    answer_new_passphrase(child, PASSPHRASE)  # 31 characters
    shown = answer_new_passphrase(child, STRONG + " and a violin")
    assert "at least 32" in shown and "choose another" in shown
    status, rest = wait_for_exit(child)
    assert status == 0, rest
    assert "Created vault" in rest


@pytest.mark.tty
def test_a_third_weak_new_passphrase_exits_12(ws: Workspace, drive: Path) -> None:
    """The third refused new passphrase ends `create` with exit 12; nothing is created."""
    child = _spawn(ws.env, "create", drive)
    for _ in range(3):
        answer_new_passphrase(child, "passwordpassword")
    status, rest = wait_for_exit(child)
    assert status == 12, rest
    assert "New vault passphrase" not in rest
    assert not (drive / "MEDVAULT").exists()


def test_a_mistyped_command_suggests_the_closest(ws: Workspace) -> None:
    """`medvault extrat` exits 2 suggesting `extract`; inside a group too (`custody
    tranfer`: `transfer`)."""
    mistyped = ws.cli("extrat", passphrase=False)
    assert mistyped.returncode == 2
    assert "No such command 'extrat'. Did you mean 'extract'" in mistyped.stderr
    in_group = ws.cli("custody", "tranfer", passphrase=False)
    assert in_group.returncode == 2
    assert "Did you mean 'transfer'?" in in_group.stderr
    nothing_close = ws.cli("zzzz", passphrase=False)
    assert nothing_close.returncode == 2
    assert "Did you mean" not in nothing_close.stderr


def test_version_is_the_installed_packages(ws: Workspace) -> None:
    """`medvault --version` prints the version of the installed package (its metadata)."""
    shown = ws.cli("--version", passphrase=False)
    assert shown.returncode == 0
    assert shown.stdout.strip() == f"medvault, version {importlib.metadata.version('medvault')}"


def test_as_is_accepted_after_the_command(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    """`medvault add --as NAME VAULT F` records NAME as `medvault --as NAME add` does; two
    different names, one before and one after the command, are refused (exit 2)."""
    vault_id = ws.create_fast(drive)
    for name in ("one", "two"):
        (tmp_path / f"{name}.txt").write_text(name)
    ws.cli("add", "--as", "Dr Lee", drive, tmp_path / "one.txt", check=True)
    ws.cli("--as", "Dr Kim", "add", drive, tmp_path / "two.txt", check=True)
    clash = ws.cli("--as", "Dr Kim", "ls", "--as", "Dr Lee", drive)
    assert clash.returncode == 2 and "--as given twice" in clash.stderr
    bad = ws.cli("custody", "show", drive, "--as", "x" * 201)
    assert bad.returncode == 2
    registry = ws.registry()
    try:
        adds = [s.event for s in registry.events(vault_id) if s.event.action == "add"]
    finally:
        registry.close()
    assert [event.actor.person for event in adds] == ["Dr Lee", "Dr Kim"]


def test_create_help_shows_no_unlock_options(ws: Workspace, drive: Path) -> None:
    """`create --help` lists the passphrase sources but not the recovery-code options,
    which only unlock; `create --use-recovery-code` is a usage error (exit 2)."""
    shown = ws.cli("create", "--help", passphrase=False).stdout.split("Options:", 1)[1]
    assert "--passphrase-file" in shown and "--passphrase-fd" in shown
    assert "--use-recovery-code" not in shown and "--recovery-code-file" not in shown
    assert "--use-recovery-code" in ws.cli("ls", "--help", passphrase=False).stdout
    refused = ws.cli("create", drive, "--use-recovery-code")
    assert refused.returncode == 2
    assert not (drive / "MEDVAULT").exists()


@pytest.mark.parametrize(
    ("shell", "mark"),
    [
        ("bash", "complete -o nosort -F _medvault_completion medvault"),
        ("zsh", "compdef _medvault_completion medvault"),
        ("fish", "complete --no-files --command medvault"),
    ],
)
def test_the_shell_completion_script_is_produced(ws: Workspace, shell: str, mark: str) -> None:
    """`_MEDVAULT_COMPLETE=SHELL_source medvault` prints the completion script for bash,
    zsh and fish."""
    script = ws.cli(passphrase=False, extra_env={"_MEDVAULT_COMPLETE": f"{shell}_source"})
    assert script.returncode == 0, script.stderr
    assert mark in script.stdout


def test_completion_completes_commands_and_subcommands(ws: Workspace) -> None:
    """The bash completion answers a partial command and a group's partial subcommand."""
    for words, cword, expected in (
        ("medvault extr", "1", "plain,extract"),
        ("medvault custody tr", "2", "plain,transfer"),
    ):
        env = {"_MEDVAULT_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
        answer = ws.cli(passphrase=False, extra_env=env)
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.split() == [expected]
