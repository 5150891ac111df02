"""A lost-drive report of a real vault with declared contents, as the deadline and report
text tests build it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from medvault.reports import lost
from medvault.reports import lost_model as m
from medvault.vault.custody import declare, parse_declared
from medvault.vault.env import Env
from medvault.vault.incidents import mark_lost
from tests.conftest import Workspace

LA = "America/Los_Angeles"


def declared_loss_report(ws: Workspace, drive: Path, zone: str | None) -> m.LostDriveReport:
    """A real vault, declarations and loss in a real registry, reported with ZONE."""
    vault_id = ws.create_fast(drive, "Lab exports")
    registry = ws.registry()
    try:
        declared = parse_declared(620, ("CA=550", "NV=70"), ("lab-results", "demographics"))
        declare(registry, Env(), vault_id, declared, "declare")
        event = mark_lost(
            registry, Env(), vault_id, datetime.fromisoformat("2026-12-04T16:30-08:00"), "Pat"
        )
        stored = next(s for s in registry.events(vault_id) if s.event.event_id == event.event_id)
        record = registry.vault(vault_id)
        assert record is not None
        org = ws.org
        return lost.build(
            registry, record, stored, org.name, org.org_id, Env().timestamp(), time_zone=zone
        )
    finally:
        registry.close()
