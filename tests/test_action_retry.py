"""A failed action is visible and can be run again: ``maestro actions list | retry KEY`` and
``POST /actions/{key}/retry`` (admins). A retry reuses the idempotency key, is audited with the
admin who asked, and the handler's effect happens once; a retry of an action that did not fail is
refused with a clear error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import refund_app
from maestro_helix import Maestro
from maestro_helix.api import create_app
from maestro_helix.cli.main import app
from maestro_helix.governance.identity import add_operator
from maestro_helix.governance.policy import Role, parse_policy
from maestro_helix.store.base import RunStatus, Store

StoreFactory = Callable[[], Store]
runner = CliRunner()


def _open(db: Any, refunds: refund_app.Refunds) -> Any:
    return Maestro.open(
        db,
        agents=refund_app.agents(),
        action_types=refund_app.actions(refunds),
        policy=parse_policy(refund_app.POLICY, "refund policy"),
    )


async def _failed_refund(m: Maestro, refunds: refund_app.Refunds) -> str:
    """A 50 USD refund (runs without a person) while the CRM is down: its action fails."""
    refunds.down.touch()
    run_id = await m.engine.submit(refund_app.FLOW, {"customer": "C-7", "amount": 50})
    assert (await m.engine.wait(run_id)).status is RunStatus.COMPLETED
    (intent,) = await m.store.intents_of(run_id)
    assert intent.status == "failed" and intent.error == "ConnectionError: CRM unreachable"
    assert refunds.entries() == []
    refunds.down.unlink()  # the CRM is back
    return intent.idempotency_key


def _token(db: str, name: str, role: str) -> str:
    r = runner.invoke(app, ["operators", "add", name, "--role", role, "--db", db])
    assert r.exit_code == 0, r.output
    return r.output.strip().splitlines()[-1]


def test_a_failed_action_is_listed_and_retried_once_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "retry.db")
    refunds = refund_app.Refunds(tmp_path / "refunds.jsonl")
    monkeypatch.setenv("REFUNDS_FILE", str(refunds.path))

    async def fail() -> str:
        async with _open(db, refunds) as m:
            return await _failed_refund(m, refunds)

    key = asyncio.run(fail())
    root, ann = _token(db, "root", "admin"), _token(db, "ann", "approver")

    listed = runner.invoke(app, ["actions", "list", "--status", "failed", "--db", db, "--json"])
    assert listed.exit_code == 0, listed.output
    (shown,) = json.loads(listed.output)["actions"]
    assert (shown["idempotency_key"], shown["status"]) == (key, "failed")
    assert shown["error"] == "ConnectionError: CRM unreachable"
    table = runner.invoke(app, ["actions", "list", "--db", db])
    assert key in table.output and "CRM" in table.output

    app_ref = ["--app", "refund_app:app", "--db", db]
    no = runner.invoke(app, ["actions", "retry", key, "--token", ann, *app_ref])
    assert no.exit_code == 2 and "needs an admin" in no.output
    done = runner.invoke(app, ["actions", "retry", key, "--token", root, *app_ref])
    assert done.exit_code == 0, done.output
    assert "succeeded after attempt 2" in done.output
    again = runner.invoke(app, ["actions", "retry", key, "--token", root, *app_ref])
    assert again.exit_code == 2
    assert "is succeeded; only a failed action can be retried" in again.output
    unknown = runner.invoke(app, ["actions", "retry", "nope", "--token", root, *app_ref])
    assert unknown.exit_code == 2 and "no action with key 'nope'" in unknown.output

    (effect,) = refunds.entries()  # the handler's effect happened once, under the same key
    assert effect["key"] == key and effect["amount"] == 50.0

    async def check() -> None:
        async with _open(db, refunds) as m:
            (intent,) = await m.store.list_intents()
            assert (intent.status, intent.attempts) == ("succeeded", 2)
            audit = await m.store.audit_entries()
            retries = [e for e in audit if e["kind"] == "action.retry"]
            assert [(e["human_operator_id"], e["details"]["idempotency_key"]) for e in retries] == [
                ("root", key)
            ]
            assert retries[0]["details"]["previous_error"] == "ConnectionError: CRM unreachable"
            assert (await m.verify_audit()).ok

    asyncio.run(check())


@pytest.fixture
async def served(
    stores: StoreFactory, tmp_path: Path
) -> AsyncIterator[tuple[Maestro, httpx.AsyncClient, dict[str, str], refund_app.Refunds]]:
    refunds = refund_app.Refunds(tmp_path / "refunds.jsonl")
    async with _open(stores(), refunds) as m:
        tokens = {
            name: (await add_operator(m.store, name, role))[1]
            for name, role in (("root", Role.ADMIN), ("ann", Role.APPROVER))
        }
        transport = httpx.ASGITransport(app=create_app(m))
        async with httpx.AsyncClient(transport=transport, base_url="http://maestro.test") as c:
            yield m, c, tokens, refunds


async def test_a_failed_action_is_retried_once_through_the_api_by_an_admin(
    served: tuple[Maestro, httpx.AsyncClient, dict[str, str], refund_app.Refunds],
) -> None:
    m, client, tokens, refunds = served
    key = await _failed_refund(m, refunds)

    def auth(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[who]}"}

    listed = await client.get("/actions", params={"status": "failed"}, headers=auth("ann"))
    assert listed.status_code == 200
    assert [a["idempotency_key"] for a in listed.json()["actions"]] == [key]
    no = await client.post(f"/actions/{key}/retry", headers=auth("ann"))
    assert no.status_code == 403
    ok = await client.post(f"/actions/{key}/retry", headers=auth("root"))
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["status"], body["attempts"], body["error"]) == ("succeeded", 2, None)
    assert body["result"] == {"refund_id": "R-0001"}
    again = await client.post(f"/actions/{key}/retry", headers=auth("root"))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_failed"
    assert "only a failed action can be retried" in again.json()["error"]["message"]
    missing = await client.post("/actions/nope/retry", headers=auth("root"))
    assert missing.status_code == 404
    assert [e["key"] for e in refunds.entries()] == [key]
    retries = [e for e in await m.store.audit_entries() if e["kind"] == "action.retry"]
    assert [e["human_operator_id"] for e in retries] == ["root"]


async def test_failed_actions_are_listed_in_the_report(
    stores: StoreFactory, tmp_path: Path
) -> None:
    from maestro_helix.ops.report import build_report, render_html

    refunds = refund_app.Refunds(tmp_path / "refunds.jsonl")
    async with _open(stores(), refunds) as m:
        key = await _failed_refund(m, refunds)
        data = await build_report(m.store)
        assert [i.idempotency_key for i in data.failed_actions] == [key]
        page = render_html(data)
        assert key in page and "CRM unreachable" in page
        assert "maestro actions retry KEY" in page
        await m.governance.retry(key, by="root", role=Role.ADMIN)
        assert (await build_report(m.store)).failed_actions == ()
