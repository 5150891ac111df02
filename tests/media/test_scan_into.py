"""`scan --into VAULT` moves what it finds into the vault, byte-identical,
deletes the plaintext only after the vault copy reads back, and records the move and a
plaintext-found incident. On a real FAT32 image (fusefat): afterwards the files are gone
from the file system, a new scan of the drive finds nothing, and the vault holds them.

Deleting a file on FAT only marks its clusters free, so `--into` zeroes each file in place
before unlinking it; the FAT32 test then checks the raw image, free clusters included, for
the planted values of the text formats.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from medvault.engine.session import open_headers, unlock
from medvault.errors import SourceUnreadable
from medvault.keys.passphrase import to_secret
from medvault.vault.env import Env
from medvault.vault.scan_move import (
    CHANGED,
    NOT_DELETED,
    NOT_VERIFIED,
    MoveResult,
    move_into_vault,
)
from tests.conftest import PASSPHRASE, Workspace
from tests.support.leaks import shows
from tests.support.media import mounted_fat32, raw_image_bytes
from tests.support.planted_phi import FIRST, LAST, MRN, RAW, SSN, plant

# Values as the CSV, TXT and HL7 files hold them in plain bytes.
TEXT_VALUES = [SSN, MRN, f"{LAST}, {FIRST}", f"Patient: {FIRST} {LAST}"]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "MEDVAULT" not in p.parts
    }


def _vault_id(ws: Workspace, drive: Path) -> str:
    info = json.loads(ws.cli("info", drive, "--json", check=True).stdout)
    return str(info["vault_id"])


def _move_and_check(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    """Plant PHI in DRIVE/incoming beside an ordinary file, scan --into the vault on the
    same drive, and check the drive, the vault and the registry."""
    ws.cli("create", drive, "--label", "scan test", check=True)
    # Built elsewhere and copied: fusefat refuses the seeks a ZIP writer makes.
    expected = plant(tmp_path / "planted")
    (drive / "incoming" / "Ward 7").mkdir(parents=True)
    for name in expected:
        shutil.copyfile(tmp_path / "planted" / name, drive / "incoming" / "Ward 7" / name)
    (drive / "incoming" / "readme.txt").write_text("ordinary notes, nothing personal\n")
    before = _snapshot(drive)
    vault_id = _vault_id(ws, drive)

    result = ws.cli("scan", drive, "--into", drive, "--json")
    assert result.returncode == 1, result.stdout + result.stderr  # found (and moved)
    for value in RAW:
        assert not shows(value, result.stdout + result.stderr), value
    report = json.loads(result.stdout)
    moved = report["moved"]
    assert moved["vault_id"] == vault_id
    assert moved["left"] == []
    assert moved["same_drive"] is True and moved["incident_recorded"] is True
    assert len(moved["files"]) == len(expected)
    stored_under = moved["stored_under"]
    assert stored_under.startswith("scan/") and stored_under.endswith("Z/")

    # The plaintext is gone (and the folder it emptied), the ordinary file stays.
    assert not (drive / "incoming" / "Ward 7").exists()
    untouched = {k: v for k, v in before.items() if not k.startswith("incoming/Ward 7/")}
    assert "incoming/readme.txt" in untouched  # (fusefat also shows the volume label)
    assert _snapshot(drive) == untouched
    again = ws.cli("scan", drive, "--json", passphrase=False)
    assert again.returncode == 0, again.stdout
    assert json.loads(again.stdout)["skipped"]["vault"] == 1

    # The vault holds every file byte for byte, under scan/<time>/<path under PATH>.
    out = tmp_path / "extracted"
    ws.cli("extract", drive, stored_under.rstrip("/"), "--to", out, check=True)
    for name in expected:
        rel = f"incoming/Ward 7/{name}"
        assert (out / stored_under / rel).read_bytes() == before[rel], name

    # Events: the add, the move (counts and digests, no names) and the incident.
    events = [s.event for s in ws.registry().events(vault_id)]
    by_action = {e.action: e for e in events}
    move = by_action["plaintext-moved"]
    assert move.details["found"] == len(expected) == move.details["files"]
    assert move.details["bytes"] == sum(len(before[f"incoming/Ward 7/{n}"]) for n in expected)
    assert move.details["left"] == 0
    assert len(move.details["sha256_of_digests"]) == 64
    assert move.details["indicators"]["ssn"] >= 4
    incident = by_action["plaintext-found"]
    assert incident.details["files"] == len(expected)
    assert by_action["add"].details["via"] == "scan --into"
    recorded = json.dumps([e.details for e in events])
    for value in [*RAW, "Ward 7", "note.txt"]:
        assert not shows(value, recorded), value

    # The lost-drive report now says plaintext was on this drive.
    lost = ws.cli(
        "incident", "lost", vault_id, "--discovered-at", "2026-01-01",
        "--reported-by", "Pat Privacy", "--out", tmp_path / "inc", passphrase=False,
    )  # fmt: skip
    assert lost.returncode == 0, lost.stderr
    pack = json.loads((tmp_path / "inc" / "report.json").read_text())
    [plaintext] = [f for f in pack["findings"] if f["key"] == "plaintext_findings"]
    assert plaintext["holds"] is False
    assert pack["determination"]["secured"] is False


def test_scan_into_a_vault_on_the_same_folder(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    _move_and_check(ws, drive, tmp_path)


@pytest.mark.fuse
def test_scan_into_on_a_fat32_image(ws: Workspace, tmp_path: Path) -> None:
    with mounted_fat32(tmp_path, size_mib=64) as fat:
        _move_and_check(ws, fat.mountpoint, tmp_path)
        fat.sync()
        # The plaintext files were zeroed in place before being unlinked, so the raw image
        # (free clusters included) no longer holds the planted values of the text formats
        # (XLSX and DOCX are compressed: their values were never in the image as text).
        raw = raw_image_bytes(fat.image)
        for value in TEXT_VALUES:
            assert value.encode() not in raw, f"{value!r} still in the FAT32 image"


def test_scan_into_a_vault_elsewhere_records_no_incident(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """Plaintext found on one drive and moved into a vault on another: the move is
    recorded, but the vault's own drive never held plaintext, so no incident for it."""
    ws.cli("create", drive, check=True)
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(drive).st_dev:
        pytest.skip("no second file system (/dev/shm) to put the plaintext on")
    source = Path(tempfile.mkdtemp(dir=shm, prefix="medvault-scan-test-"))
    try:
        plant(source)
        result = ws.cli("scan", source, "--into", drive, "--json")
        assert result.returncode == 1, result.stderr
        moved = json.loads(result.stdout)["moved"]
        assert moved["same_drive"] is False and moved["incident_recorded"] is False
        assert list(source.iterdir()) == []
        actions = [s.event.action for s in ws.registry().events(_vault_id(ws, drive))]
        assert "plaintext-moved" in actions and "plaintext-found" not in actions
    finally:
        shutil.rmtree(source, ignore_errors=True)


def test_scan_into_of_a_single_file(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    ws.cli("create", drive, check=True)
    expected = plant(tmp_path / "planted")
    note = drive / "note.txt"
    note.write_bytes((tmp_path / "planted" / "note.txt").read_bytes())
    result = ws.cli("scan", note, "--into", drive, "--json")
    assert result.returncode == 1, result.stderr
    moved = json.loads(result.stdout)["moved"]
    assert [f["stored"] for f in moved["files"]] == [moved["stored_under"] + "note.txt"]
    assert moved["incident_recorded"] is True
    assert not note.exists() and drive.is_dir()
    assert "note.txt" in expected


def test_nothing_found_asks_for_no_passphrase(ws: Workspace, drive: Path) -> None:
    ws.cli("create", drive, check=True)
    (drive / "notes.txt").write_text("nothing personal\n")
    result = ws.cli("scan", drive, "--into", drive, passphrase=False)
    assert result.returncode == 0, result.stderr
    assert "No PHI indicators found" in result.stdout


def test_a_file_that_changes_while_moved_is_left_in_place(ws: Workspace, drive: Path) -> None:
    """The plaintext is deleted only if it still has the SHA-256 its vault copy has: here
    the file grows right after `add` has read it, so it stays (and its copy is kept)."""
    ws.cli("create", drive, check=True)
    plant(drive / "in")
    vault = unlock(open_headers(drive), to_secret(PASSPHRASE))
    note = drive / "in" / "note.txt"
    found = [(note, "in/note.txt"), (drive / "in" / "export.csv", "in/export.csv")]

    def append_to_note(_n: int) -> None:  # add reports progress once it has read a file
        if note.stat().st_size < 10_000:
            with open(note, "a") as handle:
                handle.write("late addition\n" * 1000)

    result = move_into_vault(vault, drive, found, ws.registry(), Env(), {"ssn": 2}, append_to_note)
    assert list(result.kept) == ["in/note.txt"]
    assert note.exists() and not (drive / "in" / "export.csv").exists()
    assert [x.path for x in result.moved] == [result.stored_under + "in/export.csv"]
    failure = result.failure()
    assert isinstance(failure, SourceUnreadable) and failure.exit_code == 8
    moved = [
        s.event
        for s in ws.registry().events(vault.vault_id_hex)
        if s.event.action == "plaintext-moved"
    ][-1]
    assert moved.action == "plaintext-moved"
    assert (moved.details["found"], moved.details["files"], moved.details["left"]) == (2, 1, 1)


def test_failures_map_to_documented_exit_codes() -> None:
    def result(*why: str) -> MoveResult:
        return MoveResult("scan/x/", kept={f"f{i}": (w, "") for i, w in enumerate(why)})

    assert result().failure() is None
    codes = {
        (NOT_DELETED,): 15,
        (CHANGED, NOT_DELETED): 8,
        (NOT_VERIFIED, CHANGED): 6,
    }
    for why, code in codes.items():
        failure = result(*why).failure()
        assert failure is not None and failure.exit_code == code
