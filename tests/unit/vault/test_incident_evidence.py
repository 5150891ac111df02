"""Evidence is never overwritten: `incident lost` refuses an --out that
holds anything, a second report of a lost vault adds to its open incident, and the
registry's recorded checksums match the files written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from medvault.cli.incident_cmd import write_pack
from medvault.errors import AlreadyExists
from tests.conftest import Workspace

FIRST = "2026-11-20T08:30:00Z"
EARLIER = "2026-11-18T09:00:00Z"


def _lost(ws: Workspace, vault: str, out: Path, at: str = FIRST, by: str = "Pat Privacy") -> str:
    result = ws.cli(
        "incident", "lost", vault, "--discovered-at", at, "--reported-by", by,
        "--out", out, "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _actions(ws: Workspace, vault_id: str) -> list[str]:
    registry = ws.registry()
    try:
        return [s.event.action for s in registry.events(vault_id)]
    finally:
        registry.close()


def test_a_rerun_with_the_same_out_is_refused_and_the_pack_stays(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    vault_id = ws.create_fast(drive, "Lab exports")
    pack = tmp_path / "pack"
    _lost(ws, vault_id, pack)
    before = _snapshot(pack)
    assert set(before) == {"report.json", "report.html"}
    again = ws.cli(
        "incident", "lost", vault_id, "--discovered-at", FIRST, "--reported-by", "Pat Privacy",
        "--out", pack,
    )  # fmt: skip
    assert again.returncode == 9, again.stderr
    assert "evidence is never overwritten" in again.stderr
    assert _snapshot(pack) == before  # byte-identical
    # Refused before anything was recorded: one incident, one pack.
    assert _actions(ws, vault_id)[-2:] == ["lost", "evidence-pack"]
    assert _actions(ws, vault_id).count("lost") == 1


@pytest.mark.parametrize("kind", ["file", "folder-with-a-note"])
def test_an_out_that_holds_anything_is_refused(
    ws: Workspace, drive: Path, tmp_path: Path, kind: str
) -> None:
    vault_id = ws.create_fast(drive)
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("keep me")
        victim = out
    else:
        out.mkdir()
        victim = out / "notes.txt"
        victim.write_text("keep me")
    refused = ws.cli(
        "incident", "lost", vault_id, "--discovered-at", FIRST, "--reported-by", "x",
        "--out", out,
    )  # fmt: skip
    # A file is refused as a usage error (2) before medvault runs; a folder with files, 9.
    assert refused.returncode == (2 if kind == "file" else 9), refused.stderr
    assert victim.read_text() == "keep me"
    assert "lost" not in _actions(ws, vault_id)  # no incident opened
    empty = tmp_path / "empty"
    empty.mkdir()
    _lost(ws, vault_id, empty)  # an empty folder is fine
    assert (empty / "report.json").is_file()


def test_pack_files_are_never_replaced_even_if_they_appear_late(tmp_path: Path) -> None:
    (tmp_path / "report.html").write_text("first")
    with pytest.raises(AlreadyExists):
        write_pack(tmp_path, {"report.json": "{}", "report.html": "second"})
    assert (tmp_path / "report.html").read_text() == "first"


def test_a_second_report_adds_to_the_open_incident_and_checksums_match(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    vault_id = ws.create_fast(drive)
    first = json.loads(_lost(ws, vault_id, tmp_path / "pack1"))
    second = json.loads(_lost(ws, vault_id, tmp_path / "pack2", EARLIER, "Sam Security"))
    assert first["added_to_open_incident"] is False
    assert second["added_to_open_incident"] is True
    assert second["incident_id"] == first["incident_id"]
    actions = _actions(ws, vault_id)
    assert actions.count("lost") == 1
    assert actions[-4:] == ["lost", "evidence-pack", "lost-reported", "evidence-pack"]
    # The clock starts at the earliest discovery reported for the incident.
    report2 = json.loads((tmp_path / "pack2" / "report.json").read_text())
    assert report2["incident"]["incident_id"] == first["incident_id"]
    assert report2["incident"]["discovered_at"].startswith("2026-11-18T09:00:00")
    assert first["notify_individuals_by"] > second["notify_individuals_by"]

    registry = ws.registry()
    try:
        packs = [s.event for s in registry.events(vault_id) if s.event.action == "evidence-pack"]
    finally:
        registry.close()
    assert len(packs) == 2
    for event, folder in zip(packs, ("pack1", "pack2"), strict=True):
        assert event.details["incident_id"] == first["incident_id"]
        on_disk = {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (tmp_path / folder).iterdir()
        }
        assert event.details["sha256"] == on_disk

    # Once found, the incident is closed: a new loss opens a new incident.
    ws.cli("incident", "found", vault_id, "--reason", "handed in", check=True)
    third = json.loads(_lost(ws, vault_id, tmp_path / "pack3"))
    assert third["added_to_open_incident"] is False
    assert third["incident_id"] != first["incident_id"]
