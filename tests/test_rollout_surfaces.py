"""The rollout through its surfaces: the HTTP API (real app over a real system, each backend) and
the ``maestro workflows stage | promote | canary ...`` commands (CliRunner, SQLite file)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from maestro_helix import Maestro
from maestro_helix.agents.base import AgentRegistry
from maestro_helix.agents.demo import DEMO_WORKFLOW
from maestro_helix.api import create_app
from maestro_helix.cli.main import app
from maestro_helix.core.workflow import WorkflowDef, parse_definition
from maestro_helix.governance.identity import add_operator
from maestro_helix.governance.policy import Role
from maestro_helix.store.base import Store

StoreFactory = Callable[[], Store]
TOPIC = "solar panel leasing"
PEOPLE = {"vic": Role.VIEWER, "otto": Role.OPERATOR, "gina": Role.APPROVER, "paul": Role.APPROVER}


def brief(agent: str) -> WorkflowDef:
    return parse_definition(
        {
            "name": "brief",
            "steps": [
                {
                    "id": "research",
                    "agent": agent,
                    "task": "Research ${input.topic}",
                    "input": {"topic": "${input.topic}"},
                    "expect": {"mentions": ["${input.topic}"]},
                }
            ],
        }
    )


def good(inp: Mapping[str, Any]) -> str:
    t = inp["topic"]
    return f"Research on {t}: {t} contracts last ten years and {t} costs fall every year."


class Api:
    def __init__(self, m: Maestro, client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.m, self.client, self.tokens = m, client, tokens

    async def post(self, path: str, who: str, body: Any = None) -> httpx.Response:
        h = {"Authorization": f"Bearer {self.tokens[who]}"}
        return await self.client.post(path, json=body, headers=h)

    async def get(self, path: str, who: str = "vic") -> httpx.Response:
        return await self.client.get(path, headers={"Authorization": f"Bearer {self.tokens[who]}"})


@pytest.fixture
async def api(stores: StoreFactory) -> AsyncIterator[Api]:
    reg = AgentRegistry()
    reg.add("good", good, {"research"})
    reg.add("other", good, {"research"})
    async with Maestro.open(stores(), agents=reg) as m:
        tokens = {n: (await add_operator(m.store, n, r))[1] for n, r in PEOPLE.items()}
        tokens["ada"] = (await add_operator(m.store, "ada", Role.ADMIN))[1]
        transport = httpx.ASGITransport(app=create_app(m))
        async with httpx.AsyncClient(transport=transport, base_url="http://maestro.test") as c:
            yield Api(m, c, tokens)


async def ui_page(api: Api, who: str, path: str) -> str:
    """Sign ``who`` in through the UI's form and read ``path``."""
    form = await api.client.get("/ui/login")
    found = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert found is not None
    data = {"token": api.tokens[who], "login_csrf": found.group(1)}
    assert (await api.client.post("/ui/login", data=data)).status_code == 303
    page = await api.client.get(path)
    assert page.status_code == 200
    return page.text


async def _stage_and_run(api: Api, version: int) -> None:
    base = f"/workflows/brief/versions/{version}/promote"
    r = await api.post(base, "gina", {"to": "staging", "as": "governance"})
    assert r.status_code == 200 and r.json()["missing"] == ["admin"], r.text
    r = await api.post(base, "ada", {"to": "staging", "as": "admin", "note": "reviewed"})
    assert r.json()["stage"] == "staging", r.text
    for _ in range(3):  # the staging window: runs pinned to this version
        r = await api.post("/runs", "otto", {"workflow": "brief", "version": version,
                                             "input": {"topic": TOPIC}})  # fmt: skip
        assert r.status_code == 202
        await api.m.engine.wait(r.json()["run_id"])


async def test_the_api_walks_a_version_to_production_and_a_canary(api: Api) -> None:
    v1 = (await api.m.engine.register(brief("good"))).version
    refused = await api.post(
        f"/workflows/brief/versions/{v1}/promote", "otto", {"to": "staging", "as": "governance"}
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "rollout_refused"
    viewer = await api.post(f"/workflows/brief/versions/{v1}/promote", "vic", {"to": "staging"})
    assert viewer.status_code == 403
    await _stage_and_run(api, v1)
    r = await api.post(
        f"/workflows/brief/versions/{v1}/promote",
        "paul",
        {"to": "production", "as": "product_owner"},
    )
    assert r.json()["stage"] == "production", r.text
    v2 = (await api.m.engine.register(brief("other"))).version
    await _stage_and_run(api, v2)
    r = await api.post(
        f"/workflows/brief/versions/{v2}/promote",
        "paul",
        {"to": "production", "as": "product_owner"},
    )
    assert "through a canary" in r.json()["message"]
    bad = await api.post("/workflows/brief/canary", "otto", {"version": v2, "share": 0.9})
    assert bad.status_code == 422
    r = await api.post("/workflows/brief/canary", "otto", {"version": v2, "share": 0.5})
    assert r.status_code == 201 and r.json()["canary"]["status"] == "running", r.text
    # the same key always lands on the same version
    seen: dict[str, set[int]] = {}
    for i in range(24):
        key = f"customer-{i % 6}"
        r = await api.post("/runs", "otto", {"workflow": "brief", "input": {"topic": TOPIC},
                                             "key": key})  # fmt: skip
        run_id = r.json()["run_id"]
        await api.m.engine.wait(run_id)
        seen.setdefault(key, set()).add((await api.m.store.get_run(run_id)).workflow_version)
    assert all(len(v) == 1 for v in seen.values()) and set().union(*seen.values()) <= {v1, v2}
    ev = await api.post("/workflows/brief/canary/evaluate", "otto")
    assert ev.json()["evaluation"]["decision"] == "continue"
    status = (await api.get("/workflows/brief/canary")).json()["canary"]
    assert (
        status["last_evaluation"]["candidate"]["runs"] + status["last_evaluation"]["stable"]["runs"]
        == 24
    )
    page = await ui_page(api, "vic", "/ui/workflows")
    assert 'data-canary-status="running"' in page and 'data-arm="candidate"' in page
    assert "Always-valid bounds" in page and "Decision: <strong>continue</strong>" in page
    assert page.count('data-field="signoff"') == 6  # 3 per version
    r = await api.post("/workflows/brief/canary/abort", "otto", {"reason": "enough for today"})
    assert r.json()["canary"]["status"] == "aborted"
    again = await api.post("/workflows/brief/canary/abort", "otto", {})
    assert again.status_code == 409
    stages = (await api.get("/workflows/brief/stages")).json()
    assert [v["stage"] for v in stages["versions"]] == ["production", "staging"]
    assert [s["as"] for s in stages["versions"][0]["signoffs"]] == [
        "governance",
        "admin",
        "product_owner",
    ]


runner = CliRunner()
TASK = json.dumps({"topic": "tea", "angle": "costs", "domain": "food"})


def _token(db: str, name: str, role: str) -> str:
    r = runner.invoke(app, ["operators", "add", name, "--role", role, "--db", db])
    assert r.exit_code == 0, r.output
    return r.output.strip().splitlines()[-1]


def test_the_cli_promotes_with_sign_offs_and_shows_stages(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    f = tmp_path / "flow.json"
    f.write_text(json.dumps(DEMO_WORKFLOW))
    assert runner.invoke(app, ["run", str(f), "--input", TASK, "--db", db]).exit_code == 0
    gov, admin, po = (
        _token(db, "gina", "approver"),
        _token(db, "ada", "admin"),
        _token(db, "paul", "approver"),
    )
    name = "research-pipeline"

    def promote(to: str, signed_as: str, token: str) -> Any:
        return runner.invoke(
            app,
            ["workflows", "promote", name, "1", "--to", to, "--as", signed_as, "--token", token,
             "--db", db],
        )  # fmt: skip

    r = promote("staging", "admin", gov)
    assert r.exit_code == 2 and "needs role admin" in r.output
    assert "still missing: admin" in promote("staging", "governance", gov).output
    # the demo pipeline may propose payments.transfer (irreversible): a GIL approval record too
    assert "still missing: irreversible" in promote("staging", "admin", admin).output
    assert "now staging" in promote("staging", "irreversible", _token(db, "ivy", "approver")).output
    r = promote("production", "product_owner", po)  # no run in the staging window
    assert r.exit_code == 2 and "not GO" in r.output
    for _ in range(2):
        assert runner.invoke(app, ["run", str(f), "--input", TASK, "--db", db]).exit_code == 0
    r = promote("production", "product_owner", po)
    assert r.exit_code == 0 and "now production" in r.output, r.output
    shown = runner.invoke(app, ["workflows", "stage", name, "--db", db, "--json"])
    body = json.loads(shown.output)
    assert body["versions"][0]["stage"] == "production"
    assert body["canary"] is None
    none = runner.invoke(app, ["workflows", "canary", "status", name, "--db", db])
    assert none.exit_code == 0 and "no canary" in none.output
    rep = tmp_path / "v1.html"
    r = runner.invoke(
        app, ["report", "--db", db, "--workflow", name, "--version", "1", "--out", str(rep)]
    )
    assert r.exit_code in (0, 1) and rep.exists(), r.output


def test_the_rollout_example_rolls_the_canary_back(tmp_path: Path) -> None:
    """examples/rollout.py (shown in the README) runs as written."""
    import subprocess
    import sys

    root = Path(__file__).parents[1]
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "rollout.py"), "--db", str(tmp_path / "r.db")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "v1: v1 is now production"
    assert "through a canary" in lines[1] and "10% of new runs" in lines[2]
    assert any("-> rollback: candidate above the 2.0% bar" in x for x in lines)
    assert "minimum sample not reached" in lines[3]
    assert lines[-2] == "new runs now run v[1] (stable is v1)"
    assert lines[-1].startswith("v2 asked for by version: refused")
    # its figures are the README's, every time (seeded requests, a fixed canary id)
    readme = (root / "README.md").read_text()
    shown = readme.split("$ python examples/rollout.py\n", 1)[1].split("```", 1)[0]
    assert done.stdout == shown
