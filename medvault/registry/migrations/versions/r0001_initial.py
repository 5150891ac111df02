"""The registry as first released: vaults, key packages, hash-chained events (v1 hashes).

Revision ID: r0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vaults",
        sa.Column("vault_id", sa.String(32), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_table(
        "key_packages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("vault_id", sa.String(32), nullable=False, index=True),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("suite", sa.String(32), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("superseded_at", sa.String(40), nullable=True),
        sa.UniqueConstraint("vault_id", "key_id", "sealed", name="uq_key_package"),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("vault_id", sa.String(32), nullable=True, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the custody registry is never downgraded")
