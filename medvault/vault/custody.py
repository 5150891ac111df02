"""Recording custody events: on the drive's encrypted log and in the registry.

Every event about a vault is written to the drive first (so a drive used on an offline
laptop carries its history), then to the registry. `sync` merges a drive's log into the
registry by event id, so an event is never recorded twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from medvault.crypto.symmetric import random_bytes
from medvault.engine.session import UnlockedVault
from medvault.errors import MedvaultError, UsageError
from medvault.registry.actions import Action
from medvault.registry.records import Event, EventSink
from medvault.store import drive_log
from medvault.vault.env import Env


class SyncRegistry(EventSink, Protocol):
    def merge_events(self, found: list[Event], recorded_at: str) -> list[Event]: ...


def new_event(env: Env, vault_id: str | None, action: Action, details: dict[str, Any]) -> Event:
    event_id = random_bytes(16).hex()
    return Event(event_id, env.timestamp(), env.actor, vault_id, str(action), details)


def record(
    registry: EventSink,
    env: Env,
    action: Action,
    details: dict[str, Any],
    *,
    vault: UnlockedVault | None = None,
    vault_id: str | None = None,
    on_drive: bool = True,
) -> Event:
    """Record ACTION. With VAULT (unlocked), the event also goes to the drive's log; a drive
    that cannot take it (read-only, full, pulled) gets a warning, the registry still the
    event. ON_DRIVE=False keeps it in the registry only (declared contents)."""
    event = new_event(env, vault.vault_id_hex if vault else vault_id, action, details)
    if vault is not None and on_drive:
        try:
            drive_log.append(vault.paths, vault.keys, to_log_dict(event))
        except MedvaultError as exc:
            env.warn(f"the drive's custody log was not updated ({exc.message})")
        else:
            # A sync of this drive by another process may merge it before we get here.
            registry.append_logged_event(event)
            return event
    registry.append_event(event)
    return event


def to_log_dict(event: Event) -> dict[str, Any]:
    return event.flat()


def from_log_dict(obj: dict[str, Any]) -> Event:
    return Event.from_flat(obj)


@dataclass
class SyncResult:
    on_drive: int = 0
    merged: list[Event] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    truncated: bool = False

    @property
    def already_known(self) -> int:
        return self.on_drive - len(self.merged)


def sync_drive_log(vault: UnlockedVault, registry: SyncRegistry, env: Env) -> SyncResult:
    """Merge the drive's custody log into the registry; events already there are skipped."""
    found = drive_log.read_all(vault.paths, vault.keys)
    events = [from_log_dict(obj) for obj in found.events]
    result = SyncResult(len(events), [], found.damaged, found.truncated)
    result.merged = registry.merge_events(events, env.timestamp())
    record(
        registry,
        env,
        Action.SYNC,
        {
            "on_drive": result.on_drive,
            "merged": len(result.merged),
            "damaged": len(result.damaged),
        },
        vault=vault,
    )
    return result


# Two-letter codes of the US states, DC and the territories (HIPAA media notice is per state).
_STATE_CODES = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP"
)
STATES = frozenset(_STATE_CODES.split(" "))
MAX_INDIVIDUALS = 1_000_000_000
CATEGORY = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")


@dataclass(frozen=True)
class Declared:
    """What staff declare the data is: counts and categories, never PHI. Registry only."""

    individuals: int | None = None
    states: dict[str, int] = field(default_factory=dict)
    categories: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.individuals is None and not self.states and not self.categories

    def as_details(self) -> dict[str, Any]:
        return {
            "individuals": self.individuals,
            "states": dict(sorted(self.states.items())),
            "categories": sorted(set(self.categories)),
        }


def parse_declared(
    individuals: int | None, states: tuple[str, ...], categories: tuple[str, ...]
) -> Declared:
    """Check --individuals N, --state CA=120 (repeatable), --category lab-results."""
    if individuals is not None and not 0 <= individuals <= MAX_INDIVIDUALS:
        raise UsageError("--individuals must be between 0 and 1,000,000,000")
    per_state: dict[str, int] = {}
    for item in states:
        code, sep, count = item.partition("=")
        code = code.strip().upper()
        if not sep or code not in STATES or not count.strip().isdigit():
            raise UsageError(f"--state {item!r}: expected a state code and a count, e.g. CA=120")
        number = int(count)
        if number > MAX_INDIVIDUALS:
            raise UsageError(f"--state {item!r}: count too large")
        per_state[code] = per_state.get(code, 0) + number
    for category in categories:
        if not CATEGORY.fullmatch(category):
            raise UsageError(
                f"--category {category!r}: lowercase words joined by '-', e.g. lab-results"
            )
    if individuals is not None and sum(per_state.values()) > individuals:
        raise UsageError("the --state counts add up to more than --individuals")
    return Declared(individuals, per_state, tuple(categories))


def declare(registry: EventSink, env: Env, vault_id: str, declared: Declared, act: str) -> None:
    """Record declared contents for the data just stored (registry only, not the drive)."""
    if declared.empty:
        return
    record(
        registry,
        env,
        Action.DECLARE,
        {**declared.as_details(), "for": act},
        vault_id=vault_id,
        on_drive=False,
    )


class CustodianRegistry(EventSink, Protocol):
    def set_custodian(self, vault_id: str, person: str) -> None: ...


def transfer(
    registry: CustodianRegistry,
    env: Env,
    to_person: str,
    reason: str,
    *,
    vault: UnlockedVault | None = None,
    vault_id: str | None = None,
    from_person: str | None = None,
) -> Event:
    """Hand the drive to TO_PERSON. With the unlocked VAULT the drive's log records it too."""
    target = vault.vault_id_hex if vault is not None else vault_id
    if target is None:
        raise UsageError("a transfer needs a vault")
    if not to_person.strip() or not reason.strip():
        raise UsageError("a transfer needs --to PERSON and --reason TEXT")
    event = record(
        registry,
        env,
        Action.TRANSFER,
        {"from": from_person, "to": to_person.strip(), "reason": reason.strip()},
        vault=vault,
        vault_id=vault_id,
    )
    registry.set_custodian(target, to_person.strip())
    return event
