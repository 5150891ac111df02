"""Incidents that decide whether a lost drive is a reportable breach: the loss itself, a
lost drive seen again, a disclosed passphrase or recovery code, a compromised escrow key,
and plaintext PHI found on a drive. Each is an event in the hash chain."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Protocol

from medvault.crypto.symmetric import random_bytes
from medvault.engine.session import UnlockedVault
from medvault.errors import NotFound, RegistryError, UsageError
from medvault.registry.actions import Action
from medvault.registry.records import Event, EventSink, StoredEvent, VaultRecord
from medvault.vault.custody import new_event, record
from medvault.vault.env import Env, iso

SECRETS = ("passphrase", "recovery-code")


class IncidentRegistry(EventSink, Protocol):
    def vault(self, vault_id: str) -> VaultRecord | None: ...

    def set_vault_status(self, vault_id: str, status: str) -> None: ...


class LostRegistry(IncidentRegistry, Protocol):
    def events(
        self, vault_id: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[StoredEvent]: ...

    def append_event_changing_status(self, ev: Event, status: str) -> bool: ...


@dataclass(frozen=True)
class LostIncident:
    """The open incident of a lost vault after one more report of the loss."""

    opened: StoredEvent  # the "lost" event that opened it; its incident_id names it
    discovered_at: str  # the earliest discovery reported for it: the 60-day clock
    added: bool  # this report added to an incident that was already open

    @property
    def incident_id(self) -> str:
        return _recorded_text(self.opened, "incident_id")

    def as_reported(self) -> StoredEvent:
        """The opening event with the earliest discovery, for the report's deadlines."""
        details = {**self.opened.event.details, "discovered_at": self.discovered_at}
        return replace(self.opened, event=replace(self.opened.event, details=details))


def parse_moment(
    text: str,
    what: str,
    now: datetime,
    allow_future: bool = False,
    zone: tzinfo = UTC,
) -> datetime:
    """An ISO date or date-time, read in ZONE unless it carries its own offset (the
    organisation's time zone for a discovery: a clinic's "2026-12-04T16:30" is its own
    afternoon), not in the future unless ALLOW_FUTURE (the end of a report period may be)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what}: expected a date like 2026-11-20 or 2026-11-20T14:30") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if moment > now and not allow_future:
        raise UsageError(f"{what} is in the future")
    return moment.astimezone(UTC)


def known_vault(registry: IncidentRegistry, vault_id: str) -> VaultRecord:
    found = registry.vault(vault_id.lower())
    if found is None:
        raise NotFound(
            f"vault {vault_id} is not in this custody registry",
            hint="check the id (medvault info on the drive, or the vault's README); "
            "or use the organisation's central registry (MEDVAULT_REGISTRY)",
        )
    return found


def mark_lost(
    registry: IncidentRegistry,
    env: Env,
    vault_id: str,
    discovered_at: datetime,
    reported_by: str,
) -> Event:
    vault = known_vault(registry, vault_id)
    event = _lost_event(env, vault, discovered_at, reported_by)
    registry.append_event(event)
    registry.set_vault_status(vault.vault_id, "lost")
    return event


def _lost_event(env: Env, vault: VaultRecord, discovered_at: datetime, reported_by: str) -> Event:
    if not reported_by.strip():
        raise UsageError("--reported-by must name a person")
    details = {
        "incident_id": random_bytes(8).hex(),
        "discovered_at": iso(discovered_at),
        "reported_by": reported_by.strip(),
        "status_before": vault.status,
    }
    return new_event(env, vault.vault_id, Action.LOST, details)


def report_lost(
    registry: LostRegistry,
    env: Env,
    vault_id: str,
    discovered_at: datetime,
    reported_by: str,
) -> LostIncident:
    """Open an incident for a lost vault, or, when one is open already (the vault is still
    flagged lost), add this report to it: one loss is one incident, however often it is
    reported."""
    vault = known_vault(registry, vault_id)
    if vault.status != "lost":
        event = _lost_event(env, vault, discovered_at, reported_by)
        # Flag and record in one step: of two reports at once, one opens the incident and
        # the other (which then finds the vault lost) adds to it.
        if registry.append_event_changing_status(event, "lost"):
            stored = _stored(registry, vault.vault_id, event.event_id)
            return LostIncident(stored, str(event.details["discovered_at"]), added=False)
        vault = known_vault(registry, vault_id)
    opened = _open_incident(registry, vault)
    if opened is None:  # pragma: no cover - a lost vault always has its "lost" event
        raise NotFound(f"vault {vault.vault_id} is flagged lost but has no lost event")
    if not reported_by.strip():
        raise UsageError("--reported-by must name a person")
    incident_id = _recorded_text(opened, "incident_id")
    details = {
        "incident_id": incident_id,
        "discovered_at": iso(discovered_at),
        "reported_by": reported_by.strip(),
    }
    record(registry, env, Action.LOST_REPORTED, details, vault_id=vault.vault_id)
    # Every report of this incident whose discovery can be read (the opening one must be);
    # the earliest starts the 60-day clock.
    reports = [
        s
        for s in registry.events(vault.vault_id)
        if s.event.action in (Action.LOST, Action.LOST_REPORTED)
        and s.event.details.get("incident_id") == incident_id
    ]
    times = [t for s in reports if (t := _discovery(s)) is not None]
    earliest = min([_recorded_discovery(opened), *times], key=_instant)
    return LostIncident(opened, earliest, added=True)


def _open_incident(registry: LostRegistry, vault: VaultRecord) -> StoredEvent | None:
    """The "lost" event of the vault's open incident: the last one while it is flagged
    lost (`incident found` clears the flag and so closes the incident)."""
    if vault.status != "lost":
        return None
    opened = [s for s in registry.events(vault.vault_id) if s.event.action == Action.LOST]
    return opened[-1] if opened else None


def _stored(registry: LostRegistry, vault_id: str, event_id: str) -> StoredEvent:
    return next(s for s in registry.events(vault_id) if s.event.event_id == event_id)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _recorded_text(stored: StoredEvent, key: str) -> str:
    """KEY of a lost event, which `incident lost` always writes as text: without it the
    event was not written by medvault, a registry fault (exit 11), never a KeyError."""
    value = stored.event.details.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _unreadable(stored, key)
    return value


def _recorded_discovery(stored: StoredEvent) -> str:
    """The discovery time a lost event records, as text that reads as a time."""
    value = _discovery(stored)
    if value is None:
        raise _unreadable(stored, "discovered_at")
    return value


def _unreadable(stored: StoredEvent, key: str) -> RegistryError:
    return RegistryError(
        f"event {stored.seq} ({stored.event.action}) records no readable {key}",
        hint="check the registry with `medvault audit verify`",
    )


def _discovery(stored: StoredEvent) -> str | None:
    value = stored.event.details.get("discovered_at")
    if not isinstance(value, str):
        return None
    try:
        moment = _instant(value)
    except ValueError:
        return None
    return value if moment.tzinfo is not None else None


def note_if_lost(
    registry: IncidentRegistry,
    env: Env,
    vault_id: str,
    where: str,
    vault: UnlockedVault | None = None,
) -> Event | None:
    """A drive flagged lost is in someone's hands again: record where, for the incident
    (on the drive's log too when it was unlocked). The sighting is "authenticated" only
    when VAULT is given: its header authenticated under the vault key. A header read
    without the passphrase (`info`) proves nothing: anyone can write one with a lost
    vault's id, which the drive's README prints (security review L8)."""
    found = registry.vault(vault_id)
    if found is None or found.status != "lost":
        return None
    unlocked = vault is not None
    details = {"where": where, "status": "lost", "unlocked": unlocked, "authenticated": unlocked}
    return record(registry, env, Action.SEEN, details, vault=vault, vault_id=vault_id)


def mark_found(registry: IncidentRegistry, env: Env, vault_id: str, reason: str) -> Event:
    """The lost drive is back in the organisation's hands: clear the flag (the incident
    and every sighting stay in the chain)."""
    vault = known_vault(registry, vault_id)
    if vault.status != "lost":
        raise UsageError(f"vault {vault.vault_id} is not recorded as lost ({vault.status})")
    event = _about_vault(registry, env, vault, Action.FOUND, reason)
    registry.set_vault_status(vault.vault_id, "active")
    return event


def record_disclosure(
    registry: IncidentRegistry, env: Env, vault_id: str, secret: str, reason: str
) -> Event:
    """A passphrase or recovery code was written down with the drive, shared, or phished."""
    vault = known_vault(registry, vault_id)
    if secret not in SECRETS:
        raise UsageError(f"--secret must be one of {', '.join(SECRETS)}")
    return _about_vault(registry, env, vault, Action.DISCLOSED, reason, secret=secret)


def record_plaintext_finding(
    registry: IncidentRegistry, env: Env, vault_id: str, files: int, reason: str
) -> Event:
    """Plaintext PHI was found on the same drive, outside the vault."""
    vault = known_vault(registry, vault_id)
    if files < 1:
        raise UsageError("--files must be at least 1")
    return _about_vault(registry, env, vault, Action.PLAINTEXT_FOUND, reason, files=files)


def flag_key_compromised(registry: EventSink, env: Env, key_id: str, reason: str) -> Event:
    """Every vault ever sealed to KEY_ID loses safe harbor from now on (until resealed and
    the drive is back in hand, a lost drive's header still holds a package for it)."""
    key_id = key_id.strip().lower()
    if not key_id:
        raise UsageError("name the escrow key id (medvault org show)")
    return record(
        registry, env, Action.ESCROW_COMPROMISED, {"key_id": key_id, "reason": _reason(reason)}
    )


def _about_vault(
    registry: EventSink,
    env: Env,
    vault: VaultRecord,
    action: Action,
    reason: str,
    **details: object,
) -> Event:
    """Record ACTION about VAULT: DETAILS and the REASON, which must be given."""
    return record(
        registry, env, action, {**details, "reason": _reason(reason)}, vault_id=vault.vault_id
    )


def _reason(reason: str) -> str:
    if not reason.strip():
        raise UsageError("--reason is required")
    return reason.strip()[:500]


def record_evidence_pack(
    registry: EventSink, env: Env, vault_id: str, incident: LostIncident, sha256: dict[str, str]
) -> Event:
    """The evidence pack written for INCIDENT of VAULT_ID, by the SHA-256 of each file: in
    the chain, a later edit of the pack shows."""
    details = {"incident_id": incident.incident_id, "sha256": sha256}
    return record(registry, env, Action.EVIDENCE_PACK, details, vault_id=vault_id)
