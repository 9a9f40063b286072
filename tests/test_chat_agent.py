"""ChatAgent against a real (scripted) OpenAI-compatible server on a loopback port."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maestro_helix import Maestro, RunStatus
from maestro_helix.agents.base import AgentRegistry
from maestro_helix.agents.chat import (
    ChatAgent,
    ChatAgentConfig,
    agents_from_file,
    parse_json_object,
)
from maestro_helix.core.errors import (
    AgentConfigError,
    AgentOutputInvalid,
    AgentRejected,
    ConfigErrors,
    TransientAgentError,
)
from maestro_helix.core.outputs import StepContext
from maestro_helix.core.scores import Feedback
from maestro_helix.core.workflow import parse_definition
from openai_server import Reply, ScriptedServer, chat_reply, completion_reply

CTX = StepContext(run_id="r1", workflow="wf", step="s", attempt=1, task="Summarise the invoice")


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer().start()
    yield s
    s.stop()


def agent(server: ScriptedServer, **cfg: Any) -> ChatAgent:
    base = {
        "base_url": server.base_url,
        "model": "m",
        "tries": 3,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
    }
    return ChatAgent.from_config("llm", {"summarise"}, {**base, **cfg})


async def test_chat_sends_system_and_templated_prompt_and_returns_text(
    server: ScriptedServer,
) -> None:
    server.then(chat_reply("  Total 120 EUR due 2026-01-31.  ", usage=(30, 9)))
    a = agent(
        server,
        system="You are precise.",
        prompt="${task}: ${input.doc}",
        price_in_per_mtok=1.0,
        price_out_per_mtok=2.0,
    )
    out = await a.run({"doc": "INV-7 total 120 EUR"}, CTX)
    (seen,) = server.seen
    assert seen.path == "/v1/chat/completions"
    assert seen.body["model"] == "m"
    assert seen.body["messages"] == [
        {"role": "system", "content": "You are precise."},
        {"role": "user", "content": "Summarise the invoice: INV-7 total 120 EUR"},
    ]
    assert out.text == "Total 120 EUR due 2026-01-31."
    assert out.usage is not None
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.tries) == (30, 9, 1)
    assert out.usage.cost_usd == pytest.approx((30 * 1.0 + 9 * 2.0) / 1e6)
    assert out.usage.latency_ms > 0


async def test_api_key_comes_from_the_named_environment_variable(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MH_TEST_KEY", "sk-test-123")
    await agent(server, api_key_env="MH_TEST_KEY").run({}, CTX)
    assert server.seen[0].headers["authorization"] == "Bearer sk-test-123"
    monkeypatch.delenv("MH_TEST_KEY")
    with pytest.raises(AgentConfigError, match="MH_TEST_KEY"):
        await agent(server, api_key_env="MH_TEST_KEY").run({}, CTX)


async def test_json_schema_output_becomes_data(server: ScriptedServer) -> None:
    schema = {"type": "object", "properties": {"total": {"type": "number"}}}
    server.then(chat_reply('```json\n{"total": 120, "currency": "EUR"}\n```'))
    out = await agent(server, output="json_schema", json_schema=schema).run({}, CTX)
    assert server.seen[0].body["response_format"]["json_schema"]["schema"] == schema
    assert out.data == {"total": 120, "currency": "EUR"}


async def test_malformed_json_is_a_bad_output(server: ScriptedServer) -> None:
    server.then(chat_reply("The total is 120."))
    with pytest.raises(AgentOutputInvalid, match="not a JSON object"):
        await agent(server, output="json").run({}, CTX)
    assert len(server.seen) == 1  # not retried inside the call: the gate retries with feedback


async def test_tool_calls_become_proposed_actions(server: ScriptedServer) -> None:
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "refund", "arguments": json.dumps({"order": "A1", "eur": 40})},
    }
    server.then(chat_reply("", tool_calls=[call]))
    tools = [{"name": "refund", "action": "crm.refund", "amount_field": "eur"}]
    out = await agent(server, tools=tools).run({}, CTX)
    assert server.seen[0].body["tools"][0]["function"]["name"] == "refund"
    (action,) = out.actions
    assert (action.type, dict(action.payload), action.amount) == (
        "crm.refund",
        {"order": "A1", "eur": 40},
        40.0,
    )


async def test_unknown_tool_is_a_bad_output(server: ScriptedServer) -> None:
    call = {"type": "function", "function": {"name": "wire_money", "arguments": "{}"}}
    server.then(chat_reply("", tool_calls=[call]))
    tools = [{"name": "refund", "action": "crm.refund"}]
    with pytest.raises(AgentOutputInvalid, match="wire_money"):
        await agent(server, tools=tools).run({}, CTX)


async def test_feedback_is_sent_on_a_retry(server: ScriptedServer) -> None:
    fb = Feedback(
        attempt=1, qsr=0.4, mri=0.1, suggestions=("mention the due date",), reasons=("QSR low",)
    )
    ctx = StepContext(run_id="r1", workflow="wf", step="s", attempt=2, feedback=fb)
    await agent(server, prompt="Summarise ${input.doc}").run({"doc": "INV-7"}, ctx)
    user = server.seen[0].body["messages"][-1]["content"]
    assert user.startswith("Summarise INV-7")
    assert "Why: QSR low" in user and "Do this: mention the due date" in user


async def test_completions_mode_uses_the_explicit_prompt_template(server: ScriptedServer) -> None:
    server.then(completion_reply(" Paris"))
    a = agent(
        server,
        mode="completions",
        system="Answer in one word.",
        prompt="Capital of ${input.country}?",
        prompt_template="${system}\nQ: ${prompt}\nA:",
        stop=["\n"],
    )
    out = await a.run({"country": "France"}, CTX)
    (seen,) = server.seen
    assert seen.path == "/v1/completions"
    assert seen.body["prompt"] == "Answer in one word.\nQ: Capital of France?\nA:"
    assert seen.body["stop"] == ["\n"]
    assert out.text == "Paris"


async def test_a_missing_template_field_is_a_config_bug(server: ScriptedServer) -> None:
    with pytest.raises(AgentConfigError, match=r"input\.doc"):
        await agent(server, prompt="${input.doc}").run({}, CTX)
    assert server.seen == []


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_transient_status_is_retried_with_backoff(
    server: ScriptedServer, status: int
) -> None:
    server.then(Reply(status, {"error": {"message": "busy"}}), chat_reply("second time lucky"))
    out = await agent(server).run({}, CTX)
    assert out.text == "second time lucky"
    assert out.usage is not None and out.usage.tries == 2
    assert len(server.seen) == 2


async def test_retry_after_is_honoured(server: ScriptedServer) -> None:
    server.then(Reply(429, {"error": {"message": "slow down"}}, {"retry-after": "0.3"}))
    await agent(server, backoff_max_s=1.0).run({}, CTX)
    first, second = server.seen
    assert second.at - first.at >= 0.3


async def test_persistent_5xx_gives_a_transient_error_after_the_tries(
    server: ScriptedServer,
) -> None:
    server.default = lambda _s: Reply(503, {"error": {"message": "overloaded"}})
    with pytest.raises(TransientAgentError, match="HTTP 503: overloaded") as info:
        await agent(server, tries=3).run({}, CTX)
    assert info.value.status == 503
    assert len(server.seen) == 3
    assert "after 3 tries" in info.value.__notes__


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_refused_call_is_not_retried(server: ScriptedServer, status: int) -> None:
    server.then(Reply(status, {"error": {"message": "no such model"}}))
    with pytest.raises(AgentRejected, match="no such model"):
        await agent(server).run({}, CTX)
    assert len(server.seen) == 1


async def test_timeout_is_transient_and_retried(server: ScriptedServer) -> None:
    server.then(Reply(delay_s=1.0, body=chat_reply().body))
    out = await agent(server, timeout_s=0.2).run({}, CTX)
    assert out.usage is not None and out.usage.tries == 2


async def test_connection_refused_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    a = ChatAgent.from_config(
        "llm",
        {"x"},
        {"base_url": f"http://127.0.0.1:{port}/v1", "model": "m", "tries": 2},
    )
    with pytest.raises(TransientAgentError, match="cannot reach"):
        await a.run({}, CTX)


async def test_concurrency_limit_is_shared_by_agents_on_one_endpoint(
    server: ScriptedServer,
) -> None:
    server.default = lambda _s: Reply(body=chat_reply().body, delay_s=0.15)
    endpoints: dict[str, Any] = {}
    cfg = {"base_url": server.base_url, "model": "m", "max_concurrency": 2}
    a = ChatAgent.from_config("a", {"x"}, cfg, endpoints=endpoints)
    b = ChatAgent.from_config("b", {"x"}, cfg, endpoints=endpoints)
    assert a.endpoint is b.endpoint
    t0 = time.monotonic()
    await asyncio.gather(*(ag.run({}, CTX) for ag in [a, b, a, b, a, b]))
    assert server.max_in_flight == 2
    assert time.monotonic() - t0 >= 0.15 * 3 * 0.9


def test_bad_config_names_the_field() -> None:
    with pytest.raises(ConfigErrors) as info:
        ChatAgentConfig.parse({"base_url": "ftp://x", "modle": "m"}, "agents.yaml")
    text = str(info.value)
    assert "agents.yaml: base_url" in text
    assert "agents.yaml: model: required field is missing" in text
    assert "agents.yaml: modle: unknown field" in text


def test_json_schema_output_needs_a_schema() -> None:
    with pytest.raises(ConfigErrors, match="needs a 'json_schema'"):
        ChatAgentConfig.parse({"base_url": "http://x", "model": "m", "output": "json_schema"})


def test_json_in_prose_is_found() -> None:
    assert parse_json_object('Here: {"a": 1} done') == {"a": 1}


async def test_chat_agent_completes_a_gated_step(server: ScriptedServer, tmp_path: Path) -> None:
    """Through the real engine: the model's answer is scored and gated like any agent's."""
    server.default = lambda _s: chat_reply(
        "Invoice INV-7 from Acme: total 120 EUR, due 2026-01-31, paid by bank transfer."
    )
    a = agent(server, prompt="Summarise: ${input.doc}")
    flow = parse_definition(
        {
            "name": "summary",
            "steps": [
                {
                    "id": "summarise",
                    "capability": "summarise",
                    "task": "Summarise the invoice",
                    "input": {"doc": "${input.doc}"},
                    "expect": {"mentions": ["total", "due"], "min_length": 20},
                }
            ],
        }
    )
    async with Maestro.open(tmp_path / "m.db", agents=AgentRegistry([a])) as m:
        r = await m.run(flow, {"doc": "INV-7 Acme 120 EUR due 2026-01-31"})
    assert r.status is RunStatus.COMPLETED, r
    assert "120 EUR" in r.outputs["summarise"]["text"]


def test_agents_are_declared_in_a_yaml_file(tmp_path: Path, server: ScriptedServer) -> None:
    f = tmp_path / "agents.yaml"
    f.write_text(
        "agents:\n"
        "  extractor:\n"
        "    capabilities: [invoice.extract]\n"
        f"    agent: {{type: openai, base_url: '{server.base_url}', model: m, output: json}}\n"
        "  writer:\n"
        "    capabilities: [reply]\n"
        f"    agent: {{type: openai, base_url: '{server.base_url}', model: m2}}\n"
    )
    extractor, writer = agents_from_file(f)
    assert (extractor.id, extractor.capabilities) == ("extractor", frozenset({"invoice.extract"}))
    assert extractor.endpoint is writer.endpoint
    assert writer.config.model == "m2"
    assert len(AgentRegistry([extractor, writer])) == 2


def test_a_bad_agents_file_names_the_file_and_field(tmp_path: Path) -> None:
    f = tmp_path / "agents.yaml"
    f.write_text("agents:\n  x:\n    capabilities: [a]\n    agent: {type: anthropic, model: m}\n")
    with pytest.raises(ConfigErrors) as info:
        agents_from_file(f)
    text = str(info.value)
    assert f"{f}: agents.x.agent.type" in text
    assert f"{f}: agents.x.agent.base_url: required field is missing" in text


def test_maestro_run_with_a_workflow_file_and_an_agents_file(
    tmp_path: Path, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Python: `maestro run flow.yaml --app agents.yaml` runs a model agent end to end."""
    from typer.testing import CliRunner

    from maestro_helix.cli.main import app as cli

    server.default = lambda _s: chat_reply(
        "Invoice INV-7 from Acme: total 120 EUR, due 2026-01-31, to be paid by transfer."
    )
    (tmp_path / "agents.yaml").write_text(
        "agents:\n  summariser:\n    capabilities: [summarise]\n"
        f"    agent: {{type: openai, base_url: '{server.base_url}', model: m,"
        " prompt: 'Summarise: ${input.doc}'}\n"
    )
    (tmp_path / "flow.yaml").write_text(
        "name: summary\nsteps:\n  - id: summarise\n    capability: summarise\n"
        "    task: Summarise the invoice\n    input: {doc: '${input.doc}'}\n"
        "    expect: {mentions: [total, due], min_length: 20}\n"
    )
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        cli,
        ["run", "flow.yaml", "--app", "agents.yaml", "--db", "m.db", "--json",
         "--input", '{"doc": "INV-7 Acme 120 EUR due 2026-01-31"}'],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["status"] == "completed"
    assert "120 EUR" in out["outputs"]["summarise"]["text"]
    assert server.seen[0].body["messages"][-1]["content"].startswith("Summarise: INV-7")
