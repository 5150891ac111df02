"""The pre-copy export wrapper, `cp` and `drives`.

Export commands are real shell scripts; staging is a real tmpfs folder; the drive is a real
FAT32 image mounted with fusefat where FUSE is available."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medvault.vault.export import argv_sha256
from medvault.workstation.mounts import filesystem_of
from tests.conftest import Workspace
from tests.support.export import run_export
from tests.support.fat32 import lfn_pieces
from tests.support.leaks import shows
from tests.support.media import found_in, mounted_fat32, raw_image_bytes

MARKER = "QUOKKA-PHI-EXPORT-5521"
NAMES = ["Labs-Johnson-Mary.csv", "Oncology-Weekly.csv"]
SCRIPT = f"""#!/bin/sh
# A report script as sites have them: writes CSVs into the folder it is given.
set -e
out="$1"
printf 'mrn,name,result\\n%s,{MARKER},positive\\n' 1 2 3 > "$out/{NAMES[0]}"
mkdir -p "$out/weekly"
printf 'week,count\\n47,{MARKER}\\n' > "$out/weekly/{NAMES[1]}"
echo "exported 2 files"
"""


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "export-labs.sh"
    path.write_text(SCRIPT)
    path.chmod(0o755)
    return path


@pytest.mark.fuse
def test_export_onto_fat32_leaves_no_plaintext(ws: Workspace, tmp_path: Path, shm: Path) -> None:
    script = _script(tmp_path)
    with mounted_fat32(tmp_path, size_mib=32) as fat:
        stick = fat.mountpoint
        ws.cli("create", stick, check=True)
        result = run_export(ws, shm, stick, "--name", "labs", "--json", "--", script, "{}")
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout.split("exported 2 files\n", 1)[1])
        stored = sorted(f["path"] for f in out["files"])
        assert stored == sorted(
            f"{out['stored_under']}{p}" for p in (NAMES[0], f"weekly/{NAMES[1]}")
        )
        assert out["stored_under"].startswith("exports/labs/")
        assert out["staging_memory_backed"] is True
        fat.sync()
        raw = raw_image_bytes(fat.image)
        needles = [MARKER.encode(), *(n.encode() for n in NAMES)]
        for name in NAMES:
            needles += [p.encode("utf-16-le") for p in lfn_pieces(name)]
            needles.append(name.split(".")[0][:6].upper().encode())  # 8.3 short name stem
        found = found_in(raw, needles)
        assert found is None, f"{found!r} reached the FAT32 image"
        restored = tmp_path / "restored"
        ws.cli("extract", stick, "--to", restored, check=True)
        base = restored / out["stored_under"]
        assert MARKER in (base / NAMES[0]).read_text()
        assert (base / "weekly" / NAMES[1]).read_text() == f"week,count\n47,{MARKER}\n"
    assert list(shm.iterdir()) == []  # staging wiped


def test_export_records_no_arguments(ws: Workspace, drive: Path, shm: Path) -> None:
    """By default the export event holds CMD's file name and a SHA-256 of its arguments:
    neither PHI nor a password in the arguments reaches the registry (review L6)."""
    ws.cli("create", drive, check=True)
    argv = [
        "/bin/sh", "-c",
        'echo "${MEDVAULT_PASSPHRASE_FILE:-hidden}" > "$MEDVAULT_EXPORT_DIR/env.txt"',
        "--mrn", "12345678", "--name", "John Smith", "--password=hunter2", "-pS3cretPW",
        "PGPASSWORD=s3cret", "postgresql://ops:pw@db/x",
    ]  # fmt: skip
    result = run_export(ws, shm, drive, "--individuals", "3", "--state", "OR=3", "--", *argv)
    assert result.returncode == 0, result.stderr
    vault_id = json.loads(ws.cli("info", drive, "--json", check=True).stdout)["vault_id"]
    events = [s.event for s in ws.registry().events(vault_id)]
    export = next(e for e in events if e.action == "export")
    assert export.details["program"] == "sh" and export.details["argc"] == len(argv)
    assert export.details["argv_sha256"] == argv_sha256(argv)
    assert "command" not in export.details
    recorded = json.dumps([e.details for e in events])
    for word in ("12345678", "John Smith", "hunter2", "S3cretPW", "s3cret", "ops:pw", "MRN"):
        assert not shows(word.lower(), recorded.lower()), word
    assert export.details["files"] == 1 and export.details["staging_memory_backed"] is True
    assert events[-1].action == "declare" and events[-1].details["for"] == "export"
    restored = drive.parent / "restored"
    ws.cli("extract", drive, "--to", restored, check=True)
    # The export command's environment does not name the passphrase file.
    assert [p.read_text() for p in restored.rglob("env.txt")] == ["hidden\n"]


def test_failing_export_adds_nothing_and_passes_its_exit_code(
    ws: Workspace, drive: Path, shm: Path
) -> None:
    ws.cli("create", drive, check=True)
    failed = run_export(
        ws, shm, drive, "--", "sh", "-c", 'echo part > "$MEDVAULT_EXPORT_DIR/half.csv"; exit 42'
    )
    assert failed.returncode == 42
    assert "nothing was added" in failed.stderr
    assert ws.cli("ls", drive, check=True).stdout == ""
    assert list(shm.iterdir()) == []
    missing = run_export(ws, shm, drive, "--", "/no/such/export-command")
    assert missing.returncode == 8
    assert list(shm.iterdir()) == []


def test_killed_export_leaves_staging_that_the_next_run_removes(
    ws: Workspace, drive: Path, shm: Path
) -> None:
    ws.cli("create", drive, check=True)
    env = dict(ws.env, MEDVAULT_PASSPHRASE_FILE=str(ws.passfile), MEDVAULT_STAGING_DIR=str(shm))
    proc = subprocess.Popen(
        [sys.executable, "-m", "medvault", "export", "--vault", str(drive), "--",
         "sh", "-c", 'echo staged > "$MEDVAULT_EXPORT_DIR/a.csv"; sleep 60'],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list(shm.glob("medvault-export-*/a.csv")):
            assert time.monotonic() < deadline, "the export never staged its file"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the export command, still sleeping
    left = list(shm.glob("medvault-export-*"))
    assert len(left) == 1 and (left[0] / "a.csv").exists()
    assert oct(left[0].stat().st_mode & 0o777) == "0o700"

    again = run_export(ws, shm, drive, "--", "sh", "-c", 'echo ok > "$MEDVAULT_EXPORT_DIR/b.csv"')
    assert again.returncode == 0, again.stderr
    assert f"removed staging left by an interrupted export: {left[0]}" in again.stderr
    assert list(shm.iterdir()) == []
    listed = ws.cli("ls", drive, check=True).stdout
    assert "b.csv" in listed and "a.csv" not in listed


def test_staging_on_disk_is_refused_unless_allowed(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    ws.cli("create", drive, check=True)
    disk = tmp_path / "disk-staging"
    disk.mkdir()
    if filesystem_of(disk) in ("tmpfs", "ramfs"):
        pytest.skip(f"{disk} is itself memory-backed here")
    argv = ["--", "sh", "-c", 'echo x > "$MEDVAULT_EXPORT_DIR/x.csv"']
    refused = run_export(ws, disk, drive, *argv)
    assert refused.returncode == 2
    assert "memory-backed" in refused.stderr and "--allow-disk-staging" in refused.stderr
    allowed = run_export(ws, disk, drive, "--allow-disk-staging", *argv)
    assert allowed.returncode == 0, allowed.stderr
    assert "staging on disk" in allowed.stderr
    assert list(disk.iterdir()) == []


def test_cp_puts_the_vault_last(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    ws.cli("create", drive, check=True)
    one, two = tmp_path / "one.csv", tmp_path / "dir"
    one.write_text("1\n")
    two.mkdir()
    (two / "two.csv").write_text("2\n")
    result = ws.cli("cp", "-v", one, two, drive)
    assert result.returncode == 0, result.stderr
    assert "added one.csv" in result.stdout and "added dir/two.csv" in result.stdout
    assert ws.cli("cp", drive).returncode == 2
    assert ws.cli("cp", one, drive).returncode == 9  # already there, as with add


@pytest.mark.fuse
def test_drives_lists_a_mounted_fat32_image_and_its_vault(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        mounted_fat32(tmp_path / "a", size_mib=16) as bare,
        mounted_fat32(tmp_path / "b", size_mib=16) as stick,
    ):
        ws.cli("create", stick.mountpoint, "--label", "Lab stick", check=True)
        vault_id = json.loads(ws.cli("info", stick.mountpoint, "--json", check=True).stdout)
        listed = json.loads(ws.cli("drives", "--json", check=True).stdout)
        by_mount = {row["mountpoint"]: row for row in listed}
        row = by_mount[str(stick.mountpoint)]
        assert row["filesystem"] == "fuse.fusefat"
        assert row["vault"]["vault_id"] == vault_id["vault_id"]
        assert row["vault"]["label"] == "Lab stick"
        assert by_mount[str(bare.mountpoint)]["vault"] is None
        text = ws.cli("drives", check=True).stdout
        assert f"vault {vault_id['vault_id']} 'Lab stick'" in text
        assert "no vault" in text
