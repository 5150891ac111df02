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

    def flat(self) -> dict[str, Any]:
        """The event with its actor spread over actor/person/host: the shape of a registry
        row and of a drive custody-log entry."""
        return {
            "event_id": self.event_id,
            "at": self.at,
            "actor": self.actor.user,
            "person": self.actor.person,
            "host": self.actor.host,
            "vault_id": self.vault_id,
            "action": self.action,
            "details": self.details,
        }

    @classmethod
    def from_flat(cls, obj: dict[str, Any]) -> Event:
        """The event a `flat` dict (or a row with those columns) describes."""
        actor = Actor(user=obj["actor"], host=obj["host"], person=obj["person"])
        return cls(
            obj["event_id"], obj["at"], actor, obj["vault_id"], obj["action"], obj["details"]
        )


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


class KeyPackageRegistry(Protocol):
    """The key-package operations a re-key or reseal calls (SQLite or PostgreSQL)."""

    def key_packages(self, vault_id: str) -> list[KeyPackage]:
        """The vault's packages in force (never a superseded or destroyed one)."""
        ...

    def replace_key_packages(self, vault_id: str, packages: list[KeyPackage], at: str) -> None:
        """Put PACKAGES in force instead of every earlier package of the vault, in one
        transaction: the earlier rows are kept, marked superseded AT, and their sealed
        bytes are blanked (no role, and no backup taken afterwards, can read them). When
        PACKAGES are exactly the ones already in force, nothing changes, so a re-key that
        resumes after a crash may call it again."""
        ...

    def vaults_for_key(self, key_id: str) -> list[dict[str, Any]]:
        """Every vault that has or had a package sealed to KEY_ID (active, lost or erased),
        each as its vault record plus ``package_state`` ("in_force", "superseded" or
        "destroyed") and ``package_state_at`` (None while in force)."""
        ...
