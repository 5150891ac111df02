"""The lost-drive report's `key_not_on_drive` finding fails
when a key cached by `unlock --remember` may have travelled with the drive: a `remember`
event whose expiry is after the drive was last seen, with no later `lock` from the same
workstation. The events are written straight into a registry (times and hosts chosen);
the keyring itself is exercised in tests/cli/test_keycache_expiry.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from medvault.keys.passphrase import to_secret
from medvault.registry.records import Actor, Event
from medvault.registry.sql import Registry
from medvault.reports import lost
from medvault.vault.create import create_vault
from medvault.vault.env import Env, iso
from medvault.vault.incidents import mark_lost
from tests.conftest import FAST_KDF, PASSPHRASE, Workspace

T = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
LAPTOP = Actor("pat", "laptop-7")
DESK = Actor("sam", "desk-2")


def _at(minutes: int) -> str:
    return iso(T + timedelta(minutes=minutes))


def _remember(minutes: int, until: object, by: Actor = LAPTOP) -> tuple[int, Actor, str, dict]:
    expires = iso(T + timedelta(minutes=until)) if isinstance(until, int) else until
    return minutes, by, "remember", {"expires": expires, "backend": "keyring.backends"}


def _act(minutes: int, by: Actor, action: str) -> tuple[int, Actor, str, dict]:
    return minutes, by, action, {}


# (events after the create at T, discovered (minutes after T), holds?)
CASES = {
    "remembered, never locked": ([_remember(1, 480)], 120, False),
    "locked on that workstation": ([_remember(1, 480), _act(30, LAPTOP, "lock")], 120, True),
    "locked on another workstation": ([_remember(1, 480), _act(30, DESK, "lock")], 120, False),
    "locked before it was remembered": (
        [_act(1, LAPTOP, "lock"), _remember(2, 480)],
        120,
        False,
    ),
    "expired before the drive was last seen": (
        [_remember(1, 60), _act(300, DESK, "add")],
        360,
        True,
    ),
    "expired after the drive was last seen": (
        [_act(10, DESK, "add"), _remember(20, 60)],
        600,
        False,
    ),
    "expiry that cannot be read": ([_remember(1, "soon")], 120, False),
    "nothing remembered": ([_act(5, DESK, "add")], 120, True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_remembered_key_that_may_travel_with_the_drive_makes_it_reportable(
    ws: Workspace, tmp_path: Path, case: str
) -> None:
    events, discovered, holds = CASES[case]
    registry = Registry.for_path(tmp_path / "registry.sqlite")
    drive = tmp_path / "drive"
    drive.mkdir()
    made = create_vault(
        drive, "", to_secret(PASSPHRASE), ws.org, registry, Env(kdf=FAST_KDF, now=lambda: T)
    )
    for n, (minutes, actor, action, details) in enumerate(events):
        event_id = f"{n + 1:032x}"
        registry.append_event(Event(event_id, _at(minutes), actor, made.vault_id, action, details))
    recorded = T + timedelta(minutes=discovered + 30)
    event = mark_lost(
        registry,
        Env(now=lambda: recorded),
        made.vault_id,
        T + timedelta(minutes=discovered),
        "Pat Privacy",
    )
    stored = next(s for s in registry.events(made.vault_id) if s.event.event_id == event.event_id)
    vault = registry.vault(made.vault_id)
    assert vault is not None
    report = lost.build(registry, vault, stored, "Org", "org", iso(recorded))
    finding = next(f for f in report.findings if f.key == "key_not_on_drive")
    assert finding.holds is holds
    assert report.determination.conclusion == (lost.m.SECURED if holds else lost.m.REPORTABLE)
    remembered = [e for e in finding.evidence if ": remember at " in e]
    assert len(remembered) == sum(1 for e in events if e[2] == "remember")
    if not holds:
        assert "unlock --remember" in finding.statement
        assert finding.statement in report.determination.reasons
        assert any("no later lock on laptop-7" in e for e in remembered)
