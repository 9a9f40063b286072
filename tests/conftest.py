from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from maestro_helix.store.base import Store
from maestro_helix.store.sqlite import SQLiteStore

BACKENDS = ["sqlite"]


def make_store(backend: str, tmp_path: Path) -> Store:
    if backend == "sqlite":
        return SQLiteStore(tmp_path / "maestro.db")
    raise ValueError(backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(backend: str, tmp_path: Path) -> AsyncIterator[Store]:
    s = make_store(backend, tmp_path)
    await s.open()
    try:
        yield s
    finally:
        await s.aclose()
