"""The demo's summary: a few queries whatever the batch size, figures that mean something, and
the audit entries of the batch checked against the chain."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from maestro_helix import Maestro
from maestro_helix.agents.demo import demo_tasks
from maestro_helix.appspec import demo_app
from maestro_helix.cli.summary import BatchSummary, Marks, percentile, verify_since
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
        await summary.add_governance(spy, ids, marks)  # type: ignore[arg-type]
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
