"""The embedded SQLite registry under $MEDVAULT_HOME.

Events are append-only and hash-chained: hash = SHA-256(prev_hash || canonical event).
Writers take SQLite's write lock first (BEGIN IMMEDIATE) so the chain stays linear.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from medvault.errors import RegistryError
from medvault.registry import schema
from medvault.registry.records import Actor, KeyPackage

GENESIS = "0" * 64


def _event_hash(prev_hash: str, row: dict[str, Any]) -> str:
    body = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(prev_hash.encode() + body.encode()).hexdigest()


class Registry:
    def __init__(self, url: str) -> None:
        try:
            self.engine: Engine = create_engine(url)
            if self.engine.dialect.name == "sqlite":
                self._sqlite_immediate(self.engine)
            schema.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise RegistryError(
                f"cannot open the custody registry: {exc.__class__.__name__}"
            ) from None

    @staticmethod
    def for_path(path: Path) -> Registry:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(f"cannot create {path.parent}: {exc.strerror}") from None
        return Registry(f"sqlite:///{path}")

    @staticmethod
    def _sqlite_immediate(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise RegistryError(
                f"custody registry write failed: {exc.__class__.__name__}"
            ) from None

    def record_vault(
        self,
        vault_id: str,
        label: str,
        org_id: str,
        created_at: str,
        actor: Actor,
        packages: list[KeyPackage],
    ) -> None:
        """Record a new vault and its key packages (status pending until activated)."""
        with self._tx() as conn:
            conn.execute(
                insert(schema.vaults).values(
                    vault_id=vault_id,
                    label=label,
                    org_id=org_id,
                    created_at=created_at,
                    created_by=actor.user,
                    host=actor.host,
                    status="pending",
                )
            )
            for pkg in packages:
                conn.execute(
                    insert(schema.key_packages).values(
                        vault_id=pkg.vault_id,
                        key_id=pkg.key_id,
                        suite=pkg.suite,
                        sealed=pkg.sealed,
                        created_at=created_at,
                    )
                )

    def set_vault_status(self, vault_id: str, status: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(schema.vaults)
                .where(schema.vaults.c.vault_id == vault_id)
                .values(status=status)
            )

    def vault_status(self, vault_id: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(schema.vaults.c.status).where(schema.vaults.c.vault_id == vault_id)
            ).first()
        return None if row is None else str(row[0])

    def key_packages(self, vault_id: str) -> list[KeyPackage]:
        """The vault's key packages in force (superseded ones are kept but never used)."""
        kp = schema.key_packages
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(kp).where(kp.c.vault_id == vault_id, kp.c.superseded_at.is_(None))
            ).mappings()
            return [KeyPackage(r["vault_id"], r["key_id"], r["suite"], r["sealed"]) for r in rows]

    def replace_key_packages(self, vault_id: str, packages: list[KeyPackage], at: str) -> None:
        """Record new key packages and supersede all earlier ones, in one transaction."""
        kp = schema.key_packages
        with self._tx() as conn:
            conn.execute(
                update(kp)
                .where(kp.c.vault_id == vault_id, kp.c.superseded_at.is_(None))
                .values(superseded_at=at)
            )
            for pkg in packages:
                conn.execute(
                    insert(kp).values(
                        vault_id=pkg.vault_id,
                        key_id=pkg.key_id,
                        suite=pkg.suite,
                        sealed=pkg.sealed,
                        created_at=at,
                    )
                )

    def vaults_for_key(self, key_id: str) -> list[dict[str, Any]]:
        """Every vault with a key package in force sealed to KEY_ID."""
        kp, v = schema.key_packages, schema.vaults
        query = (
            select(v)
            .join(kp, kp.c.vault_id == v.c.vault_id)
            .where(kp.c.key_id == key_id, kp.c.superseded_at.is_(None), v.c.status == "active")
            .order_by(v.c.created_at)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def append_event(
        self, at: str, actor: Actor, vault_id: str | None, action: str, details: dict[str, Any]
    ) -> str:
        """Append one audit event to the chain; returns its hash."""
        with self._tx() as conn:
            last = conn.execute(
                select(schema.events.c.hash).order_by(schema.events.c.seq.desc()).limit(1)
            ).first()
            prev = GENESIS if last is None else str(last[0])
            row = {
                "at": at,
                "actor": actor.user,
                "host": actor.host,
                "vault_id": vault_id,
                "action": action,
                "details": json.dumps(details, sort_keys=True, separators=(",", ":")),
            }
            digest = _event_hash(prev, row)
            conn.execute(insert(schema.events).values(**row, prev_hash=prev, hash=digest))
            return digest

    def events(self, vault_id: str | None = None) -> list[dict[str, Any]]:
        query = select(schema.events).order_by(schema.events.c.seq)
        if vault_id is not None:
            query = query.where(schema.events.c.vault_id == vault_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def verify_chain(self) -> int | None:
        """seq of the first event whose hash does not chain, or None when intact."""
        prev = GENESIS
        for ev in self.events():
            row = {k: ev[k] for k in ("at", "actor", "host", "vault_id", "action", "details")}
            if ev["prev_hash"] != prev or _event_hash(prev, row) != ev["hash"]:
                return int(ev["seq"])
            prev = ev["hash"]
        return None

    def close(self) -> None:
        self.engine.dispose()
