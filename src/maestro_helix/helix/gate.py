"""HelixQualityGate: turns a step's QSR and MRI into pass, retry, escalate or fail.

Thresholds come from ``config/helix_quality_gates.json`` (default QSR >= 0.7, MRI <= 0.3) and can
be overridden per workflow and per step. The config file is validated when the gate is built, so a
malformed file stops start-up with a clear message instead of failing at the first step.

Precedence, least to most specific (later wins): the file's ``default``; the workflow definition's
``gate``; the file's ``workflows.<name>.default``; the step definition's ``gate``; the file's
``workflows.<name>.steps.<step>``. At equal specificity the operator's file wins over the code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from maestro_helix.core.configfile import parse_model, read_json
from maestro_helix.core.errors import AgentFailureKind
from maestro_helix.core.scores import (
    EvaluationFailure,
    GateDecision,
    GateThresholds,
    GateVerdict,
    OnExhausted,
    QualityScore,
    RiskScore,
)
from maestro_helix.core.workflow import GateOverride, StepDef, WorkflowDef
from maestro_helix.helix.knowledge import KnowledgeConfig
from maestro_helix.helix.routing import RoutingConfig

__all__ = ["AGENT_FAILED", "GateConfig", "HelixQualityGate", "load_gate_config"]

AGENT_FAILED = "agent failed: "
"""How the reason for an attempt whose agent failed begins (the track record reads it)."""


class _WorkflowGates(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    default: GateOverride = Field(default_factory=GateOverride)
    steps: dict[str, GateOverride] = Field(default_factory=dict)


class GateConfig(BaseModel):
    """The content of ``helix_quality_gates.json``.

    ``on_agent_bug``: what an attempt whose agent has a bug (``KeyError``, a refused API key ...,
    see :class:`~maestro_helix.core.errors.AgentFailureKind`) leads to: ``fail`` the step at once
    (default: trying again gives the same result, and people cannot fix code), ``escalate`` to
    people, or ``retry`` like any other failed attempt.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    version: int = 1
    default: GateOverride = Field(
        default_factory=lambda: GateOverride(
            min_qsr=0.7, max_mri=0.3, max_attempts=3, on_exhausted="escalate", retry_on_risk=True
        )
    )
    workflows: dict[str, _WorkflowGates] = Field(default_factory=dict)
    step_timeout_s: float = Field(default=300.0, gt=0)
    """How long an agent may take on one step unless the step sets ``timeout_s``."""
    on_agent_bug: Literal["fail", "escalate", "retry"] = "fail"
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    """The router: weights, exploration, the MRI ceiling, the record's half-life."""
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    """Cross-agent learning: which outputs become insights, how many an agent is given."""
    max_reevaluations: int = Field(default=1, ge=0, le=3)
    """How often an agent may revise its output after suggestions and ask to be scored again."""


def parse_gate_config(data: Any, source: str) -> GateConfig:
    return parse_model(GateConfig, data, source)


def load_gate_config(path: str | Path | None) -> GateConfig:
    """Read and validate a gate config file; ``None`` gives the built-in defaults."""
    if path is None:
        return GateConfig()
    return parse_gate_config(read_json(path), str(path))


def _apply(base: GateThresholds, o: GateOverride | None) -> GateThresholds:
    if o is None:
        return base
    return GateThresholds(
        min_qsr=base.min_qsr if o.min_qsr is None else o.min_qsr,
        max_mri=base.max_mri if o.max_mri is None else o.max_mri,
        max_attempts=base.max_attempts if o.max_attempts is None else o.max_attempts,
        on_exhausted=base.on_exhausted if o.on_exhausted is None else OnExhausted(o.on_exhausted),
        retry_on_risk=base.retry_on_risk if o.retry_on_risk is None else o.retry_on_risk,
    )


class HelixQualityGate:
    """Decides what happens to a step after it is scored.

    Args:
        config: validated gate config (see :func:`load_gate_config`).
    """

    def __init__(self, config: GateConfig | None = None) -> None:
        self.config = config or GateConfig()
        self._base = _apply(GateThresholds(), self.config.default)
        self._cache: dict[tuple[str, int, str], GateThresholds] = {}

    def thresholds_with(self, override: GateOverride | None = None) -> GateThresholds:
        """The file's default thresholds with ``override`` on top (for callers outside a
        workflow, e.g. the Helix service)."""
        return _apply(self._base, override)

    def thresholds_for(self, workflow: WorkflowDef, step: StepDef) -> GateThresholds:
        key = (workflow.name, workflow.version, step.id)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        wf_file = self.config.workflows.get(workflow.name)
        t = _apply(self._base, workflow.gate)
        t = _apply(t, wf_file.default if wf_file else None)
        t = _apply(t, step.gate)
        t = _apply(t, wf_file.steps.get(step.id) if wf_file else None)
        self._cache[key] = t
        return t

    def decide(
        self,
        quality: QualityScore | EvaluationFailure | None,
        risk: RiskScore | EvaluationFailure | None,
        *,
        attempt: int,
        thresholds: GateThresholds,
        agent_error: str | None = None,
        agent_failure: AgentFailureKind | None = None,
    ) -> GateVerdict:
        """Pass, retry (with feedback), escalate, or fail one attempt of a step.

        Rules, in order:
        1. An evaluator that crashed or timed out fails closed: escalate.
        2. The agent itself failed (``agent_error``): a bug or a refused call (``agent_failure``
           BUG or REJECTED) follows ``on_agent_bug`` (default: fail); any other failure (transient,
           bad output, or not classified) retries while attempts remain, then the exhausted policy.
        3. Risk above ``max_mri``: retry when the factors the agent can correct itself (it
           leaked personal data, say) are what put it over the bar — the rest alone would pass —
           and attempts remain; otherwise escalate. Risk never becomes a plain failure: a human
           decides.
        4. Quality below ``min_qsr``: retry while attempts remain, then the exhausted policy.
        5. Otherwise pass.
        """
        t = thresholds
        can_retry = attempt < t.max_attempts
        exhausted = (
            GateDecision.ESCALATE if t.on_exhausted is OnExhausted.ESCALATE else GateDecision.FAIL
        )
        for ev in (quality, risk):
            if isinstance(ev, EvaluationFailure):
                return GateVerdict(
                    GateDecision.ESCALATE,
                    (f"evaluator {ev.evaluator} {ev.kind.value}: {ev.message}",),
                    t,
                )
        if agent_error is not None:
            reason = f"{AGENT_FAILED}{agent_error}"
            if agent_failure is not None and not agent_failure.retryable:
                bug = self._on_bug(agent_failure, reason, t)
                if bug is not None:
                    return bug
            if can_retry:
                return GateVerdict(GateDecision.RETRY, (reason,), t)
            return GateVerdict(exhausted, (reason, f"no attempts left ({t.max_attempts})"), t)
        assert isinstance(quality, QualityScore) and isinstance(risk, RiskScore)
        reasons: list[str] = []
        if risk.score > t.max_mri:
            names = sorted({f.name for f in risk.factors})
            reasons.append(f"MRI {risk.score:.3f} > {t.max_mri} ({', '.join(names)})")
            # retrying helps when removing what the agent can fix brings the risk under the bar
            residual = 1.0
            for f in risk.factors:
                if not f.correctable:
                    residual *= 1.0 - f.score
            correctable = (1.0 - residual) <= t.max_mri
            if t.retry_on_risk and correctable and can_retry:
                if quality.score < t.min_qsr:
                    reasons.append(f"QSR {quality.score:.3f} < {t.min_qsr}")
                return GateVerdict(GateDecision.RETRY, tuple(reasons), t)
            if not can_retry and correctable:
                reasons.append(f"no attempts left ({t.max_attempts})")
            return GateVerdict(GateDecision.ESCALATE, tuple(reasons), t)
        if quality.score < t.min_qsr:
            reasons.append(f"QSR {quality.score:.3f} < {t.min_qsr}")
            if can_retry:
                return GateVerdict(GateDecision.RETRY, tuple(reasons), t)
            reasons.append(f"no attempts left ({t.max_attempts})")
            return GateVerdict(exhausted, tuple(reasons), t)
        return GateVerdict(GateDecision.PASS, (), t)

    def _on_bug(self, kind: AgentFailureKind, reason: str, t: GateThresholds) -> GateVerdict | None:
        """The verdict for an agent bug per ``on_agent_bug``; None means "retry like the rest"."""
        policy = self.config.on_agent_bug
        if policy == "retry":
            return None
        why = (reason, f"agent failure is {kind.value}: another attempt gives the same result")
        decision = GateDecision.FAIL if policy == "fail" else GateDecision.ESCALATE
        return GateVerdict(decision, why, t)
