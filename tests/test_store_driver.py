"""The group commit's statements on SQLite's driver (``store/driver_sql.py``) give what
SQLAlchemy gives: the same rows, the same stored values, the same errors; and a step commit's one
read of its runs reports what the three reads it replaced reported."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from maestro_helix.core.audit import AuditKind
from maestro_helix.core.errors import LeaseLost
from maestro_helix.core.records import Lease
from maestro_helix.governance.audit import AuditDraft
from maestro_helix.store import driver_sql, gil_sql, reroute_sql, router_sql, sql
from maestro_helix.store import schema as t
from maestro_helix.store.base import NewRun, RunStatus, StepCommit, Transition
from maestro_helix.store.group_commit import is_busy
from maestro_helix.store.sqlite import SQLiteStore
from test_store import TS, WF, audit, step
from test_store import event as an_event

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "d.db"

    async def create() -> None:
        async with SQLiteStore(path) as s:
            await s.save_workflow(WF, TS)
            await s.create_runs(
                [NewRun(f"r{i}", "wf", 1, {"i": i}, TS, owner="me") for i in range(4)]
            )

    asyncio.run(create())
    return path


@pytest.fixture
def conn(db: Path) -> Iterator[Connection]:
    engine = create_engine(
        f"sqlite:///{db}", json_serializer=sql.json_dumps, json_deserializer=orjson.loads
    )
    with engine.connect() as c:
        yield c
        c.rollback()
    engine.dispose()


@pytest.mark.parametrize("ids", [["r0"], ["r1", "r2"], ["r3", "r0", "r2", "nope"]])
def test_a_read_with_an_in_list_gives_sqlalchemys_rows(conn: Connection, ids: list[str]) -> None:
    ours = driver_sql.fetch(conn, sql._RUN_ROWS, {"ids": ids})
    theirs = list(conn.execute(sql._RUN_ROWS, {"ids": ids}))
    assert sorted(map(tuple, ours)) == sorted(map(tuple, theirs))
    assert {r.run_id for r in ours} == set(ids) - {"nope"}  # fields by name too


def test_reads_with_values_bound_in_the_statement_give_sqlalchemys_rows(conn: Connection) -> None:
    conn.execute(t.workflow_state.insert(), [{"name": "wf", "paused": 1, "updated_at": TS}])
    assert driver_sql.fetch(conn, sql._PAUSED, {}) == [("wf",)]
    found = driver_sql.fetch(conn, reroute_sql._RUN_AND_STAGE, {"run_id": "r1"})
    assert [tuple(r) for r in found] == [
        tuple(r) for r in conn.execute(reroute_sql._RUN_AND_STAGE, {"run_id": "r1"})
    ]
    assert found[0].stage is None  # no stage row: the outer join's NULL


def _intent(key: str) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "request_id": None,
        "run_id": "r0",
        "action_type": "pay",
        "payload": {"a": 1},
        "payload_hash": "h",
        "status": "started",
        "attempts": 1,
        "result": None,
        "error": None,
        "created_at": TS,
        "updated_at": TS,
        "owner": "me",
        "claim_until": 1e12,
    }


@pytest.mark.parametrize("result", [None, {"ok": True, "n": [1, 2]}, "text"])
def test_a_json_value_is_stored_as_sqlalchemy_stores_it(conn: Connection, result: Any) -> None:
    conn.execute(t.action_executions.insert(), [_intent("ours"), _intent("theirs")])
    params = {
        "k_attempt": 1,
        "k_owner": "me",
        "v_ts": TS,
        "v_outcome": "succeeded",
        "v_error": None,
        "v_result": result,
    }
    assert driver_sql.execute(conn, gil_sql._EXECUTION_FINISH, {**params, "k_key": "ours"}) == 1
    conn.execute(gil_sql._EXECUTION_FINISH, {**params, "k_key": "theirs"})
    stored: dict[str, Any] = dict(
        conn.execute(text("SELECT idempotency_key, result FROM action_executions")).all()
    )
    assert stored["ours"] == stored["theirs"]  # the text itself (None is JSON null, as theirs)
    # and a second finish of the same call matches nothing (the claim is spent)
    assert driver_sql.execute(conn, gil_sql._EXECUTION_FINISH, {**params, "k_key": "ours"}) == 0


def test_the_track_records_fold_reads_and_writes_on_the_driver(conn: Connection) -> None:
    r = step("r0")
    commit = StepCommit(r, RunStatus.RUNNING, 1, updated_at=TS)
    router_sql.update_track(conn, [commit, commit], 3600.0)
    rows = driver_sql.fetch(conn, router_sql._TRACK_ROWS, {"agents": ["x"], "caps": ["c"]})
    assert [tuple(x) for x in rows] == [
        tuple(x) for x in conn.execute(router_sql._TRACK_ROWS, {"agents": ["x"], "caps": ["c"]})
    ]
    assert rows[0].total == 2 and rows[0].passes == 2


def test_a_constraint_violation_on_the_driver_is_sqlalchemys_error(conn: Connection) -> None:
    row = [{"name": "n", "paused": 0, "updated_at": TS, "updated_by": None}]
    sql.bulk(conn, "t.ws", t.workflow_state.insert(), [dict(r) for r in row], "workflow_state")
    with pytest.raises(IntegrityError):
        sql.bulk(conn, "t.ws", t.workflow_state.insert(), [dict(r) for r in row], "workflow_state")


def test_a_locked_database_on_the_driver_is_the_stores_busy_error(db: Path) -> None:
    """Another process holding the write lock past busy_timeout: the batch is run again whole
    (``group_commit.is_busy``), not failed; so the driver's error must be recognised."""
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    engine = create_engine(f"sqlite:///{db}")

    @event.listens_for(engine, "connect")
    def _no_wait(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    try:
        with engine.connect() as c, pytest.raises(DBAPIError) as caught:
            driver_sql.run_text(c, "BEGIN IMMEDIATE", None)
        assert is_busy(caught.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()


def _commit(run_id: str, epoch: int, **kw: Any) -> StepCommit:
    return StepCommit(
        step(run_id),
        RunStatus.RUNNING,
        1,
        audit=[audit(run_id)],
        events=[an_event(run_id)],
        updated_at=TS,
        lease=Lease("me", epoch),
        hand_to=Lease("me", epoch),
        **kw,
    )


async def test_one_batch_of_commits_reports_each_runs_own_outcome(db: Path) -> None:
    """Held, taken over, stopped by someone, finished: one read of the runs decides each,
    and only what may be written is (the chain holds every written commit's entry)."""
    async with SQLiteStore(db) as s:
        await s.transition(
            Transition("r2", RunStatus.CANCELLED, (RunStatus.PENDING, RunStatus.RUNNING), TS)
        )
        done = replace_status(_commit("r3", 1), RunStatus.COMPLETED)
        results = await asyncio.gather(
            s.commit_step(_commit("r0", 1)),  # held: goes on
            s.commit_step(_commit("r1", 7)),  # another epoch: refused, nothing written
            s.commit_step(_commit("r2", 1)),  # cancelled meanwhile: keeps that status
            s.commit_step(done),  # its last step
            return_exceptions=True,
        )
        assert results[0] is None
        assert isinstance(results[1], LeaseLost)
        assert results[2] is RunStatus.CANCELLED
        assert results[3] is RunStatus.COMPLETED
        assert len(await s.step_records("r1")) == 0
        assert (await s.get_run("r2")).status is RunStatus.CANCELLED
        report = await s.verify_audit()
        assert report.ok and report.checked == 3  # the written commits. entries


def replace_status(c: StepCommit, status: RunStatus) -> StepCommit:
    from dataclasses import replace

    return replace(c, run_status=status, next_step=2)


async def test_commits_and_audit_appends_in_shared_transactions_keep_one_intact_chain(
    tmp_path: Path,
) -> None:
    """Each transaction appends its commits' entries and the standalone ones in one chain
    append: every entry is there once, in one unbroken chain."""
    async with SQLiteStore(tmp_path / "c.db") as s:
        runs = [NewRun(str(uuid.uuid4()), "wf", 1, {}, TS) for _ in range(120)]
        await s.create_runs(runs)
        extra = [
            AuditDraft(entry_id=f"x{i}", ts=TS, kind=AuditKind.STEP_DECISION, run_id="x")
            for i in range(120)
        ]
        await asyncio.gather(
            *(
                s.commit_step(
                    StepCommit(
                        step(r.run_id), RunStatus.RUNNING, 1, audit=[audit(r.run_id)], updated_at=TS
                    )
                )
                for r in runs
            ),
            *(s.append_audit([d]) for d in extra),
        )
        report = await s.verify_audit()
        assert report.ok and report.checked == 240
        ids = [e["entry_id"] for e in await s.audit_entries()]
        assert len(set(ids)) == 240


async def test_what_another_connection_wrote_between_two_batches_is_read_again(
    tmp_path: Path,
) -> None:
    """The writer keeps the chain's head, the paused workflows and the track records it wrote
    (``store/known.py``) only while nobody else has committed: two stores on one file taking
    turns keep one chain, fold every step into the record, and see each other's pauses."""
    path = tmp_path / "two.db"
    async with SQLiteStore(path) as a, SQLiteStore(path) as b:
        await a.save_workflow(WF, TS)
        runs = [NewRun(f"t{i}", "wf", 1, {}, TS) for i in range(8)]
        await a.create_runs(runs)
        for i, r in enumerate(runs):
            s = (a, b)[(i // 2) % 2]  # a, a, b, b, ...: each also reads its own writes
            c = StepCommit(
                step(r.run_id),
                RunStatus.RUNNING,
                1,
                audit=[audit(r.run_id)],
                workflow="wf",
                updated_at=TS,
            )
            assert await s.commit_step(c) is None
        report = await a.verify_audit()
        assert report.ok and report.checked == 8
        (record,) = await b.track_records("c", ["x"])
        assert record.total == 8
        await b.set_workflow_paused("wf", True, TS, "ops")
        late = NewRun("late", "wf", 1, {}, TS)
        await a.create_runs([late])
        c = StepCommit(step("late"), RunStatus.RUNNING, 1, workflow="wf", updated_at=TS)
        assert await a.commit_step(c) is RunStatus.PAUSED  # b's pause, read again by a


async def test_a_general_operation_that_appends_to_the_chain_is_not_overwritten(
    tmp_path: Path,
) -> None:
    """A transition on the writer's own connection appends an entry: the next grouped append
    reads the head again (``total_changes`` moved) and links to that entry."""
    async with SQLiteStore(tmp_path / "g.db") as s:
        runs = [NewRun(f"g{i}", "wf", 1, {}, TS) for i in range(2)]
        await s.create_runs(runs)
        c = StepCommit(step("g0"), RunStatus.RUNNING, 1, audit=[audit("g0")], updated_at=TS)
        await s.commit_step(c)
        await s.get_run("g0")  # a read between: what is known stands
        await s.transition(
            Transition("g1", RunStatus.CANCELLED, (RunStatus.PENDING,), TS, audit=(audit("g1"),))
        )
        c = StepCommit(step("g0", 1), RunStatus.RUNNING, 2, audit=[audit("g0")], updated_at=TS)
        await s.commit_step(c)
        await s.append_audit([audit("x")])
        report = await s.verify_audit()
        assert report.ok and report.checked == 4


async def test_a_reported_commit_is_already_committed_for_any_other_connection(
    db: Path,
) -> None:
    """Reported only once committed (and with ``synchronous=FULL``, on disk): the moment each
    commit is reported, a connection of its own (another process's view) reads its rows."""
    other = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        async with SQLiteStore(db) as s:
            for i in range(4):
                assert await s.commit_step(_commit(f"r{i}", 1)) is None
                n = other.execute(
                    "SELECT count(*) FROM steps WHERE run_id = ?", (f"r{i}",)
                ).fetchone()[0]
                entries = other.execute("SELECT count(*) FROM audit_log").fetchone()[0]
                assert (n, entries) == (1, i + 1)
    finally:
        other.close()
