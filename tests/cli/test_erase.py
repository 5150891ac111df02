"""Cryptographic erase: afterwards nothing opens the vault, not
the passphrase, not the recovery code, not the escrow quorum from the header or from the
registry; a certificate of sanitization is written and the act is in the audit chain."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import Workspace
from tests.support.files import share_args, write_tree


def test_erase_leaves_nothing_that_opens_the_vault(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    src = write_tree(tmp_path / "records", {"a.csv": "mrn,result\n1,neg\n"})
    created = json.loads(ws.cli("create", drive, "--recovery-code", "--json", check=True).stdout)
    vault_id = created["vault_id"]
    code_file = tmp_path / "code.txt"
    code_file.write_text(created["recovery_code"] + "\n")
    ws.cli("add", drive, src, check=True)
    # Before: the quorum can recover (so the "after" checks below mean something).
    before = ws.cli(
        "recover", drive, "--reason", "drill", "--to", tmp_path / "before",
        *share_args(ws.home, "alice", "bob"), passphrase=False,
    )  # fmt: skip
    assert before.returncode == 0, before.stderr

    result = ws.cli("erase", drive, "--yes", "--out", tmp_path / "cert", "--json")
    assert result.returncode == 0, result.stderr
    cert = json.loads((tmp_path / "cert" / "certificate.json").read_text())
    assert cert["media"]["vault_id"] == vault_id
    assert cert["sanitization"]["technique"] == "Cryptographic Erase"
    assert cert["sanitization"]["key_packages_destroyed_in_registry"] == 1
    assert cert["sanitization"]["header_copies_overwritten_and_deleted"] == 2
    assert cert["sanitization"]["key_slots_and_escrow_packages_destroyed"] == 3
    assert cert["performed_by"]
    assert len(cert["verification"]) == 3
    text = (tmp_path / "cert" / "certificate.txt").read_text()
    assert "CERTIFICATE OF SANITIZATION" in text
    assert vault_id in text

    assert ws.cli("ls", drive).returncode == 4  # passphrase: no header to open
    assert ws.cli("ls", drive, "--recovery-code-file", code_file).returncode == 4
    from_header = ws.cli(
        "recover", drive, "--reason", "after erase", "--to", tmp_path / "h",
        *share_args(ws.home, "alice", "bob"), passphrase=False,
    )  # fmt: skip
    assert from_header.returncode == 4, from_header.stderr
    from_registry = ws.cli(
        "recover", drive, "--from-registry", "--reason", "after erase", "--to",
        tmp_path / "r", *share_args(ws.home, "alice", "carol"), passphrase=False,
    )  # fmt: skip
    assert from_registry.returncode == 20, from_registry.stderr
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("*.csv"))

    registry = ws.registry()
    assert registry.vault_status(vault_id) == "erased"
    assert registry.key_packages(vault_id) == []
    with registry.engine.connect() as conn:
        sealed = conn.exec_driver_sql(
            "SELECT sealed FROM key_packages WHERE vault_id = ?", (vault_id,)
        ).scalar_one()
    assert bytes(sealed) == b""
    erase = [s.event for s in registry.events(vault_id) if s.event.action == "erase"]
    assert len(erase) == 1
    assert erase[0].details["key_packages_destroyed"] == 1
    assert registry.verify_chain() is None
    readme = (drive / "MEDVAULT" / "README-MEDVAULT.txt").read_text()
    assert "CRYPTOGRAPHICALLY ERASED" in readme
    # The ciphertext may stay; no byte of the plaintext is on the drive.
    for path in drive.rglob("*"):
        if path.is_file():
            assert b"mrn,result" not in path.read_bytes()


def test_erase_needs_the_passphrase_and_a_yes(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    ws.cli("create", drive, check=True)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase at all, no\n")
    refused = ws.cli(
        "erase", drive, "--yes", "--out", tmp_path / "c",
        extra_env={"MEDVAULT_PASSPHRASE_FILE": str(wrong)},
    )  # fmt: skip
    assert refused.returncode == 3
    unconfirmed = ws.cli("erase", drive, "--out", tmp_path / "c")  # no terminal to say yes
    assert unconfirmed.returncode == 130
    assert ws.cli("ls", drive).returncode == 0  # still there
    assert not (tmp_path / "c" / "certificate.json").exists()


def test_erase_checks_the_certificate_folder_first(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    ws.cli("create", drive, check=True)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = ws.cli("erase", drive, "--yes", "--out", blocker / "cert")
    assert result.returncode == 1
    assert "cannot write to" in result.stderr
    assert ws.cli("ls", drive).returncode == 0  # nothing was destroyed


def test_erase_overwrites_leftovers_in_tmp(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    """A header copy medvault 0.1 left in tmp/ by an interrupted write holds the vault key
    wrapped: erase overwrites it before deleting it (a hard link kept outside shows what
    was in its clusters afterwards); a large leftover (a partial pack: ciphertext) is
    deleted."""
    ws.cli("create", drive, check=True)
    root = drive / "MEDVAULT"
    header = (root / "vault.mvh").read_bytes()
    leftover = root / "tmp" / "vault.mvh.tmp"
    leftover.write_bytes(header)
    witness = tmp_path / "witness"
    os.link(leftover, witness)  # the same inode: its bytes are the leftover's clusters
    partial = root / "tmp" / "partial.mvo"
    partial.write_bytes(b"\x00" * (2 << 20))
    result = ws.cli("erase", drive, "--yes", "--out", tmp_path / "cert", "--json")
    assert result.returncode == 0, result.stderr
    assert list((root / "tmp").iterdir()) == []
    after = witness.read_bytes()
    assert len(after) == len(header) and after != header
    assert b"MEDVAULT" not in after and b'"slots"' not in after
    cert = json.loads((tmp_path / "cert" / "certificate.json").read_text())
    assert cert["sanitization"]["interrupted_writes_overwritten_and_deleted"] == 1
