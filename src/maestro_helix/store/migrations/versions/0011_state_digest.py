"""a run's state digest: a worker trusts the state a work item carries only when it hashes to it

Revision ID: 0011_state_digest
Revises: 0010_owners
Create Date: 2026-12-01 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_state_digest"
down_revision = "0010_owners"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("state_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("state_digest")
