"""The Store contract, run against every backend."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from maestro_helix.core.errors import InvalidTransition, RunNotFound, StoreError, WorkflowNotFound
from maestro_helix.core.workflow import parse_definition
from maestro_helix.governance.audit import AuditDraft
from maestro_helix.store.base import (
    EventRecord,
    NewRun,
    RunStatus,
    StepCommit,
    StepRecord,
    Store,
    Transition,
)

TS = "2026-01-01T00:00:00.000000+00:00"
WF = parse_definition(
    {"name": "wf", "steps": [{"id": "a", "capability": "c"}, {"id": "b", "capability": "c"}]}
)


def new_run(run_id: str | None = None) -> NewRun:
    return NewRun(run_id or str(uuid.uuid4()), "wf", 1, {"topic": "tea"}, TS)


def step(run_id: str, index: int = 0, attempt: int = 1, decision: str = "pass") -> StepRecord:
    return StepRecord(
        run_id=run_id,
        step_index=index,
        attempt=attempt,
        step_id="ab"[index],
        agent_id="x",
        capability="c",
        decision=decision,
        qsr=0.9,
        mri=0.0,
        output={"text": "t", "data": {}},
        quality={"score": 0.9},
        risk={"score": 0.0},
        verdict={"decision": decision, "reasons": []},
        agent_error=None,
        started_at=TS,
        finished_at=TS,
        latency_ms=1.0,
        eval_latency_ms=0.5,
    )


def audit(run_id: str) -> AuditDraft:
    return AuditDraft(entry_id=str(uuid.uuid4()), ts=TS, kind="step.decision", run_id=run_id)


def event(run_id: str) -> EventRecord:
    return EventRecord(str(uuid.uuid4()), "step.evaluated", TS, run_id, "wf", "a", {"qsr": 0.9})


async def test_unchanged_definition_keeps_version_changed_gets_next(store: Store) -> None:
    v1 = await store.save_workflow(WF, TS)
    again = await store.save_workflow(WF, TS)
    changed = WF.model_copy(update={"description": "new"})
    v2 = await store.save_workflow(changed, TS)
    assert (v1.version, again.version, v2.version) == (1, 1, 2)
    assert (await store.get_workflow("wf")).description == "new"
    assert (await store.get_workflow("wf", 1)).description == ""


async def test_unknown_workflow_is_a_clear_error(store: Store) -> None:
    with pytest.raises(WorkflowNotFound, match="no workflow 'nope'"):
        await store.get_workflow("nope")


async def test_step_commit_writes_step_run_audit_and_events_together(store: Store) -> None:
    await store.save_workflow(WF, TS)
    r = new_run()
    await store.create_runs([r])
    stopped = await store.commit_step(
        StepCommit(
            step(r.run_id),
            RunStatus.RUNNING,
            1,
            audit=[audit(r.run_id)],
            events=[event(r.run_id)],
            updated_at=TS,
        )
    )
    assert stopped is None
    rec = await store.get_run(r.run_id)
    assert (rec.status, rec.next_step) == (RunStatus.RUNNING, 1)
    assert len(await store.step_records(r.run_id)) == 1
    assert await store.count("audit_log") == 1
    assert [e.type for e in await store.events(run_id=r.run_id)] == ["step.evaluated"]


async def test_a_bad_commit_fails_alone_and_writes_nothing(store: Store) -> None:
    await store.save_workflow(WF, TS)
    good = new_run()
    await store.create_runs([good])
    await store.commit_step(StepCommit(step(good.run_id), RunStatus.RUNNING, 1, updated_at=TS))
    dup = StepCommit(
        step(good.run_id),
        RunStatus.RUNNING,
        1,
        audit=[audit(good.run_id)],
        events=[event(good.run_id)],
        updated_at=TS,
    )
    other = new_run()
    await store.create_runs([other])
    ok = StepCommit(
        step(other.run_id), RunStatus.RUNNING, 1, audit=[audit(other.run_id)], updated_at=TS
    )
    results = await asyncio.gather(
        store.commit_step(dup), store.commit_step(ok), return_exceptions=True
    )
    assert isinstance(results[0], StoreError)
    assert results[1] is None
    # the duplicate left no audit entry or event behind; the good one landed
    assert await store.count("audit_log") == 1
    assert await store.count("reflexive_events") == 0
    assert (await store.verify_audit()).ok


async def test_commit_on_a_paused_run_keeps_it_paused_and_says_so(store: Store) -> None:
    r = new_run()
    await store.create_runs([r])
    await store.transition(
        Transition(r.run_id, RunStatus.PAUSED, (RunStatus.PENDING, RunStatus.RUNNING), TS)
    )
    stopped = await store.commit_step(
        StepCommit(step(r.run_id), RunStatus.RUNNING, 1, updated_at=TS)
    )
    assert stopped is RunStatus.PAUSED
    rec = await store.get_run(r.run_id)
    assert (rec.status, rec.next_step) == (RunStatus.PAUSED, 1)


async def test_transition_from_wrong_state_is_refused(store: Store) -> None:
    r = new_run()
    await store.create_runs([r])
    with pytest.raises(InvalidTransition, match="cannot go from 'pending' to 'running'"):
        await store.transition(Transition(r.run_id, RunStatus.RUNNING, (RunStatus.PAUSED,), TS))


async def test_unknown_run_is_a_clear_error(store: Store) -> None:
    with pytest.raises(RunNotFound):
        await store.get_run("nope")


async def test_list_runs_filters_and_pages(store: Store) -> None:
    runs = [new_run() for _ in range(7)]
    await store.create_runs(runs)
    await store.transition(
        Transition(runs[0].run_id, RunStatus.CANCELLED, (RunStatus.PENDING,), TS)
    )
    page = await store.list_runs(limit=3)
    assert page.total == 7 and len(page.runs) == 3
    cancelled = await store.list_runs(status=RunStatus.CANCELLED)
    assert [r.run_id for r in cancelled.runs] == [runs[0].run_id]
    assert len(await store.run_ids([RunStatus.PENDING])) == 6


async def test_many_concurrent_commits_all_land(store: Store) -> None:
    runs = [new_run() for _ in range(300)]
    await store.create_runs(runs)
    await asyncio.gather(
        *(
            store.commit_step(
                StepCommit(
                    step(r.run_id),
                    RunStatus.RUNNING,
                    1,
                    audit=[audit(r.run_id)],
                    events=[event(r.run_id)],
                    updated_at=TS,
                )
            )
            for r in runs
        )
    )
    assert await store.count("steps") == 300
    assert await store.count("reflexive_events") == 300
    report = await store.verify_audit()
    assert report.ok and report.checked == 300


async def test_agent_stats_aggregate_steps(store: Store) -> None:
    r = new_run()
    await store.create_runs([r])
    await store.commit_step(
        StepCommit(step(r.run_id, 0, 1, "retry"), RunStatus.RUNNING, 0, updated_at=TS)
    )
    await store.commit_step(
        StepCommit(step(r.run_id, 0, 2, "pass"), RunStatus.RUNNING, 1, updated_at=TS)
    )
    (stat,) = await store.agent_stats()
    assert (stat.agent_id, stat.passed, stat.total) == ("x", 1, 2)


async def test_closed_store_refuses_work(store: Store) -> None:
    await store.aclose()
    with pytest.raises(StoreError):
        await store.get_run("x")
