"""``HelixClient``: Helix's scoring and gating as a service, from any Python orchestrator.

    from maestro_helix.client import HelixClient

    with HelixClient("https://helix.internal:8000", token) as helix:   # or MAESTRO_HELIX_URL
        result = helix.gate({"text": answer}, task="Summarise the ticket",
                            expect={"mentions": ["refund"], "min_length": 40})
        if result.decision is GateDecision.RETRY: ...

Every call has a sync and an async form (``evaluate``/``aevaluate``, ``assess``/``aassess``,
``gate``/``agate``). Transient failures (connection errors, timeouts, 429, 5xx) are retried with
exponential backoff and jitter; anything else raises
:class:`~maestro_helix.core.errors.HelixServiceError` with the service's status and code.
Results are the same typed values the library returns in-process.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from maestro_helix.agents.failures import RetryPolicy, call_with_retries
from maestro_helix.core.errors import AgentFailureKind, HelixServiceError
from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.scores import (
    CriterionScore,
    EvaluationFailure,
    FailureKind,
    GateDecision,
    GateThresholds,
    GateVerdict,
    OnExhausted,
    QualityScore,
    RiskFactor,
    RiskScore,
)
from maestro_helix.core.workflow import Expectations, GateOverride

__all__ = ["GateResult", "HelixClient"]

URL_ENV = "MAESTRO_HELIX_URL"
TOKEN_ENV = "MAESTRO_TOKEN"

OutputLike = AgentOutput | Mapping[str, Any] | str
ExpectLike = Expectations | Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class GateResult:
    """What ``/v1/helix/gate`` decided, with the scores it decided on."""

    decision: GateDecision
    verdict: GateVerdict
    quality: QualityScore | EvaluationFailure | None
    risk: RiskScore | EvaluationFailure | None


class HelixClient:
    """A client of a Maestro server's Helix endpoints.

    Args:
        base_url: the server, e.g. ``https://helix.internal:8000`` (default: $MAESTRO_HELIX_URL).
        token: an operator API token (default: ``$MAESTRO_TOKEN``).
        timeout_s: per-request timeout.
        retry: retries of transient failures.
        verify: TLS verification: True, False, or a CA bundle path (mutual TLS: with ``cert``).
        cert: client certificate for mutual TLS: a PEM path or (cert, key) paths.
        transport / async_transport: httpx transports to use instead of the network.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        url = base_url or os.environ.get(URL_ENV)
        if not url:
            raise HelixServiceError(f"no service URL: pass base_url or set {URL_ENV}")
        if not url.startswith(("http://", "https://")):
            raise HelixServiceError(f"the service URL must start with http(s)://, got {url!r}")
        self.base_url = url.rstrip("/")
        token = token or os.environ.get(TOKEN_ENV)
        self._headers = {"authorization": f"Bearer {token}"} if token else {}
        self._timeout = httpx.Timeout(timeout_s)
        self.retry = retry or RetryPolicy(tries=3, initial_s=0.2, max_s=5.0)
        self._verify = tls_verify(verify, cert)
        self._async_transport = async_transport
        self._sync = httpx.Client(timeout=self._timeout, verify=self._verify, transport=transport)

    # -- lifetime

    def close(self) -> None:
        self._sync.close()

    def __enter__(self) -> HelixClient:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- sync calls

    def evaluate(self, output: OutputLike, **step: Any) -> QualityScore | EvaluationFailure:
        """QSR of ``output``; ``step``: task, input, expect, evaluators, step_id, attempt,
        sources (input keys holding source documents), documents (source texts)."""
        body = self._post("/v1/helix/evaluate", evaluate_body(output, **step))
        return quality_from(body["quality"])

    def assess(self, output: OutputLike, **step: Any) -> RiskScore | EvaluationFailure:
        """MRI of ``output``; ``step``: task, input, allowed_actions, step_id, attempt,
        sources, documents (each document is scanned for prompt injection)."""
        body = self._post("/v1/helix/assess", assess_body(output, **step))
        return risk_from(body["risk"])

    def gate(self, output: OutputLike | None, **step: Any) -> GateResult:
        """QSR, MRI and the decision; ``step`` as for both, plus ``gate`` (threshold overrides),
        ``agent_error``/``agent_failure`` when the agent produced no output."""
        return gate_from(self._post("/v1/helix/gate", gate_body(output, **step)))

    # -- async calls

    async def aevaluate(self, output: OutputLike, **step: Any) -> QualityScore | EvaluationFailure:
        body = await self._apost("/v1/helix/evaluate", evaluate_body(output, **step))
        return quality_from(body["quality"])

    async def aassess(self, output: OutputLike, **step: Any) -> RiskScore | EvaluationFailure:
        body = await self._apost("/v1/helix/assess", assess_body(output, **step))
        return risk_from(body["risk"])

    async def agate(self, output: OutputLike | None, **step: Any) -> GateResult:
        return gate_from(await self._apost("/v1/helix/gate", gate_body(output, **step)))

    # -- transport

    def _post(self, path: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        url = self.base_url + path
        tries = self.retry.tries
        for n in range(1, tries + 1):
            try:
                return _decode(self._sync.post(url, json=dict(body), headers=self._headers), url)
            except HelixServiceError as e:
                if not e.retryable or n == tries:
                    raise
                time.sleep(self.retry.pause_s(n))
            except httpx.TransportError as e:
                if n == tries:
                    raise _unreachable(url, e) from e
                time.sleep(self.retry.pause_s(n))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _apost(self, path: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        url = self.base_url + path

        async def once() -> Mapping[str, Any]:
            async with httpx.AsyncClient(
                timeout=self._timeout, verify=self._verify, transport=self._async_transport
            ) as client:
                try:
                    r = await client.post(url, json=dict(body), headers=self._headers)
                except httpx.TransportError as e:
                    raise _unreachable(url, e) from e
            return _decode(r, url)

        return await call_with_retries(once, self.retry)


def tls_verify(verify: bool | str, cert: str | tuple[str, str] | None) -> ssl.SSLContext | bool:
    """What httpx takes as ``verify``: an SSL context when a CA path or a client certificate is
    given (httpx's own ``verify=<path>`` and ``cert=`` are deprecated), else the bool."""
    if cert is None and not isinstance(verify, str):
        return verify
    ctx = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        certfile, keyfile = (cert, None) if isinstance(cert, str) else cert
        ctx.load_cert_chain(certfile, keyfile)
    return ctx


def _unreachable(url: str, e: httpx.TransportError) -> HelixServiceError:
    return HelixServiceError(f"{url}: cannot reach the service ({type(e).__name__}: {e})")


def _decode(r: httpx.Response, url: str) -> Mapping[str, Any]:
    try:
        data = r.json()
    except ValueError:
        data = None
    if 200 <= r.status_code < 300 and isinstance(data, dict):
        return data
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        raise HelixServiceError(
            str(err.get("message", "")), status=r.status_code, code=str(err.get("code", ""))
        )
    raise HelixServiceError(f"{url}: unexpected answer {r.text[:200]!r}", status=r.status_code)


# -- request bodies (plain data; the server validates them and names any bad field) -------------


def _output(output: OutputLike) -> dict[str, Any]:
    if isinstance(output, str):
        return {"text": output}
    if isinstance(output, AgentOutput):
        d = output.to_dict()
        d.pop("self_score", None)
        d.pop("usage", None)
        return d
    return dict(output)


def _step(
    task: str = "",
    input: Mapping[str, Any] | None = None,
    step_id: str = "step",
    attempt: int = 1,
    sources: Sequence[str] = (),
    documents: Sequence[str] = (),
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": task,
        "input": dict(input or {}),
        "step_id": step_id,
        "attempt": attempt,
    }
    if sources:  # input keys holding source texts, as a workflow step's ``sources``
        body["sources"] = list(sources)
    if documents:  # source texts given directly
        body["documents"] = list(documents)
    return body


def _expect(expect: ExpectLike) -> dict[str, Any]:
    if expect is None:
        return {}
    if isinstance(expect, Expectations):
        return expect.model_dump(mode="json", exclude_defaults=True)
    return dict(expect)


def evaluate_body(
    output: OutputLike,
    *,
    expect: ExpectLike = None,
    evaluators: Sequence[str] = (),
    **step: Any,
) -> dict[str, Any]:
    return {
        **_step(**step),
        "output": _output(output),
        "expect": _expect(expect),
        "evaluators": list(evaluators),
    }


def assess_body(
    output: OutputLike, *, allowed_actions: Sequence[str] = (), **step: Any
) -> dict[str, Any]:
    return {**_step(**step), "output": _output(output), "allowed_actions": list(allowed_actions)}


def gate_body(
    output: OutputLike | None,
    *,
    expect: ExpectLike = None,
    evaluators: Sequence[str] = (),
    allowed_actions: Sequence[str] = (),
    gate: GateOverride | Mapping[str, Any] | None = None,
    agent_error: str | None = None,
    agent_failure: AgentFailureKind | None = None,
    **step: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        **_step(**step),
        "expect": _expect(expect),
        "evaluators": list(evaluators),
        "allowed_actions": list(allowed_actions),
    }
    if output is not None:
        body["output"] = _output(output)
    if gate is not None:
        body["gate"] = (
            gate.model_dump(mode="json", exclude_none=True)
            if isinstance(gate, GateOverride)
            else dict(gate)
        )
    if agent_error is not None:
        body["agent_error"] = agent_error
    if agent_failure is not None:
        body["agent_failure"] = agent_failure.value
    return body


# -- answers back into the library's values -----------------------------------------------------


def _failure(d: Mapping[str, Any]) -> EvaluationFailure:
    return EvaluationFailure(
        evaluator=str(d["evaluator"]),
        kind=FailureKind(d["kind"]),
        message=str(d.get("message", "")),
        evaluator_version=str(d.get("evaluator_version", "")),
    )


def quality_from(d: Mapping[str, Any]) -> QualityScore | EvaluationFailure:
    if "kind" in d and "score" not in d:
        return _failure(d)
    return QualityScore(
        score=float(d["score"]),
        criteria=tuple(
            CriterionScore(
                str(c["name"]), float(c["score"]), float(c["weight"]), str(c.get("detail", ""))
            )
            for c in d.get("criteria", ())
        ),
        suggestions=tuple(str(s) for s in d.get("suggestions", ())),
        evaluator_version=str(d.get("evaluator_version", "")),
    )


def risk_from(d: Mapping[str, Any]) -> RiskScore | EvaluationFailure:
    if "kind" in d and "score" not in d:
        return _failure(d)
    return RiskScore(
        score=float(d["score"]),
        factors=tuple(
            RiskFactor(
                name=str(f["name"]),
                score=float(f["score"]),
                detail=str(f.get("detail", "")),
                where=str(f.get("where", "output")),
                count=int(f.get("count", 1)),
                correctable=bool(f.get("correctable", False)),
            )
            for f in d.get("factors", ())
        ),
        assessor_version=str(d.get("assessor_version", "")),
    )


def _thresholds(d: Mapping[str, Any]) -> GateThresholds:
    return GateThresholds(
        min_qsr=float(d["min_qsr"]),
        max_mri=float(d["max_mri"]),
        max_attempts=int(d["max_attempts"]),
        on_exhausted=OnExhausted(d["on_exhausted"]),
        retry_on_risk=bool(d["retry_on_risk"]),
    )


def gate_from(d: Mapping[str, Any]) -> GateResult:
    v = d["verdict"]
    verdict = GateVerdict(
        GateDecision(v["decision"]),
        tuple(str(r) for r in v["reasons"]),
        _thresholds(v["thresholds"]),
    )
    q, r = d.get("quality"), d.get("risk")
    return GateResult(
        decision=verdict.decision,
        verdict=verdict,
        quality=quality_from(q) if q is not None else None,
        risk=risk_from(r) if r is not None else None,
    )
