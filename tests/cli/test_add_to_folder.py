"""`add --to FOLDER` and `cp SRC... VAULT:FOLDER` store under a folder in the vault; add,
cp and extract print one summary line unless -v; human `ls` shows local times."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from medvault.config import render_org_toml
from tests.conftest import Workspace


def _src(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a\n")
    (src / "sub" / "b.txt").write_text("b\n")
    return src


def _listed(ws: Workspace, drive: Path) -> list[str]:
    return [x["path"] for x in json.loads(ws.cli("ls", drive, "--json", check=True).stdout)]


def test_add_to_and_cp_vault_colon_folder_store_under_the_folder(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """add --to FOLDER and cp SRC VAULT:FOLDER put the sources under FOLDER, normalised
    like stored paths (surrounding slashes dropped, composed Unicode); VAULT: alone is the
    vault's top."""
    src = _src(tmp_path)
    ws.create_fast(drive)
    ws.cli("add", drive, src, "--to", "/reports/2026/", check=True)
    ws.cli("cp", src / "a.txt", f"{drive}:cafe\u0301/x", check=True)
    ws.cli("cp", src / "sub", f"{drive}:", check=True)
    assert _listed(ws, drive) == [
        "caf\u00e9/x/a.txt",
        "reports/2026/src/a.txt",
        "reports/2026/src/sub/b.txt",
        "sub/b.txt",
    ]


def test_an_unsafe_folder_is_refused_and_nothing_is_written(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """A FOLDER with '..', '.', an empty part or a backslash is refused with exit 14 before
    the passphrase is asked; the vault is unchanged."""
    src = _src(tmp_path)
    ws.create_fast(drive)
    before = sorted(p.name for p in (drive / "MEDVAULT").rglob("*"))
    for args in (
        ["add", drive, src, "--to", "../up"],
        ["add", drive, src, "--to", "a//b"],
        ["add", drive, src, "--to", "a/./b"],
        ["cp", src, f"{drive}:x/../../y"],
        ["cp", src, f"{drive}:a\\b"],
    ):
        result = ws.cli(*args, passphrase=False)
        assert result.returncode == 14, (args, result.stderr)
        assert "is not a folder a vault can hold" in result.stderr
    assert sorted(p.name for p in (drive / "MEDVAULT").rglob("*")) == before


def test_add_cp_and_extract_print_a_summary_and_each_file_only_with_verbose(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """By default add, cp and extract print no line per file, one summary line on stderr;
    with -v each file gets its "added PATH" or "extracted PATH" line on stdout."""
    src = _src(tmp_path)
    ws.create_fast(drive)
    quiet = ws.cli("add", drive, src, check=True)
    assert quiet.stdout == ""
    assert "2 file(s), 4 bytes added to vault" in quiet.stderr
    loud = ws.cli("cp", "-v", src / "a.txt", f"{drive}:again", check=True)
    assert loud.stdout == "added again/a.txt\n"
    out = tmp_path / "out"
    extracted = ws.cli("extract", drive, "src", "--to", out, check=True)
    assert extracted.stdout == ""
    assert "2 file(s), 4 bytes extracted to" in extracted.stderr
    listed = ws.cli("extract", drive, "again", "--to", tmp_path / "out2", "-v", check=True)
    assert listed.stdout == f"extracted {tmp_path / 'out2' / 'again' / 'a.txt'}\n"


def test_ls_shows_local_times_with_their_offset_and_json_stays_utc(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """Human ls shows each time on the organisation's clock (time_zone in org.toml, not
    this computer's) with its UTC offset; --json keeps the UTC ISO 8601 time."""
    ws.org_created.config_path.write_text(
        render_org_toml(replace(ws.org, time_zone="Asia/Kolkata"))
    )
    src = _src(tmp_path)
    ws.create_fast(drive)
    ws.cli("add", drive, src, check=True)
    (item, _) = json.loads(ws.cli("ls", drive, "--json", check=True).stdout)
    assert item["added_at"].endswith("Z")
    moment = datetime.fromisoformat(item["added_at"].replace("Z", "+00:00"))
    local = moment.astimezone(ZoneInfo("Asia/Kolkata"))
    human = ws.cli("ls", drive, extra_env={"TZ": "America/Los_Angeles"}, check=True).stdout
    first = human.splitlines()[0]
    assert f"{local:%Y-%m-%d %H:%M:%S} +05:30  src/a.txt" in first
