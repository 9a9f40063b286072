"""Agent failures are classified (transient / bad output / rejected / bug), transient ones are
retried with backoff, and the gate fails (not escalates) a step whose agent has a bug."""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from maestro_helix.agents.base import AgentOutputError, FunctionAgent
from maestro_helix.agents.failures import (
    AgentFailure,
    RetryPolicy,
    call_agent,
    call_with_retries,
    classify_agent_error,
    run_agent,
)
from maestro_helix.core.errors import (
    AgentConfigError,
    AgentFailureKind,
    AgentOutputInvalid,
    AgentRejected,
    StoreError,
    TransientAgentError,
)
from maestro_helix.core.outputs import AgentOutput, StepContext
from maestro_helix.core.scores import (
    EvaluationFailure,
    FailureKind,
    GateDecision,
    GateThresholds,
)
from maestro_helix.helix.gate import GateConfig, HelixQualityGate

K = AgentFailureKind
_REQ = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")


def _status_error(status: int) -> httpx.HTTPStatusError:
    return httpx.HTTPStatusError("x", request=_REQ, response=httpx.Response(status, request=_REQ))


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (KeyError("customer_id"), K.BUG),
        (TypeError("unsupported operand"), K.BUG),
        (ValueError("bad literal"), K.BUG),
        (ZeroDivisionError(), K.BUG),
        (AgentOutputError("an agent must return str, dict or AgentOutput"), K.BUG),
        (FileNotFoundError(errno.ENOENT, "prompt.txt"), K.BUG),
        (PermissionError(errno.EACCES, "key"), K.BUG),
        (TimeoutError(), K.TRANSIENT),
        (ConnectionResetError(errno.ECONNRESET, "reset"), K.TRANSIENT),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), K.TRANSIENT),
        (OSError(errno.ENETUNREACH, "unreachable"), K.TRANSIENT),
        (OSError(errno.EINVAL, "invalid argument"), K.BUG),
        (httpx.ConnectError("refused", request=_REQ), K.TRANSIENT),
        (httpx.ReadTimeout("slow", request=_REQ), K.TRANSIENT),
        (httpx.RemoteProtocolError("eof", request=_REQ), K.TRANSIENT),
        (_status_error(429), K.TRANSIENT),
        (_status_error(503), K.TRANSIENT),
        (_status_error(500), K.TRANSIENT),
        (_status_error(401), K.REJECTED),
        (_status_error(404), K.REJECTED),
        (TransientAgentError("a", "quota"), K.TRANSIENT),
        (AgentOutputInvalid("a", "not JSON"), K.BAD_OUTPUT),
        (AgentRejected("a", "HTTP 401"), K.REJECTED),
        (AgentConfigError("a", "missing key"), K.BUG),
        (StoreError("database is locked"), K.TRANSIENT),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_classify_agent_error(exc: BaseException, kind: AgentFailureKind) -> None:
    assert classify_agent_error(exc) is kind


def test_failure_record_keeps_type_and_message() -> None:
    f = AgentFailure.of(KeyError("customer_id"))
    assert f.kind is K.BUG
    assert f.error_type == "KeyError"
    assert f.message == "KeyError: 'customer_id'"
    assert f.to_dict()["kind"] == "bug"


def test_retry_pause_grows_and_is_capped() -> None:
    p = RetryPolicy(tries=8, initial_s=0.1, max_s=0.5)
    for n, cap in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (7, 0.5)]:
        pauses = [p.pause_s(n) for _ in range(200)]
        assert all(0.0 <= x <= cap for x in pauses)
        assert max(pauses) > cap * 0.5  # jittered over the whole range, not a constant
    assert p.pause_s(1, retry_after_s=0.3) >= 0.3  # the endpoint's Retry-After is honoured
    assert p.pause_s(1, retry_after_s=60) <= 0.5


async def test_transient_failures_are_retried_with_real_pauses() -> None:
    calls: list[float] = []
    pauses: list[float] = []

    async def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise TransientAgentError("a", "HTTP 503", retry_after_s=0.05)
        return "done"

    t0 = time.monotonic()
    got = await call_with_retries(
        flaky,
        RetryPolicy(tries=4, initial_s=0.05, max_s=1.0),
        on_retry=lambda e, n, s: pauses.append(s),
    )
    assert got == "done"
    assert len(calls) == 3
    assert len(pauses) == 2 and all(p >= 0.05 for p in pauses)
    assert calls[1] - calls[0] >= 0.05 and calls[2] - calls[1] >= 0.05
    assert time.monotonic() - t0 >= sum(pauses) * 0.9


async def test_bug_is_not_retried() -> None:
    calls = 0

    async def buggy() -> str:
        nonlocal calls
        calls += 1
        raise KeyError("customer_id")

    with pytest.raises(KeyError) as info:
        await call_with_retries(buggy, RetryPolicy(tries=5, initial_s=0.01))
    assert calls == 1
    assert "after 1 try" in info.value.__notes__


async def test_transient_failure_gives_up_after_the_policy_tries() -> None:
    calls = 0

    async def down() -> str:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")

    with pytest.raises(ConnectionRefusedError) as info:
        await call_with_retries(down, RetryPolicy(tries=3, initial_s=0.01, max_s=0.02))
    assert calls == 3
    assert "after 3 tries" in info.value.__notes__


async def test_run_agent_retries_a_function_agent_that_hits_a_transient_error() -> None:
    calls = 0

    def quota(inp: Mapping[str, Any]) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TransientAgentError("q", "quota exceeded")
        return "fine"

    agent = FunctionAgent("q", quota, {"x"})
    ctx = StepContext(run_id="r", workflow="w", step="s", attempt=1)
    out = await run_agent(agent, {}, ctx, RetryPolicy(tries=3, initial_s=0.01))
    assert isinstance(out, AgentOutput) and out.text == "fine"
    assert calls == 2


# --- the gate ---------------------------------------------------------------------------------

T = GateThresholds(max_attempts=3)


@pytest.mark.parametrize("kind", [K.BUG, K.REJECTED])
def test_gate_fails_an_agent_bug_at_once(kind: AgentFailureKind) -> None:
    v = HelixQualityGate().decide(
        None, None, attempt=1, thresholds=T, agent_error="KeyError: 'x'", agent_failure=kind
    )
    assert v.decision is GateDecision.FAIL
    assert "agent failed: KeyError: 'x'" in v.reasons


@pytest.mark.parametrize("kind", [K.TRANSIENT, K.BAD_OUTPUT, None])
def test_gate_retries_other_agent_failures_then_follows_the_exhausted_policy(
    kind: AgentFailureKind | None,
) -> None:
    gate = HelixQualityGate()
    first = gate.decide(None, None, attempt=1, thresholds=T, agent_error="e", agent_failure=kind)
    last = gate.decide(None, None, attempt=3, thresholds=T, agent_error="e", agent_failure=kind)
    assert first.decision is GateDecision.RETRY
    assert last.decision is GateDecision.ESCALATE


@pytest.mark.parametrize(
    ("policy", "decision"),
    [("escalate", GateDecision.ESCALATE), ("retry", GateDecision.RETRY)],
)
def test_gate_policy_chooses_what_an_agent_bug_leads_to(
    policy: str, decision: GateDecision
) -> None:
    gate = HelixQualityGate(GateConfig.model_validate({"on_agent_bug": policy}))
    v = gate.decide(None, None, attempt=1, thresholds=T, agent_error="e", agent_failure=K.BUG)
    assert v.decision is decision


def test_an_evaluator_failure_still_escalates() -> None:
    crash = EvaluationFailure("qsr", FailureKind.CRASH, "ZeroDivisionError")
    v = HelixQualityGate().decide(
        crash, None, attempt=1, thresholds=T, agent_error="e", agent_failure=K.BUG
    )
    assert v.decision is GateDecision.ESCALATE


async def test_run_agent_leaves_retries_to_an_agent_that_does_its_own() -> None:
    """A ChatAgent retries 429/5xx itself (its endpoint's policy); run_agent must not multiply
    them, also when it is wrapped in MetacognitiveAgent."""
    from maestro_helix.agents.base import MetacognitiveAgent

    calls = 0

    class SelfRetrying:
        id = "self"
        capabilities = frozenset({"x"})
        retries_transient = True

        async def run(self, input: Mapping[str, Any], ctx: StepContext) -> AgentOutput:
            nonlocal calls
            calls += 1
            raise TransientAgentError("self", "HTTP 503 after my own retries")

    ctx = StepContext(run_id="r", workflow="w", step="s", attempt=1)
    for agent in (SelfRetrying(), MetacognitiveAgent(SelfRetrying())):
        calls = 0
        with pytest.raises(TransientAgentError):
            await run_agent(agent, {}, ctx, RetryPolicy(tries=4, initial_s=0.01))
        assert calls == 1


# --- call_agent: one attempt for the engine's agent link -------------------------------------

CTX = StepContext(run_id="r", workflow="w", step="s", attempt=1)


async def test_call_agent_returns_a_bug_with_its_type_and_message_after_one_try() -> None:
    def buggy(inp: Mapping[str, Any]) -> str:
        return str(inp["customer_id"])

    out, failure = await call_agent(
        FunctionAgent("b", buggy, {"x"}), {}, CTX, retry=RetryPolicy(tries=4, initial_s=0.01)
    )
    assert out is None and failure is not None
    assert (failure.kind, failure.error_type, failure.message, failure.tries) == (
        K.BUG,
        "KeyError",
        "KeyError: 'customer_id'",
        1,
    )


async def test_call_agent_backs_off_on_transient_failures_then_succeeds() -> None:
    stamps: list[float] = []

    async def flaky(inp: Mapping[str, Any]) -> str:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            raise ConnectionResetError(errno.ECONNRESET, "reset by peer")
        if len(stamps) == 2:
            raise TransientAgentError("f", "HTTP 429", status=429, retry_after_s=0.08)
        return "done"

    out, failure = await call_agent(
        FunctionAgent("f", flaky, {"x"}),
        {},
        CTX,
        retry=RetryPolicy(tries=4, initial_s=0.05, max_s=0.5),
    )
    assert failure is None and out is not None and out.text == "done"
    assert len(stamps) == 3
    assert stamps[2] - stamps[1] >= 0.08  # the endpoint's Retry-After was waited out


async def test_call_agent_times_out_the_whole_attempt_as_transient() -> None:
    async def stuck(inp: Mapping[str, Any]) -> str:
        await asyncio.sleep(5)
        return "late"

    t0 = time.monotonic()
    out, failure = await call_agent(FunctionAgent("s", stuck, {"x"}), {}, CTX, timeout_s=0.1)
    assert time.monotonic() - t0 < 2
    assert out is None and failure is not None
    assert failure.kind is K.TRANSIENT
    assert failure.message == "TimeoutError: timed out after 0.1 s"


async def test_call_agent_gives_up_on_transient_failures_after_the_tries() -> None:
    def down(inp: Mapping[str, Any]) -> str:
        raise TransientAgentError("d", "HTTP 503: overloaded", status=503)

    out, failure = await call_agent(
        FunctionAgent("d", down, {"x"}), {}, CTX, retry=RetryPolicy(tries=3, initial_s=0.01)
    )
    assert out is None and failure is not None
    assert (failure.kind, failure.tries) == (K.TRANSIENT, 3)
    assert failure.message == "TransientAgentError: HTTP 503: overloaded"
