"""Faults against the real services: the database drops every connection mid-run."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from conftest import PG_URL, require_pg
from maestro_helix import Maestro
from maestro_helix.agents.demo import demo_actions, demo_agents, demo_tasks, demo_workflow
from maestro_helix.store.base import RunStatus


def _terminate(schema: str) -> int:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as c:
        rows = c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"maestro-{schema}",),
        ).fetchall()
    return len(rows)


@pytest.mark.slow
async def test_dropped_database_connections_are_retried_and_nothing_is_half_written(
    pg_schema: str,
) -> None:
    require_pg()
    from maestro_helix.store.postgres import PostgresStore

    store = PostgresStore(
        PG_URL,
        connect_args={
            "options": f"-c search_path={pg_schema}",
            "application_name": f"maestro-{pg_schema}",
        },
    )
    async with Maestro.open(
        store, agents=demo_agents(), action_types=demo_actions(), concurrency=32
    ) as m:
        defn = await m.engine.register(demo_workflow())
        ids = await m.engine.submit_many(defn, demo_tasks(300))
        for round_ in range(1, 4):  # drop every connection three times while the batch runs
            while await m.store.count("steps") < 150 * round_:
                await asyncio.sleep(0.01)
            assert _terminate(pg_schema) >= 1
        results = [await m.engine.wait(i) for i in ids]
        steps = [s for i in ids for s in await m.store.step_records(i)]
        report = await m.verify_audit()
        entries = await m.store.audit_entries(limit=100_000)
    assert {r.status for r in results} <= {RunStatus.COMPLETED, RunStatus.ESCALATED}
    assert report.ok
    passes = Counter((s.run_id, s.step_index) for s in steps if s.decision == "pass")
    assert max(passes.values()) == 1
    # every committed attempt has exactly its audit entry: nothing half-written
    assert sum(e["kind"] == "step.decision" for e in entries) == len(steps)
