"""The admin operations: workflow versions and restore, pausing workflows and runs, the QSR and MRI
logs, audit verification.

HTTP tests talk to the real app (``httpx.ASGITransport``) over a real system on each store backend.
The score-log tests write step attempts through the public ``Store`` interface (runs, then step
commits with chosen scores, agents and times) so every filter has a known answer. A few tests at
the end call ``store/ops_sql.py`` directly on a database connection.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Connection

from conftest import PG_URL
from maestro_helix import Maestro
from maestro_helix.agents.base import AgentRegistry
from maestro_helix.api import create_app
from maestro_helix.core.clock import iso
from maestro_helix.core.errors import InputError, WorkflowNotFound
from maestro_helix.core.workflow import WorkflowDef, parse_definition
from maestro_helix.governance.identity import add_operator
from maestro_helix.governance.policy import Role
from maestro_helix.store import ops_sql, sql
from maestro_helix.store import schema as t
from maestro_helix.store.base import NewRun, RunStatus, StepCommit, StepRecord, Store
from maestro_helix.store.migrate import upgrade
from maestro_helix.store.postgres import normalise_pg_url
from maestro_helix.testing import FakeClock

StoreFactory = Callable[[], Store]

TOPIC = "solar panel leasing"
OPERATORS = {"vic": Role.VIEWER, "oscar": Role.OPERATOR, "ann": Role.APPROVER, "root": Role.ADMIN}
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def brief(description: str = "") -> WorkflowDef:
    return parse_definition(
        {
            "name": "brief",
            "description": description,
            "steps": [
                {
                    "id": "research",
                    "capability": "research",
                    "task": "Research ${input.topic}",
                    "input": {"topic": "${input.topic}"},
                    "expect": {"mentions": ["${input.topic}"]},
                },
                {
                    "id": "summary",
                    "capability": "summary",
                    "task": "Summarise ${input.topic}",
                    "input": {"topic": "${input.topic}"},
                    "expect": {"mentions": ["${input.topic}"]},
                },
            ],
        }
    )


class Gate:
    """Holds the research agent inside its step until released (open unless closed)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()


def agents(gate: Gate) -> AgentRegistry:
    async def research(inp: Mapping[str, Any]) -> str:
        gate.started.set()
        await gate.release.wait()
        topic = inp["topic"]
        return f"Research on {topic}: {topic} contracts last ten years and costs fall."

    def summary(inp: Mapping[str, Any]) -> str:
        return f"Summary: {inp['topic']} is worth a pilot."

    def leaky(inp: Mapping[str, Any]) -> str:
        return f"Summary: {inp['topic']}. Questions to jane.doe@example.com please."

    reg = AgentRegistry()
    reg.add("researcher", research, {"research"})
    reg.add("writer", summary, {"summary"})
    reg.add("leaky", leaky, {"leak"})
    return reg


@dataclass
class Api:
    m: Maestro
    client: httpx.AsyncClient
    tokens: dict[str, str]
    gate: Gate
    v1: WorkflowDef

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def get(self, path: str, who: str = "vic", **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self.auth(who))

    async def post(self, path: str, who: str) -> httpx.Response:
        return await self.client.post(path, headers=self.auth(who))


@pytest.fixture
async def api(stores: StoreFactory) -> AsyncIterator[Api]:
    clock = FakeClock(T0)
    gate = Gate()
    async with Maestro.open(stores(), agents=agents(gate), clock=clock) as m:
        v1 = await m.engine.register(brief())
        tokens = {}
        for name, role in OPERATORS.items():
            tokens[name] = (await add_operator(m.store, name, role, clock))[1]
        transport = httpx.ASGITransport(app=create_app(m))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://maestro.test") as c:
                yield Api(m, c, tokens, gate, v1)
        finally:
            gate.release.set()  # a run a failed test left held must not block the engine's close


def error_of(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"}, body
    err: dict[str, Any] = body["error"]
    assert err["code"] and err["message"]
    return err


async def audit_of(store: Store, kind: str) -> list[dict[str, Any]]:
    return [e for e in await store.audit_entries() if e["kind"] == kind]


# -- workflow versions and restore ----------------------------------------------------------------


async def test_restore_adds_a_head_version_equal_to_the_old_one_and_keeps_history(
    api: Api,
) -> None:
    v2 = await api.m.engine.register(brief("tightened the summary"))
    assert (api.v1.version, v2.version) == (1, 2)

    r = await api.post("/workflows/brief/restore/1", "root")

    assert r.status_code == 200, r.text
    assert r.json() == {"name": "brief", "version": 3, "restored_from": 1}
    store = api.m.store
    v3 = await store.get_workflow("brief", 3)
    assert v3.model_copy(update={"version": 1}) == api.v1
    assert (await store.get_workflow("brief")).version == 3  # the head
    assert await store.get_workflow("brief", 1) == api.v1  # history intact
    assert await store.get_workflow("brief", 2) == v2


async def test_versions_list_shows_the_restored_copy_with_its_sources_digest(api: Api) -> None:
    await api.m.engine.register(brief("v2"))
    await api.post("/workflows/brief/restore/1", "root")

    r = await api.get("/workflows/brief/versions")

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "brief"
    versions = body["versions"]
    assert [(v["version"], v["head"]) for v in versions] == [(1, False), (2, False), (3, True)]
    assert versions[2]["digest"] == versions[0]["digest"] != versions[1]["digest"]
    assert all(v["created_at"] == iso(T0) for v in versions)


async def test_restore_is_audited_as_the_admin_who_did_it(api: Api) -> None:
    await api.m.engine.register(brief("v2"))
    await api.post("/workflows/brief/restore/1", "root")

    (entry,) = await audit_of(api.m.store, "workflow.restored")
    assert entry["human_operator_id"] == "root"
    assert (entry["workflow"], entry["workflow_version"]) == ("brief", 3)
    assert entry["details"]["restored_from"] == 1
    assert entry["details"]["previous_head"] == 2
    r = await api.get("/audit/verify")
    assert r.status_code == 200
    assert r.json()["ok"] is True


async def test_new_runs_execute_the_restored_definition(api: Api) -> None:
    await api.m.engine.register(brief("v2"))
    await api.post("/workflows/brief/restore/1", "root")

    r = await api.client.post(
        "/runs", json={"workflow": "brief", "input": {"topic": TOPIC}}, headers=api.auth("oscar")
    )

    assert r.status_code == 202, r.text
    rec = await api.m.store.get_run(r.json()["run_id"])
    ran = await api.m.store.get_workflow("brief", rec.workflow_version)
    # v1 or its copy v3: the same definition (save_workflow finds v1 by its digest)
    assert ran.model_copy(update={"version": 1}) == api.v1


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/workflows/brief/restore/9", "workflow_not_found"),
        ("/workflows/nope/restore/1", "workflow_not_found"),
        ("/workflows/brief/restore/0", "invalid_request"),
        ("/workflows/brief/restore/99999999999", "invalid_request"),
        ("/workflows/bad%20name/restore/1", "invalid_request"),
    ],
)
async def test_restore_of_what_does_not_exist_is_refused(api: Api, path: str, code: str) -> None:
    r = await api.post(path, "root")
    assert r.status_code == (404 if code == "workflow_not_found" else 422)
    assert error_of(r)["code"] == code
    assert len(await api.m.store.list_workflows()) == 1  # nothing written


async def test_versions_of_an_unknown_workflow_is_404(api: Api) -> None:
    r = await api.get("/workflows/nope/versions")
    assert r.status_code == 404
    assert error_of(r)["code"] == "workflow_not_found"


# -- pausing a workflow -------------------------------------------------------------------------


async def test_paused_workflow_is_shown_paused_until_resumed(api: Api) -> None:
    r = await api.post("/workflows/brief/pause", "oscar")
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "brief", "paused": True}
    (listed,) = (await api.get("/workflows")).json()["workflows"]
    assert listed["name"] == "brief" and listed["paused"] is True
    assert await api.m.store.paused_workflows() == {"brief"}

    r = await api.post("/workflows/brief/resume", "oscar")

    assert r.status_code == 200, r.text
    assert r.json() == {"name": "brief", "paused": False}
    (listed,) = (await api.get("/workflows")).json()["workflows"]
    assert listed["paused"] is False
    assert await api.m.store.paused_workflows() == set()


async def test_workflow_list_shows_head_version_and_steps(api: Api) -> None:
    await api.m.engine.register(brief("v2"))
    r = await api.get("/workflows")
    assert r.status_code == 200
    assert r.json() == {
        "workflows": [
            {
                "name": "brief",
                "version": 2,
                "versions": 2,
                "description": "v2",
                "steps": ["research", "summary"],
                "paused": False,
            }
        ]
    }


async def test_pause_and_resume_of_a_workflow_are_audited_once_per_change(api: Api) -> None:
    await api.post("/workflows/brief/pause", "oscar")
    await api.post("/workflows/brief/pause", "oscar")  # already paused: no change
    await api.post("/workflows/brief/resume", "root")

    paused = await audit_of(api.m.store, "workflow.paused")
    resumed = await audit_of(api.m.store, "workflow.resumed")
    assert [e["human_operator_id"] for e in paused] == ["oscar"]
    assert [e["human_operator_id"] for e in resumed] == ["root"]
    assert paused[0]["workflow"] == "brief"
    assert (await api.m.verify_audit()).ok


@pytest.mark.parametrize("action", ["pause", "resume"])
async def test_pausing_an_unknown_workflow_is_404(api: Api, action: str) -> None:
    r = await api.post(f"/workflows/nope/{action}", "oscar")
    assert r.status_code == 404
    assert error_of(r)["code"] == "workflow_not_found"
    assert await api.m.store.paused_workflows() == set()


# -- controlling runs -------------------------------------------------------------------------


async def start_held_run(api: Api) -> str:
    """A run whose first step is in flight (its agent waits for the gate)."""
    api.gate.release.clear()
    r = await api.client.post(
        "/runs", json={"workflow": "brief", "input": {"topic": TOPIC}}, headers=api.auth("oscar")
    )
    assert r.status_code == 202, r.text
    await asyncio.wait_for(api.gate.started.wait(), 5)
    return str(r.json()["run_id"])


async def test_run_paused_through_the_api_stops_at_the_step_boundary_and_resumes(
    api: Api,
) -> None:
    run_id = await start_held_run(api)

    r = await api.post(f"/runs/{run_id}/pause", "oscar")

    assert r.status_code == 200, r.text
    assert r.json() == {"run_id": run_id, "status": "paused"}
    api.gate.release.set()
    assert (await api.m.engine.wait(run_id)).status is RunStatus.PAUSED
    rec = await api.m.store.get_run(run_id)
    assert (rec.status, rec.next_step) == (RunStatus.PAUSED, 1)

    r = await api.post(f"/runs/{run_id}/resume", "oscar")

    assert r.status_code == 200, r.text
    assert r.json() == {"run_id": run_id, "status": "running"}
    assert (await api.m.engine.wait(run_id)).status is RunStatus.COMPLETED


async def test_run_cancelled_through_the_api_cannot_be_resumed(api: Api) -> None:
    run_id = await start_held_run(api)

    r = await api.post(f"/runs/{run_id}/cancel", "oscar")

    assert r.status_code == 200, r.text
    assert r.json() == {"run_id": run_id, "status": "cancelled"}
    api.gate.release.set()
    assert (await api.m.engine.wait(run_id)).status is RunStatus.CANCELLED
    r = await api.post(f"/runs/{run_id}/resume", "oscar")
    assert r.status_code == 409
    assert error_of(r)["code"] == "invalid_transition"


async def test_runs_of_a_workflow_paused_through_the_api_stop_and_continue_on_resume(
    api: Api,
) -> None:
    run_id = await start_held_run(api)

    assert (await api.post("/workflows/brief/pause", "oscar")).status_code == 200
    api.gate.release.set()

    assert (await api.m.engine.wait(run_id)).status is RunStatus.PAUSED
    assert (await api.m.store.get_run(run_id)).next_step == 1  # the step in flight was kept
    assert (await api.post("/workflows/brief/resume", "oscar")).status_code == 200
    assert (await api.m.engine.wait(run_id)).status is RunStatus.COMPLETED


async def test_pausing_a_finished_run_is_409(api: Api) -> None:
    done = await api.m.engine.run(api.v1, {"topic": TOPIC})
    assert done.status is RunStatus.COMPLETED
    r = await api.post(f"/runs/{done.run_id}/pause", "oscar")
    assert r.status_code == 409
    assert error_of(r)["code"] == "invalid_transition"


@pytest.mark.parametrize("action", ["pause", "resume", "cancel"])
async def test_controlling_an_unknown_run_is_404(api: Api, action: str) -> None:
    r = await api.post(f"/runs/0f0e0d0c-0000-4000-8000-000000000000/{action}", "oscar")
    assert r.status_code == 404
    assert error_of(r)["code"] == "run_not_found"


# -- auth -----------------------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/workflows"),
    ("GET", "/workflows/brief/versions"),
    ("POST", "/workflows/brief/restore/1"),
    ("POST", "/workflows/brief/pause"),
    ("POST", "/workflows/brief/resume"),
    ("POST", "/runs/0f0e0d0c-0000-4000-8000-000000000000/pause"),
    ("POST", "/runs/0f0e0d0c-0000-4000-8000-000000000000/resume"),
    ("POST", "/runs/0f0e0d0c-0000-4000-8000-000000000000/cancel"),
    ("GET", "/logs/qsr"),
    ("GET", "/logs/mri"),
    ("GET", "/audit/verify"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_admin_endpoint_without_a_token_is_401(api: Api, method: str, path: str) -> None:
    r = await api.client.request(method, path)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert error_of(r)["code"] == "unauthenticated"


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("vic", "/workflows/brief/restore/1"),
        ("oscar", "/workflows/brief/restore/1"),
        ("ann", "/workflows/brief/restore/1"),
        ("vic", "/workflows/brief/pause"),
        ("vic", "/workflows/brief/resume"),
        ("vic", "/runs/0f0e0d0c-0000-4000-8000-000000000000/cancel"),
    ],
)
async def test_role_below_the_one_needed_is_403(api: Api, who: str, path: str) -> None:
    r = await api.post(path, who)
    assert r.status_code == 403
    assert error_of(r)["code"] == "forbidden"
    assert len(await api.m.store.list_workflows()) == 1
    assert await api.m.store.paused_workflows() == set()


# -- score logs --------------------------------------------------------------------------------

N_ROWS = 170
AGENTS = ("a1", "a2", "a3")


@dataclass(frozen=True)
class Row:
    run_id: str
    workflow: str
    step_index: int
    attempt: int
    step_id: str
    agent_id: str
    qsr: float | None
    mri: float | None
    factors: tuple[str, ...]
    finished_at: str

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.finished_at, self.run_id, self.step_index, self.attempt)


def seed_rows() -> list[Row]:
    """170 attempts over 10 runs of two workflows; four attempts share each finish time."""
    rows = []
    for i in range(N_ROWS):
        run = i % 10
        unscored = i % 23 == 0
        rows.append(
            Row(
                run_id=f"run-{run:03d}",
                workflow="alpha" if run < 6 else "beta",
                step_index=i // 20,
                attempt=1 + (i // 10) % 2,
                step_id=f"s{(i // 20) % 3}",
                agent_id=AGENTS[i % 3],
                qsr=None if unscored else round((i * 37 % 100) / 100, 2),
                mri=None if unscored else round((i * 53 % 100) / 100, 2),
                factors=("pii.email", "injection.output") if i % 5 == 0 else (),
                finished_at=iso(T0 + timedelta(seconds=i // 4)),
            )
        )
    return rows


async def seed(store: Store) -> list[Row]:
    rows = seed_rows()
    runs = {r.run_id: r.workflow for r in rows}
    await store.create_runs(
        [NewRun(run_id, wf, 1, {}, iso(T0)) for run_id, wf in sorted(runs.items())]
    )
    commits = [
        StepCommit(
            step=StepRecord(
                run_id=r.run_id,
                step_index=r.step_index,
                attempt=r.attempt,
                step_id=r.step_id,
                agent_id=r.agent_id,
                capability="research",
                decision="pass" if (r.qsr or 0) >= 0.7 else "retry",
                qsr=r.qsr,
                mri=r.mri,
                output=None,
                quality=None,
                risk=None
                if r.mri is None
                else {"score": r.mri, "factors": [{"name": f, "score": 0.5} for f in r.factors]},
                verdict={},
                agent_error=None,
                started_at=r.finished_at,
                finished_at=r.finished_at,
                latency_ms=1.0,
                eval_latency_ms=0.1,
            ),
            run_status=RunStatus.COMPLETED,
            next_step=r.step_index + 1,
        )
        for r in rows
    ]
    await asyncio.gather(*(store.commit_step(c) for c in commits))
    return sorted(rows, key=lambda r: r.key)


@pytest.fixture
async def logged(api: Api) -> list[Row]:
    return await seed(api.m.store)


def ids(items: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    return [(x["run_id"], x["step_index"], x["attempt"]) for x in items]


def row_ids(rows: list[Row]) -> list[tuple[str, int, int]]:
    return [(r.run_id, r.step_index, r.attempt) for r in rows]


async def read_all(api: Api, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item, following next_cursor; also how many pages it took."""
    items: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        q = dict(params, **({"cursor": cursor} if cursor else {}))
        r = await api.get(path, **q)
        assert r.status_code == 200, r.text
        body = r.json()
        items.extend(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert pages <= N_ROWS, "pagination does not end"


async def test_qsr_log_items_carry_the_attempts_scores(api: Api, logged: list[Row]) -> None:
    r = await api.get("/logs/qsr", limit=3)
    assert r.status_code == 200
    first = r.json()["items"][0]
    row = logged[0]
    assert first == {
        "run_id": row.run_id,
        "workflow": row.workflow,
        "step_id": row.step_id,
        "step_index": row.step_index,
        "attempt": row.attempt,
        "agent_id": row.agent_id,
        "qsr": row.qsr,
        "decision": "pass" if (row.qsr or 0) >= 0.7 else "retry",
        "finished_at": row.finished_at,
    }


async def test_mri_log_items_carry_the_risk_factor_names(api: Api, logged: list[Row]) -> None:
    items, _ = await read_all(api, "/logs/mri", limit=1000)
    assert [(x["mri"], tuple(x["factors"])) for x in items] == [
        (r.mri, r.factors if r.mri is not None else ()) for r in logged
    ]


def _in_range(r: Row, since: int, until: int) -> bool:
    return iso(T0 + timedelta(seconds=since)) <= r.finished_at < iso(T0 + timedelta(seconds=until))


FILTERS: list[tuple[str, dict[str, Any], Callable[[Row], bool]]] = [
    ("qsr", {"below": 0.5}, lambda r: r.qsr is not None and r.qsr < 0.5),
    ("qsr", {"above": 0.8}, lambda r: r.qsr is not None and r.qsr > 0.8),
    ("qsr", {"above": 0.2, "below": 0.6}, lambda r: r.qsr is not None and 0.2 < r.qsr < 0.6),
    ("mri", {"above": 0.3}, lambda r: r.mri is not None and r.mri > 0.3),
    ("mri", {"below": 0.1}, lambda r: r.mri is not None and r.mri < 0.1),
    ("qsr", {"agent": "a2"}, lambda r: r.agent_id == "a2"),
    ("mri", {"step": "s1"}, lambda r: r.step_id == "s1"),
    ("qsr", {"workflow": "beta"}, lambda r: r.workflow == "beta"),
    ("qsr", {"agent": "nobody"}, lambda r: False),
    (
        "qsr",
        {"since": iso(T0 + timedelta(seconds=10)), "until": iso(T0 + timedelta(seconds=20))},
        lambda r: _in_range(r, 10, 20),
    ),
    (  # a zone other than UTC, and a naive time (UTC)
        "mri",
        {"since": "2026-03-01T13:00:05+01:00", "until": "2026-03-01T12:00:12"},
        lambda r: _in_range(r, 5, 12),
    ),
    (
        "mri",
        {"workflow": "alpha", "agent": "a1", "above": 0.4, "since": iso(T0)},
        lambda r: r.workflow == "alpha" and r.agent_id == "a1" and (r.mri or 0) > 0.4,
    ),
]


@pytest.mark.parametrize(
    ("metric", "params", "want"), FILTERS, ids=[f"{m}-{'-'.join(p)}" for m, p, _ in FILTERS]
)
async def test_log_filters_select_exactly_the_matching_attempts(
    api: Api,
    logged: list[Row],
    metric: str,
    params: dict[str, Any],
    want: Callable[[Row], bool],
) -> None:
    items, _ = await read_all(api, f"/logs/{metric}", limit=1000, **params)
    expected = [r for r in logged if want(r)]
    assert ids(items) == row_ids(expected)
    assert [x[metric] for x in items] == [getattr(r, metric) for r in expected]


@pytest.mark.parametrize("metric", ["qsr", "mri"])
async def test_cursor_pages_through_every_attempt_once_in_order(
    api: Api, logged: list[Row], metric: str
) -> None:
    items, pages = await read_all(api, f"/logs/{metric}", limit=7)
    assert len(logged) > 150
    assert ids(items) == row_ids(logged)  # same order: nothing missing, nothing twice
    assert len(set(ids(items))) == len(logged)
    assert pages == math.ceil(len(logged) / 7)


async def test_cursor_pages_keep_the_filters(api: Api, logged: list[Row]) -> None:
    items, _ = await read_all(api, "/logs/qsr", limit=5, below=0.5, agent="a3")
    assert ids(items) == row_ids(
        [r for r in logged if r.agent_id == "a3" and r.qsr is not None and r.qsr < 0.5]
    )


async def test_last_page_has_no_cursor(api: Api, logged: list[Row]) -> None:
    r = await api.get("/logs/qsr", limit=len(logged))
    assert r.json()["next_cursor"] is None
    r = await api.get("/logs/qsr", limit=len(logged) - 1)
    assert r.json()["next_cursor"] is not None


async def test_a_cursor_can_be_followed_again_with_another_page_size(
    api: Api, logged: list[Row]
) -> None:
    cursor = (await api.get("/logs/qsr", limit=1)).json()["next_cursor"]
    once, _ = await read_all(api, "/logs/qsr", limit=1000, cursor=cursor)
    again, _ = await read_all(api, "/logs/qsr", limit=13, cursor=cursor)
    assert once == again
    assert ids(once) == row_ids(logged[1:])


async def test_real_runs_appear_in_the_logs_with_their_risk_factors(api: Api) -> None:
    leak = parse_definition(
        {
            "name": "leak",
            "steps": [
                {
                    "id": "answer",
                    "capability": "leak",
                    "task": "Answer about ${input.topic}",
                    "input": {"topic": "${input.topic}"},
                }
            ],
        }
    )
    done = await api.m.engine.run(leak, {"topic": TOPIC})

    mri = (await api.get("/logs/mri", workflow="leak")).json()["items"]
    qsr = (await api.get("/logs/qsr", workflow="leak")).json()["items"]

    assert mri and {x["run_id"] for x in mri} == {done.run_id}
    assert all("pii.email" in x["factors"] and x["mri"] > 0 for x in mri)
    assert [x["qsr"] for x in qsr] == [a.qsr for a in done.attempts]
    assert [x["decision"] for x in qsr] == [a.decision for a in done.attempts]


BAD_PARAMS = [
    {"below": "1.5"},
    {"above": "-0.1"},
    {"below": "nan"},
    {"above": "inf"},
    {"below": "high"},
    {"limit": "0"},
    {"limit": "1001"},
    {"limit": "ten"},
    {"since": "yesterday"},
    {"until": "2026-13-01T00:00:00Z"},
    {"until": "9999-12-31T23:59:59-05:00"},  # past year 9999 in UTC
    {"since": "0001-01-01T00:00:00+01:00"},  # before year 1 in UTC
    {"until": "0.0"},  # a number is not an ISO-8601 time (pydantic would read epoch seconds)
    {"since": "1700000000"},
    {"workflow": "bad name"},
    {"step": ""},
    {"agent": "a\x00b"},
]


BAD_CURSORS = [
    "not a cursor",
    ops_sql.encode_cursor(("x", "y", 1, 2))[:-2],
    "WyJhIiwxLDIsM10",  # valid base64 of ["a",1,2,3]: wrong types
]


@pytest.mark.parametrize("metric", ["qsr", "mri"])
@pytest.mark.parametrize("cursor", BAD_CURSORS)
async def test_a_cursor_the_api_never_returned_is_404(api: Api, metric: str, cursor: str) -> None:
    """A cursor is a well-formed string that names a page; one that names none is not found
    (as the OpenAPI document says), not a malformed request."""
    r = await api.get(f"/logs/{metric}", cursor=cursor)
    assert r.status_code == 404, r.text
    err = error_of(r)
    assert err["code"] == "cursor_not_found"
    assert "query.cursor" in err["message"]


@pytest.mark.parametrize("metric", ["qsr", "mri"])
@pytest.mark.parametrize(
    "params", BAD_PARAMS, ids=[",".join(p) + str(i) for i, p in enumerate(BAD_PARAMS)]
)
async def test_bad_log_query_is_422_naming_the_parameter(
    api: Api, metric: str, params: dict[str, str]
) -> None:
    r = await api.get(f"/logs/{metric}", **params)
    assert r.status_code == 422, r.text
    err = error_of(r)
    assert err["code"] == "invalid_request"
    (name,) = params
    assert f"query.{name}" in err["message"]


# -- store level: ops_sql on a database connection --------------------------------------------


@pytest.fixture
def conn(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Connection]:
    """A connection to a fresh, migrated database of the current backend."""
    if backend == "postgresql":
        schema = request.getfixturevalue("pg_schema")
        engine = create_engine(
            normalise_pg_url(PG_URL), connect_args={"options": f"-c search_path={schema}"}
        )
    else:
        engine = create_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    try:
        with engine.connect() as c:
            with c.begin():
                upgrade(c)
            yield c
    finally:
        engine.dispose()


def tx(conn: Connection, fn: Callable[[Connection], Any]) -> Any:
    with conn.begin():
        return fn(conn)


def test_sql_restore_copies_the_version_and_audits_it(conn: Connection) -> None:
    ts = iso(T0)
    v1 = tx(conn, lambda c: sql.save_workflow(c, brief(), ts))
    v2 = tx(conn, lambda c: sql.save_workflow(c, brief("v2"), ts))

    v3 = tx(conn, lambda c: ops_sql.restore_workflow(c, "brief", 1, ts, "root"))

    assert (v1.version, v2.version, v3.version) == (1, 2, 3)
    assert tx(conn, lambda c: sql.get_workflow(c, "brief", None)) == v3
    assert v3.model_copy(update={"version": 1}) == v1
    versions = tx(conn, lambda c: ops_sql.list_workflow_versions(c, "brief"))
    assert [(v.version, v.head) for v in versions] == [(1, False), (2, False), (3, True)]
    assert versions[0].digest == versions[2].digest
    # registering that definition again gives the restored head: new runs record version 3
    assert tx(conn, lambda c: sql.save_workflow(c, brief(), ts)).version == 3
    kinds = [e["kind"] for e in tx(conn, lambda c: sql.audit_entries(c, 0, 100))]
    assert kinds == ["workflow.restored"]


def test_sql_restoring_twice_gives_two_new_versions(conn: Connection) -> None:
    ts = iso(T0)
    tx(conn, lambda c: sql.save_workflow(c, brief(), ts))
    tx(conn, lambda c: sql.save_workflow(c, brief("v2"), ts))
    assert tx(conn, lambda c: ops_sql.restore_workflow(c, "brief", 1, ts, None)).version == 3
    assert tx(conn, lambda c: ops_sql.restore_workflow(c, "brief", 2, ts, None)).version == 4
    assert tx(conn, lambda c: ops_sql.restore_workflow(c, "brief", 3, ts, None)).version == 5


def test_sql_restore_of_a_missing_version_writes_nothing(conn: Connection) -> None:
    tx(conn, lambda c: sql.save_workflow(c, brief(), iso(T0)))
    with pytest.raises(WorkflowNotFound):
        tx(conn, lambda c: ops_sql.restore_workflow(c, "brief", 7, iso(T0), None))
    assert len(tx(conn, sql.list_workflows)) == 1


def test_sql_pause_flag_is_kept_with_who_and_when(conn: Connection) -> None:
    tx(conn, lambda c: sql.save_workflow(c, brief(), iso(T0)))
    later = iso(T0 + timedelta(minutes=5))

    state = tx(conn, lambda c: ops_sql.set_workflow_paused(c, "brief", True, later, "oscar"))

    assert state == ops_sql.WorkflowState("brief", True, later, "oscar")
    assert tx(conn, ops_sql.paused_workflows) == {"brief"}
    row = tx(conn, lambda c: c.execute(select(ops_sql.workflow_state)).one())
    assert (row.name, row.paused, row.updated_at, row.updated_by) == ("brief", 1, later, "oscar")
    tx(conn, lambda c: ops_sql.set_workflow_paused(c, "brief", False, later, "oscar"))
    assert tx(conn, ops_sql.paused_workflows) == set()


def test_sql_pausing_an_unknown_workflow_raises(conn: Connection) -> None:
    with pytest.raises(WorkflowNotFound):
        tx(conn, lambda c: ops_sql.set_workflow_paused(c, "nope", True, iso(T0), None))


def test_sql_log_pages_over_equal_finish_times_without_gaps(conn: Connection) -> None:
    rows = seed_rows()

    def insert(c: Connection) -> None:
        c.execute(
            t.runs.insert(),
            [
                {
                    "run_id": run_id,
                    "workflow": wf,
                    "workflow_version": 1,
                    "status": "completed",
                    "input": {},
                    "next_step": 0,
                    "created_at": iso(T0),
                    "updated_at": iso(T0),
                }
                for run_id, wf in sorted({r.run_id: r.workflow for r in rows}.items())
            ],
        )
        c.execute(
            t.steps.insert(),
            [
                {
                    "run_id": r.run_id,
                    "step_index": r.step_index,
                    "attempt": r.attempt,
                    "step_id": r.step_id,
                    "agent_id": r.agent_id,
                    "decision": "pass",
                    "qsr": r.qsr,
                    "mri": r.mri,
                    "risk": {"factors": [{"name": f} for f in r.factors]},
                    "verdict": {},
                    "started_at": r.finished_at,
                    "finished_at": r.finished_at,
                    "latency_ms": 1.0,
                    "eval_latency_ms": 0.1,
                }
                for r in rows
            ],
        )

    tx(conn, insert)
    seen: list[ops_sql.ScoreEntry] = []
    cursor: str | None = None
    while True:
        with conn.begin():
            page = ops_sql.mri_log(conn, after_cursor=cursor, limit=11)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    want = sorted(rows, key=lambda r: r.key)
    assert [(e.run_id, e.step_index, e.attempt) for e in seen] == row_ids(want)
    assert [e.factors for e in seen] == [r.factors for r in want]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 1001},
        {"below": 1.2},
        {"above": float("nan")},
        {"after_cursor": "@@"},
    ],
)
def test_sql_log_refuses_bad_arguments(conn: Connection, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        tx(conn, lambda c: ops_sql.qsr_log(c, **kwargs))


def test_cursor_round_trips_and_refuses_tampering() -> None:
    key = ("2026-03-01T12:00:00.000000+00:00", "run-001", 3, 2)
    assert ops_sql.decode_cursor(ops_sql.encode_cursor(key)) == key
    for bad in ("", "!!!!", "e30", ops_sql.encode_cursor(key)[:-3], "WyJhIiwiYiIsMSx0cnVlXQ"):
        with pytest.raises(InputError):
            ops_sql.decode_cursor(bad)
