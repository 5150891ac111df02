"""A secret read from a file that other users may read or change is warned about (review
I8): --passphrase-file, MEDVAULT_PASSPHRASE_FILE, --recovery-code-file and
--new-passphrase-file all read through `from_file`, which checks the opened file's mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from medvault.cli import passphrase as pp
from tests.conftest import PASSPHRASE, Workspace

SHARED_MODES = [0o644, 0o640, 0o604, 0o660, 0o620, 0o602, 0o666]
PRIVATE_MODES = [0o600, 0o400, 0o700, 0o711]


def _secret_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(PASSPHRASE + "\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", SHARED_MODES)
def test_a_file_others_can_read_or_change_is_warned_about(
    tmp_path: Path, mode: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _secret_file(tmp_path, mode)
    assert pp.from_file(path, "--passphrase-file") == PASSPHRASE
    err = capsys.readouterr().err
    assert f"--passphrase-file {path} has mode {mode:04o}" in err
    assert f"chmod 600 {path}" in err
    assert PASSPHRASE not in err


@pytest.mark.parametrize("mode", PRIVATE_MODES)
def test_a_private_file_gives_no_warning(
    tmp_path: Path, mode: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pp.from_file(_secret_file(tmp_path, mode), "--passphrase-file") == PASSPHRASE
    assert capsys.readouterr().err == ""


def test_every_file_source_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _secret_file(tmp_path, 0o644)
    assert pp.obtain(None, path, confirm=False, text="x") == PASSPHRASE
    assert "--passphrase-file" in capsys.readouterr().err
    monkeypatch.setenv("MEDVAULT_PASSPHRASE_FILE", str(path))
    assert pp.obtain(None, None, confirm=False, text="x") == PASSPHRASE
    assert f"MEDVAULT_PASSPHRASE_FILE {path} has mode 0644" in capsys.readouterr().err


def test_the_cli_warns_about_a_world_readable_passphrase_file(ws: Workspace, drive: Path) -> None:
    ws.passfile.chmod(0o644)
    created = ws.cli("create", drive, "--label", "mode test")
    assert created.returncode == 0, created.stderr
    assert f"MEDVAULT_PASSPHRASE_FILE {ws.passfile} has mode 0644" in created.stderr
    ws.passfile.chmod(0o600)
    listed = ws.cli("ls", drive, check=True)
    assert "has mode" not in listed.stderr
