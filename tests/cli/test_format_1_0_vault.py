"""A vault written in format 1.0 (tests/data/vault-1.0: made by medvault before format 1.1,
with a file in three parts, a replaced file and a removed one) opens, lists, extracts and
verifies with today's medvault, and `compact` rewrites it entry by entry into format 1.1,
after which it still lists and extracts the same bytes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from medvault.format import entry as entry_fmt
from tests.conftest import Workspace
from tests.support.drive_entries import entries_on_drive
from tests.support.paths import TESTS_DIR

DATA = TESTS_DIR / "data" / "vault-1.0"
EXPECTED: dict[str, str] = json.loads((DATA / "expected.json").read_text())


def _drive(tmp_path: Path) -> Path:
    drive = tmp_path / "drive"
    shutil.copytree(DATA / "MEDVAULT", drive / "MEDVAULT")
    return drive


def _listed(ws: Workspace, drive: Path) -> dict[str, str]:
    listing = json.loads(ws.cli("ls", drive, "--json", check=True).stdout)
    return {item["path"]: item["sha256"] for item in listing}


def _extracted(ws: Workspace, drive: Path, out: Path) -> dict[str, str]:
    ws.cli("extract", drive, "--to", out, check=True)
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def test_a_format_1_0_vault_opens_lists_extracts_and_verifies(
    ws: Workspace, tmp_path: Path
) -> None:
    drive = _drive(tmp_path)
    assert {e.suite for e in entries_on_drive(drive)} == {entry_fmt.SUITE_V1}
    assert _listed(ws, drive) == EXPECTED
    assert _extracted(ws, drive, tmp_path / "out") == EXPECTED
    assert ws.cli("verify", drive).returncode == 0


def test_compact_moves_a_format_1_0_vault_to_format_1_1(ws: Workspace, tmp_path: Path) -> None:
    drive = _drive(tmp_path)
    result = ws.cli("compact", drive, "--json", check=True)
    report = json.loads(result.stdout)
    assert report["entries_upgraded"] == len(EXPECTED) + 1  # the files and the tombstone
    assert {e.suite for e in entries_on_drive(drive)} == {entry_fmt.SUITE_PADDED}
    assert _listed(ws, drive) == EXPECTED
    assert _extracted(ws, drive, tmp_path / "out") == EXPECTED
    assert ws.cli("verify", drive).returncode == 0
    # A second compact finds nothing left in the old format.
    again = json.loads(ws.cli("compact", drive, "--json", check=True).stdout)
    assert again["entries_upgraded"] == 0
