"""Admin operations of the API (runbook §6, incident response): list workflows and their versions,
restore an earlier version, pause and resume a workflow or a run, cancel a run, read the QSR and
MRI logs, verify the audit chain.

Roles: reading is for every operator (viewer and up); pausing, resuming and cancelling need an
operator; a restore changes what every new run executes, so it needs an admin.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from maestro_helix.api._auth import AnyRole, OperatorRole, System, require
from maestro_helix.api._errors import ApiError
from maestro_helix.api._verify import verify_system_log
from maestro_helix.core.clock import iso
from maestro_helix.core.errors import InputError
from maestro_helix.core.records import RunRecord
from maestro_helix.core.workflow import WorkflowDef
from maestro_helix.governance.identity import Operator
from maestro_helix.governance.policy import Role
from maestro_helix.store.ops_sql import (
    MAX_LOG_LIMIT,
    ScorePage,
    WorkflowVersion,
    decode_cursor,
    stored_ts,
)

__all__ = ["ops_router"]

AdminRole = Annotated[Operator, Depends(require(Role.ADMIN))]

_NAME = r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$"  # workflow names and step ids (core/workflow.py)
_RUN_ID = r"^[A-Za-z0-9_.:\-]{1,64}$"
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # PostgreSQL refuses NUL in text; no control chars at all
_INT32 = 2**31 - 1

WorkflowName = Annotated[str, Path(pattern=_NAME, description="workflow name")]
RunId = Annotated[str, Path(pattern=_RUN_ID, description="run id")]


# -- response bodies (they document the API: docs/api/maestro_helix.yaml) -----------------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorDetail(_Out):
    model_config = ConfigDict(frozen=True, extra="allow")
    code: str = Field(description="stable machine-readable code, e.g. 'forbidden'")
    message: str


class ErrorBody(_Out):
    """Every error the API sends: ``{"error": {"code", "message", ...}}``."""

    error: ErrorDetail


_ERROR_WORDS = {
    400: "the body is not JSON",
    401: "no API token, or an unknown or disabled one",
    403: "the caller's role is below the one this needs",
    404: "no such workflow, version or run",
    409: "the run cannot go to that status from the one it is in",
    413: "the body is larger than the API accepts",
    422: "a bad path or query parameter",
}


def _errors(
    *statuses: int, words: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route, for the OpenAPI document (401 for every route);
    ``words`` says what a status means on this route when it is not the usual."""
    said = {**_ERROR_WORDS, **(words or {})}
    return {s: {"model": ErrorBody, "description": said[s]} for s in sorted({401, *statuses})}


error_responses = _errors  # for the routes of api/app.py


class WorkflowSummary(_Out):
    name: str
    version: int = Field(description="the head version: what a new run executes by default")
    versions: int = Field(description="how many versions are stored")
    description: str
    steps: list[str] = Field(description="step ids of the head version, in order")
    paused: bool = Field(description="new steps of this workflow's runs wait until it resumes")


class WorkflowList(_Out):
    workflows: list[WorkflowSummary]


class VersionOut(_Out):
    version: int
    created_at: str
    digest: str = Field(description="SHA-256 of the definition's content (equal for a restore)")
    head: bool


class VersionList(_Out):
    name: str
    versions: list[VersionOut]


class Restored(_Out):
    name: str
    version: int = Field(description="the new head version")
    restored_from: int


class WorkflowPaused(_Out):
    name: str
    paused: bool


class RunControlled(_Out):
    run_id: str
    status: str


class _LogItem(_Out):
    run_id: str
    workflow: str
    step_id: str
    step_index: int
    attempt: int
    agent_id: str | None
    decision: str = Field(description="the gate's decision: pass, retry, escalate or fail")
    finished_at: str


class QsrItem(_LogItem):
    qsr: float | None = Field(description="None when the attempt was not scored")


class MriItem(_LogItem):
    mri: float | None = Field(description="None when the attempt was not scored")
    factors: list[str] = Field(description="risk factor names, strongest first")


class QsrLog(_Out):
    items: list[QsrItem]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")


class MriLog(_Out):
    items: list[MriItem]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")


class AuditReport(_Out):
    ok: bool
    checked: int = Field(description="entries read")
    first_bad_seq: int | None
    reason: str
    tree_size: int = Field(0, description="leaves of the Merkle tree read")
    root_hash: str = Field("", description="hex RFC 6962 tree head of the entries read")
    checkpoints: int = Field(0, description="signed checkpoints that matched the log")
    bad_checkpoint: str | None = Field(None, description="the first checkpoint it contradicts")


# -- log query ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class LogQuery:
    """The filters and page of ``GET /logs/qsr`` and ``GET /logs/mri``."""

    workflow: str | None
    step: str | None
    agent: str | None
    since: datetime | None
    until: datetime | None
    below: float | None
    above: float | None
    after_cursor: str | None
    limit: int


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        422, "invalid_request", f"{field}: {message}", fields=[{"field": field, "message": message}]
    )


def _utc(value: datetime | None, field: str) -> datetime | None:
    """``value``, checked to have a UTC form in range (the store compares stored UTC text)."""
    if value is not None:
        try:
            stored_ts(value, field)
        except InputError as e:
            raise _invalid(field, e.reason) from None
    return value


_LOG_WORDS = {404: "the cursor is not one this API returned (cursor_not_found)"}
# a bare number is a valid datetime to pydantic (seconds since 1970); the API wants ISO-8601
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _iso(value: object) -> object:
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        raise ValueError("expected an ISO-8601 date or time, not a number")
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso)]


def log_query(
    workflow: Annotated[str | None, Query(pattern=_NAME, description="workflow name")] = None,
    step: Annotated[str | None, Query(pattern=_NAME, description="step id")] = None,
    agent: Annotated[
        str | None, Query(max_length=128, pattern=_PRINTABLE, description="agent id")
    ] = None,
    since: Annotated[
        IsoTime | None, Query(description="finished at or after (ISO-8601; no zone means UTC)")
    ] = None,
    until: Annotated[IsoTime | None, Query(description="finished before (ISO-8601)")] = None,
    below: Annotated[float | None, Query(ge=0, le=1, description="score strictly below")] = None,
    above: Annotated[float | None, Query(ge=0, le=1, description="score strictly above")] = None,
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=512, description="next_cursor of a page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_LIMIT)] = 100,
) -> LogQuery:
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except InputError as e:
            # well-formed as a string, but it points at no page: not found, like an unknown id
            raise ApiError(
                404,
                "cursor_not_found",
                f"query.cursor: {e.reason}",
                fields=[{"field": "query.cursor", "message": e.reason}],
            ) from None
    return LogQuery(
        workflow=workflow,
        step=step,
        agent=agent,
        since=_utc(since, "query.since"),
        until=_utc(until, "query.until"),
        below=below,
        above=above,
        after_cursor=cursor,
        limit=limit,
    )


Logs = Annotated[LogQuery, Depends(log_query)]


# -- the router -----------------------------------------------------------------------------------


def _summaries(defs: list[WorkflowDef], paused: set[str]) -> list[WorkflowSummary]:
    heads: dict[str, WorkflowDef] = {}
    counts: dict[str, int] = {}
    for d in defs:
        counts[d.name] = counts.get(d.name, 0) + 1
        if d.name not in heads or d.version > heads[d.name].version:
            heads[d.name] = d
    return [
        WorkflowSummary(
            name=name,
            version=head.version,
            versions=counts[name],
            description=head.description,
            steps=[s.id for s in head.steps],
            paused=name in paused,
        )
        for name, head in sorted(heads.items())
    ]


RunControl = Callable[[str], Coroutine[Any, Any, None]]


def ops_router() -> APIRouter:
    """The admin routes; ``create_app`` includes them next to ``/runs`` and ``/approvals``."""
    r = APIRouter()

    @r.get("/workflows", tags=["workflows"], responses=_errors())
    async def list_workflows(system: System, _: AnyRole) -> WorkflowList:
        """Every workflow: its head version, how many versions exist, whether it is paused."""
        defs = await system.store.list_workflows()
        paused: set[str] = await system.store.paused_workflows()
        return WorkflowList(workflows=_summaries(defs, paused))

    @r.get("/workflows/{name}/versions", tags=["workflows"], responses=_errors(404, 422))
    async def list_versions(name: WorkflowName, system: System, _: AnyRole) -> VersionList:
        """Every stored version of a workflow, oldest first."""
        versions: list[WorkflowVersion] = await system.store.list_workflow_versions(name=name)
        return VersionList(
            name=name,
            versions=[
                VersionOut(version=v.version, created_at=v.created_at, digest=v.digest, head=v.head)
                for v in versions
            ],
        )

    @r.post(
        "/workflows/{name}/restore/{version}", tags=["workflows"], responses=_errors(403, 404, 422)
    )
    async def restore(
        name: WorkflowName,
        version: Annotated[int, Path(ge=1, le=_INT32)],
        system: System,
        op: AdminRole,
    ) -> Restored:
        """Roll back: ``version``'s definition becomes a new head version (history is kept).

        Runs already started keep the version they started on; new runs get the new head.
        """
        restored: WorkflowDef = await system.store.restore_workflow(
            name=name, version=version, ts=iso(system.engine.clock.now()), by=op.operator_id
        )
        return Restored(name=name, version=restored.version, restored_from=version)

    @r.post("/workflows/{name}/pause", tags=["workflows"], responses=_errors(403, 404, 422))
    async def pause_workflow(
        name: WorkflowName, system: System, op: OperatorRole
    ) -> WorkflowPaused:
        """Pause a workflow: its runs stop at their next step boundary until it resumes."""
        # the engine stores the flag (audited, as the caller) and stops the runs here
        await system.engine.pause_workflow(name, by=op.operator_id)
        return WorkflowPaused(name=name, paused=True)

    @r.post("/workflows/{name}/resume", tags=["workflows"], responses=_errors(403, 404, 422))
    async def resume_workflow(
        name: WorkflowName, system: System, op: OperatorRole
    ) -> WorkflowPaused:
        """Resume a paused workflow: its paused runs continue where they stopped."""
        await system.engine.resume_workflow(name, by=op.operator_id)
        return WorkflowPaused(name=name, paused=False)

    async def control(system: System, run_id: str, action: RunControl) -> RunControlled:
        await action(run_id)
        rec: RunRecord = await system.store.get_run(run_id)
        return RunControlled(run_id=rec.run_id, status=rec.status.value)

    @r.post("/runs/{run_id}/pause", tags=["runs"], responses=_errors(403, 404, 409, 422))
    async def pause_run(run_id: RunId, system: System, _: OperatorRole) -> RunControlled:
        """Stop a pending or running run at its next step boundary."""
        return await control(system, run_id, system.engine.pause)

    @r.post("/runs/{run_id}/resume", tags=["runs"], responses=_errors(403, 404, 409, 422))
    async def resume_run(run_id: RunId, system: System, _: OperatorRole) -> RunControlled:
        """Continue a paused run from the step after its last completed one."""
        return await control(system, run_id, system.engine.resume)

    @r.post("/runs/{run_id}/cancel", tags=["runs"], responses=_errors(403, 404, 409, 422))
    async def cancel_run(run_id: RunId, system: System, _: OperatorRole) -> RunControlled:
        """Stop a run for good (pending, running, paused or escalated)."""
        return await control(system, run_id, system.engine.cancel)

    @r.get("/logs/qsr", tags=["logs"], responses=_errors(404, 422, words=_LOG_WORDS))
    async def qsr_log(q: Logs, system: System, _: AnyRole) -> QsrLog:
        """The QSR of every step attempt, oldest first, filtered; paged by ``next_cursor``."""
        page: ScorePage = await system.store.qsr_log(
            workflow=q.workflow,
            step=q.step,
            agent=q.agent,
            since=q.since,
            until=q.until,
            below=q.below,
            above=q.above,
            after_cursor=q.after_cursor,
            limit=q.limit,
        )
        return QsrLog(
            items=[QsrItem.model_validate(e.to_dict()) for e in page.items],
            next_cursor=page.next_cursor,
        )

    @r.get("/logs/mri", tags=["logs"], responses=_errors(404, 422, words=_LOG_WORDS))
    async def mri_log(q: Logs, system: System, _: AnyRole) -> MriLog:
        """The MRI of every step attempt with its risk factors; filters as ``/logs/qsr``."""
        page: ScorePage = await system.store.mri_log(
            workflow=q.workflow,
            step=q.step,
            agent=q.agent,
            since=q.since,
            until=q.until,
            below=q.below,
            above=q.above,
            after_cursor=q.after_cursor,
            limit=q.limit,
        )
        return MriLog(
            items=[MriItem.model_validate(e.to_dict()) for e in page.items],
            next_cursor=page.next_cursor,
        )

    @r.get("/audit/verify", tags=["audit"], responses=_errors())
    async def verify_audit(system: System, _: AnyRole, allow_empty: bool = False) -> AuditReport:
        """Check the audit chain, its head and its Merkle tree against the stored checkpoints
        (signatures checked with this server's key, if it has one); names the first bad entry
        or checkpoint. An empty log is not ok unless ``allow_empty``."""
        report = await verify_system_log(system, allow_empty=allow_empty)
        return AuditReport.model_validate(dataclasses.asdict(report))

    return r
