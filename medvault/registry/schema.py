"""One schema for every backend (SQLite now; PostgreSQL shares it)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

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
    Column("status", String(16), nullable=False),  # pending | active | aborted
)

key_packages = Table(
    "key_packages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("vault_id", String(32), nullable=False, index=True),
    Column("key_id", String(16), nullable=False),
    Column("suite", String(32), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", String(40), nullable=False),
    # Set when `escrow reseal` replaces this package; superseded packages are never used.
    Column("superseded_at", String(40), nullable=True),
    UniqueConstraint("vault_id", "key_id", "sealed", name="uq_key_package"),
)

events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("at", String(40), nullable=False),
    Column("actor", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("vault_id", String(32), nullable=True, index=True),
    Column("action", String(32), nullable=False),
    Column("details", Text, nullable=False),  # canonical JSON: counts, bytes, digests; no PHI
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
