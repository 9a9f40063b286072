"""signed checkpoints of the audit log's Merkle tree; batched sequencing (pending entries, lease)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column(
            "tree_size",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size"),
    )
    op.create_table(
        "audit_pending",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entry_id", sa.String(length=160), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("step_id", sa.String(length=64), nullable=True),
        sa.Column("step_index", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("workflow", sa.String(length=64), nullable=True),
        sa.Column("workflow_version", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.String(length=128), nullable=True),
        sa.Column("qsr_score", sa.Float(), nullable=True),
        sa.Column("mri_score", sa.Float(), nullable=True),
        sa.Column("gate_decision", sa.String(length=16), nullable=True),
        sa.Column("gil_decision", sa.String(length=32), nullable=True),
        sa.Column("human_operator_id", sa.String(length=64), nullable=False),
        sa.Column("evaluator_versions", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id"),
    )
    lease = op.create_table(
        "audit_sequencer",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(lease, [{"id": 1, "holder": "", "expires_at": 0.0}])  # the one lease row


def downgrade() -> None:
    op.drop_table("audit_sequencer")
    op.drop_table("audit_pending")
    op.drop_table("audit_checkpoints")
