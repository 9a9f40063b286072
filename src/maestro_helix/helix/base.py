"""Inputs shared by the Helix evaluators. Plain frozen values; no I/O."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.scores import CriterionScore
from maestro_helix.core.workflow import Expectations


@dataclass(frozen=True, slots=True)
class EvaluationRequest:
    """What the QSR evaluator scores: one output of one step, against what was asked.

    Attributes:
        step_id: the step's id in its workflow.
        task: the rendered task description (may be empty).
        input: the rendered input the agent received.
        input_text: the input flattened to text (what relevance compares the output to).
        output: the agent's normalised output.
        expect: the step's declared expectations.
        mentions: ``expect.mentions`` with references resolved.
        attempt: 1 for the first try.
        sources: the source texts the step declares (retrieved documents, the input's
            references); when given, the ``grounding`` check scores the output's claims
            against them.
    """

    step_id: str
    task: str
    input: Mapping[str, Any]
    input_text: str
    output: AgentOutput
    expect: Expectations = field(default_factory=Expectations)
    mentions: tuple[str, ...] = ()
    attempt: int = 1
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent's track record for a capability: gated steps passed out of steps gated."""

    agent_id: str
    passed: int = 0
    total: int = 0

    def reliability(self, prior_passes: float = 2.0, prior_total: float = 3.0) -> float:
        """Smoothed pass rate (RMM): a Beta prior so a new agent is neither trusted nor shunned."""
        return (self.passed + prior_passes) / (self.total + prior_total)


@dataclass(frozen=True, slots=True)
class RiskRequest:
    """What the risk assessor scores: one step's input, output and proposed actions.

    ``documents`` are the texts the step retrieved or was handed as sources (web pages, emails,
    uploads): each is scanned for prompt injection on its own.
    """

    step_id: str
    input_text: str
    output: AgentOutput
    allowed_actions: tuple[str, ...] = ()
    agent: AgentRecord | None = None
    documents: tuple[str, ...] = ()


def declared_sources(payload: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    """The source texts of a step: the values of its ``sources`` input keys in the rendered
    input the agent received (without an ``input`` mapping, keys of the run input). A string
    is one document, a list holds one document per item, a mapping is one document of its
    text values; keys that are absent or hold no text give nothing."""
    if not keys:
        return ()
    run_input = payload.get("input")
    docs: list[str] = []
    for k in keys:
        if k in payload:
            value = payload[k]
        elif isinstance(run_input, Mapping) and k in run_input:
            value = run_input[k]
        else:
            continue
        items = value if isinstance(value, list | tuple) else (value,)
        for item in items:
            text = _document_text(item)
            if text.strip():
                docs.append(text)
    return tuple(docs)


def _document_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "\n".join(t for v in value.values() if (t := _document_text(v)))
    if isinstance(value, list | tuple):
        return "\n".join(t for v in value if (t := _document_text(v)))
    return ""


CustomCriterion = Callable[[EvaluationRequest], CriterionScore | Awaitable[CriterionScore]]
"""A custom evaluator: returns one criterion (sync or async). Registered explicitly by name."""
