"""The optional printed recovery code: opens the vault like a passphrase, survives a
passphrase change, and a mistyped group is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medvault.keys.recovery_code import RecoveryCodeMistyped, format_code, parse
from tests.conftest import Workspace
from tests.support.terminal import spawn_medvault, wait_for_exit


@given(st.binary(min_size=16, max_size=16))
def test_code_round_trip(raw: bytes) -> None:
    code = format_code(raw)
    assert len(code) == 8 * 6 + 7
    assert parse(code).reveal() == raw
    assert parse(code.replace("-", " ")).reveal() == raw


def test_each_group_is_checked() -> None:
    code = format_code(bytes(range(16)))
    for group in range(8):
        digits = list(code.replace("-", ""))
        index = group * 6 + 5
        digits[index] = str((int(digits[index]) + 1) % 10)  # one digit off breaks mod 11
        with pytest.raises(RecoveryCodeMistyped, match=f"group {group + 1} is mistyped"):
            parse("".join(digits))


def _make(ws: Workspace, drive: Path, tmp_path: Path) -> tuple[str, Path]:
    created = json.loads(ws.cli("create", drive, "--recovery-code", "--json", check=True).stdout)
    code_file = tmp_path / "code.txt"
    code_file.write_text(created["recovery_code"] + "\n")
    return created["vault_id"], code_file


def test_recovery_code_opens_the_vault(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    vault_id, code_file = _make(ws, drive, tmp_path)
    result = ws.cli("ls", drive, "--recovery-code-file", code_file, passphrase=False)
    assert result.returncode == 0, result.stderr
    info = json.loads(ws.cli("info", drive, "--json", check=True).stdout)
    assert info["recovery_code_slot"] is True
    create = next(s.event for s in ws.registry().events(vault_id) if s.event.action == "create")
    assert create.details["recovery_code_slot"] == 2

    # A passphrase change keeps the recovery code working.
    new = tmp_path / "new.txt"
    new.write_text("the next passphrase, long enough\n")
    ws.cli("passwd", drive, "--new-passphrase-file", new, check=True)
    assert ws.cli("ls", drive, "--recovery-code-file", code_file, passphrase=False).returncode == 0

    # A typo is named by group; another vault's code is just wrong.
    digits = code_file.read_text().strip()
    typo = tmp_path / "typo.txt"
    bad = digits[:15] + str((int(digits[15]) + 1) % 10) + digits[16:]
    typo.write_text(bad + "\n")
    result = ws.cli("ls", drive, "--recovery-code-file", typo, passphrase=False)
    assert result.returncode == 2
    assert "group 3 is mistyped" in result.stderr
    other = tmp_path / "other.txt"
    other.write_text(format_code(bytes(16)) + "\n")
    assert ws.cli("ls", drive, "--recovery-code-file", other, passphrase=False).returncode == 3


def test_recovery_code_prompt_on_a_terminal(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    _vault_id, code_file = _make(ws, drive, tmp_path)
    code = code_file.read_text().strip()
    child = spawn_medvault(ws.env, "ls", drive, "--use-recovery-code", timeout=30)
    child.expect("Recovery code")
    child.sendline(code)
    status, rest = wait_for_exit(child)
    assert status == 0
    assert code not in rest
