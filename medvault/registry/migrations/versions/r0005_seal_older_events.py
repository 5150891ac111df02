"""Seal the events hashed with an older version under one version 3 event.

Version 1 rows leave seq, event_id, recorded_at, person and via outside their hash, so
those columns of an old registry's first events could be edited unnoticed (security
review L12). This appends one `legacy-sealed` event whose details hold a digest of every
column of every older row (registry/chain.py LegacySeal); `audit verify` recomputes it.
A registry with no older rows gets no event. Runs once, as the registry's owner.
Revision ID: r0005
"""

from __future__ import annotations

import getpass
import os
import socket
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from medvault.registry import chain

revision = "r0005"
down_revision = "r0004"
branch_labels = None
depends_on = None

CHAIN_LOCK_KEY = 0x6D7661756C74  # as registry/sql.py: the same lock serialises every writer
events = sa.table(
    "events",
    *(sa.column(name) for name in chain.ROW_COLUMNS),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY})
    rows = [dict(r) for r in bind.execute(sa.select(events).order_by(events.c.seq)).mappings()]
    if any(r["action"] == chain.LEGACY_SEAL_ACTION for r in rows):
        return
    seal = chain.LegacySeal()
    for row in rows:
        if int(row["hash_version"]) < chain.CURRENT_VERSION:
            seal.add(row)
    if seal.rows == 0:
        return
    last = rows[-1]
    bind.execute(sa.insert(events).values(**_sealing_row(seal, int(last["seq"]), last["hash"])))


def _sealing_row(seal: chain.LegacySeal, last_seq: int, last_hash: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    row: dict[str, Any] = {
        "seq": last_seq + 1,
        "event_id": os.urandom(16).hex(),
        "at": now,
        "recorded_at": now,
        "actor": _user(),
        "person": None,
        "host": socket.gethostname() or "unknown",
        "vault_id": None,
        "action": chain.LEGACY_SEAL_ACTION,
        "details": chain.canonical(seal.details()),
        "via": "direct",
        "hash_version": chain.CURRENT_VERSION,
        "prev_hash": last_hash,
    }
    row["hash"] = chain.event_hash(last_hash, row)
    return row


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (a container)
        return f"uid-{os.getuid()}"


def downgrade() -> None:
    raise NotImplementedError("the custody registry is never downgraded")
