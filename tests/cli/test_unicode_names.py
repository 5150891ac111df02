"""Names not in composed Unicode (NFC), as macOS writes them (decomposed, NFD): stored
composed, as the format requires, and never silently: `add`, `cp`, `export` and
`scan --into` name each one on stderr and list it under `renamed` in --json."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from tests.conftest import Workspace
from tests.support.export import run_export
from tests.support.files import write_tree
from tests.support.planted_phi import NOTE

COMPOSED = "Caf\u00e9 r\u00e9sum\u00e9.txt"  # é as one code point
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)  # e followed by a combining acute


def _warnings(stderr: str) -> list[str]:
    """The warnings about names (export also warns that CMD can read a passphrase file)."""
    return [
        line
        for line in stderr.splitlines()
        if line.startswith("medvault: warning: ") and "Unicode" in line
    ]


def test_add_names_each_name_it_stores_composed_and_lists_it_in_json(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    assert DECOMPOSED != COMPOSED
    src = tmp_path / "notes"
    src.mkdir()
    (src / DECOMPOSED).write_text("from a Mac\n")
    (src / "plain.txt").write_text("ascii name\n")
    ws.create_fast(drive)

    added = ws.cli("add", drive, src, "--json")
    assert added.returncode == 0, added.stderr
    [warning] = _warnings(added.stderr)
    assert f"the name of {src / DECOMPOSED} is not in composed Unicode (NFC)" in warning
    assert f"stored as notes/{COMPOSED} and extracted under that name" in warning
    out = json.loads(added.stdout)
    assert out["renamed"] == [{"source": str(src / DECOMPOSED), "stored": f"notes/{COMPOSED}"}]
    assert sorted(x["path"] for x in out["added"]) == [f"notes/{COMPOSED}", "notes/plain.txt"]

    listed = json.loads(ws.cli("ls", drive, "--json", check=True).stdout)
    assert f"notes/{COMPOSED}" in [x["path"] for x in listed]

    again = tmp_path / "again"
    again.mkdir()
    (again / DECOMPOSED).write_text("cp too\n")
    copied = ws.cli("cp", again, drive)
    assert copied.returncode == 0, copied.stderr
    [warning] = _warnings(copied.stderr)
    assert f"stored as again/{COMPOSED}" in warning
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("nothing to say\n")
    quiet = ws.cli("add", drive, plain, "--json", check=True)
    assert _warnings(quiet.stderr) == []
    assert json.loads(quiet.stdout)["renamed"] == []


def test_many_renamed_names_are_counted_with_the_first_few(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    src = write_tree(tmp_path / "many", {f"{i}-{DECOMPOSED}": f"{i}\n" for i in range(8)})
    ws.create_fast(drive)
    added = ws.cli("add", drive, src, "--json")
    assert added.returncode == 0, added.stderr
    [warning] = _warnings(added.stderr)
    assert "8 names are not in composed Unicode (NFC)" in warning
    assert f"{src / ('0-' + DECOMPOSED)}, {src / ('1-' + DECOMPOSED)}" in warning
    assert "and 5 more; --json lists them all" in warning
    renamed = json.loads(added.stdout)["renamed"]
    assert [x["stored"] for x in renamed] == [f"many/{i}-{COMPOSED}" for i in range(8)]


def test_two_names_that_differ_only_in_normalization_are_refused(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    src = tmp_path / "both"
    src.mkdir()
    (src / COMPOSED).write_text("composed\n")
    (src / DECOMPOSED).write_text("decomposed\n")
    ws.create_fast(drive)
    refused = ws.cli("add", drive, src)
    assert refused.returncode == 2, refused.stderr
    assert f"would both be stored as both/{COMPOSED}" in refused.stderr
    assert json.loads(ws.cli("ls", drive, "--json", check=True).stdout) == []


def test_export_stores_a_decomposed_name_composed_and_says_so(
    ws: Workspace, drive: Path, tmp_path: Path, shm: Path
) -> None:
    script = tmp_path / "report.sh"
    script.write_text(f'#!/bin/sh\nprintf "week 47\\n" > "$1/{DECOMPOSED}"\n')
    script.chmod(0o755)
    ws.create_fast(drive)
    result = run_export(ws, shm, drive, "--name", "weekly", "--json", "--", script, "{}")
    assert result.returncode == 0, result.stderr
    [warning] = _warnings(result.stderr)
    assert f"the name of {DECOMPOSED} is not in composed Unicode (NFC)" in warning
    out = json.loads(result.stdout)
    stored = f"{out['stored_under']}{COMPOSED}"
    assert out["renamed"] == [{"source": DECOMPOSED, "stored": stored}]
    assert [x["path"] for x in out["files"]] == [stored]


def test_scan_into_stores_a_decomposed_name_composed_and_says_so(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    dirty = tmp_path / "dirty"
    dirty.mkdir()
    (dirty / DECOMPOSED).write_text("\n".join(NOTE) + "\n")
    ws.create_fast(drive)
    result = ws.cli("scan", dirty, "--into", drive, "--json")
    assert result.returncode == 1, result.stderr  # found, and moved
    [warning] = _warnings(result.stderr)
    assert f"the name of {DECOMPOSED} is not in composed Unicode (NFC)" in warning
    moved = json.loads(result.stdout)["moved"]
    stored = f"{moved['stored_under']}{COMPOSED}"
    assert moved["renamed"] == [{"source": DECOMPOSED, "stored": stored}]
    assert [x["stored"] for x in moved["files"]] == [stored]
