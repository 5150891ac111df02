"""The two vault header copies: an older, missing or damaged copy is never used silently.

A passphrase change that reached only copy A (a crash between the two writes) leaves copy
B older, still opening with the passphrase replaced: every command that opens the vault
from one copy only says so on stderr, the replaced passphrase cannot change the
passphrase, erase or reseal, and `repair` rewrites both copies from the newest."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import Workspace

NEW_PASSPHRASE = "the replacement passphrase 2026\n"


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("medvault: warning: ")]


def _passwd_stopped_between_the_copies(ws: Workspace, drive: Path, tmp_path: Path) -> Path:
    """A vault whose passphrase was changed in copy A only: copy B is the copy before
    (opening with the workspace passphrase). Returns the new passphrase's file."""
    ws.create_fast(drive)
    vault = drive / "MEDVAULT"
    before = tmp_path / "before.mvh"
    shutil.copy(vault / "vault.mvh.bak", before)
    new = tmp_path / "new.txt"
    new.write_text(NEW_PASSPHRASE)
    new.chmod(0o600)  # a passphrase file others can read is warned about
    ws.cli("passwd", drive, "--new-passphrase-file", new, check=True)
    shutil.copy(before, vault / "vault.mvh.bak")  # as if the second write never happened
    return new


def test_passwd_leaves_no_copy_that_opens_with_the_old_passphrase(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    ws.create_fast(drive)
    vault = drive / "MEDVAULT"
    new = tmp_path / "new.txt"
    new.write_text(NEW_PASSPHRASE)
    new.chmod(0o600)  # a passphrase file others can read is warned about
    changed = ws.cli("passwd", drive, "--new-passphrase-file", new)
    assert changed.returncode == 0, changed.stderr
    assert (vault / "vault.mvh").read_bytes() == (vault / "vault.mvh.bak").read_bytes()
    assert ws.cli("ls", drive).returncode == 3
    opened = ws.cli("ls", drive, extra_env={"MEDVAULT_PASSPHRASE_FILE": str(new)})
    assert opened.returncode == 0 and _warnings(opened.stderr) == []


def test_an_older_copy_opened_by_a_replaced_passphrase_is_warned_about(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    new = _passwd_stopped_between_the_copies(ws, drive, tmp_path)
    old = ws.cli("ls", drive)
    assert old.returncode == 0, old.stderr
    [warning] = _warnings(old.stderr)
    assert "this passphrase opens only vault.mvh.bak, an older header copy" in warning
    assert "the copy in force, vault.mvh (sequence" in warning
    assert "`medvault repair` rewrites both copies from vault.mvh" in warning

    current = ws.cli("ls", drive, extra_env={"MEDVAULT_PASSPHRASE_FILE": str(new)})
    assert current.returncode == 0, current.stderr
    [warning] = _warnings(current.stderr)
    assert (
        "header copy vault.mvh.bak: stale copy (older sequence number), which may still "
        "open with a passphrase changed since; the vault was opened from vault.mvh"
    ) in warning
    verify = ws.cli("verify", drive, extra_env={"MEDVAULT_PASSPHRASE_FILE": str(new)})
    assert verify.returncode == 19
    assert "header vault.mvh.bak: stale copy" in verify.stdout


def test_a_replaced_passphrase_cannot_passwd_reseal_or_erase(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    new = _passwd_stopped_between_the_copies(ws, drive, tmp_path)
    vault = drive / "MEDVAULT"
    before = {name: (vault / name).read_bytes() for name in ("vault.mvh", "vault.mvh.bak")}
    mine = tmp_path / "mine.txt"
    mine.write_text("a passphrase of the old custodian's 2026\n")
    for args in (
        ("passwd", drive, "--new-passphrase-file", mine),
        ("escrow", "reseal", drive, "--reason", "ticket 7"),
        ("erase", drive, "--yes", "--out", tmp_path / "certificate"),
    ):
        refused = ws.cli(*args)
        assert refused.returncode == 3, (args, refused.stderr)
        assert "this passphrase was changed: it opens only the older header copy" in (
            refused.stderr
        )
    assert {name: (vault / name).read_bytes() for name in before} == before
    env = {"MEDVAULT_PASSPHRASE_FILE": str(new)}
    assert ws.cli("ls", drive, extra_env=env).returncode == 0


def test_repair_brings_both_copies_to_the_newest_and_the_warnings_stop(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    new = _passwd_stopped_between_the_copies(ws, drive, tmp_path)
    vault = drive / "MEDVAULT"
    newest = (vault / "vault.mvh").read_bytes()
    repaired = ws.cli("repair", drive)  # with the passphrase replaced: completes the change
    assert repaired.returncode == 0, repaired.stderr
    assert "restored header copy vault.mvh.bak" in repaired.stdout
    assert (vault / "vault.mvh").read_bytes() == newest
    assert (vault / "vault.mvh.bak").read_bytes() == newest
    assert ws.cli("ls", drive).returncode == 3
    env = {"MEDVAULT_PASSPHRASE_FILE": str(new)}
    opened = ws.cli("ls", drive, extra_env=env)
    assert opened.returncode == 0 and _warnings(opened.stderr) == []
    assert ws.cli("verify", drive, extra_env=env).returncode == 0


def test_a_missing_or_damaged_copy_is_warned_about(ws: Workspace, drive: Path) -> None:
    ws.create_fast(drive)
    vault = drive / "MEDVAULT"
    (vault / "vault.mvh.bak").unlink()
    missing = ws.cli("ls", drive)
    assert missing.returncode == 0, missing.stderr
    [warning] = _warnings(missing.stderr)
    assert "header copy vault.mvh.bak: missing; the vault was opened from vault.mvh" in warning
    ws.cli("repair", drive, check=True)
    header = bytearray((vault / "vault.mvh").read_bytes())
    header[40] ^= 0x01
    (vault / "vault.mvh").write_bytes(bytes(header))
    damaged = ws.cli("ls", drive)
    assert damaged.returncode == 0, damaged.stderr
    [warning] = _warnings(damaged.stderr)
    assert warning.startswith("medvault: warning: header copy vault.mvh: ")
    assert "the vault was opened from vault.mvh.bak. Run `medvault repair`" in warning
