"""workflow state (pause flag per workflow)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 10:12:44.180236
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("paused", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("workflow_state")
