"""The custody registry over SQLAlchemy Core: embedded SQLite or PostgreSQL, one schema.

Events are append-only and hash-chained (registry/chain.py). Writers are serialised so the
chain stays linear: SQLite takes its write lock at BEGIN (BEGIN IMMEDIATE); PostgreSQL
takes a transaction-scoped advisory lock, which needs no table privilege.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from medvault.errors import RegistryError
from medvault.registry import chain, migrate, schema
from medvault.registry.lookup import make_private
from medvault.registry.records import Actor, Event, KeyPackage, StoredEvent, VaultRecord
from medvault.registry.sqlite_append import (
    chained_row,
    check_event_id,
    event_columns,
    recorded_hash,
)

CHAIN_LOCK_KEY = 0x6D7661756C74  # "mvault": the advisory lock that serialises chain writers
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
MERGE_BATCH = 500
# Vaults whose data may still exist somewhere (erased ones are listed for their history).
EXPOSED_STATUSES = ("active", "lost", "erased")
PACKAGE_RANK = {"destroyed": 0, "superseded": 1, "in_force": 2}
CONNECT_TIMEOUT_S = 10
# Migration r0004: takes the lock, assigns seq, prev_hash, hash and hash_version on the server.
APPEND_FUNCTION = (
    "medvault_append_event(text, text, text, text, text, text, text, text, text, text)"
)


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    reason: str


def _failure(what: str, exc: SQLAlchemyError) -> RegistryError:
    # The driver's message may name the server, never a secret; keep its first line.
    detail = str(getattr(exc, "orig", None) or exc.__class__.__name__).splitlines()[0]
    return RegistryError(f"{what}: {detail[:200]}")


class Registry:
    def __init__(self, url: str) -> None:
        try:
            self.engine: Engine = create_engine(url, connect_args=engine_connect_args(url))
            self.dialect = self.engine.dialect.name
            if self.dialect == "sqlite":
                self._sqlite_setup(self.engine)
            migrate.upgrade(self.engine)
        except (SQLAlchemyError, ArgumentError) as exc:
            raise _failure("cannot open the custody registry", exc) from None
        except ModuleNotFoundError as exc:
            raise RegistryError(
                f"cannot open the custody registry: the driver {exc.name} is not installed",
                hint="pip install 'medvault[postgres]' for a PostgreSQL registry",
            ) from None

    @staticmethod
    def for_url(url: str) -> Registry:
        """sqlite:///PATH (the folder is created) or postgresql+psycopg://..."""
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise RegistryError("MEDVAULT_REGISTRY is not a database URL") from None
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            return Registry.for_path(Path(parsed.database))
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return Registry(url)

    @staticmethod
    def for_path(path: Path) -> Registry:
        """The embedded SQLite registry at PATH, private whatever the umask (see
        registry/lookup.make_private)."""
        try:
            make_private(path)
        except OSError as exc:
            raise RegistryError(f"cannot create {exc.filename or path}: {exc.strerror}") from None
        return Registry(f"sqlite:///{path}")

    @staticmethod
    def _sqlite_setup(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.execute("PRAGMA secure_delete = ON")  # erased key packages are zeroed
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    @contextmanager
    def _tx(self, what: str = "custody registry write failed") -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise _failure(what, exc) from None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise _failure("custody registry read failed", exc) from None

    # -- vaults and key packages ------------------------------------------------------

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
                    created_by=actor.describe(),
                    host=actor.host,
                    status="pending",
                )
            )
            _insert_packages(conn, packages, created_at)

    def set_vault_status(self, vault_id: str, status: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(schema.vaults)
                .where(schema.vaults.c.vault_id == vault_id)
                .values(status=status)
            )

    def set_custodian(self, vault_id: str, person: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(schema.vaults)
                .where(schema.vaults.c.vault_id == vault_id)
                .values(custodian=person)
            )

    def vault(self, vault_id: str) -> VaultRecord | None:
        with self._read() as conn:
            row = (
                conn.execute(select(schema.vaults).where(schema.vaults.c.vault_id == vault_id))
                .mappings()
                .first()
            )
        return None if row is None else VaultRecord(**dict(row))

    def vaults(self) -> list[VaultRecord]:
        """Every vault recorded, oldest first (the inventory, and finding a vault by its
        label or an id prefix)."""
        v = schema.vaults
        with self._read() as conn:
            rows = conn.execute(select(v).order_by(v.c.created_at, v.c.vault_id)).mappings()
            return [VaultRecord(**dict(row)) for row in rows]

    def vault_status(self, vault_id: str) -> str | None:
        record = self.vault(vault_id)
        return None if record is None else record.status

    def key_packages(self, vault_id: str) -> list[KeyPackage]:
        """The vault's key packages in force (superseded and destroyed ones are never used)."""
        kp = schema.key_packages
        with self._read() as conn:
            rows = conn.execute(
                select(kp).where(
                    kp.c.vault_id == vault_id,
                    kp.c.superseded_at.is_(None),
                    kp.c.destroyed_at.is_(None),
                )
            ).mappings()
            return [KeyPackage(r["vault_id"], r["key_id"], r["suite"], r["sealed"]) for r in rows]

    def package_history(self, vault_id: str) -> list[dict[str, Any]]:
        """Every key package ever recorded for the vault (without the sealed bytes)."""
        kp = schema.key_packages
        query = (
            select(kp.c.key_id, kp.c.suite, kp.c.created_at, kp.c.superseded_at, kp.c.destroyed_at)
            .where(kp.c.vault_id == vault_id)
            .order_by(kp.c.id)
        )
        with self._read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def replace_key_packages(self, vault_id: str, packages: list[KeyPackage], at: str) -> None:
        """Put PACKAGES in force instead of every earlier package of the vault, in one
        transaction. The earlier ones keep their row and ``superseded_at`` but lose their
        sealed bytes, so no role and no later backup can open them with a retired key.
        Nothing changes when PACKAGES are already the ones in force (a resumed re-key)."""
        kp = schema.key_packages
        with self._tx() as conn:
            if _in_force(conn, vault_id) == _package_set(packages):
                return
            conn.execute(
                update(kp)
                .where(kp.c.vault_id == vault_id, kp.c.superseded_at.is_(None))
                .values(superseded_at=at, sealed=b"")
            )
            _insert_packages(conn, packages, at)

    def destroy_key_packages(self, vault_id: str, at: str) -> int:
        """Cryptographic erase: empty every key package of the vault; returns how many."""
        kp = schema.key_packages
        with self._tx() as conn:
            result = conn.execute(
                update(kp)
                .where(kp.c.vault_id == vault_id, kp.c.destroyed_at.is_(None))
                .values(sealed=b"", destroyed_at=at)
            )
            conn.execute(
                update(schema.vaults)
                .where(schema.vaults.c.vault_id == vault_id)
                .values(status="erased")
            )
            return int(result.rowcount)

    def vaults_for_key(self, key_id: str) -> list[dict[str, Any]]:
        """Every vault that has, or had, a key package sealed to KEY_ID: each row is the
        vault's record plus ``package_state`` ("in_force", "superseded" or "destroyed")
        and ``package_state_at`` (when it was superseded or destroyed; None in force).
        A vault with several packages for the key is listed once, by the one most in
        force (the latest change among equals)."""
        kp, v = schema.key_packages, schema.vaults
        query = (
            select(v, kp.c.superseded_at, kp.c.destroyed_at)
            .join(kp, kp.c.vault_id == v.c.vault_id)
            .where(kp.c.key_id == key_id, v.c.status.in_(EXPOSED_STATUSES))
            .order_by(v.c.created_at, v.c.vault_id)
        )
        found: dict[str, dict[str, Any]] = {}
        with self._read() as conn:
            for r in conn.execute(query).mappings():
                row = _with_package_state(dict(r))
                kept = found.get(row["vault_id"])
                if kept is None or _exposure(row) > _exposure(kept):
                    found[row["vault_id"]] = row
        return list(found.values())

    # -- the audit chain ----------------------------------------------------------------

    def _serialize_writers(self, conn: Connection) -> None:
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})

    def _last(self, conn: Connection) -> tuple[int, str]:
        last = conn.execute(
            select(schema.events.c.seq, schema.events.c.hash)
            .order_by(schema.events.c.seq.desc())
            .limit(1)
        ).first()
        return (0, chain.GENESIS) if last is None else (int(last[0]), str(last[1]))

    def _insert(
        self, conn: Connection, ev: Event, recorded_at: str, via: str, last: tuple[int, str]
    ) -> tuple[int, str]:
        """Insert EV after LAST (seq, hash), which the caller read under the writers' lock;
        returns the new (seq, hash). PostgreSQL assigns seq and hash on the server. The
        row is registry/sqlite_append.py's, which appends it without SQLAlchemy."""
        check_event_id(ev)
        if self.dialect == "postgresql":
            return _append_on_server(conn, ev, recorded_at, via)
        row = chained_row(ev, recorded_at, via, last)
        conn.execute(insert(schema.events).values(**row))
        return int(row["seq"]), str(row["hash"])

    def append_event(self, ev: Event) -> str:
        """Append one event where it happened; returns its chain hash."""
        with self._tx() as conn:
            self._serialize_writers(conn)
            return self._insert(conn, ev, ev.at, "direct", self._last(conn))[1]

    def append_event_changing_status(self, ev: Event, status: str) -> bool:
        """Append EV and set its vault's status to STATUS in one transaction, under the
        writers' lock, unless the vault already has that status: then nothing is written
        and False is returned. Two processes cannot both make the change (one incident
        per loss, however many officers report it at once)."""
        vaults = schema.vaults
        with self._tx() as conn:
            self._serialize_writers(conn)
            current = conn.execute(
                select(vaults.c.status).where(vaults.c.vault_id == ev.vault_id)
            ).scalar()
            if current is None:
                raise RegistryError(f"vault {ev.vault_id} is not in this custody registry")
            if current == status:
                return False
            self._insert(conn, ev, ev.at, "direct", self._last(conn))
            conn.execute(
                update(vaults).where(vaults.c.vault_id == ev.vault_id).values(status=status)
            )
        return True

    def append_logged_event(self, ev: Event) -> str:
        """Append EV, already written to a drive's custody log, where it happened: a sync
        of that drive may have merged it in between, and then it is already here (the
        same event, not a clash of ids). Returns its chain hash."""
        with self._tx() as conn:
            self._serialize_writers(conn)
            found = (
                conn.execute(select(schema.events).where(schema.events.c.event_id == ev.event_id))
                .mappings()
                .first()
            )
            if found is None:
                return self._insert(conn, ev, ev.at, "direct", self._last(conn))[1]
        return recorded_hash(ev, found)

    def merge_events(self, found: list[Event], recorded_at: str) -> list[Event]:
        """Append the events the registry does not hold yet (by event id), in one
        transaction; returns those appended. Running it again appends nothing."""
        merged: list[Event] = []
        ids = [ev.event_id for ev in found]
        with self._tx() as conn:
            self._serialize_writers(conn)
            known: set[str] = set()
            for start in range(0, len(ids), MERGE_BATCH):  # one query per batch, not per event
                batch = ids[start : start + MERGE_BATCH]
                column = schema.events.c.event_id
                known.update(conn.execute(select(column).where(column.in_(batch))).scalars())
            last = self._last(conn)
            for ev in found:
                if ev.event_id in known:
                    continue
                known.add(ev.event_id)  # the same event twice in FOUND is merged once
                last = self._insert(conn, ev, recorded_at, "sync", last)
                merged.append(ev)
        return merged

    def events(
        self,
        vault_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[StoredEvent]:
        """Events in chain order; SINCE/UNTIL compare with the event's time (ISO, UTC)."""
        ev = schema.events
        query = select(ev).order_by(ev.c.seq)
        if vault_id is not None:
            query = query.where(ev.c.vault_id == vault_id)
        if since is not None:
            query = query.where(ev.c.at >= since)
        if until is not None:
            query = query.where(ev.c.at < until)
        with self._read() as conn:
            return [_stored(dict(r)) for r in conn.execute(query).mappings()]

    def verify_chain(self) -> ChainProblem | None:
        """The first event that does not chain (edited, deleted, inserted, reordered)."""
        prev, expected, version = chain.GENESIS, 1, 1
        older = chain.LegacySeal()  # rows of older hash versions, which a seal must cover
        sealed = False
        with self._read() as conn:
            rows = conn.execute(select(schema.events).order_by(schema.events.c.seq)).mappings()
            for r in rows:
                row = dict(r)
                seq = int(row["seq"])
                problem = _link_problem(row, seq, expected, prev, version)
                if problem is None and older.rows and not sealed:
                    problem, sealed = _seal_problem(row, older), _is_seal(row)
                if problem is not None:
                    return ChainProblem(seq, problem)
                prev, expected, version = row["hash"], seq + 1, int(row["hash_version"])
                if version < chain.CURRENT_VERSION:
                    older.add(row)
        if older.rows and not sealed:
            return ChainProblem(older.through_seq, "the older hash versions' events are not sealed")
        return None

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest event, to anchor elsewhere; (0, GENESIS) when empty."""
        with self._read() as conn:
            return self._last(conn)

    def contains_head(self, digest: str) -> bool:
        with self._read() as conn:
            found = conn.execute(
                select(schema.events.c.seq).where(schema.events.c.hash == digest)
            ).first()
        return found is not None

    # -- administration -------------------------------------------------------------------

    def init_roles(self, role: str) -> None:
        """PostgreSQL: a workstation role that may read events and add them only through
        the server-side function (which chooses seq and hash), never change them."""
        if self.dialect != "postgresql":
            raise RegistryError("init-roles applies to a PostgreSQL registry only")
        if not ROLE_NAME.fullmatch(role):
            raise RegistryError("role names: lowercase letters, digits and _")
        try:
            self._grant(role)
        except RegistryError as exc:
            raise RegistryError(
                exc.message,
                hint="run as the owner of the registry's tables with CREATEROLE (or have a "
                f'superuser run CREATE ROLE "{role}" LOGIN first)',
            ) from None

    def _grant(self, role: str) -> None:
        with self._tx("the server refused to set up the role") as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
            ).first()
            if exists is None:
                conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            for table in ("events", "vaults", "key_packages", "alembic_version"):
                conn.execute(text(f'REVOKE ALL ON "{table}" FROM "{role}"'))
            # No INSERT: events are added only by the server-side function (M4).
            conn.execute(text(f'GRANT SELECT ON events TO "{role}"'))
            conn.execute(text(f'GRANT EXECUTE ON FUNCTION {APPEND_FUNCTION} TO "{role}"'))
            conn.execute(text(f'GRANT SELECT, INSERT, UPDATE ON vaults, key_packages TO "{role}"'))
            conn.execute(text(f'GRANT SELECT ON alembic_version TO "{role}"'))
            conn.execute(text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))

    def close(self) -> None:
        self.engine.dispose()


def engine_connect_args(url: str) -> dict[str, Any]:
    """PostgreSQL: give up on an unreachable server after a while (libpq's default is to
    wait for TCP, minutes on a laptop off the network) unless the URL says otherwise."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        return {"connect_timeout": CONNECT_TIMEOUT_S}
    return {}


def _insert_packages(conn: Connection, packages: list[KeyPackage], at: str) -> None:
    for pkg in packages:
        conn.execute(
            insert(schema.key_packages).values(
                vault_id=pkg.vault_id,
                key_id=pkg.key_id,
                suite=pkg.suite,
                sealed=pkg.sealed,
                created_at=at,
            )
        )


def _package_set(packages: list[KeyPackage]) -> set[tuple[str, str, bytes]]:
    return {(p.key_id, p.suite, bytes(p.sealed)) for p in packages}


def _in_force(conn: Connection, vault_id: str) -> set[tuple[str, str, bytes]]:
    kp = schema.key_packages
    rows = conn.execute(
        select(kp.c.key_id, kp.c.suite, kp.c.sealed).where(
            kp.c.vault_id == vault_id,
            kp.c.superseded_at.is_(None),
            kp.c.destroyed_at.is_(None),
        )
    )
    return {(str(key_id), str(suite), bytes(sealed)) for key_id, suite, sealed in rows}


def _with_package_state(row: dict[str, Any]) -> dict[str, Any]:
    """ROW (a vault joined with one of its packages) with the package's state instead of
    the package's own columns."""
    superseded, destroyed = row.pop("superseded_at"), row.pop("destroyed_at")
    if destroyed is not None:
        row["package_state"], row["package_state_at"] = "destroyed", destroyed
    elif superseded is not None:
        row["package_state"], row["package_state_at"] = "superseded", superseded
    else:
        row["package_state"], row["package_state_at"] = "in_force", None
    return row


def _exposure(row: dict[str, Any]) -> tuple[int, str]:
    return PACKAGE_RANK[row["package_state"]], row["package_state_at"] or ""


# Typed arguments: only the exact (text, ...) function matches, never an overload that
# someone else made.
SERVER_APPEND = text(
    "SELECT seq, hash FROM medvault_append_event(CAST(:event_id AS text), CAST(:at AS text), "
    "CAST(:recorded_at AS text), CAST(:actor AS text), CAST(:person AS text), "
    "CAST(:host AS text), CAST(:vault_id AS text), CAST(:action AS text), "
    "CAST(:details AS text), CAST(:via AS text))"
)


def _append_on_server(conn: Connection, ev: Event, recorded_at: str, via: str) -> tuple[int, str]:
    row = {**event_columns(ev), "recorded_at": recorded_at, "via": via}
    seq, digest = conn.execute(SERVER_APPEND, row).one()
    return int(seq), str(digest)


def _link_problem(
    row: dict[str, Any], seq: int, expected: int, prev: str, version: int
) -> str | None:
    """Why ROW does not follow the event before it (hash PREV, hash version VERSION)."""
    if seq != expected:
        return f"event {expected} is missing (next is {seq})"
    if row["prev_hash"] != prev:
        return f"event {seq} does not follow event {seq - 1}"
    if int(row["hash_version"]) < version:  # an old-style row after a newer one: L12
        return f"event {seq} has hash version {row['hash_version']} after version {version}"
    if chain.event_hash(prev, row) != row["hash"]:
        return f"event {seq} was altered (its hash does not match)"
    return None


def _is_seal(row: dict[str, Any]) -> bool:
    return bool(row["action"] == chain.LEGACY_SEAL_ACTION)


def _seal_problem(row: dict[str, Any], older: chain.LegacySeal) -> str | None:
    """Why ROW, the first event after the older-version rows OLDER that claims to seal them,
    does not: the seal must name the last older row and match their digest. Other rows
    before the seal (made between migrations r0004 and r0005) are not a problem."""
    if not _is_seal(row):
        return None
    try:
        details = json.loads(row["details"])
    except ValueError:
        details = None
    if details != older.details():
        return (
            f"event {row['seq']} seals events 1 to {older.through_seq}, which do not match "
            "it (an older event was edited)"
        )
    return None


def _stored(row: dict[str, Any]) -> StoredEvent:
    try:
        details = json.loads(row["details"])
    except ValueError:
        details = {"unreadable": True}
    if not isinstance(details, dict):
        details = {"value": details}
    ev = Event.from_flat({**row, "details": details})
    return StoredEvent(
        int(row["seq"]), ev, row["recorded_at"], row["via"], row["prev_hash"], row["hash"]
    )
