"""One schema for every backend (SQLite and PostgreSQL), as of the newest migration.

Queries use these tables; the database itself is created and upgraded by the Alembic
migrations in medvault/registry/migrations (never by ``create_all``), so an existing
registry is upgraded in place and its audit chain is never rewritten.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

vaults = Table(
    "vaults",
    metadata,
    Column("vault_id", String(32), primary_key=True),
    Column("label", Text, nullable=False),
    Column("org_id", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("host", Text, nullable=False),
    # pending | active | aborted | lost | erased
    Column("status", String(16), nullable=False),
    Column("custodian", Text, nullable=True),  # set by `custody transfer`
)

key_packages = Table(
    "key_packages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("vault_id", String(32), nullable=False, index=True),
    Column("key_id", String(16), nullable=False),
    Column("suite", String(32), nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # emptied by `erase`
    Column("created_at", String(40), nullable=False),
    # Set when `escrow reseal` replaces this package; superseded packages are never used.
    Column("superseded_at", String(40), nullable=True),
    Column("destroyed_at", String(40), nullable=True),  # cryptographic erase
)

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("at", String(40), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("actor", Text, nullable=False),
    Column("person", Text, nullable=True),
    Column("host", Text, nullable=False),
    Column("vault_id", String(32), nullable=True, index=True),
    Column("action", String(32), nullable=False),
    Column("details", Text, nullable=False),  # canonical JSON: counts, bytes, digests; no PHI
    Column("via", String(8), nullable=False),  # direct | sync
    Column("hash_version", Integer, nullable=False),  # 1: before event ids; 2; 3: now (chain.py)
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
