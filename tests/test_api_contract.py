"""The API's contract: the committed OpenAPI document is the one the app serves, and the app
answers as the document says: schemathesis runs every one of its checks (status codes, content
types, headers and bodies as documented, invalid data rejected, valid data accepted, no 5xx,
authentication not ignored, deleted resources gone...).

The second test is schemathesis driving the live ASGI app: the app runs over a real system (an
SQLite store in a temporary folder) that lives as long as the app's ASGI lifespan, and every
request carries an admin token, so every endpoint is reached past authentication.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import schemathesis
import schemathesis.specs.openapi.checks
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from schemathesis.checks import CHECKS
from schemathesis.core.result import Ok
from schemathesis.python import asgi as schemathesis_asgi
from starlette.types import Receive, Scope, Send

from gil_app import FLOW, Ledger, actions, agents
from maestro_helix import Maestro
from maestro_helix.api import create_app
from maestro_helix.api.app import MAX_BODY_BYTES
from maestro_helix.governance.identity import add_operator
from maestro_helix.governance.policy import Role
from maestro_helix.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
DOC = "docs/api/maestro_helix.yaml"
BODY_LIMIT = MAX_BODY_BYTES  # the server refuses a larger body with 413
EXAMPLES_PER_OPERATION = 25  # ~20 operations, two or three passes each: about ten seconds
ALL_CHECKS = CHECKS.get_all()
POSITIVE = schemathesis.GenerationMode.POSITIVE
NEGATIVE = schemathesis.GenerationMode.NEGATIVE


def gen_openapi() -> ModuleType:
    """``tools/gen_openapi.py``, imported from its path (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("gen_openapi", ROOT / "tools" / "gen_openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_committed_openapi_document_is_the_apps() -> None:
    tool = gen_openapi()
    generated: str = await tool.current()
    committed = (ROOT / DOC).read_text(encoding="utf-8")
    if committed != generated:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                generated.splitlines(keepends=True),
                f"{DOC} (committed)",
                f"{DOC} (generated from the app)",
                n=2,
            )
        )
        pytest.fail(
            f"{DOC} differs from the app's OpenAPI document: run `python tools/gen_openapi.py` "
            f"and commit the result.\n{diff[:8000]}",
            pytrace=False,
        )


class LiveApp:
    """The API over a system opened at ASGI lifespan start-up and closed at shutdown.

    Whoever drives the app (here schemathesis) runs the lifespan and the requests on one event
    loop, the one the system's engine and store belong to.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.admin_token = ""
        self.real_ids: dict[str, str] = {}  # path parameter → an id that exists
        self._app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        assert self._app is not None, "the lifespan has not started"
        await self._app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(self._system())
            except Exception as e:
                await send({"type": "lifespan.startup.failed", "message": repr(e)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    @asynccontextmanager
    async def _system(self) -> AsyncIterator[None]:
        async with Maestro.open(
            SQLiteStore(self.folder / "contract.db"),
            agents=agents(),
            action_types=actions(Ledger(self.folder / "ledger.txt")),
        ) as m:
            await m.engine.register(FLOW)
            self.admin_token = (await add_operator(m.store, "root", Role.ADMIN))[1]
            run_id = await m.engine.submit(FLOW, {"supplier": "acme", "amount": 2500})
            await m.engine.wait(run_id)  # escalated: it waits for two approvers
            (request,) = await m.store.list_requests(run_id=run_id)
            self.real_ids = {
                "name": FLOW.name,
                "run_id": run_id,
                "request_id": request.request_id,
            }
            self._app = create_app(m)
            try:
                yield
            finally:
                self._app = None


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[LiveApp]:
    app = LiveApp(tmp_path)
    try:
        yield app
    finally:
        schemathesis_asgi.shutdown_lifespans()  # closes the system


def _breaks_an_unschematic_rule(case: Any) -> bool:
    """The request breaks one of the rules the document states in words because JSON Schema
    cannot (two fields together, the server's configuration); the server answers 422 as
    documented, so only schemathesis' "valid data is accepted" check does not apply."""
    if case.path == "/audit/proof/consistency":
        q = case.query or {}
        old, new = q.get("old"), q.get("new")
        return isinstance(old, int) and isinstance(new, int) and old > new
    if not case.path.startswith("/v1/helix/") or not isinstance(case.body, dict):
        return False
    body = case.body
    if body.get("evaluators"):  # the live server registers no custom evaluator
        return True
    sources, given_input = body.get("sources"), body.get("input")
    if isinstance(sources, list) and sources:  # each must name a key of the input
        keys = given_input if isinstance(given_input, dict) else {}
        if any(not isinstance(k, str) or k not in keys for k in sources):
            return True
    if (
        case.path.endswith("/gate")
        and body.get("output") is None
        and body.get("agent_error") is None
    ):
        return True
    expect = body.get("expect")
    if not isinstance(expect, dict):
        return False
    low, high = expect.get("min_length"), expect.get("max_length")
    if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
        return True
    schema = expect.get("output_schema")
    if schema is None:
        return False
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return True
    return False


def run_cases(strategy: Any, headers: dict[str, str]) -> None:
    """Send every case ``strategy`` draws (deterministically); every check must pass."""

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,  # no .hypothesis/ folder
        derandomize=True,  # the same cases every run: a failure here is reproducible
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        checks = ALL_CHECKS
        body = json.dumps(case.body, default=str)
        if len(body.encode()) > BODY_LIMIT:
            # over the server's body limit: refused with its documented 413 before anything
            # reads it, whether or not the (unread) content is valid
            checks = [
                c
                for c in ALL_CHECKS
                if c.__name__ not in ("positive_data_acceptance", "negative_data_rejection")
            ]
        elif "\\u0000" in body:
            # text with NUL is refused (422) on every backend, as PostgreSQL cannot store it;
            # JSON Schema cannot say "no NUL anywhere in this free-form object"
            checks = [c for c in ALL_CHECKS if c.__name__ != "positive_data_acceptance"]
        elif _breaks_an_unschematic_rule(case):
            checks = [c for c in ALL_CHECKS if c.__name__ != "positive_data_acceptance"]
        case.call_and_validate(headers=headers, checks=checks)

    call()


def test_the_api_answers_as_its_document_says(live_app: LiveApp) -> None:
    """Every operation, with valid and with invalid parameters and bodies, and with the ids of a
    real workflow, run and approval request in its path: all of schemathesis' checks pass."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", live_app)  # starts the lifespan
    headers = {"Authorization": f"Bearer {live_app.admin_token}"}
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"an operation schemathesis cannot read: {result!r}"
        operations.append(result.ok())
    assert len(ALL_CHECKS) >= 10, [c.__name__ for c in ALL_CHECKS]
    labels = {op.label for op in operations}
    assert {
        "GET /logs/qsr",
        "POST /workflows/{name}/restore/{version}",
        "POST /runs",
        "GET /audit/proof/consistency",
        "POST /v1/helix/gate",
    } <= labels
    for operation in operations:
        run_cases(operation.as_strategy(POSITIVE), headers)
        # an operation with nothing to make invalid (no parameters, free strings) has no cases
        with contextlib.suppress(Unsatisfiable):
            run_cases(operation.as_strategy(NEGATIVE), headers)
        real = {k: v for k, v in live_app.real_ids.items() if f"{{{k}}}" in operation.path}
        if real:
            run_cases(operation.as_strategy(POSITIVE, path_parameters=real), headers)
