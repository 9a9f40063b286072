"""process heartbeats: a lease passes on only when its holder has stopped beating

Revision ID: 0010_owners
Revises: 0008_router_knowledge
Create Date: 2026-12-01 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_owners"
down_revision = "0008_router_knowledge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "owners",
        sa.Column("owner", sa.String(length=96), nullable=False),
        sa.Column("alive_until", sa.Float(), nullable=False),
        sa.Column("started_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("owner"),
    )


def downgrade() -> None:
    op.drop_table("owners")
