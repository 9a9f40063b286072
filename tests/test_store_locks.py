"""PostgreSQL locking: the chain's and the migrations' advisory locks belong to one schema, and a
transaction PostgreSQL aborts to break a deadlock is one the store runs again whole."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from conftest import PG_URL, require_pg
from maestro_helix.store import sql
from maestro_helix.store.group_commit import is_busy as _is_busy


@pytest.fixture
def pg() -> Iterator[Engine]:
    require_pg()
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    yield engine
    engine.dispose()


def _schema(engine: Engine) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with engine.begin() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    return name


def test_the_chain_lock_of_one_schema_does_not_block_another(pg: Engine) -> None:
    a, b = _schema(pg), _schema(pg)
    try:
        with pg.connect() as holder, pg.connect() as other:
            holder.exec_driver_sql(f'SET search_path TO "{a}"')
            other.exec_driver_sql(f'SET search_path TO "{b}"')
            holder.commit()
            other.commit()
            with holder.begin():
                sql.lock_chain(holder)
                with other.begin():
                    other.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                    sql.lock_chain(other)  # would time out if the lock were database-wide
            with holder.begin():
                sql.lock_chain(holder)
                other.exec_driver_sql(f'SET search_path TO "{a}"')
                other.commit()
                with pytest.raises(DBAPIError, match="lock timeout"), other.begin():
                    other.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
                    sql.lock_chain(other)  # the same schema: it waits
    finally:
        with pg.begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{a}" CASCADE')
            c.exec_driver_sql(f'DROP SCHEMA "{b}" CASCADE')


def test_a_transaction_aborted_to_break_a_deadlock_is_run_again(pg: Engine) -> None:
    schema = _schema(pg)
    try:
        with pg.begin() as c:
            c.exec_driver_sql(f'CREATE TABLE "{schema}".t (id int primary key)')
            c.exec_driver_sql(f'INSERT INTO "{schema}".t VALUES (1), (2)')
        errors: list[BaseException] = []
        both = threading.Barrier(2)

        def cross(first: int, second: int) -> None:
            try:
                with pg.begin() as c:
                    c.execute(text(f'UPDATE "{schema}".t SET id = id WHERE id = {first}'))
                    both.wait(timeout=10)
                    c.execute(text(f'UPDATE "{schema}".t SET id = id WHERE id = {second}'))
            except DBAPIError as e:
                errors.append(e)

        threads = [threading.Thread(target=cross, args=p) for p in ((1, 2), (2, 1))]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=30)
        assert len(errors) == 1, "PostgreSQL aborts exactly one side of the deadlock"
        assert "deadlock detected" in str(errors[0])
        assert _is_busy(errors[0]), "the store runs such a batch again instead of failing it"
    finally:
        with pg.begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


async def test_a_run_whose_holder_still_beats_is_not_taken_over_when_its_lease_lapses(
    stores,  # type: ignore[no-untyped-def]
) -> None:
    """Two stores on one database (two processes): a run leased to A for 0.2 s stays A's
    while A beats, however late its renewals; once A stops beating, B takes it over."""
    import asyncio
    import uuid

    from maestro_helix.core.records import NewRun, RunStatus
    from maestro_helix.core.workflow import parse_definition

    wf = parse_definition({"name": "wf", "steps": [{"id": "a", "capability": "c"}]})
    ts = "2026-01-01T00:00:00.000000+00:00"
    a, b = stores(), stores()
    await a.open()
    await b.open()
    try:
        await a.save_workflow(wf, ts)
        run_id = str(uuid.uuid4())
        await a.keep_alive("A", 0.6)
        await a.create_runs(
            [NewRun(run_id, "wf", 1, {}, ts, owner="A", lease_s=0.2, status=RunStatus.RUNNING)]
        )
        await asyncio.sleep(0.3)  # A's lease time is over; its heartbeat is not
        assert await b.acquire_run(run_id, "B", 10.0) is None
        assert run_id not in await b.runs_to_resume("B")
        await asyncio.sleep(0.5)  # A stopped beating: its heartbeat lapsed too
        got = await b.acquire_run(run_id, "B", 10.0)
        assert got is not None and got[0].owner == "B"
    finally:
        await a.aclose()
        await b.aclose()
