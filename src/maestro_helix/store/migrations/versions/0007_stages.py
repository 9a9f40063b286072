"""rollout: workflow version stages, sign-offs, canaries, and the route each new run was given

Revision ID: 0007_stages
Revises: 0009_risk_models
Create Date: 2026-12-01 12:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_stages"
down_revision = "0009_risk_models"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_stages",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("entered_at", sa.String(length=32), nullable=False),
        sa.Column("entered_by", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", "version"),
    )
    op.create_table(
        "workflow_signoffs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("signed_as", sa.String(length=32), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "version", "target", "signed_as", name="uq_signoffs_capacity"),
        sa.UniqueConstraint("name", "version", "target", "operator_id", name="uq_signoffs_person"),
    )
    op.create_table(
        "canaries",
        sa.Column("canary_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("candidate", sa.Integer(), nullable=False),
        sa.Column("stable", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.String(length=32), nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=True),
        sa.Column("ended_at", sa.String(length=32), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("evaluations", sa.Integer(), nullable=False),
        sa.Column("last_evaluation", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("canary_id"),
    )
    op.create_index("ix_canaries_name_status", "canaries", ["name", "status"])
    op.create_table(
        "run_routes",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("canary_id", sa.String(length=36), nullable=True),
        sa.Column("arm", sa.String(length=16), nullable=True),
        sa.Column("key_hash", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"]),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_index("ix_run_routes_canary", "run_routes", ["canary_id", "arm"])


def downgrade() -> None:
    op.drop_index("ix_run_routes_canary", table_name="run_routes")
    op.drop_table("run_routes")
    op.drop_index("ix_canaries_name_status", table_name="canaries")
    op.drop_table("canaries")
    op.drop_table("workflow_signoffs")
    op.drop_table("workflow_stages")
