"""A lost-drive incident read back from registry events that `incident lost` did not
write: a report of the loss never crashes on them. An opening event without its incident
id or a readable discovery is a registry fault (exit 11) naming the event; a later report
whose discovery cannot be read does not move the 60-day clock."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from medvault.registry.records import Event
from medvault.vault.env import current_actor
from tests.conftest import Workspace

DISCOVERED = "2026-12-04T16:30:00Z"


def _create(ws: Workspace, tmp_path: Path) -> str:
    drive = tmp_path / "drive"
    drive.mkdir()
    return ws.create_fast(drive, "Lab exports")


def _report(
    ws: Workspace, vault_id: str, out: Path, discovered: str = DISCOVERED
) -> tuple[int, str, str]:
    result = ws.cli(
        "incident", "lost", vault_id, "--discovered-at", discovered, "--reported-by", "Pat",
        "--out", out, "--json", passphrase=False,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def _flag_lost(ws: Workspace, vault_id: str, details: dict[str, object]) -> None:
    """A `lost` event as a foreign writer might have put it, with the vault flagged lost."""
    registry = ws.registry()
    try:
        event = Event(uuid.uuid4().hex, DISCOVERED, current_actor(), vault_id, "lost", details)
        assert registry.append_event_changing_status(event, "lost")
    finally:
        registry.close()


def test_an_opening_event_without_an_incident_id_is_a_registry_fault(
    ws: Workspace, tmp_path: Path
) -> None:
    vault_id = _create(ws, tmp_path)
    _flag_lost(ws, vault_id, {"discovered_at": DISCOVERED, "reported_by": "Pat"})
    code, _, err = _report(ws, vault_id, tmp_path / "pack")
    assert code == 11, err
    assert "records no readable incident_id" in err
    assert "Traceback" not in err and "KeyError" not in err


def test_an_opening_event_without_a_readable_discovery_is_a_registry_fault(
    ws: Workspace, tmp_path: Path
) -> None:
    vault_id = _create(ws, tmp_path)
    _flag_lost(ws, vault_id, {"incident_id": "INC-1", "discovered_at": 20261204})
    code, _, err = _report(ws, vault_id, tmp_path / "pack")
    assert code == 11, err
    assert "records no readable discovered_at" in err


def test_a_later_report_with_an_unreadable_discovery_does_not_move_the_clock(
    ws: Workspace, tmp_path: Path
) -> None:
    vault_id = _create(ws, tmp_path)
    code, out, err = _report(ws, vault_id, tmp_path / "pack1")
    assert code == 0, err
    incident = json.loads(out)["incident_id"]
    for bad in ("yesterday", 5, None, "2026-12-01T10:00:00"):  # no zone: not read either
        details = {"incident_id": incident, "discovered_at": bad}
        ws.append_event(vault_id, "lost-reported", DISCOVERED, details)
    code, out, err = _report(ws, vault_id, tmp_path / "pack2", "2026-12-05T09:00:00Z")
    assert code == 0, err
    report = json.loads((tmp_path / "pack2" / "report.json").read_text())
    assert report["deadlines"]["discovered_at"] == "2026-12-04T16:30:00.000000Z"
