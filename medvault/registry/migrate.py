"""Bring a registry database to the newest schema with Alembic, once, under a lock.

A registry made before migrations existed (tables, no alembic_version) is stamped as the
first revision and upgraded from there. Opening an up-to-date registry costs one query,
so a workstation role without DDL rights can open it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

# The newest revision (kept in registry/lookup.py, which reads the registry without
# SQLAlchemy): an up-to-date registry opens without importing Alembic, which would cost
# every command ~0.15 s.
from medvault.registry.lookup import HEAD_REVISION

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
FIRST_REVISION = "r0001"
MIGRATION_LOCK_KEY = 0x6D766D6967  # "mvmig": PostgreSQL advisory lock for upgrades
# Alembic's `op` and `context` are module-level proxies bound to the migration running now:
# two registries upgraded at once by two threads of one process ran each other's steps on
# the wrong connection ("table vaults already exists", KeyError 'config'). One at a time.
_ALEMBIC_IN_USE = threading.Lock()


def alembic_config(conn: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no registry migrations found")
    return head


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _up_to_date(conn: Connection) -> bool:
    """The registry is stamped with HEAD_REVISION alone (one plain query)."""
    try:
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:
        conn.rollback()  # no such table yet; PostgreSQL needs the failed transaction ended
        return False
    return [row[0] for row in rows] == [HEAD_REVISION]


def upgrade(engine: Engine) -> None:
    with engine.connect() as conn:
        if _up_to_date(conn):
            return
    from alembic import command

    head = head_revision()
    with _ALEMBIC_IN_USE, engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        current = current_revision(conn)  # again: another process may have upgraded it
        if current == head:
            return
        config = alembic_config(conn)
        if current is None and inspect(conn).has_table("events"):
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, head)
