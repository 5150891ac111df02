"""What the use cases need from a registry, without importing a database driver.

Importing SQLAlchemy costs ~30 MiB of memory; keeping it out of this module lets a command
derive its passphrase key (Argon2id, 64 MiB) before the registry is loaded, so the peak
memory of a command stays under 100 MiB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Actor:
    """Who did something: the OS account, the host, and the person they declared (--as)."""

    user: str
    host: str
    person: str | None = None

    def describe(self) -> str:
        return self.user if not self.person else f"{self.user} ({self.person})"


@dataclass(frozen=True)
class KeyPackage:
    vault_id: str
    key_id: str
    suite: str
    sealed: bytes


@dataclass(frozen=True)
class Event:
    """One custody-relevant act. ``event_id`` (32 hex) is made where the act happens and is
    kept everywhere the event is copied (registry, drive log), so `sync` merges it once."""

    event_id: str
    at: str
    actor: Actor
    vault_id: str | None
    action: str
    details: dict[str, Any]


@dataclass(frozen=True)
class StoredEvent:
    """An event as the registry holds it: its place in the hash chain and how it arrived."""

    seq: int
    event: Event
    recorded_at: str
    via: str  # "direct" (recorded where it happened) or "sync" (merged from a drive's log)
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class VaultRecord:
    vault_id: str
    label: str
    org_id: str
    created_at: str
    created_by: str
    host: str
    status: str  # pending | active | aborted | lost | erased
    custodian: str | None


class EventSink(Protocol):
    def append_event(self, event: Event) -> str: ...

    def append_logged_event(self, event: Event) -> str: ...


class CustodyRegistry(EventSink, Protocol):
    """The registry operations the vault use cases call (SQLite or PostgreSQL)."""

    def record_vault(
        self,
        vault_id: str,
        label: str,
        org_id: str,
        created_at: str,
        actor: Actor,
        packages: list[KeyPackage],
    ) -> None: ...

    def set_vault_status(self, vault_id: str, status: str) -> None: ...
