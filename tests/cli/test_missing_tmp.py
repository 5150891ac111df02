"""A vault copied by a tool that skips empty folders has no tmp/ folder: every command that
writes makes it again, and nothing is lost."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import Workspace


def test_commands_that_write_make_tmp_again(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    ws.create_fast(drive)
    tmp = drive / "MEDVAULT" / "tmp"
    source = tmp_path / "notes"
    source.mkdir()
    (source / "a.txt").write_text("alpha\n")
    (source / "b.txt").write_text("bravo\n")
    for command in (("add", drive, source), ("rm", drive, "notes/a.txt"), ("compact", drive)):
        shutil.rmtree(tmp)
        ws.cli(*command, check=True)
        assert tmp.is_dir(), command
    out = tmp_path / "out"
    ws.cli("extract", drive, "--to", out, check=True)
    assert (out / "notes" / "b.txt").read_text() == "bravo\n"
    assert not (out / "notes" / "a.txt").exists()
    assert ws.cli("verify", drive).returncode == 0
