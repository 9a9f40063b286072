"""SQL of a rolled-back candidate's runs: paused at the rollback (``pause_in_flight``), or
re-routed to stable at their first step.

A canary's rollback blocks its candidate for new runs at once (``stages_sql.route_plan``); the
runs already routed to it that have not started a step yet are moved here, one at a time, by the
engine at their first step (:func:`first_step`, ``engine/rollout.py``), however the run gets
there (the local queue, a resume, a worker's first item). They have done nothing yet, so they run
the version every new run gets now: the workflow's production version, which after a rollback is
the canary's stable one. Each move is audited (``run.rerouted``) and its event stored with it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import exists, select, update
from sqlalchemy.engine import Connection

from maestro_helix.core.audit import AuditDraft, AuditKind
from maestro_helix.core.records import EventRecord, RunStatus, Transition
from maestro_helix.core.rollout import Arm, RouteReason, Stage
from maestro_helix.store import schema as t
from maestro_helix.store.sql import append_audit, event_row, lock_chain, transition

__all__ = ["ROLLED_BACK_RUN", "FirstStep", "first_step", "pause_candidate_runs"]

ROLLED_BACK_RUN = "canary rolled back"


@dataclass(frozen=True, slots=True)
class FirstStep:
    """What a run about to start must do instead of its version's first step.

    ``version``: run this version (the run was re-routed to it; ``events`` were stored).
    ``stopped``: do not run at all (the run is no longer pending or running, e.g. the rollback
    paused it): its status."""

    version: int | None = None
    stopped: RunStatus | None = None
    events: tuple[EventRecord, ...] = ()


_GO_ON = (RunStatus.PENDING.value, RunStatus.RUNNING.value)


def first_step(conn: Connection, run_id: str, ts: str) -> FirstStep | None:
    """None: the run may start on its version (the common case: one read). Otherwise the run's
    version was rolled back and it has no step yet: re-routed to production (or, stopped by
    someone meanwhile, left as it is)."""
    r, s = t.runs.c, t.workflow_stages.c
    stage = (  # its version's stage, in the same read (one round trip per run on PostgreSQL)
        select(s.stage)
        .where(s.name == r.workflow, s.version == r.workflow_version)
        .scalar_subquery()
        .label("stage")
    )
    row = conn.execute(
        select(r.workflow, r.workflow_version, r.status, stage).where(r.run_id == run_id)
    ).first()
    if row is None or row.stage != Stage.ROLLED_BACK.value:
        return None
    lock_chain(conn)  # the audit entry; and serialised with the rollout's own transactions
    started = conn.execute(select(exists().where(t.steps.c.run_id == run_id))).scalar()
    if started:  # it ran candidate steps: it finishes (or was paused) by the canary's policy
        return None
    if row.status not in _GO_ON:
        return FirstStep(stopped=RunStatus(row.status))
    name, old = str(row.workflow), int(row.workflow_version)
    stable = conn.execute(
        select(s.version).where(s.name == name, s.stage == Stage.PRODUCTION.value)
    ).scalar()
    if stable is None:  # nothing live to run instead: it never runs on the rolled-back one
        return FirstStep(stopped=RunStatus(row.status))
    stable = int(stable)
    conn.execute(update(t.runs).where(r.run_id == run_id).values(workflow_version=stable))
    rr = t.run_routes.c
    moved = conn.execute(
        update(t.run_routes)
        .where(rr.run_id == run_id)
        .values(version=stable, reason=RouteReason.REROUTED.value)
    )
    if moved.rowcount == 0:
        conn.execute(
            t.run_routes.insert(),
            {"run_id": run_id, "name": name, "version": stable, "reason": "rerouted"},
        )
    details = {
        "from_version": old,
        "to_version": stable,
        "reason": f"v{old} was rolled back before this run started: it runs v{stable}",
    }
    entry_id = f"{run_id}/rerouted/{uuid.uuid4()}"
    append_audit(
        conn,
        [
            AuditDraft(
                entry_id=entry_id,
                ts=ts,
                kind=AuditKind.RUN_REROUTED,
                run_id=run_id,
                workflow=name,
                workflow_version=stable,
                details=details,
            )
        ],
    )
    ev = EventRecord(entry_id, "run.rerouted", ts, run_id, name, None, details)
    conn.execute(t.reflexive_events.insert(), [event_row(ev)])
    return FirstStep(version=stable, events=(ev,))


def pause_candidate_runs(
    conn: Connection, canary_id: str, workflow: str, ts: str
) -> list[EventRecord]:
    """At a rollback with ``pause_in_flight``: pause every pending or running run the canary
    routed to its candidate (one ``run.paused`` event each, reason :data:`ROLLED_BACK_RUN`)."""
    rr, r = t.run_routes.c, t.runs.c
    ids = conn.execute(
        select(r.run_id)
        .select_from(t.run_routes.join(t.runs, t.runs.c.run_id == rr.run_id))
        .where(rr.canary_id == canary_id, rr.arm == Arm.CANDIDATE.value)
        .where(r.status.in_(_GO_ON))
    ).scalars()
    events = []
    for run_id in ids:
        ev = EventRecord(
            f"{run_id}/canary-paused",
            "run.paused",
            ts,
            run_id,
            workflow,
            None,
            {"reason": ROLLED_BACK_RUN},
        )
        allowed = (RunStatus.PENDING, RunStatus.RUNNING)
        transition(
            conn, Transition(run_id, RunStatus.PAUSED, allowed, ts, ROLLED_BACK_RUN, events=(ev,))
        )
        events.append(ev)
    return events
