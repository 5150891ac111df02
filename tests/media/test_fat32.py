"""On a real FAT32 image mounted with fusefat, no plaintext
content, file name or folder name ever reaches the medium: not after `add`, not after a
passphrase change, not after `rm` and `compact`. The raw image bytes are scanned in UTF-8
and in UTF-16LE (FAT long names), and for 8.3 upper-case short names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.support.fat32 import lfn_pieces
from tests.support.media import found_in, mounted_fat32, raw_image_bytes

pytestmark = pytest.mark.fuse

MARKER = "ZEBRA-PHI-MARKER-7731"
NAMES = ["PatientSmithJohn", "oncology-referrals", "mrn-000123-labs.csv", "Grüße-Kardiologie"]


def _needles() -> list[bytes]:
    needles = [MARKER.encode(), *(n.encode() for n in NAMES)]
    for name in NAMES:
        needles += [piece.encode("utf-16-le") for piece in lfn_pieces(name)]
        needles.append(name.split(".")[0][:6].upper().encode())  # 8.3 short name stem
    return needles


def _make_tree(root: Path) -> Path:
    top = root / "PatientSmithJohn"
    (top / "oncology-referrals").mkdir(parents=True)
    (top / "oncology-referrals" / "mrn-000123-labs.csv").write_text(
        f"mrn,name,result\n000123,{MARKER},positive\n" * 200
    )
    (top / "Grüße-Kardiologie").mkdir()
    (top / "Grüße-Kardiologie" / "note.txt").write_text(f"{MARKER} cardiology note\n")
    (top / "big-scan.bin").write_bytes((MARKER.encode() + b"\x00" * 100) * 20_000)
    return top


def _assert_no_plaintext(image: Path, stage: str) -> None:
    found = found_in(raw_image_bytes(image), _needles())
    assert found is None, f"{found!r} found in the raw FAT32 image after {stage}"


@pytest.mark.slow
def test_no_plaintext_on_fat32(ws: Workspace, tmp_path: Path) -> None:
    tree = _make_tree(tmp_path / "src")
    new_pass = tmp_path / "new-pass.txt"
    new_pass.write_text("a brand new passphrase for the stick\n")
    with mounted_fat32(tmp_path, size_mib=64) as fat:
        stick = fat.mountpoint
        ws.create_fast(stick, "fat32 test")
        added = ws.cli("add", stick, tree, check=True)
        # The custody log is written on FAT32 too (a failure there is only a warning).
        assert "custody log was not updated" not in added.stderr
        assert len(list((stick / "MEDVAULT" / "log").glob("*.mve"))) == 2
        fat.sync()
        _assert_no_plaintext(fat.image, "add")
        listing = json.loads(ws.cli("ls", stick, "--json", check=True).stdout)
        assert len(listing) == 3

        ws.cli("passwd", stick, "--new-passphrase-file", new_pass, check=True)
        fat.sync()
        _assert_no_plaintext(fat.image, "passwd")

        env = {"MEDVAULT_PASSPHRASE_FILE": str(new_pass)}
        ws.cli("rm", stick, "PatientSmithJohn/oncology-referrals", check=True, extra_env=env)
        ws.cli("compact", stick, check=True, extra_env=env)
        fat.sync()
        _assert_no_plaintext(fat.image, "rm and compact")

        out = tmp_path / "out"
        ws.cli("extract", stick, "--to", out, check=True, extra_env=env)
        note = out / "PatientSmithJohn" / "Grüße-Kardiologie" / "note.txt"
        assert MARKER in note.read_text()
        assert ws.cli("verify", stick, extra_env=env).returncode == 0


def test_the_scan_would_see_plaintext(tmp_path: Path) -> None:
    """Control: the same scan finds a marker written in the clear, so the test above can fail."""
    with mounted_fat32(tmp_path, size_mib=64) as fat:
        folder = fat.mountpoint / NAMES[0]
        folder.mkdir()
        (folder / "x.txt").write_text(MARKER)
        fat.sync()
        raw = raw_image_bytes(fat.image)
    assert MARKER.encode() in raw
    for piece in lfn_pieces(NAMES[0]):
        assert piece.encode("utf-16-le") in raw
