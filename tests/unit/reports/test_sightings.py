"""A "seen" sighting of a lost vault is recorded as
authenticated only when the vault was unlocked (its header authenticated under the vault
key); a header merely read, which anyone can forge with a lost vault's id, is recorded as
unauthenticated."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import Workspace


def _seen(ws: Workspace, vault_id: str) -> list[dict[str, object]]:
    registry = ws.registry()
    try:
        return [s.event.details for s in registry.events(vault_id) if s.event.action == "seen"]
    finally:
        registry.close()


def _lost_vault(ws: Workspace, drive: Path, tmp_path: Path) -> str:
    vault_id = ws.create_fast(drive, "Lab exports")
    ws.cli(
        "incident", "lost", vault_id, "--discovered-at", "2026-11-20T08:30:00Z",
        "--reported-by", "Pat Privacy", "--out", tmp_path / "pack", check=True,
    )  # fmt: skip
    return vault_id


def test_a_sighting_is_authenticated_only_when_the_vault_was_unlocked(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    vault_id = _lost_vault(ws, drive, tmp_path)
    unlocked = ws.cli("ls", drive)
    assert unlocked.returncode == 0, unlocked.stderr
    looked = ws.cli("info", drive, passphrase=False)
    assert looked.returncode == 0, looked.stderr
    assert "recorded as LOST" in looked.stderr
    seen = _seen(ws, vault_id)
    assert [(s["unlocked"], s["authenticated"]) for s in seen] == [(True, True), (False, False)]


def test_a_copied_header_alone_records_an_unauthenticated_sighting(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    """The forgery of L8: a header carrying the lost vault's id on another stick, looked
    at with `info` (no passphrase)."""
    vault_id = _lost_vault(ws, drive, tmp_path)
    fake = tmp_path / "fake"
    (fake / "MEDVAULT").mkdir(parents=True)
    shutil.copy(drive / "MEDVAULT" / "vault.mvh", fake / "MEDVAULT" / "vault.mvh")
    ws.cli("info", fake, passphrase=False)
    seen = _seen(ws, vault_id)
    assert len(seen) == 1
    assert seen[0]["where"] == str(fake.resolve())
    assert seen[0]["authenticated"] is False


def test_the_report_shows_and_discounts_an_unauthenticated_sighting() -> None:
    """The timeline says whether a sighting was authenticated, and one that was not (or an
    older one made without unlocking) never counts as where the drive was last seen."""
    from medvault.registry.records import Actor, Event, StoredEvent
    from medvault.reports import lost

    def seen(details: dict[str, object]) -> StoredEvent:
        event = Event(
            "0" * 32, "2026-12-01T00:00:00Z", Actor("u", None, "h"), "v" * 32, "seen", details
        )
        return StoredEvent(1, event, event.at, "direct", "0" * 64, "0" * 64)

    assert "authenticated=no" in lost.summarize("seen", {"where": "/x", "authenticated": False})
    assert lost.unauthenticated_sighting(seen({"authenticated": False}))
    assert lost.unauthenticated_sighting(seen({"unlocked": False}))  # before the flag existed
    assert not lost.unauthenticated_sighting(seen({"authenticated": True}))
