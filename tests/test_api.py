"""The HTTP API: auth, roles, decisions with the two-person rule, and JSON errors for bad input.

Every test talks HTTP to the real app (``httpx.ASGITransport``) over a real system on each store
backend, with the payments workflow of ``gil_app`` (its step escalates and needs two approvers).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gil_app import FLOW, Ledger, actions, agents
from maestro_helix import Maestro, MaestroError
from maestro_helix.api import create_app, serve
from maestro_helix.governance.identity import add_operator
from maestro_helix.governance.policy import Decision, Role, payload_hash
from maestro_helix.store.base import RunStatus, Store
from maestro_helix.store.sqlite import SQLiteStore
from maestro_helix.testing import FakeClock

StoreFactory = Callable[[], Store]
INPUT = {"supplier": "acme", "amount": 2500}
OPERATORS = {
    "vic": Role.VIEWER,
    "oscar": Role.OPERATOR,
    "requester": Role.APPROVER,  # starts the runs, so may not decide on them
    "ann": Role.APPROVER,
    "bob": Role.APPROVER,
    "root": Role.ADMIN,
}


@dataclass
class Api:
    m: Maestro
    client: httpx.AsyncClient
    tokens: dict[str, str]
    clock: FakeClock

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def escalated(self) -> tuple[str, dict[str, Any]]:
        """Start a payout as ``requester`` and return its run id and its pending request."""
        r = await self.client.post(
            "/runs", json={"workflow": "payout", "input": INPUT}, headers=self.auth("requester")
        )
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        assert (await self.m.engine.wait(run_id)).status is RunStatus.ESCALATED
        r = await self.client.get("/approvals", params={"run_id": run_id}, headers=self.auth("vic"))
        (req,) = r.json()["approvals"]
        return run_id, req

    async def decide(self, who: str, request_id: str, **body: Any) -> httpx.Response:
        """Decide as ``who``, binding to the payload shown (unless a hash is given)."""
        if body.get("decision") != "reject" and "payload_hash" not in body:
            shown = await self.client.get(f"/approvals/{request_id}", headers=self.auth(who))
            if shown.status_code == 200:
                body["payload_hash"] = shown.json()["payload_hash"]
        return await self.client.post(
            f"/approvals/{request_id}/decision", json=body, headers=self.auth(who)
        )


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.txt")


@pytest.fixture
async def api(stores: StoreFactory, ledger: Ledger) -> AsyncIterator[Api]:
    clock = FakeClock()
    async with Maestro.open(
        stores(), agents=agents(), action_types=actions(ledger), clock=clock
    ) as m:
        await m.engine.register(FLOW)
        tokens = {}
        for name, role in OPERATORS.items():
            tokens[name] = (await add_operator(m.store, name, role, clock))[1]
        transport = httpx.ASGITransport(app=create_app(m))
        async with httpx.AsyncClient(transport=transport, base_url="http://maestro.test") as c:
            yield Api(m, c, tokens, clock)


def error_of(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"}, body
    err: dict[str, Any] = body["error"]
    assert err["code"] and err["message"]
    return err


# -- authentication and roles ----------------------------------------------------------------


async def test_request_without_token_is_401_with_a_bearer_challenge(api: Api) -> None:
    r = await api.client.get("/approvals")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert error_of(r)["code"] == "unauthenticated"


async def test_forged_token_is_401(api: Api) -> None:
    forged = {"Authorization": "Bearer mh_" + "A" * 43}
    r = await api.client.get("/runs", headers=forged)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "unknown" in error_of(r)["message"]


async def test_viewer_cannot_start_a_run(api: Api) -> None:
    r = await api.client.post(
        "/runs", json={"workflow": "payout", "input": INPUT}, headers=api.auth("vic")
    )
    assert r.status_code == 403
    assert error_of(r)["code"] == "forbidden"


async def test_viewer_deciding_is_403(api: Api) -> None:
    _, req = await api.escalated()
    r = await api.decide("vic", req["request_id"], decision="approve")
    assert r.status_code == 403
    assert error_of(r)["code"] == "forbidden"


async def test_approver_cannot_override(api: Api) -> None:
    _, req = await api.escalated()
    r = await api.decide("ann", req["request_id"], decision="override", reason="urgent")
    assert r.status_code == 403
    assert error_of(r)["message"] == "only an admin can override"


# -- decisions ---------------------------------------------------------------------------------


async def test_operator_who_started_the_run_deciding_is_409(api: Api) -> None:
    _, req = await api.escalated()
    r = await api.decide("requester", req["request_id"], decision="approve")
    assert r.status_code == 409
    assert error_of(r)["code"] in ("requester", "run_operator")


async def test_same_approver_twice_is_replayed_and_counts_once(api: Api) -> None:
    _, req = await api.escalated()
    first = await api.decide("ann", req["request_id"], decision="approve")
    again = await api.decide("ann", req["request_id"], decision="approve")
    assert first.status_code == again.status_code == 200
    assert (first.json()["result"], again.json()["result"]) == ("recorded", "replayed")
    assert again.json()["approvals"] == {"count": 1, "required": 2, "by": ["ann"]}
    assert again.json()["status"] == "pending"


async def test_expired_request_is_409_expired(api: Api, ledger: Ledger) -> None:
    run_id, req = await api.escalated()
    api.clock.advance(4 * 3600 + 1)
    r = await api.decide("ann", req["request_id"], decision="approve")
    assert r.status_code == 409
    assert error_of(r)["code"] == "expired"
    run = (await api.client.get(f"/runs/{run_id}", headers=api.auth("vic"))).json()
    assert run["status"] == "failed"
    assert ledger.entries() == []


async def test_changed_payload_hash_is_409_payload_changed(api: Api) -> None:
    _, req = await api.escalated()
    stale = payload_hash("escalation", {"step": "prepare", "output": None, "agent_error": None})
    r = await api.decide("ann", req["request_id"], decision="approve", payload_hash=stale)
    assert r.status_code == 409
    assert error_of(r)["code"] == "payload_changed"


async def test_reject_without_a_reason_is_422(api: Api) -> None:
    _, req = await api.escalated()
    r = await api.decide("ann", req["request_id"], decision="reject", reason="   ")
    assert r.status_code == 422
    assert error_of(r)["code"] == "reason_required"


async def test_approve_without_the_payload_hash_is_422(api: Api) -> None:
    _, req = await api.escalated()
    r = await api.client.post(
        f"/approvals/{req['request_id']}/decision",
        json={"decision": "approve"},
        headers=api.auth("ann"),
    )
    assert r.status_code == 422
    assert "payload_hash is required" in error_of(r)["message"]


async def test_text_the_store_cannot_hold_is_422_never_a_retryable_503(api: Api) -> None:
    _, req = await api.escalated()
    r = await api.decide("ann", req["request_id"], decision="reject", reason="no\x00way")
    assert r.status_code == 422, r.text
    assert "NUL character" in error_of(r)["message"]
    r = await api.client.post(
        "/runs",
        json={"workflow": "payout", "input": {"supplier": "ac\x00me", "amount": 1}},
        headers=api.auth("requester"),
    )
    assert r.status_code == 422, r.text
    assert "input.supplier" in error_of(r)["message"]
    (still,) = [q for q in await api.m.store.list_requests() if q.request_id == req["request_id"]]
    assert still.status == "pending", "nothing was recorded"


async def test_two_distinct_approvers_run_the_transfer_once_and_the_run_completes(
    api: Api, ledger: Ledger
) -> None:
    run_id, req = await api.escalated()
    seen = (await api.client.get(f"/approvals/{req['request_id']}", headers=api.auth("vic"))).json()
    one = await api.decide(
        "ann", req["request_id"], decision="approve", payload_hash=seen["payload_hash"]
    )
    assert one.json()["status"] == "pending" and ledger.entries() == []
    two = await api.decide(
        "bob", req["request_id"], decision="approve", payload_hash=seen["payload_hash"]
    )
    assert two.status_code == 200
    assert two.json()["status"] == "approved"
    assert two.json()["approvals"]["by"] == ["ann", "bob"]
    status = None
    for _ in range(250):  # bounded: 5 s
        status = (await api.client.get(f"/runs/{run_id}", headers=api.auth("vic"))).json()
        if status["status"] == "completed":
            break
        await asyncio.sleep(0.02)
    assert status is not None and status["status"] == "completed"
    assert [a["step_id"] for a in status["attempts"]] == ["prepare", "confirm"]
    transfers = [e for e in ledger.entries() if " transfer " in e]
    assert len(transfers) == 1 and transfers[0].endswith("transfer acme 2500.0")


# -- what operators see ------------------------------------------------------------------------


async def test_queue_says_why_a_request_waits_and_how_many_approvals_it_needs(api: Api) -> None:
    _, req = await api.escalated()
    assert req["kind"] == "escalation" and req["status"] == "pending"
    assert any("two-person rule" in r for r in req["reasons"])
    assert req["approvals"] == {"count": 0, "required": 2, "by": []}
    assert req["seconds_left"] == 4 * 3600
    assert req["scores"]["mri"] > 0.6 and req["scores"]["workflow"] == "payout"


async def test_approval_detail_shows_the_exact_payload_and_its_hash(api: Api) -> None:
    _, req = await api.escalated()
    r = await api.client.get(f"/approvals/{req['request_id']}", headers=api.auth("vic"))
    d = r.json()
    assert d["payload_hash"] == payload_hash("escalation", d["payload"])
    (transfer, _email) = d["payload"]["output"]["actions"]
    assert transfer["payload"] == {"supplier": "acme", "amount": 2500.0}
    assert d["run_operator_id"] == "requester"


async def test_runs_can_be_listed_by_status(api: Api) -> None:
    run_id, _ = await api.escalated()
    r = await api.client.get("/runs", params={"status": "escalated"}, headers=api.auth("vic"))
    assert [x["run_id"] for x in r.json()["runs"]] == [run_id]


# -- bad input is a 4xx JSON error, never a 500 ------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"decision": "approve"', "invalid_json"),
        (b"[]", "invalid_request"),
        (b'{"decision": "maybe"}', "invalid_request"),
        (b'{"decision": "approve", "reason": 5}', "invalid_request"),
    ],
)
async def test_malformed_decision_body_is_422_json(api: Api, body: bytes, code: str) -> None:
    r = await api.client.post(
        "/approvals/any-request/decision",
        content=body,
        headers={**api.auth("ann"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert error_of(r)["code"] == code


async def test_wrong_field_type_names_the_field(api: Api) -> None:
    r = await api.client.post("/runs", json={"workflow": 7}, headers=api.auth("oscar"))
    assert r.status_code == 422
    assert error_of(r)["message"].startswith("body.workflow:")


async def test_oversized_body_is_413_json(api: Api) -> None:
    r = await api.client.post(
        "/runs",
        json={"workflow": "payout", "input": {"x": "a" * (2 << 20)}},
        headers=api.auth("oscar"),
    )
    assert r.status_code == 413
    assert error_of(r)["code"] == "body_too_large"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_unknown_request_id_is_404(api: Api, method: str) -> None:
    url = "/approvals/no-such-request" + ("/decision" if method == "POST" else "")
    body = {"decision": "approve", "payload_hash": "0" * 64} if method == "POST" else None
    r = await api.client.request(method, url, json=body, headers=api.auth("ann"))
    assert r.status_code == 404
    assert error_of(r)["code"] == "request_not_found"


async def test_unknown_run_id_is_404(api: Api) -> None:
    r = await api.client.get("/runs/no-such-run", headers=api.auth("vic"))
    assert r.status_code == 404
    assert error_of(r)["code"] == "run_not_found"


async def test_start_run_of_unknown_workflow_is_404(api: Api) -> None:
    r = await api.client.post(
        "/runs", json={"workflow": "nope", "input": INPUT}, headers=api.auth("oscar")
    )
    assert r.status_code == 404
    assert error_of(r)["code"] == "workflow_not_found"


async def test_start_run_with_a_missing_input_field_is_422(api: Api) -> None:
    r = await api.client.post(
        "/runs",
        json={"workflow": "payout", "input": {"supplier": "acme"}},
        headers=api.auth("oscar"),
    )
    assert r.status_code == 422
    err = error_of(r)
    assert err["code"] == "invalid_input" and "amount" in err["message"]


async def test_started_run_belongs_to_the_caller(api: Api) -> None:
    r = await api.client.post(
        "/runs", json={"workflow": "payout", "input": INPUT}, headers=api.auth("oscar")
    )
    assert r.status_code == 202 and r.headers["Location"] == f"/runs/{r.json()['run_id']}"
    run = await api.client.get(r.headers["Location"], headers=api.auth("vic"))
    assert run.json()["operator_id"] == "oscar"


# -- the UI's session and CSRF checks (the browser flow is in test_ui_browser.py) --------------


async def ui_login(api: Api, who: str) -> str:
    """Sign ``who`` in through the form; returns the CSRF token of the queue page."""
    form = await api.client.get("/ui/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert login_csrf is not None
    r = await api.client.post(
        "/ui/login", data={"token": api.tokens[who], "login_csrf": login_csrf.group(1)}
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui"
    queue = await api.client.get("/ui")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', queue.text)
    assert csrf is not None
    return csrf.group(1)


async def test_ui_pages_redirect_to_sign_in_without_a_session(api: Api) -> None:
    r = await api.client.get("/ui")
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"


async def test_ui_session_cookie_is_httponly_and_samesite_strict(api: Api) -> None:
    form = await api.client.get("/ui/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert login_csrf is not None
    r = await api.client.post(
        "/ui/login", data={"token": api.tokens["ann"], "login_csrf": login_csrf.group(1)}
    )
    cookie = r.headers["set-cookie"].lower()
    assert "mh_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie


async def test_ui_sign_in_with_an_unknown_token_fails(api: Api) -> None:
    form = await api.client.get("/ui/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert login_csrf is not None
    r = await api.client.post(
        "/ui/login", data={"token": "mh_forged", "login_csrf": login_csrf.group(1)}
    )
    assert r.status_code == 401 and "Sign-in failed" in r.text
    assert (await api.client.get("/ui")).status_code == 303


@pytest.mark.parametrize("forgery", ["no_token", "other_origin"])
async def test_ui_decision_without_this_sites_csrf_token_is_refused(api: Api, forgery: str) -> None:
    _, req = await api.escalated()
    csrf = await ui_login(api, "ann")
    data = {"decision": "approve", "payload_hash": req.get("payload_hash", "")}
    headers = {}
    if forgery == "other_origin":
        data["csrf_token"] = csrf
        headers["Origin"] = "http://evil.example"
    r = await api.client.post(
        f"/ui/approvals/{req['request_id']}/decide", data=data, headers=headers
    )
    assert r.status_code == 403
    d = (await api.client.get(f"/approvals/{req['request_id']}", headers=api.auth("vic"))).json()
    assert d["decisions"] == []


async def test_ui_decision_is_recorded_as_the_signed_in_operator(api: Api) -> None:
    _, req = await api.escalated()
    csrf = await ui_login(api, "ann")
    url = f"/ui/approvals/{req['request_id']}"
    d = (await api.client.get(f"/approvals/{req['request_id']}", headers=api.auth("vic"))).json()
    r = await api.client.post(
        url + "/decide",
        data={"decision": "approve", "payload_hash": d["payload_hash"], "csrf_token": csrf},
    )
    assert r.status_code == 303 and r.headers["location"] == url
    page = (await api.client.get(url)).text
    assert "Approved — 1 of 2" in page and "Two-person rule: 1 of 2 approvals" in page
    assert "operator ann has already decided this request" in page


async def test_ui_sign_out_ends_the_session(api: Api) -> None:
    csrf = await ui_login(api, "ann")
    r = await api.client.post("/ui/logout", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    assert (await api.client.get("/ui")).status_code == 303


# -- serving -----------------------------------------------------------------------------------


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[Maestro]:
    async with Maestro.open(SQLiteStore(tmp_path / "serve.db"), agents=agents()) as m:
        yield m


async def test_serve_refuses_a_non_loopback_address_by_default(system: Maestro) -> None:
    with pytest.raises(MaestroError, match=re.escape("refusing to listen on 0.0.0.0")):
        await serve(system, "0.0.0.0", 0)


async def test_serve_refuses_remote_access_without_an_admin(system: Maestro) -> None:
    await add_operator(system.store, "ann", Role.APPROVER)
    with pytest.raises(MaestroError, match="no admin operator"):
        await serve(system, "0.0.0.0", 0, allow_remote=True)


async def test_served_app_resumes_runs_decided_elsewhere(api: Api, ledger: Ledger) -> None:
    """Decisions taken outside the server (the CLI) are picked up by its housekeeping."""
    run_id, req = await api.escalated()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serving = asyncio.create_task(serve(api.m, "127.0.0.1", port, interval_s=0.05))
    try:
        stored, _ = await api.m.store.get_request(req["request_id"])
        for who in ("ann", "bob"):  # straight to governance, as ``maestro approvals approve`` does
            await api.m.governance.decide(
                req["request_id"],
                operator_id=who,
                role=Role.APPROVER,
                decision=Decision.APPROVE,
                payload_hash_seen=stored.payload_hash,
            )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            status = None
            for _ in range(250):  # bounded: 5 s
                with contextlib.suppress(httpx.TransportError):  # still starting
                    r = await c.get(f"/runs/{run_id}", headers=api.auth("vic"))
                    status = r.json()["status"]
                    if status == "completed":
                        break
                await asyncio.sleep(0.02)
        assert status == "completed"
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    assert len([e for e in ledger.entries() if " transfer " in e]) == 1


async def test_operator_lifecycle_endpoints_are_for_admins(api: Api) -> None:
    r = await api.client.post("/operators/bob/disable", headers=api.auth("ann"))
    assert r.status_code == 403
    from maestro_helix.governance.identity import Operator, change_operator
    from maestro_helix.store.admin_sql import OperatorChange

    with pytest.raises(MaestroError, match="not an admin"):
        await change_operator(
            api.m.store, "bob", OperatorChange.DISABLE, by=Operator("ann", Role.APPROVER)
        )
    refused = [e for e in await api.m.store.audit_entries() if e["kind"] == "operator.refused"]
    assert [e["human_operator_id"] for e in refused] == ["ann"]
    admin = api.auth("root")
    assert (await api.client.post("/operators/nobody/disable", headers=admin)).status_code == 404
    rotated = await api.client.post("/operators/bob/rotate-token", headers=admin)
    assert rotated.status_code == 200 and rotated.json()["token"].startswith("mh_")
    assert (await api.client.get("/runs", headers=api.auth("bob"))).status_code == 401
    new = {"Authorization": f"Bearer {rotated.json()['token']}"}
    assert (await api.client.get("/runs", headers=new)).status_code == 200
    listed = (await api.client.get("/operators", headers=admin)).json()["operators"]
    assert {o["operator_id"] for o in listed} >= {"root", "bob", "ann"}
    assert (await api.client.delete("/operators/bob", headers=admin)).status_code == 200
    assert (await api.client.get("/runs", headers=new)).status_code == 401
    policy = (await api.client.get("/policy", headers=api.auth("ann"))).json()
    assert policy["version"] == 1 and policy["policy"]["high_risk_approvals"] == 2
