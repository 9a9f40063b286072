"""The demo's summary: a few queries whatever the batch size, figures that mean something, and
the audit entries of the batch checked against the chain."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from maestro_helix import Maestro
from maestro_helix.agents.demo import demo_tasks
from maestro_helix.appspec import demo_app
from maestro_helix.cli.summary import (
    SUMMARY_KINDS,
    BatchSummary,
    Marks,
    percentile,
    read_since,
    verify_since,
)
from maestro_helix.engine.engine import RunResult, StepSummary
from maestro_helix.store.base import RunStatus, Store
from maestro_helix.store.sqlite import SQLiteStore


class CountingStore:
    """The real store, with every awaited call counted (a spy, not a fake: it forwards)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        async def counted(*a: Any, **kw: Any) -> Any:
            self.calls.append(name)
            return await attr(*a, **kw)

        return counted


async def run_batch(path: Path, n: int) -> tuple[BatchSummary, list[str], Marks, Maestro]:
    spec = demo_app()
    async with Maestro.open(
        path, agents=spec.agents, action_types=spec.action_types, resume=False
    ) as m:
        defn = await m.engine.register(spec.workflows[0])
        marks = await Marks.take(m.store)
        ids = await m.engine.submit_many(defn, demo_tasks(n, seed=3))
        summary = BatchSummary()
        for i in ids:
            summary.add(await m.engine.wait(i))
        spy = CountingStore(m.store)
        batch = await read_since(spy, marks.audit, SUMMARY_KINDS)  # type: ignore[arg-type]
        await summary.add_governance(spy, ids, batch)  # type: ignore[arg-type]
    return summary, spy.calls, marks, m


async def test_the_summary_costs_a_few_queries_not_one_per_run(tmp_path: Path) -> None:
    summary, calls, _, _ = await run_batch(tmp_path / "s.db", 120)
    assert summary.runs == 120
    assert len(calls) <= 4, calls
    # the figures are the store's: every completed run of the demo ran its action once
    assert summary.actions_run == summary.completed
    assert summary.pending_requests == summary.runs - summary.completed - summary.failed


async def test_the_batch_audit_entries_are_verified_and_a_change_is_caught(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a.db"
    await run_batch(db, 10)  # an earlier batch: the chain does not start at this one
    store = SQLiteStore(db)
    async with store:
        before = await store.count("audit_log")
    _, _, marks, _ = await run_batch(db, 10)
    async with SQLiteStore(db) as store:
        report = await verify_since(store, marks.audit)
        total = await store.count("audit_log")
    assert marks.audit == before
    assert report.ok and report.checked == total - before
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_log SET agent_id = 'someone-else' WHERE seq = ?", (before + 3,))
    async with SQLiteStore(db) as store:
        bad = await verify_since(store, marks.audit)
    assert not bad.ok and bad.first_bad_seq == before + 3


def attempt(qsr: float, mri: float) -> StepSummary:
    return StepSummary("s", 1, "a", "pass", qsr, mri, 1.0)


def test_qsr_figures_are_the_low_tail_and_the_share_below_the_gate() -> None:
    s = BatchSummary(min_qsr=0.7, max_mri=0.3)
    scores = [0.95] * 97 + [0.5, 0.6, 0.65]
    s.add(RunResult("r", RunStatus.COMPLETED, tuple(attempt(q, 0.1) for q in scores[:-1])))
    s.add(RunResult("r2", RunStatus.COMPLETED, (attempt(scores[-1], 0.5),)))
    rows = dict(s.rows(1.0))
    assert rows["QSR mean / p1"] == f"{sum(scores) / 100:.3f} / 0.500"
    assert rows["QSR below the gate (0.7)"] == "3.0% of attempts"
    assert rows["MRI above the gate (0.3)"] == "1.0% of attempts"
    assert percentile(scores, 1) == 0.5


async def test_one_pass_over_the_batch_gives_what_each_reader_gives_on_its_own(
    tmp_path: Path,
) -> None:
    """The demo's summary folds the entries of one verified pass; each fold equals the query it
    replaced (re-evaluation rounds, risk examples, actions run from the events)."""
    from maestro_helix.core.audit import AuditKind
    from maestro_helix.ops.risk_model import example_from_entry, load_examples
    from maestro_helix.ops.routing_report import ReevaluationFold, reevaluation_summary

    db = tmp_path / "f.db"
    await run_batch(db, 10)  # an earlier batch, not counted
    summary, _, marks, _ = await run_batch(db, 60)
    async with SQLiteStore(db) as store:
        batch = await read_since(store, marks.audit, SUMMARY_KINDS, page=97)  # many pages
        ids = sorted({str(e["run_id"]) for e in batch.entries[AuditKind.STEP_DECISION]})
        fold = ReevaluationFold(ids)
        for e in batch.entries[AuditKind.STEP_DECISION]:
            fold.add(e)
        assert fold.summary() == await reevaluation_summary(store, ids, after_seq=marks.audit)
        examples = [example_from_entry(e) for e in batch.entries[AuditKind.STEP_PREDICTION]]
        assert examples == await load_examples(store, after_seq=marks.audit)
        assert len(examples) > 60
        events = await store.events(after_seq=marks.events, limit=100_000)
        succeeded = {e.payload["idempotency_key"] for e in events if e.type == "action.succeeded"}
        assert summary.actions_run == len(succeeded) > 0
        assert batch.report.ok and batch.report.checked == await store.count("audit_log") - (
            marks.audit
        )


async def test_a_deleted_batch_entry_is_caught_even_when_its_neighbours_were_relinked(
    tmp_path: Path,
) -> None:
    """Entries are checked for their seq too: deleting one and re-linking the next (its
    prev_hash and hash recomputed, as a forger would) still fails."""
    from maestro_helix.core.audit import entry_hash

    db = tmp_path / "d.db"
    _, _, marks, _ = await run_batch(db, 10)
    gone = marks.audit + 4
    async with SQLiteStore(db) as store:
        rows = await store.audit_entries(after_seq=gone - 2, limit=3)  # gone-1, gone, gone+1
    forged = dict(rows[2], prev_hash=rows[0]["hash"])
    forged["hash"] = entry_hash(forged)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = ?", (gone,))
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?",
            (forged["prev_hash"], forged["hash"], gone + 1),
        )
    async with SQLiteStore(db) as store:
        bad = await verify_since(store, marks.audit)
    assert not bad.ok and bad.first_bad_seq == gone + 1 and "missing" in bad.reason
