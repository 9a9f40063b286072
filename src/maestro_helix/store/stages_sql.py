"""SQL of rollouts: version stages, sign-offs, canaries and each new run's route.

Each function runs inside the transaction the store's writer thread opened, and calls the pure
rules (``governance/stages.py``, ``governance/sequential.py``) inside it, so what is checked and
what is written are one transaction: two processes cannot both record the last sign-off, both
end a canary, or create runs on a version a rollback has just blocked (:class:`RouteChanged`).
A version without a ``workflow_stages`` row is a draft.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, exists, func, select, update
from sqlalchemy.engine import Connection

from maestro_helix.core.audit import AuditDraft, AuditKind
from maestro_helix.core.errors import WorkflowNotFound
from maestro_helix.core.records import EventRecord, NewRun
from maestro_helix.core.rollout import (
    Arm,
    CanaryConfig,
    CanaryDecision,
    CanaryStatus,
    RouteChanged,
    RoutePlan,
    RunRoute,
    SignOff,
    Stage,
    StageRefused,
)
from maestro_helix.governance.policy import Role
from maestro_helix.governance.sequential import ArmCounts, Evaluation, evaluate
from maestro_helix.governance.stages import (
    RolloutPolicy,
    missing_signoffs,
    signoff_refusal,
    transition_refusal,
)
from maestro_helix.store import schema as t
from maestro_helix.store.reroute_sql import pause_candidate_runs
from maestro_helix.store.sql import WriteBatch, append_audit, event_row, lock_chain

__all__ = [
    "CanaryRecord",
    "Outcome",
    "StageView",
    "VersionStage",
    "abort_canary",
    "canary",
    "create_routed_runs",
    "evaluate_canary",
    "promote",
    "recent_rollbacks",
    "route_plan",
    "running_canaries",
    "sign_off",
    "stage_view",
    "start_canary",
]

_BAD = ("failed",)


@dataclass(frozen=True, slots=True)
class VersionStage:
    version: int
    stage: Stage
    entered_at: str | None
    entered_by: str | None
    signoffs: tuple[SignOff, ...] = ()


@dataclass(frozen=True, slots=True)
class CanaryRecord:
    canary_id: str
    workflow: str
    candidate: int
    stable: int
    status: CanaryStatus
    config: CanaryConfig
    started_at: str
    started_by: str | None
    ended_at: str | None
    ended_by: str | None
    reason: str | None
    evaluations: int
    last_evaluation: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class StageView:
    workflow: str
    versions: tuple[VersionStage, ...]
    canary: CanaryRecord | None  # the running one, else the newest


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a rollout operation did: what to say, and the events to publish (already stored)."""

    message: str
    stage: Stage | None = None
    missing: tuple[str, ...] = ()
    canary: CanaryRecord | None = None
    evaluation: Evaluation | None = None
    events: tuple[EventRecord, ...] = field(default_factory=tuple)


# -- reading -------------------------------------------------------------------------------------


def _stage_of(conn: Connection, name: str, version: int) -> Stage:
    s = t.workflow_stages.c
    row = conn.execute(select(s.stage).where(s.name == name, s.version == version)).first()
    return Stage.DRAFT if row is None else Stage(row.stage)


def _production(conn: Connection, name: str) -> int | None:
    s = t.workflow_stages.c
    v = conn.execute(
        select(s.version).where(s.name == name, s.stage == Stage.PRODUCTION.value)
    ).scalar()
    return None if v is None else int(v)


def _signoffs(conn: Connection, name: str, version: int | None = None) -> list[SignOff]:
    c = t.workflow_signoffs.c
    q = select(t.workflow_signoffs).where(c.name == name).order_by(c.id)
    if version is not None:
        q = q.where(c.version == version)
    return [
        SignOff(
            r.name,
            int(r.version),
            Stage(r.target),
            r.signed_as,
            r.operator_id,
            r.role,
            r.ts,
            r.note,
            dict(r.details),
        )
        for r in conn.execute(q)
    ]


def _canary(row: Any) -> CanaryRecord:
    return CanaryRecord(
        row.canary_id,
        row.name,
        int(row.candidate),
        int(row.stable),
        CanaryStatus(row.status),
        CanaryConfig.from_json(row.config),
        row.started_at,
        row.started_by,
        row.ended_at,
        row.ended_by,
        row.reason,
        int(row.evaluations),
        None if row.last_evaluation is None else dict(row.last_evaluation),
    )


def canary(conn: Connection, name: str, *, running_only: bool = False) -> CanaryRecord | None:
    """The workflow's running canary, else (unless ``running_only``) its newest one."""
    c = t.canaries.c
    q = select(t.canaries).where(c.name == name)
    running = conn.execute(q.where(c.status == CanaryStatus.RUNNING.value)).first()
    if running is not None or running_only:
        return None if running is None else _canary(running)
    row = conn.execute(q.order_by(c.started_at.desc(), c.canary_id).limit(1)).first()
    return None if row is None else _canary(row)


def route_plan(conn: Connection, name: str) -> RoutePlan:
    s = t.workflow_stages.c
    blocked = frozenset(
        int(v)
        for v in conn.execute(
            select(s.version).where(s.name == name, s.stage == Stage.ROLLED_BACK.value)
        ).scalars()
    )
    prod = _production(conn, name)
    cn = canary(conn, name, running_only=True)
    token = f"{prod}/{cn.canary_id if cn else '-'}/{sorted(blocked)}"
    if cn is None:
        return RoutePlan(name, prod, blocked=blocked, token=token)
    return RoutePlan(name, prod, cn.canary_id, cn.candidate, cn.config.share, blocked, token)


def stage_view(conn: Connection, name: str) -> StageView:
    versions = [
        int(v)
        for v in conn.execute(
            select(t.workflows.c.version)
            .where(t.workflows.c.name == name)
            .order_by(t.workflows.c.version)
        ).scalars()
    ]
    if not versions:
        raise WorkflowNotFound(name)
    s = t.workflow_stages.c
    rows = {
        int(r.version): r for r in conn.execute(select(t.workflow_stages).where(s.name == name))
    }
    signs = _signoffs(conn, name)
    out = []
    for v in versions:
        r = rows.get(v)
        out.append(
            VersionStage(
                v,
                Stage.DRAFT if r is None else Stage(r.stage),
                None if r is None else r.entered_at,
                None if r is None else r.entered_by,
                tuple(x for x in signs if x.version == v),
            )
        )
    return StageView(name, tuple(out), canary(conn, name))


# -- writing -------------------------------------------------------------------------------------


def create_routed_runs(
    conn: Connection,
    runs: Sequence[NewRun],
    events: Sequence[EventRecord],
    routes: Sequence[RunRoute],
    token: str,
) -> None:
    """Store runs with their routes, if the plan they were routed by is still the current one."""
    if runs and route_plan(conn, runs[0].workflow).token != token:
        raise RouteChanged(f"the rollout of {runs[0].workflow} changed while runs were submitted")
    batch = WriteBatch()
    batch.add_runs(runs, events)
    batch.flush(conn)
    if routes:
        conn.execute(
            t.run_routes.insert(),
            [
                {
                    "run_id": r.run_id,
                    "name": runs[0].workflow,
                    "version": r.version,
                    "reason": r.reason.value,
                    "canary_id": r.canary_id,
                    "arm": None if r.arm is None else r.arm.value,
                    "key_hash": r.key_hash,
                }
                for r in routes
            ],
        )


def _set_stage(
    conn: Connection, name: str, version: int, stage: Stage, ts: str, by: str | None
) -> None:
    s = t.workflow_stages.c
    done = conn.execute(
        update(t.workflow_stages)
        .where(s.name == name, s.version == version)
        .values(stage=stage.value, entered_at=ts, entered_by=by)
    )
    if done.rowcount == 0:
        conn.execute(
            t.workflow_stages.insert(),
            {
                "name": name,
                "version": version,
                "stage": stage.value,
                "entered_at": ts,
                "entered_by": by,
            },
        )


def _record(
    conn: Connection,
    name: str,
    version: int,
    kind: AuditKind,
    ts: str,
    by: str | None,
    details: dict[str, Any],
) -> EventRecord:
    """One audit entry and one event (same id, same details) for a rollout step."""
    entry_id = f"workflow/{name}/{kind}/{uuid.uuid4()}"
    append_audit(
        conn,
        [
            AuditDraft(
                entry_id=entry_id,
                ts=ts,
                kind=kind,
                workflow=name,
                workflow_version=version,
                human_operator_id=by or "",
                details=details,
            )
        ],
    )
    ev = EventRecord(
        entry_id, kind.value, ts, None, name, None, {"workflow_version": version, **details}
    )
    conn.execute(t.reflexive_events.insert(), [event_row(ev)])
    return ev


def _require_version(conn: Connection, name: str, version: int) -> None:
    w = t.workflows.c
    if conn.execute(select(w.version).where(w.name == name, w.version == version)).first() is None:
        raise WorkflowNotFound(name, version)


def _go(report: Any) -> bool | None:
    return None if not isinstance(report, dict) else report.get("verdict") == "GO"


def sign_off(
    conn: Connection,
    s: SignOff,
    policy: RolloutPolicy,
    irreversible_added: bool,
) -> Outcome:
    """Record one sign-off (refused with the rule's reason); audited."""
    lock_chain(conn)
    _require_version(conn, s.workflow, s.version)
    stage = _stage_of(conn, s.workflow, s.version)
    existing = _signoffs(conn, s.workflow, s.version)
    why = signoff_refusal(
        policy,
        stage=stage,
        target=s.target,
        signed_as=s.signed_as,
        operator_id=s.operator_id,
        role=Role(s.role),
        irreversible_added=irreversible_added,
        existing=existing,
        report_go=_go(s.details.get("report")),
    )
    if why is not None:
        raise StageRefused(why)
    conn.execute(
        t.workflow_signoffs.insert(),
        {
            "name": s.workflow,
            "version": s.version,
            "target": s.target.value,
            "signed_as": s.signed_as,
            "operator_id": s.operator_id,
            "role": s.role,
            "ts": s.ts,
            "note": s.note,
            "details": dict(s.details),
        },
    )
    details = {"target": s.target.value, "signed_as": s.signed_as, "role": s.role, "note": s.note}
    ev = _record(
        conn,
        s.workflow,
        s.version,
        AuditKind.WORKFLOW_SIGNOFF,
        s.ts,
        s.operator_id,
        {**details, **s.details},
    )
    missing = missing_signoffs(policy, s.target, irreversible_added, [*existing, s])
    return Outcome(f"{s.operator_id} signed as {s.signed_as}", stage, tuple(missing), events=(ev,))


def promote(
    conn: Connection,
    name: str,
    version: int,
    target: Stage,
    ts: str,
    by: str,
    policy: RolloutPolicy,
    irreversible_added: bool,
    report: dict[str, Any] | None,
) -> Outcome:
    """Move a version to ``target`` if the rules allow it now; audited.

    To production: the first production version directly; later ones only through a canary
    (a running canary of this version ends promoted: promotion by a person)."""
    lock_chain(conn)
    _require_version(conn, name, version)
    stage = _stage_of(conn, name, version)
    signs = _signoffs(conn, name, version)
    go = _go(report)
    why = transition_refusal(
        policy,
        stage=stage,
        target=target,
        irreversible_added=irreversible_added,
        signoffs=signs,
        report_go=go,
    )
    if why is not None:
        raise StageRefused(why)
    details: dict[str, Any] = {"from": stage.value, "to": target.value}
    if report is not None:
        details["report"] = report
    if target is Stage.PRODUCTION:
        running = canary(conn, name, running_only=True)
        prod = _production(conn, name)
        if prod is not None and (running is None or running.candidate != version):
            raise StageRefused(
                f"v{prod} is in production: v{version} gets there through a canary "
                f"(maestro workflows canary start {name} {version})",
                code="needs_canary",
            )
        if running is not None:
            done = _end_canary(conn, running, CanaryStatus.PROMOTED, ts, by, f"promoted by {by}")
            return Outcome(
                f"v{version} promoted to production by {by}", Stage.PRODUCTION, events=done
            )
    _set_stage(conn, name, version, target, ts, by)
    ev = _record(conn, name, version, AuditKind.WORKFLOW_PROMOTED, ts, by, details)
    return Outcome(f"v{version} is now {target.value}", target, events=(ev,))


def start_canary(
    conn: Connection,
    name: str,
    version: int,
    cfg: CanaryConfig,
    ts: str,
    by: str,
    policy: RolloutPolicy,
    report: dict[str, Any] | None,
    canary_id: str | None = None,
) -> Outcome:
    """Start sending ``cfg.share`` of new runs to ``version``; it must be ready for production
    (staging, product owner signed, the staging window's report GO) and another be live."""
    lock_chain(conn)
    _require_version(conn, name, version)
    prod = _production(conn, name)
    if prod is None:
        raise StageRefused(f"{name} has no production version: promote v{version} directly")
    if canary(conn, name, running_only=True) is not None:
        raise StageRefused(f"a canary of {name} is already running", code="conflict")
    why = transition_refusal(
        policy,
        stage=_stage_of(conn, name, version),
        target=Stage.PRODUCTION,
        irreversible_added=False,
        signoffs=_signoffs(conn, name, version),
        report_go=_go(report),
    )
    if why is not None:
        raise StageRefused(why)
    row = {
        "canary_id": canary_id or str(uuid.uuid4()),
        "name": name,
        "candidate": version,
        "stable": prod,
        "status": CanaryStatus.RUNNING.value,
        "config": cfg.as_json(),
        "started_at": ts,
        "started_by": by,
        "evaluations": 0,
    }
    conn.execute(t.canaries.insert(), row)
    cn = canary(conn, name, running_only=True)
    assert cn is not None
    details = {"canary_id": cn.canary_id, "stable": prod, "config": cfg.as_json(), "report": report}
    ev = _record(conn, name, version, AuditKind.CANARY_STARTED, ts, by, details)
    return Outcome(
        f"canary of v{version} started: {cfg.share:.0%} of new runs", canary=cn, events=(ev,)
    )


def _counts(conn: Connection, canary_id: str) -> dict[Arm, ArmCounts]:
    r, rr, st = t.runs.c, t.run_routes.c, t.steps.c
    escalated = exists().where(and_(st.run_id == r.run_id, st.decision == "escalate"))
    settled = case(
        (escalated, 1),
        (r.status.in_(["completed", "failed", "cancelled", "escalated"]), 1),
        else_=0,
    )
    bad = case((escalated, 1), (r.status.in_(_BAD), 1), else_=0)
    rows = conn.execute(
        select(rr.arm, settled.label("settled"), bad.label("bad"), func.count().label("n"))
        .select_from(t.run_routes.join(t.runs, t.runs.c.run_id == rr.run_id))
        .where(rr.canary_id == canary_id)
        .group_by(rr.arm, settled, bad)
    )
    acc: dict[Arm, list[int]] = {Arm.STABLE: [0, 0, 0], Arm.CANDIDATE: [0, 0, 0]}
    for row in rows:
        a = acc[Arm(row.arm)]
        if row.settled:
            a[0] += int(row.n)
            a[1] += int(row.n) if row.bad else 0
        else:
            a[2] += int(row.n)
    return {arm: ArmCounts(*v) for arm, v in acc.items()}


def _end_canary(
    conn: Connection, cn: CanaryRecord, status: CanaryStatus, ts: str, by: str | None, reason: str
) -> tuple[EventRecord, ...]:
    c = t.canaries.c
    conn.execute(
        update(t.canaries)
        .where(c.canary_id == cn.canary_id)
        .values(status=status.value, ended_at=ts, ended_by=by, reason=reason)
    )
    events: list[EventRecord] = []
    details: dict[str, Any] = {"canary_id": cn.canary_id, "stable": cn.stable, "reason": reason}
    if status is CanaryStatus.PROMOTED:
        _set_stage(conn, cn.workflow, cn.stable, Stage.RETIRED, ts, by)
        _set_stage(conn, cn.workflow, cn.candidate, Stage.PRODUCTION, ts, by)
    elif status is CanaryStatus.ROLLED_BACK:
        _set_stage(conn, cn.workflow, cn.candidate, Stage.ROLLED_BACK, ts, by)
        if cn.config.pause_in_flight:
            events = pause_candidate_runs(conn, cn.canary_id, cn.workflow, ts)
            details["paused_runs"] = len(events)
    kind = {
        CanaryStatus.PROMOTED: AuditKind.CANARY_PROMOTED,
        CanaryStatus.ROLLED_BACK: AuditKind.CANARY_ROLLED_BACK,
        CanaryStatus.ABORTED: AuditKind.CANARY_ABORTED,
    }[status]
    events.append(_record(conn, cn.workflow, cn.candidate, kind, ts, by, details))
    return tuple(events)


def evaluate_canary(conn: Connection, name: str, ts: str, by: str | None = None) -> Outcome | None:
    """Look at the running canary of ``name`` (None: there is none): count both arms from the
    store, decide, and record the evaluation (only when the counts changed since the last one)
    and any rollback or promotion it decides."""
    lock_chain(conn)
    cn = canary(conn, name, running_only=True)
    if cn is None:
        return None
    counts = _counts(conn, cn.canary_id)
    ev = evaluate(counts[Arm.CANDIDATE], counts[Arm.STABLE], cn.config)
    body = ev.as_json()
    last = cn.last_evaluation or {}
    same = {k: last.get(k) for k in ("candidate", "stable")} == {
        k: body[k] for k in ("candidate", "stable")
    }
    if same and ev.decision is CanaryDecision.CONTINUE:
        return Outcome(ev.reason, canary=cn, evaluation=ev)
    events = [
        _record(
            conn,
            name,
            cn.candidate,
            AuditKind.CANARY_EVALUATED,
            ts,
            by,
            {"canary_id": cn.canary_id, **body},
        )
    ]
    conn.execute(
        update(t.canaries)
        .where(t.canaries.c.canary_id == cn.canary_id)
        .values(evaluations=cn.evaluations + 1, last_evaluation=body)
    )
    if ev.decision is CanaryDecision.ROLLBACK:
        events += _end_canary(conn, cn, CanaryStatus.ROLLED_BACK, ts, by, ev.reason)
    elif ev.decision is CanaryDecision.PROMOTE:
        events += _end_canary(conn, cn, CanaryStatus.PROMOTED, ts, by, ev.reason)
    return Outcome(ev.reason, canary=canary(conn, name), evaluation=ev, events=tuple(events))


def abort_canary(conn: Connection, name: str, ts: str, by: str, reason: str) -> Outcome:
    """Stop the running canary by hand: every new run goes to stable again; the candidate stays
    in staging (it may be tried again)."""
    lock_chain(conn)
    cn = canary(conn, name, running_only=True)
    if cn is None:
        raise StageRefused(f"no canary of {name} is running", code="not_found")
    ev = _end_canary(conn, cn, CanaryStatus.ABORTED, ts, by, reason or f"aborted by {by}")
    return Outcome(f"canary of v{cn.candidate} aborted", canary=canary(conn, name), events=ev)


def running_canaries(conn: Connection) -> list[str]:
    """Names of the workflows with a running canary (housekeeping evaluates these)."""
    c = t.canaries.c
    q = select(c.name).where(c.status == CanaryStatus.RUNNING.value).order_by(c.name)
    return [str(n) for n in conn.execute(q).scalars()]


def recent_rollbacks(conn: Connection, since: str) -> dict[str, int]:
    """Workflow → its canaries rolled back at or after ``since``, for every workflow that has had a
    canary (0 where none was recent): what the rollback alert reads, the same in every process
    whichever process decided (housekeeping, the API, a CLI)."""
    c = t.canaries.c
    recent = case(
        (and_(c.status == CanaryStatus.ROLLED_BACK.value, c.ended_at >= since), 1), else_=0
    )
    q = select(c.name, func.sum(recent)).group_by(c.name).order_by(c.name)
    return {str(n): int(k or 0) for n, k in conn.execute(q)}
