"""Shared fixtures. Store tests run against every backend: the embedded SQLite file and a real
PostgreSQL (``MAESTRO_TEST_PG``, default the local server). Each PostgreSQL test gets its own
schema, dropped afterwards. Without a reachable PostgreSQL those tests are skipped with the reason,
except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

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
