"""Batched sequencing of the audit log (prototype): writers commit entries as pending, without the
chain's lock; one sequencer holding the lease gives them seq and hash in batches. On every
backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from maestro_helix.governance.auditlog import verify_log
from maestro_helix.store.base import AuditFilter, Store
from maestro_helix.store.sequencer import AuditSequencer
from maestro_helix.store.threaded import ThreadedStore
from test_audit_attacks import draft

StoreFactory = Callable[[], Store]


def batched(stores: StoreFactory) -> ThreadedStore:
    s = stores()
    assert isinstance(s, ThreadedStore)
    s.use_batched_audit()
    return s


async def test_entries_wait_as_pending_until_sequenced(stores: StoreFactory) -> None:
    async with batched(stores) as store:
        await asyncio.gather(*(store.append_audit([draft(i, "ann")]) for i in range(1, 21)))
        assert await store.pending_audit() == 20
        assert await store.audit_entries() == [], "no seq before the sequencer runs"
        seq = AuditSequencer(store, batch=8)
        assert await seq.drain() == 20 and seq.sequenced == 20
        assert await store.pending_audit() == 0
        report = await store.scan_audit(lambda rows, head: verify_log(rows, head))
        assert report.ok and report.checked == 20
        entries = await store.find_audit(AuditFilter(operator="ann", limit=100))
        assert sorted(e["details"]["n"] for e in entries) == list(range(1, 21))
        assert [e["seq"] for e in entries] == list(range(1, 21))


async def test_only_the_lease_holder_sequences_and_a_lapsed_lease_is_taken_over(
    stores: StoreFactory,
) -> None:
    async with batched(stores) as a, batched(stores) as b:
        first = AuditSequencer(a, lease_s=0.5)
        second = AuditSequencer(b, lease_s=0.5)
        await a.append_audit([draft(1)])
        assert await first.tick() == 1
        await b.append_audit([draft(2)])
        assert await second.tick() is None, "the first holds the lease"
        await asyncio.sleep(0.6)
        assert await second.tick() == 1, "the lease lapsed: the second takes over"
        await a.append_audit([draft(3)])
        assert await first.tick() is None
        report = await a.scan_audit(lambda rows, head: verify_log(rows, head))
        assert report.ok and report.checked == 2


async def test_a_running_sequencer_keeps_up_with_concurrent_writers(stores: StoreFactory) -> None:
    async with batched(stores) as store, batched(stores) as other:
        seq = AuditSequencer(store, interval_s=0.001)
        await seq.start()
        try:

            async def write(s: Store, lo: int) -> None:
                for i in range(lo, lo + 50):
                    await s.append_audit([draft(i)])

            await asyncio.gather(write(store, 0), write(other, 50))
        finally:
            await seq.aclose()  # drains what is left
        assert await store.pending_audit() == 0
        report = await store.scan_audit(lambda rows, head: verify_log(rows, head))
        assert report.ok and report.checked == 100


def test_the_migrations_build_exactly_the_schema_module(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """schema.py and the migrations (0006: checkpoints, pending entries, the lease) agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from conftest import PG_URL
    from maestro_helix.store import schema as t
    from maestro_helix.store.migrate import upgrade
    from maestro_helix.store.postgres import normalise_pg_url

    if backend == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 's.db'}")
    else:
        schema = request.getfixturevalue("pg_schema")
        engine = create_engine(
            normalise_pg_url(PG_URL), connect_args={"options": f"-c search_path={schema}"}
        )
    try:
        with engine.begin() as c:
            upgrade(c)
        with engine.connect() as c:
            assert compare_metadata(MigrationContext.configure(c), t.metadata) == []
            lease = c.execute(t.audit_sequencer.select()).all()
            assert [(r.id, r.holder) for r in lease] == [(1, "")]
    finally:
        engine.dispose()


async def test_a_system_on_a_batched_store_sequences_everything_it_wrote(
    stores: StoreFactory,
) -> None:
    """Engine, governance and actions write through the same path; at close nothing is pending
    and the whole log verifies."""
    from maestro_helix import Maestro
    from maestro_helix.agents.demo import demo_tasks
    from maestro_helix.appspec import demo_app

    spec = demo_app()
    async with Maestro.open(
        batched(stores),
        agents=spec.agents,
        action_types=spec.action_types,
        evaluators=spec.evaluators,
        resume=False,
    ) as m:
        defn = await m.engine.register(spec.workflows[0])
        results = await m.run_many(defn, demo_tasks(6, seed=3))
        assert all(r.status.finished or r.status.value == "escalated" for r in results)
    async with stores() as store:
        assert await store.pending_audit() == 0
        report = await store.scan_audit(lambda rows, head: verify_log(rows, head))
        assert report.ok and report.checked >= 6 * 3
