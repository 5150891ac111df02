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
    user: str
    host: str


@dataclass(frozen=True)
class KeyPackage:
    vault_id: str
    key_id: str
    suite: str
    sealed: bytes


class CustodyRegistry(Protocol):
    """The registry operations the vault use cases call (SQLite now, PostgreSQL later)."""

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

    def append_event(
        self, at: str, actor: Actor, vault_id: str | None, action: str, details: dict[str, Any]
    ) -> str: ...
