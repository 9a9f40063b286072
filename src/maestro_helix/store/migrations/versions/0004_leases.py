"""run leases (owner, expiry, fencing epoch), action claims and handler attempts

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as b:
        b.add_column(sa.Column("owner", sa.String(length=96), nullable=True))
        b.add_column(sa.Column("lease_until", sa.Float(), nullable=True))
        b.add_column(sa.Column("epoch", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("action_executions") as b:
        b.add_column(sa.Column("owner", sa.String(length=96), nullable=True))
        b.add_column(sa.Column("claim_until", sa.Float(), nullable=True))
    op.create_table(
        "action_attempts",
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.String(length=96), nullable=False),
        sa.Column("started_at", sa.String(length=32), nullable=False),
        sa.Column("finished_at", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("idempotency_key", "attempt"),
    )


def downgrade() -> None:
    op.drop_table("action_attempts")
    with op.batch_alter_table("action_executions") as b:
        b.drop_column("claim_until")
        b.drop_column("owner")
    with op.batch_alter_table("runs") as b:
        b.drop_column("epoch")
        b.drop_column("lease_until")
        b.drop_column("owner")
