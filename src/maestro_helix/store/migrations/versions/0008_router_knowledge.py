"""the router's shared track record; the versioned knowledge base (CSIL)

Revision ID: 0008_router_knowledge
Revises: 0009_risk_models
Create Date: 2026-12-01 12:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_router_knowledge"
down_revision = "0007_stages"  # chain: 0006, 0009_risk_models, 0007_stages, 0008_router_knowledge
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_track",
        sa.Column("agent_id", sa.String(length=128), nullable=False),
        sa.Column("capability", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Float(), nullable=False),
        sa.Column("passed", sa.Float(), nullable=False),
        sa.Column("qsr_sum", sa.Float(), nullable=False),
        sa.Column("mri_sum", sa.Float(), nullable=False),
        sa.Column("as_of", sa.Float(), nullable=False),
        sa.Column("half_life_s", sa.Float(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "capability"),
    )
    op.create_table(
        "knowledge_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_table(
        "knowledge_items",
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("capability", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_table(
        "knowledge_spans",
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=False),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["knowledge_items.item_id"]),
        sa.PrimaryKeyConstraint("item_id", "from_version"),
    )
    op.create_index(
        "ix_knowledge_spans_versions", "knowledge_spans", ["from_version", "to_version"]
    )


def downgrade() -> None:
    op.drop_index("ix_knowledge_spans_versions", table_name="knowledge_spans")
    op.drop_table("knowledge_spans")
    op.drop_table("knowledge_items")
    op.drop_table("knowledge_versions")
    op.drop_table("agent_track")
