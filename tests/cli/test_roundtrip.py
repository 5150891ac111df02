"""A varied tree round-trips byte-identical; `ls --json` sizes and digests match."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import Workspace

CHUNK = 16 * 1024
PART = 64 * 1024  # the smallest part size a vault accepts


def _tree(root: Path) -> dict[str, bytes]:
    files = {
        "deep/a/b/c/nested.txt": b"nested\n",
        "empty.bin": b"",
        "naïve-café-日本語.txt": "non-ascii name, ünïcödé content\n".encode(),
        "exact-16k.bin": os.urandom(CHUNK),
        "16k-plus-1.bin": os.urandom(CHUNK + 1),
        "larger-than-part.bin": os.urandom(PART * 3 + 12345),
        "big-own-pack.bin": os.urandom(1024 * 1024 + 7),  # > SMALL_FILE: streamed, patched
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return {f"{root.name}/{rel}": data for rel, data in files.items()}


def test_round_trip_tree(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    expected = _tree(tmp_path / "tree")
    ws.cli("create", drive, "--part-size", str(PART), check=True)
    ws.cli("add", drive, tmp_path / "tree", check=True)
    listing = json.loads(ws.cli("ls", drive, "--json", check=True).stdout)
    assert {x["path"] for x in listing} == set(expected)
    for item in listing:
        data = expected[item["path"]]
        assert item["size"] == len(data)
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
        assert item["added_at"].endswith("Z")
    out = tmp_path / "out"
    ws.cli("extract", drive, "--to", out, check=True)
    for rel, data in expected.items():
        target = out / rel
        assert target.read_bytes() == data, rel
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    # The big files really were split into parts no larger than the part size.
    parts = list((drive / "MEDVAULT" / "objects").rglob("*.mvp"))
    assert parts, "a file larger than the part size must be split into parts"
    assert all(p.stat().st_size <= PART + 56 for p in parts)
    assert ws.cli("verify", drive).returncode == 0


def test_extract_selected_prefix_and_refuses_overwrite(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    expected = _tree(tmp_path / "tree")
    ws.create_fast(drive)
    ws.cli("add", drive, tmp_path / "tree", check=True)
    out = tmp_path / "out"
    ws.cli("extract", drive, "tree/deep", "tree/empty.bin", "--to", out, check=True)
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert got == ["tree/deep/a/b/c/nested.txt", "tree/empty.bin"]
    again = ws.cli("extract", drive, "tree/empty.bin", "--to", out)
    assert again.returncode == 9 and "already exists" in again.stderr
    (out / "tree" / "empty.bin").write_bytes(b"changed")
    ws.cli("extract", drive, "tree/empty.bin", "--to", out, "--force", check=True)
    assert (out / "tree" / "empty.bin").read_bytes() == expected["tree/empty.bin"]
    missing = ws.cli("extract", drive, "tree/nope", "--to", out)
    assert missing.returncode == 16


def test_add_refuses_existing_path_unless_replace(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    src = tmp_path / "report.csv"
    src.write_text("v1\n")
    ws.create_fast(drive)
    ws.cli("add", drive, src, check=True)
    src.write_text("version two\n")
    refused = ws.cli("add", drive, src)
    assert refused.returncode == 9 and "--replace" in refused.stderr
    ws.cli("add", drive, src, "--replace", check=True)
    listing = json.loads(ws.cli("ls", drive, "--json", check=True).stdout)
    assert [(x["path"], x["size"]) for x in listing] == [("report.csv", len("version two\n"))]
    out = tmp_path / "out"
    ws.cli("extract", drive, "--to", out, check=True)
    assert (out / "report.csv").read_text() == "version two\n"


@pytest.mark.parametrize("vault_arg", ["root", "medvault-folder"])
def test_vault_may_be_drive_root_or_medvault_folder(
    ws: Workspace, drive: Path, tmp_path: Path, vault_arg: str
) -> None:
    ws.create_fast(drive)
    target = drive if vault_arg == "root" else drive / "MEDVAULT"
    src = tmp_path / "f.txt"
    src.write_text("hello")
    ws.cli("add", target, src, check=True)
    assert "f.txt" in ws.cli("ls", target, check=True).stdout
