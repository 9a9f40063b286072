"""Shared fixtures. Store tests run against every backend: the embedded SQLite file and a real
PostgreSQL (``MAESTRO_TEST_PG``, default the local server). Each PostgreSQL test gets its own
schema, dropped afterwards. Without a reachable PostgreSQL those tests are skipped with the reason,
except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from maestro_helix.store.base import Store
from maestro_helix.store.sqlite import SQLiteStore

PG_URL = os.environ.get("MAESTRO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _pg_unavailable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as e:
        return f"PostgreSQL at {PG_URL} unreachable: {e}"


_PG_PROBLEM = _pg_unavailable()


def require_pg() -> None:
    if _PG_PROBLEM is None:
        return
    if os.environ.get("CI"):
        pytest.fail(_PG_PROBLEM)
    pytest.skip(_PG_PROBLEM)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh, empty schema on the test server; dropped with everything in it afterwards."""
    require_pg()
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{name}" CASCADE')


def make_store(backend: str, tmp_path: Path, schema: str | None = None) -> Store:
    if backend == "sqlite":
        return SQLiteStore(tmp_path / "maestro.db")
    if backend == "postgresql":
        from maestro_helix.store.postgres import PostgresStore

        assert schema is not None
        return PostgresStore(PG_URL, connect_args={"options": f"-c search_path={schema}"})
    raise ValueError(backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def stores(backend: str, tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Builds (unopened) stores on one database of the current backend."""
    schema = request.getfixturevalue("pg_schema") if backend == "postgresql" else None
    return lambda: make_store(backend, tmp_path, schema)


@pytest.fixture
async def store(stores) -> AsyncIterator[Store]:  # type: ignore[no-untyped-def]
    s = stores()
    await s.open()
    try:
        yield s
    finally:
        await s.aclose()


# The longest tests, in worker-seconds (`pytest -n 2 --durations`, two shared cores under a load
# of 7-9): only the order of the run depends on these figures. A key is a file (its tests share
# an expensive module-scoped fixture, so they are kept together, on one worker) or the start of
# node ids (each test it starts costs the figure; the longest matching key counts).
LONGEST: dict[str, float] = {
    # its two cases one after the other: each starts five processes, and the two at once (on
    # two workers) starved a lease holder past its lease on the shared cores
    "test_many_processes.py": 300,
    "test_static.py::test_code_gate[mypy-strict]": 100,
    "test_api_contract.py::test_the_api_answers_as_its_document_says": 80,
    "test_distributed.py::test_two_workers_share_a_batch": 40,
    "test_distributed.py::test_worker_killed_mid_step": 50,
    "test_distributed.py::test_a_worker_rolls_a_bad_canary_back": 23,
    "test_llm_local.py": 52,  # one llama-server for the file
    "test_kill9.py::test_kill9_mid_batch": 30,
    "test_report.py": 35,  # one demo batch for the file
    "test_gil_procs.py::test_processes_with_different_policies": 21,
    "test_gil_procs.py::test_a_disabled_operators_token": 16,
    "test_serve_lifecycle.py::test_a_hung_sync_agent": 26,
    "test_serve_lifecycle.py::test_sigterm_delivers_the_spans": 10,
    "test_cli_gil.py": 12,  # one demo database for the file, copied for each test
    "test_cli.py::test_escalated_runs_are_listed_by_status": 17,
    "test_faults.py::test_dropped_database_connections": 16,
    "test_fault_nats.py::test_nats_restart_mid_run": 14,
    "test_predict_system.py::test_another_process_takes_up_the_active_model": 13,
    "test_engine.py::test_demo_batch_runs_end_to_end": 11,
    "test_packaging.py::test_demo_runs_without_any_extra": 11,
    "test_audit_attacks.py::test_parallel_verification_matches_one_pass": 9,
    "test_ui_browser.py::test_two_approvers_through_the_ui": 10,
    "test_summary.py::test_the_summary_costs_a_few_queries": 9,
    "test_ui_refund_browser.py": 9,
    "test_readme.py": 12,  # the refund session is one fixture for the file
    "test_cli_80.py": 8,  # one demo database for the file
}


def _cost(item: pytest.Item) -> tuple[str, float]:
    """The group an item belongs to (a file kept together, or the item itself) and its cost."""
    nodeid = item.nodeid.removeprefix("tests/")
    path = nodeid.split("::", 1)[0]
    if path in LONGEST:
        return path, LONGEST[path]
    keys = [k for k in LONGEST if "::" in k and _starts(nodeid, k)]
    return item.nodeid, LONGEST[max(keys, key=len)] if keys else 0.0


def _starts(nodeid: str, key: str) -> bool:
    """``key`` starts ``nodeid``; a key's ``[params]`` end must match the node id's."""
    head, bracket, params = key.partition("[")
    return nodeid.startswith(head) and (not bracket or nodeid.endswith(f"[{params}"))


def _chunk_sizes(n: int, workers: int) -> list[int]:
    """How pytest-xdist's ``--dist worksteal`` first shares ``n`` tests out: in order, in
    contiguous chunks of these sizes, one per worker (later it moves tests from the end of a
    busy worker's queue to an idle worker)."""
    sizes = []
    for left_workers in range(workers, 0, -1):
        sizes.append(n // left_workers)
        n -= sizes[-1]
    return sizes


def longest_first(items: Sequence[pytest.Item], workers: int) -> list[pytest.Item] | None:
    """An order in which every worker's first chunk starts with its share of the longest tests
    (longest first, each to the least loaded worker), so no worker is left running a long test
    while the others idle; the short tests fill the chunks in their own order. None when the
    long tests do not fit (a small selection): then the order is left as it is."""
    groups: dict[str, list[pytest.Item]] = {}
    cost: dict[str, float] = {}
    for item in items:
        key, seconds = _cost(item)
        groups.setdefault(key, []).append(item)
        cost[key] = seconds  # a file's figure is for all its tests
    sizes = _chunk_sizes(len(items), workers)
    chunks: list[list[pytest.Item]] = [[] for _ in sizes]
    load = [0.0] * workers
    heavy = sorted((k for k in groups if cost[k] > 0), key=lambda k: -cost[k])
    for key in heavy:
        room = [w for w in range(workers) if len(chunks[w]) + len(groups[key]) <= sizes[w]]
        if not room:
            return None
        w = min(room, key=lambda w: load[w])
        chunks[w].extend(groups[key])
        load[w] += cost[key]
    light = iter(i for k, g in groups.items() if cost[k] == 0 for i in g)
    for w, chunk in enumerate(chunks):
        chunk.extend(next(light) for _ in range(sizes[w] - len(chunk)))
    return [i for chunk in chunks for i in chunk]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, on the controller: tell each worker the ``--dist`` mode (a worker's own
    options say ``no``)."""
    node.workerinput["dist"] = node.config.getoption("dist")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workerinput = getattr(config, "workerinput", {})
    workers = int(workerinput.get("workercount", 1))
    if workers > 1 and workerinput.get("dist") == "worksteal":
        ordered = longest_first(items, workers)
        if ordered is not None:
            items[:] = ordered
