"""The runbook's three workflow patterns (examples/): financial, customer service, content.

Each runs offline with its deterministic agents through the real engine, gate and GIL; the
content app also runs with ChatAgents against a (scripted) OpenAI-compatible endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from maestro_helix import Maestro, RunStatus
from maestro_helix.appspec import AppSpec, load_app
from maestro_helix.cli.main import app as cli
from maestro_helix.governance.policy import Decision, Role
from openai_server import Reply, ScriptedServer, Seen, chat_reply

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(autouse=True)
def _importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    for var in ("MAESTRO_LLM_BASE_URL", "MAESTRO_LLM_MODEL", "MAESTRO_EXAMPLE_LEDGER"):
        monkeypatch.delenv(var, raising=False)


def inputs(example: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / example / "inputs" / f"{name}.json").read_text())
    return data


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def spec_of(example: str, log: Path) -> AppSpec:
    from importlib import import_module

    mod = import_module(f"examples.{example}.app")
    spec: AppSpec = mod.spec(log)
    return spec


async def _open(tmp_path: Path, example: str, spec: AppSpec) -> Any:
    policy = EXAMPLES / example / "governance.json"
    return Maestro.open(
        tmp_path / "m.db",
        agents=spec.agents,
        action_types=spec.action_types,
        evaluators=spec.evaluators,
        policy=policy if policy.exists() else None,
    )


async def _approve(m: Maestro, request_id: str, *people: str) -> Any:
    req, _ = await m.store.get_request(request_id)
    out = None
    for who in people:  # each approver sends the hash of the payload they reviewed
        out = await m.governance.decide(
            request_id,
            operator_id=who,
            role=Role.APPROVER,
            decision=Decision.APPROVE,
            payload_hash_seen=req.payload_hash,
        )
    return out


# --- financial ----------------------------------------------------------------------------------


async def test_large_invoice_is_paid_once_after_two_distinct_approvers(tmp_path: Path) -> None:
    bank = tmp_path / "bank.jsonl"
    spec = spec_of("financial", bank)
    async with await _open(tmp_path, "financial", spec) as m:
        wf = await m.engine.register(spec.workflows[0])
        run_id = await m.engine.submit(wf, inputs("financial", "large"), operator_id="clerk")
        r = await m.engine.wait(run_id)
        assert r.status is RunStatus.ESCALATED
        assert [a.step_id for a in r.attempts] == ["extract", "check", "pay"]
        assert r.outputs["extract"]["amount"] == 48_200.0
        (req,) = await m.store.list_requests(run_id=run_id)
        assert req.required_approvals == 2
        assert any("amount 48,200.00 > 10,000.00" in reason for reason in req.reasons)
        first = await _approve(m, req.request_id, "ann")
        assert first.request.status == "pending" and lines(bank) == []
        second = await _approve(m, req.request_id, "bob")
        assert second.request.status == "approved"
        await m.engine.resume_unfinished()
        done = await m.engine.wait(run_id)
    assert done.status is RunStatus.COMPLETED
    (transfer,) = lines(bank)
    assert (transfer["vendor_id"], transfer["amount"]) == ("V-230", 48_200.0)


async def test_small_invoice_needs_one_approver(tmp_path: Path) -> None:
    bank = tmp_path / "bank.jsonl"
    spec = spec_of("financial", bank)
    async with await _open(tmp_path, "financial", spec) as m:
        wf = await m.engine.register(spec.workflows[0])
        run_id = await m.engine.submit(wf, inputs("financial", "small"), operator_id="clerk")
        await m.engine.wait(run_id)
        (req,) = await m.store.list_requests(run_id=run_id)
        assert req.required_approvals == 1
        await _approve(m, req.request_id, "ann")
        await m.engine.resume_unfinished()
        done = await m.engine.wait(run_id)
    assert done.status is RunStatus.COMPLETED
    assert [t["amount"] for t in lines(bank)] == [750.0]


async def test_invoice_with_a_changed_bank_account_goes_to_people_unpaid(tmp_path: Path) -> None:
    bank = tmp_path / "bank.jsonl"
    spec = spec_of("financial", bank)
    async with await _open(tmp_path, "financial", spec) as m:
        r = await m.run(spec.workflows[0], inputs("financial", "mismatch"))
        (req,) = await m.store.list_requests(run_id=r.run_id)
    assert r.status is RunStatus.ESCALATED
    assert [(a.step_id, a.decision) for a in r.attempts][-1] == ("check", "escalate")
    assert req.kind == "escalation"
    assert lines(bank) == []


# --- customer service ---------------------------------------------------------------------------


async def test_small_refund_runs_at_once_and_the_reply_keeps_personal_data_out(
    tmp_path: Path,
) -> None:
    crm = tmp_path / "crm.jsonl"
    spec = spec_of("customer_service", crm)
    msg = inputs("customer_service", "small_refund")
    async with await _open(tmp_path, "customer_service", spec) as m:
        r = await m.run(spec.workflows[0], msg)
        steps = await m.store.step_records(r.run_id)
    assert r.status is RunStatus.COMPLETED
    replies = [a for a in r.attempts if a.step_id == "reply"]
    assert [a.decision for a in replies] == ["retry", "pass"]  # the first draft leaked the e-mail
    first_reply = next(s for s in steps if s.step_id == "reply" and s.attempt == 1)
    assert msg["customer"]["email"] in json.dumps(first_reply.output)
    final = r.outputs["reply"]["text"]
    assert msg["customer"]["email"] not in final and "A-20417" in final
    assert [x["amount"] for x in lines(crm)] == [24.9]


@pytest.mark.parametrize(("name", "approvals"), [("medium_refund", 1), ("large_refund", 2)])
async def test_refund_tiers_need_one_or_two_approvers(
    tmp_path: Path, name: str, approvals: int
) -> None:
    crm = tmp_path / "crm.jsonl"
    spec = spec_of("customer_service", crm)
    async with await _open(tmp_path, "customer_service", spec) as m:
        r = await m.run(spec.workflows[0], inputs("customer_service", name))
        (req,) = await m.store.list_requests(run_id=r.run_id)
    assert r.status is RunStatus.ESCALATED
    assert req.required_approvals == approvals
    assert any(x.startswith("amount ") and "> limit 100.00" in x for x in req.reasons)
    assert any("two-person rule: amount" in x for x in req.reasons) == (approvals == 2)
    assert lines(crm) == []


async def test_a_question_gets_a_reply_and_no_refund(tmp_path: Path) -> None:
    crm = tmp_path / "crm.jsonl"
    spec = spec_of("customer_service", crm)
    async with await _open(tmp_path, "customer_service", spec) as m:
        r = await m.run(spec.workflows[0], inputs("customer_service", "question"))
    assert r.status is RunStatus.COMPLETED
    assert r.outputs["refund"]["decision"] == "none"
    assert lines(crm) == []


# --- content ------------------------------------------------------------------------------------


async def _approve_publication(m: Any, run_id: str) -> Any:
    """The rule of two: an article drafted from web sources is published only after a person
    approves it, with the taint path shown."""
    (req,) = await m.store.list_requests(run_id=run_id)
    assert req.action_type == "cms.publish" and req.scores["rule"].startswith("rule of two")
    assert any("web read by step research" in reason for reason in req.reasons)
    await m.governance.decide(
        req.request_id,
        operator_id="editor",
        role=Role.APPROVER,
        decision=Decision.APPROVE,
        payload_hash_seen=req.payload_hash,
    )
    await m.engine.resume_unfinished()
    return await m.engine.wait(run_id)


async def test_clean_sources_are_drafted_and_published_once_a_person_approves(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site.jsonl"
    spec = spec_of("content", site)
    async with await _open(tmp_path, "content", spec) as m:
        r = await m.run(spec.workflows[0], inputs("content", "clean"))
        assert r.status is RunStatus.ESCALATED
        assert [a.decision for a in r.attempts] == ["pass", "pass", "pass"]
        assert lines(site) == [], "nothing is published before the approval"
        r = await _approve_publication(m, r.run_id)
    assert r.status is RunStatus.COMPLETED
    assert [p["slug"] for p in lines(site)] == ["heat-pumps"]


async def test_injection_in_a_source_is_caught_before_anything_is_published(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site.jsonl"
    spec = spec_of("content", site)
    async with await _open(tmp_path, "content", spec) as m:
        r = await m.run(spec.workflows[0], inputs("content", "injected"))
        (req,) = await m.store.list_requests(run_id=r.run_id)
    assert r.status is RunStatus.ESCALATED
    assert [(a.step_id, a.decision) for a in r.attempts] == [("research", "escalate")]
    assert any("injection" in reason for reason in req.reasons)
    assert lines(site) == []


# --- with a model endpoint ----------------------------------------------------------------------


def _content_model(seen: Seen) -> Reply:
    """A stand-in model: JSON facts for the researcher, Markdown for the writer."""
    messages = seen.body["messages"]
    if seen.body.get("response_format", {}).get("type") == "json_object":
        user = messages[-1]["content"]
        facts = [
            {"fact": "Heat pumps move heat instead of burning fuel.", "source": "https://a.example"}
        ]
        assert "heat pumps" in user
        return chat_reply(json.dumps({"facts": facts, "sources": ["https://a.example"]}))
    body = (
        "# Heat pumps, briefly\n\nHeat pumps move heat instead of burning fuel, so a home "
        "heated by heat pumps needs far less energy than one heated by a gas boiler. Installers "
        "say demand keeps growing.\n\n## Sources\n\n- https://a.example\n"
    )
    return chat_reply(body)


@pytest.fixture
def model_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    s = ScriptedServer(_content_model).start()
    monkeypatch.setenv("MAESTRO_LLM_BASE_URL", s.base_url)
    monkeypatch.setenv("MAESTRO_LLM_MODEL", "scripted")
    yield s
    s.stop()


async def test_content_app_runs_with_chat_agents_when_an_endpoint_is_configured(
    tmp_path: Path, model_endpoint: ScriptedServer
) -> None:
    site = tmp_path / "site.jsonl"
    spec = spec_of("content", site)
    assert type(spec.agents.get("content.researcher")).__name__ == "ChatAgent"
    async with await _open(tmp_path, "content", spec) as m:
        r = await m.run(spec.workflows[0], inputs("content", "clean"))
        assert r.status is RunStatus.ESCALATED, r.attempts
        r = await _approve_publication(m, r.run_id)
    assert r.status is RunStatus.COMPLETED, r.attempts
    assert len(model_endpoint.seen) == 2
    assert r.outputs["research"]["facts"][0]["source"] == "https://a.example"
    assert [p["slug"] for p in lines(site)] == ["heat-pumps"]


async def test_injected_source_is_caught_with_chat_agents_too(
    tmp_path: Path, model_endpoint: ScriptedServer
) -> None:
    site = tmp_path / "site.jsonl"
    spec = spec_of("content", site)
    async with await _open(tmp_path, "content", spec) as m:
        r = await m.run(spec.workflows[0], inputs("content", "injected"))
    assert r.status is RunStatus.ESCALATED
    assert lines(site) == []


def _endpoint(monkeypatch: pytest.MonkeyPatch, model: Any) -> ScriptedServer:
    """A scripted model endpoint the example apps are pointed at (``MAESTRO_LLM_*``)."""
    s = ScriptedServer(model).start()
    monkeypatch.setenv("MAESTRO_LLM_BASE_URL", s.base_url)
    monkeypatch.setenv("MAESTRO_LLM_MODEL", "scripted")
    return s


def _invoice_model(seen: Seen) -> Reply:
    """A stand-in model for the extraction: the invoice's fields as the schema asks."""
    assert "Nordlicht Logistics AB" in seen.body["messages"][-1]["content"]
    fields = {
        "vendor": "Nordlicht Logistics AB",
        "invoice_no": "INV-88310",
        "po_number": "PO-9102",
        "due_date": "2026-12-25",
        "amount": 48200,
        "currency": "EUR",
        "bank_account_last4": "7741",
    }
    return chat_reply(json.dumps(fields))


async def test_financial_app_extracts_with_a_model_and_still_needs_two_distinct_approvers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an endpoint configured the extraction is a ChatAgent on the JSON-schema path
    (``response_format: json_schema`` with the app's schema; the answer becomes the step's
    data); the checks and the payment stay code, and 48,200 EUR still needs two people: the
    same approver twice is one, and nothing is paid before the second."""
    server = _endpoint(monkeypatch, _invoice_model)
    bank = tmp_path / "bank.jsonl"
    try:
        spec = spec_of("financial", bank)
        assert type(spec.agents.get("invoice.extractor")).__name__ == "ChatAgent"
        assert type(spec.agents.get("payments.clerk")).__name__ == "FunctionAgent"
        async with await _open(tmp_path, "financial", spec) as m:
            wf = await m.engine.register(spec.workflows[0])
            run_id = await m.engine.submit(wf, inputs("financial", "large"), operator_id="clerk")
            r = await m.engine.wait(run_id)
            assert r.status is RunStatus.ESCALATED, r.attempts
            assert [(a.step_id, a.agent_id, a.decision) for a in r.attempts] == [
                ("extract", "invoice.extractor", "pass"),
                ("check", "invoice.checker", "pass"),
                ("pay", "payments.clerk", "escalate"),
            ]
            assert r.outputs["extract"]["amount"] == 48_200
            assert r.outputs["extract"]["invoice_no"] == "INV-88310"
            (req,) = await m.store.list_requests(run_id=run_id)
            assert req.required_approvals == 2
            assert any("amount 48,200.00 > 10,000.00" in reason for reason in req.reasons)
            once = await _approve(m, req.request_id, "ann")
            again = await _approve(m, req.request_id, "ann")
            assert once.request.status == again.request.status == "pending"
            assert lines(bank) == []
            assert (await _approve(m, req.request_id, "bob")).request.status == "approved"
            await m.engine.resume_unfinished()
            done = await m.engine.wait(run_id)
    finally:
        server.stop()
    assert done.status is RunStatus.COMPLETED, done.attempts
    (call,) = server.seen  # one model call: the extraction
    fmt = call.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"]["required"][:3] == ["vendor", "invoice_no", "amount"]
    (transfer,) = lines(bank)
    assert (transfer["vendor_id"], transfer["amount"]) == ("V-230", 48_200.0)


def _support_model(email: str) -> Any:
    """A stand-in model for triage (JSON mode) and the reply: its first reply repeats the
    customer's e-mail address; told why it was not accepted, it leaves the address out."""

    def model(seen: Seen) -> Reply:
        if seen.body.get("response_format", {}).get("type") == "json_object":
            triage = {"category": "refund", "urgency": "high", "order_id": "A-20417"}
            return chat_reply(json.dumps({**triage, "amount": 24.9}))
        user = seen.body["messages"][-1]["content"]
        text = (
            "Hello Lena, we are sorry about the broken mug from order A-20417. We have started "
            "a refund of 24.90 EUR as store credit; you will see it within two days."
        )
        if "Your previous answer was not accepted." not in user:
            text += f" We will confirm by e-mail to {email}."
        return chat_reply(text)

    return model


async def test_support_app_with_a_model_retries_a_reply_that_leaks_an_email_with_feedback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Triage and the reply are ChatAgents: the model's first reply repeats the customer's
    e-mail address, the gate sends it back with the reason, the retry's prompt carries that
    feedback, and the reply that passes has no e-mail address; the 24.90 EUR refund runs."""
    msg = inputs("customer_service", "small_refund")
    email = msg["customer"]["email"]
    server = _endpoint(monkeypatch, _support_model(email))
    crm = tmp_path / "crm.jsonl"
    try:
        spec = spec_of("customer_service", crm)
        assert type(spec.agents.get("support.writer")).__name__ == "ChatAgent"
        async with await _open(tmp_path, "customer_service", spec) as m:
            r = await m.run(spec.workflows[0], msg)
            steps = await m.store.step_records(r.run_id)
    finally:
        server.stop()
    assert r.status is RunStatus.COMPLETED, r.attempts
    replies = [a for a in r.attempts if a.step_id == "reply"]
    assert [a.decision for a in replies] == ["retry", "pass"]
    first = next(s for s in steps if s.step_id == "reply" and s.attempt == 1)
    assert email in json.dumps(first.output)
    prompts = [
        s.body["messages"][-1]["content"] for s in server.seen if "response_format" not in s.body
    ]
    assert len(prompts) == 2
    assert "Your previous answer was not accepted." not in prompts[0]
    assert "Your previous answer was not accepted." in prompts[1]
    feedback = prompts[1].split("Your previous answer was not accepted.", 1)[1]
    assert "Why:" in feedback and "pii.email" in feedback, feedback
    final = r.outputs["reply"]["text"]
    assert email not in final and "@" not in final and "A-20417" in final
    assert [x["amount"] for x in lines(crm)] == [24.9]


# --- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "name", "status"),
    [
        ("financial", "large", "escalated"),
        ("customer_service", "small_refund", "completed"),
        ("content", "injected", "escalated"),
    ],
)
def test_maestro_run_runs_each_example_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, example: str, name: str, status: str
) -> None:
    monkeypatch.chdir(ROOT)
    args = [
        "run",
        f"examples/{example}/workflow.yaml",
        "--app",
        f"examples.{example}.app:spec",
        "--db",
        str(tmp_path / "cli.db"),
        "--json",
        "--input",
        json.dumps(inputs(example, name)),
    ]
    if (EXAMPLES / example / "governance.json").exists():
        args += ["--policy", f"examples/{example}/governance.json"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["status"] == status
    assert load_app(f"examples.{example}.app:spec").workflows
