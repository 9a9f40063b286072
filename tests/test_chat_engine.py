"""A ``ChatAgent`` inside the real engine, gate and GIL (against a scripted OpenAI endpoint).

A model's tool call is a proposed action: GIL applies the policy's amount tiers to it, the
handler does not run before the people the policy asks for have approved, and it runs once
after. The model call's usage (tokens, cost, latency, tries) is in the step's audit entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from maestro_helix import ActionSpec, Maestro, RiskClass, RunStatus
from maestro_helix.agents.base import AgentRegistry
from maestro_helix.agents.chat import ChatAgent
from maestro_helix.core.workflow import parse_definition
from maestro_helix.governance.policy import Decision, Role
from openai_server import Reply, ScriptedServer, Seen, chat_reply

ROOT = Path(__file__).parents[1]
CS = ROOT / "examples" / "customer_service"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer().start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    for var in ("MAESTRO_LLM_BASE_URL", "MAESTRO_LLM_MODEL", "MAESTRO_EXAMPLE_LEDGER"):
        monkeypatch.delenv(var, raising=False)


def _refund_call(order_id: str, amount: float) -> dict[str, Any]:
    args = {"order_id": order_id, "amount": amount, "currency": "EUR"}
    return {
        "id": "call-1",
        "type": "function",
        "function": {"name": "refund", "arguments": json.dumps(args)},
    }


async def test_a_model_refund_above_the_one_person_tier_waits_for_two_people_then_runs_once(
    server: ScriptedServer, tmp_path: Path
) -> None:
    """The customer-service example with its refund step done by a model: the model proposes
    ``crm.refund`` of 1,890.00 EUR through a tool call; the policy (above 1,000: two distinct
    people) holds the run with the refund in the approval request, the handler has not run;
    one approval is not enough; after the second the refund runs exactly once."""
    from examples.customer_service.app import spec as cs_spec

    example = cs_spec(None)
    msg = json.loads((CS / "inputs" / "large_refund.json").read_text())
    server.default = lambda _s: chat_reply(
        "Refund of 1890.00 EUR as store credit for order A-40012.",
        tool_calls=[_refund_call("A-40012", 1890.0)],
    )
    refunds = ChatAgent.from_config(
        "support.refunds",  # the workflow's refund step names this agent
        {"support.refund"},
        {
            "base_url": server.base_url,
            "model": "m",
            "system": "You issue refunds with the refund tool.",
            "tools": [
                {
                    "name": "refund",
                    "action": "crm.refund",
                    "description": "Refund an order as store credit.",
                    "amount_field": "amount",
                }
            ],
        },
    )
    ran: list[tuple[dict[str, Any], str]] = []

    def handler(payload: Mapping[str, Any], key: str) -> dict[str, Any]:
        ran.append((dict(payload), key))
        return {"credited": payload["amount"]}

    agents = AgentRegistry(
        [example.agents.get("support.triage"), example.agents.get("support.writer"), refunds]
    )
    refund_action = ActionSpec(
        "crm.refund",
        reversible=True,
        risk_class=RiskClass.MEDIUM,
        handler=handler,
        amount_field="amount",
    )
    async with Maestro.open(
        tmp_path / "m.db",
        agents=agents,
        action_types=[refund_action],
        policy=CS / "governance.json",
    ) as m:
        wf = await m.engine.register(example.workflows[0])
        run_id = await m.engine.submit(wf, msg, operator_id="agent-desk")
        r = await m.engine.wait(run_id)
        assert r.status is RunStatus.ESCALATED, r.attempts
        assert [a.step_id for a in r.attempts][-1] == "refund"
        assert len(server.seen) == 1 and server.seen[0].body["tools"][0]["function"]["name"] == (
            "refund"
        )
        (req,) = await m.store.list_requests(run_id=run_id)
        assert req.required_approvals == 2
        assert any("two-person rule: amount 1,890.00 > 1,000.00" in x for x in req.reasons)
        (proposed,) = req.scores["actions"]
        assert proposed["type"] == "crm.refund" and proposed["amount"] == 1890.0
        assert req.payload["output"]["actions"][0]["payload"]["order_id"] == "A-40012"
        assert ran == [], "nothing is refunded before the approvals"

        for who, status in (("ann", "pending"), ("bob", "approved")):
            out = await m.governance.decide(
                req.request_id,
                operator_id=who,
                role=Role.APPROVER,
                decision=Decision.APPROVE,
                payload_hash_seen=req.payload_hash,
            )
            assert out.request.status == status
            if status == "pending":
                assert ran == [], "one approver is not enough above 1,000"
        await m.engine.resume_unfinished()
        done = await m.engine.wait(run_id)
        await m.engine.resume_unfinished()  # a second resume does not pay again
        executed = [e for e in await m.store.audit_entries() if e["kind"] == "action.executed"]
    assert done.status is RunStatus.COMPLETED, done.attempts
    assert len(ran) == 1
    payload, _key = ran[0]
    assert payload == {"order_id": "A-40012", "amount": 1890.0, "currency": "EUR"}
    assert len(executed) == 1
    assert len(server.seen) == 1, "the approved output is run, the model is not asked again"


async def test_a_model_refund_under_the_auto_limit_runs_without_people(
    server: ScriptedServer, tmp_path: Path
) -> None:
    """The other side of the tier: a tool call of 24.90 EUR (≤ 100) runs at once, once."""
    server.default = lambda _s: chat_reply(
        "Refund of 24.90 EUR as store credit for order A-20417.",
        tool_calls=[_refund_call("A-20417", 24.9)],
    )
    agent = ChatAgent.from_config(
        "llm",
        {"support.refund"},
        {
            "base_url": server.base_url,
            "model": "m",
            "tools": [{"name": "refund", "action": "crm.refund", "amount_field": "amount"}],
        },
    )
    ran: list[Mapping[str, Any]] = []
    action = ActionSpec(
        "crm.refund",
        reversible=True,
        risk_class=RiskClass.MEDIUM,
        handler=lambda p, _k: ran.append(dict(p)) or {"ok": True},
        amount_field="amount",
    )
    flow = parse_definition(
        {
            "name": "refund-only",
            "steps": [
                {
                    "id": "refund",
                    "capability": "support.refund",
                    "task": "Refund order A-20417 of 24.90 EUR as store credit.",
                    "input": {"order": "${input.order}"},
                    "actions": ["crm.refund"],
                }
            ],
        }
    )
    async with Maestro.open(
        tmp_path / "m.db",
        agents=AgentRegistry([agent]),
        action_types=[action],
        policy=CS / "governance.json",
    ) as m:
        r = await m.run(flow, {"order": "A-20417"})
        reqs = await m.store.list_requests(run_id=r.run_id)
    assert r.status is RunStatus.COMPLETED, r.attempts
    assert reqs == []
    assert ran == [{"order_id": "A-20417", "amount": 24.9, "currency": "EUR"}]


async def test_a_chat_steps_usage_is_in_its_audit_entry(
    server: ScriptedServer, tmp_path: Path
) -> None:
    """Tokens, cost, latency, tries and the model of the call that made the output are in the
    step's ``step.decision`` audit entry (one transient 503 first: two tries)."""
    text = "Invoice INV-7 from Acme: total 120 EUR, due 2026-01-31, paid by bank transfer."

    def model(seen: Seen) -> Reply:
        return chat_reply(text, usage=(30, 9))

    server.then(Reply(status=503, body={"error": "busy"}))
    server.default = model
    agent = ChatAgent.from_config(
        "llm",
        {"summarise"},
        {
            "base_url": server.base_url,
            "model": "m",
            "price_in_per_mtok": 1.0,
            "price_out_per_mtok": 2.0,
            "tries": 3,
            "backoff_initial_s": 0.01,
            "backoff_max_s": 0.02,
        },
    )
    flow = parse_definition(
        {
            "name": "summary",
            "steps": [
                {
                    "id": "summarise",
                    "capability": "summarise",
                    "task": "Summarise the invoice",
                    "input": {"doc": "${input.doc}"},
                    "expect": {"mentions": ["total"], "min_length": 20},
                }
            ],
        }
    )
    async with Maestro.open(tmp_path / "m.db", agents=AgentRegistry([agent])) as m:
        r = await m.run(flow, {"doc": "INV-7 Acme 120 EUR due 2026-01-31"})
        audit = [e for e in await m.store.audit_entries() if e["kind"] == "step.decision"]
    assert r.status is RunStatus.COMPLETED, r.attempts
    (entry,) = audit
    assert entry["agent_id"] == "llm" and entry["step_id"] == "summarise"
    usage = entry["details"]["usage"]
    assert usage["model"] == "scripted"
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        30,
        9,
        39,
    )
    assert usage["cost_usd"] == pytest.approx((30 * 1.0 + 9 * 2.0) / 1e6)
    assert usage["tries"] == 2
    assert usage["latency_ms"] > 0
