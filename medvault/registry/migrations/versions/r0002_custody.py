"""Custody: event ids (sync without duplicates), declared person, how an event arrived,
versioned chain hashes, custodians, and destroyed key packages (cryptographic erase).

Existing events keep their v1 hashes (hash_version 1); the chain is never rewritten.
Revision ID: r0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0002"
down_revision = "r0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("event_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("recorded_at", sa.String(40), nullable=True))
        batch.add_column(sa.Column("person", sa.Text, nullable=True))
        batch.add_column(sa.Column("via", sa.String(8), nullable=True))
        batch.add_column(sa.Column("hash_version", sa.Integer, nullable=True))
    # Events from before ids existed get one derived from their place in the chain.
    op.execute(
        "UPDATE events SET recorded_at = at, via = 'direct', hash_version = 1, "
        "event_id = substr(hash, 1, 32)"
    )
    with op.batch_alter_table("events") as batch:
        batch.alter_column("event_id", existing_type=sa.String(32), nullable=False)
        batch.alter_column("recorded_at", existing_type=sa.String(40), nullable=False)
        batch.alter_column("via", existing_type=sa.String(8), nullable=False)
        batch.alter_column("hash_version", existing_type=sa.Integer, nullable=False)
        batch.create_unique_constraint("uq_event_id", ["event_id"])
    with op.batch_alter_table("vaults") as batch:
        batch.add_column(sa.Column("custodian", sa.Text, nullable=True))
    with op.batch_alter_table("key_packages") as batch:
        batch.add_column(sa.Column("destroyed_at", sa.String(40), nullable=True))
        # Erase empties `sealed`, so (vault, key, sealed) is no longer unique.
        batch.drop_constraint("uq_key_package", type_="unique")


def downgrade() -> None:
    raise NotImplementedError("the custody registry is never downgraded")
