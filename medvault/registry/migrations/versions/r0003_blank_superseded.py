"""Superseded key packages lose their sealed bytes, as erased ones already did.

A package sealed to a retired (perhaps compromised) escrow key must not stay readable by
every workstation role and in every later registry backup. The packages in force are
untouched; a vault's headers hold the same ones.
Revision ID: r0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0003"
down_revision = "r0002"
branch_labels = None
depends_on = None

key_packages = sa.table(
    "key_packages",
    sa.column("sealed", sa.LargeBinary),
    sa.column("superseded_at", sa.String(40)),
)


def upgrade() -> None:
    op.execute(
        key_packages.update().where(key_packages.c.superseded_at.is_not(None)).values(sealed=b"")
    )


def downgrade() -> None:
    raise NotImplementedError("the custody registry is never downgraded")
