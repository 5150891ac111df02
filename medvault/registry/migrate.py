"""Bring a registry database to the newest schema with Alembic, once, under a lock.

A registry made before migrations existed (tables, no alembic_version) is stamped as the
first revision and upgraded from there. Opening an up-to-date registry costs one query,
so a workstation role without DDL rights can open it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

MIGRATIONS = Path(__file__).parent / "migrations"
FIRST_REVISION = "r0001"
MIGRATION_LOCK_KEY = 0x6D766D6967  # "mvmig": PostgreSQL advisory lock for upgrades


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no registry migrations found")
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        current = current_revision(conn)  # again: another process may have upgraded it
        if current == head:
            return
        config = _config(conn)
        if current is None and inspect(conn).has_table("events"):
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, head)
