"""Stored rows as records, for the SQL modules that read the same tables."""

from __future__ import annotations

from typing import Any

from maestro_helix.core.records import RunRecord, RunStatus

__all__ = ["run_record"]


def run_record(row: Any) -> RunRecord:
    """A `runs` row as a :class:`RunRecord`."""
    return RunRecord(
        run_id=row.run_id,
        workflow=row.workflow,
        workflow_version=row.workflow_version,
        status=RunStatus(row.status),
        input=row.input,
        next_step=row.next_step,
        error=row.error,
        operator_id=row.operator_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        owner=row.owner,
        lease_until=row.lease_until,
        epoch=int(row.epoch or 0),
        state_digest=row.state_digest,
    )
