"""The lost-drive report's test harness: a real SQLite custody registry with one vault
recorded, crafted events appended in the order written, and the report built in-process
the way `incident lost` builds it (`lost.build`).

A registry's schema takes ~0.2 s to create and a copy ~0.005 s, so a module records its
vault once (`record_vault`, in a module-scoped fixture) and each test opens a copy of
that file (`registry_copy`) behind a `Book`.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from medvault.config import DEFAULT_PASSPHRASE_POLICY, PassphrasePolicy
from medvault.registry.records import Actor, Event, KeyPackage, StoredEvent
from medvault.registry.sql import Registry
from medvault.reports import lost
from medvault.reports.lost_model import Finding, LostDriveReport
from tests.conftest import Workspace

KEY = "1111222233334444"
SUITE = "mlkem768-x25519"
ALICE = Actor("alice", "ws-01", "Alice Admin")
BOB = Actor("bob", "ws-02")
CREATED = "2026-11-01T09:00:00.000000Z"
DISCOVERED = "2026-11-20T08:30:00Z"
LOST_AT = "2026-11-20T09:00:00.000000Z"
GENERATED = "2026-11-21T00:00:00Z"  # when the report is made
MET = {
    "min_length": 15, "min_guesses_log10": 12.0, "guesses_log10": 14.5,
    "estimator": "zxcvbn 4.5.0", "met": True,
}  # fmt: skip
KDF = {"alg": "argon2id", "t": 3, "m_kib": 65536, "p": 4}
CREATE = {"kdf": KDF, "passphrase_policy": MET, "escrow_key_ids": [KEY]}
# Book.add's vault when none is named: the book's own (no vault for escrow-compromised,
# which names an escrow key, as medvault records it).
OWN_VAULT = "the book's vault"


def ref(s: StoredEvent) -> str:
    """An event as the report's evidence names it."""
    ev = s.event
    return f"event {s.seq}: {ev.action} at {ev.at} by {ev.actor.describe()} on {ev.actor.host}"


def record_vault(path: Path, vault_id: str, org_id: str = "org-1") -> Registry:
    """A new registry at PATH with VAULT_ID recorded ("Lab exports", created by ALICE at
    CREATED, its key sealed to the escrow key KEY); the caller closes it."""
    registry = Registry.for_path(path)
    package = KeyPackage(vault_id, KEY, SUITE, b"sealed")
    registry.record_vault(vault_id, "Lab exports", org_id, CREATED, ALICE, [package])
    return registry


@contextmanager
def registry_copy(template: Path, folder: Path) -> Iterator[Registry]:
    """The registry file TEMPLATE copied into FOLDER and opened, closed after use."""
    shutil.copy(template, folder / "registry.sqlite")
    registry = Registry.for_path(folder / "registry.sqlite")
    try:
        yield registry
    finally:
        registry.close()


def append(
    registry: Registry,
    action: str,
    at: str,
    details: dict[str, Any],
    actor: Actor,
    vault: str | None,
) -> str:
    """Record one event as a workstation would; returns its event id."""
    event = Event(uuid.uuid4().hex, at, actor, vault, action, details)
    registry.append_event(event)
    return event.event_id


def build(
    registry: lost.ReportRegistry,
    vault_id: str,
    lost_event: StoredEvent,
    org_id: str = "org-1",
    time_zone: str | None = None,
    policy: PassphrasePolicy = DEFAULT_PASSPHRASE_POLICY,
) -> LostDriveReport:
    """The report on LOST_EVENT, as `incident lost` builds it for "Test Clinic"."""
    vault = registry.vault(vault_id)
    assert vault is not None
    return lost.build(
        registry, vault, lost_event, "Test Clinic", org_id, GENERATED,
        time_zone=time_zone, passphrase_policy=policy,
    )  # fmt: skip


@dataclass
class Book:
    """A registry with VAULT recorded; events are appended in the order written."""

    registry: Registry
    vault: str
    incident_id: str  # the lost event's, unless `lose` is given its details
    org_id: str = "org-1"
    time_zone: str | None = None  # the report's, unless `report` is given one
    check: Callable[[LostDriveReport], None] | None = None  # run on every report made
    lost_event: StoredEvent | None = None

    def add(
        self,
        action: str,
        at: str,
        details: dict[str, Any] | None = None,
        actor: Actor = ALICE,
        vault: str | None = OWN_VAULT,
    ) -> StoredEvent:
        if vault == OWN_VAULT:
            vault = None if action == "escrow-compromised" else self.vault
        event_id = append(self.registry, action, at, dict(details or {}), actor, vault)
        return next(s for s in self.registry.events() if s.event.event_id == event_id)

    def lose_after(self, events: list[tuple[str, dict[str, Any]]]) -> StoredEvent:
        """Each (action, details) of EVENTS, in order and all at CREATED, then the loss."""
        for action, details in events:
            self.add(action, CREATED, details)
        return self.lose()

    def lose(
        self,
        details: dict[str, Any] | None = None,
        discovered: str = DISCOVERED,
        at: str = LOST_AT,
    ) -> StoredEvent:
        """The lost event, with DETAILS as recorded or else the book's incident id,
        DISCOVERED and a reporter."""
        if details is None:
            details = {"incident_id": self.incident_id, "discovered_at": discovered,
                       "reported_by": "Pat P"}  # fmt: skip
        self.lost_event = self.add("lost", at, details)
        return self.lost_event

    def report(
        self, policy: PassphrasePolicy = DEFAULT_PASSPHRASE_POLICY, time_zone: str | None = None
    ) -> LostDriveReport:
        assert self.lost_event is not None
        zone = time_zone if time_zone is not None else self.time_zone
        report = build(self.registry, self.vault, self.lost_event, self.org_id, zone, policy)
        if self.check is not None:
            self.check(report)
        return report

    def finding(self, key: str, **kwargs: Any) -> Finding:
        return next(f for f in self.report(**kwargs).findings if f.key == key)


def policy_finding(
    ws: Workspace, vault_id: str, policy: PassphrasePolicy = DEFAULT_PASSPHRASE_POLICY
) -> Finding:
    """The passphrase-policy finding of a lost-drive report on the workspace's vault
    VAULT_ID under POLICY, the loss recorded at the vault's create event (so every later
    event is before it) and discovered on 2026-12-01."""
    registry = ws.registry()
    try:
        vault = registry.vault(vault_id)
        assert vault is not None
        create = next(s for s in registry.events(vault_id) if s.event.action == "create")
        details = {"incident_id": "00", "discovered_at": "2026-12-01T08:30:00Z", "reported_by": "x"}
        lost_event = replace(create, event=replace(create.event, action="lost", details=details))
        report = lost.build(
            registry, vault, lost_event, "Test Clinic", "org", "2026-12-02T00:00:00Z",
            passphrase_policy=policy,
        )  # fmt: skip
    finally:
        registry.close()
    return next(f for f in report.findings if f.key == "passphrase_policy")
