"""The everyday commands through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Workspace


def test_create_add_ls_extract_verify(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    src = tmp_path / "export"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("patient,dob\n")
    (src / "sub" / "b.txt").write_bytes(b"x" * 40000)
    ws.cli("create", drive, "--label", "t", check=True)
    added = ws.cli("add", drive, src, "-v", check=True)
    assert "added export/a.csv" in added.stdout
    listing = json.loads(ws.cli("ls", drive, "--json", check=True).stdout)
    assert [x["path"] for x in listing] == ["export/a.csv", "export/sub/b.txt"]
    out = tmp_path / "out"
    ws.cli("extract", drive, "--to", out, check=True)
    assert (out / "export" / "sub" / "b.txt").read_bytes() == b"x" * 40000
    assert ws.cli("verify", drive).returncode == 0
