"""`passwd`: O(1) in vault size, and an interrupted change is completed, never undone."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from tests.conftest import Workspace


def _objects_digest(drive: Path) -> str:
    h = hashlib.sha256()
    for path in sorted((drive / "MEDVAULT" / "objects").rglob("*")):
        if path.is_file():
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def test_passwd_touches_only_the_header(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    src = tmp_path / "data"
    src.mkdir()
    for i in range(50):
        (src / f"{i}.txt").write_text(f"row {i}\n" * 100)
    ws.cli("create", drive, check=True)
    ws.cli("add", drive, src, check=True)
    before = _objects_digest(drive)
    new = tmp_path / "new.txt"
    new.write_text("the replacement passphrase 2026\n")
    ws.cli("passwd", drive, "--new-passphrase-file", new, check=True)
    assert _objects_digest(drive) == before
    old = ws.cli("ls", drive)
    assert old.returncode == 3
    fresh = ws.cli("ls", drive, extra_env={"MEDVAULT_PASSPHRASE_FILE": str(new)})
    assert fresh.returncode == 0
    assert "data/7.txt" in fresh.stdout
    weak = tmp_path / "weak.txt"
    weak.write_text("weak\n")
    refused = ws.cli(
        "passwd",
        drive,
        "--new-passphrase-file",
        weak,
        extra_env={"MEDVAULT_PASSPHRASE_FILE": str(new)},
    )
    assert refused.returncode == 12


def test_interrupted_passwd_is_completed_by_repair(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    ws.cli("create", drive, check=True)
    vault = drive / "MEDVAULT"
    stale = tmp_path / "stale.bak"
    shutil.copy(vault / "vault.mvh.bak", stale)
    new = tmp_path / "new.txt"
    new.write_text("the replacement passphrase 2026\n")
    ws.cli("passwd", drive, "--new-passphrase-file", new, check=True)
    # Simulate a crash after copy A was replaced but before copy B was.
    shutil.copy(stale, vault / "vault.mvh.bak")
    assert ws.cli("ls", drive).returncode == 0  # the old passphrase still opens copy B
    verify = ws.cli("verify", drive)
    assert verify.returncode == 19
    assert "vault.mvh.bak: stale" in verify.stdout
    ws.cli("repair", drive, check=True)  # with the OLD passphrase: must not undo the change
    assert ws.cli("ls", drive).returncode == 3
    env = {"MEDVAULT_PASSPHRASE_FILE": str(new)}
    assert ws.cli("verify", drive, extra_env=env).returncode == 0
