"""What an agent gets and gives back for one step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from maestro_helix.core.knowledge import Insight
from maestro_helix.core.scores import Feedback


@dataclass(frozen=True, slots=True)
class ProposedAction:
    """A state change an agent asks for (e.g. ``payments.transfer``). Nothing runs it but GIL.

    Attributes:
        type: the registered action type, e.g. ``"crm.refund"``.
        payload: the exact arguments; approvals (governance layer) bind to their hash.
        amount: optional monetary magnitude, used by risk and policy.
        reversible: what the agent claims; the action type's registration is authoritative.
    """

    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    amount: float | None = None
    reversible: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "payload": dict(self.payload),
            "amount": self.amount,
            "reversible": self.reversible,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProposedAction:
        return cls(
            type=str(d["type"]),
            payload=dict(d.get("payload") or {}),
            amount=None if d.get("amount") is None else float(d["amount"]),
            reversible=d.get("reversible"),
        )


@dataclass(frozen=True, slots=True)
class Usage:
    """What one agent call cost: tokens, time, money, tries. Read by the audit entry and metrics.

    Attributes:
        model: the model that answered (as the endpoint named it).
        prompt_tokens / completion_tokens: token counts the endpoint reported (0 if it did not).
        latency_ms: wall time of the call from its first send, retries and their pauses
            included (not the wait for a free slot under the endpoint's concurrency limit).
        cost_usd: prompt and completion tokens at the configured prices (0 when none are set).
        tries: HTTP calls made (1 + transient retries).
    """

    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    tries: int = 1

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "latency_ms": self.latency_ms,
            "cost_usd": self.cost_usd,
            "tries": self.tries,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Usage:
        return cls(
            model=str(d.get("model", "")),
            prompt_tokens=int(d.get("prompt_tokens", 0)),
            completion_tokens=int(d.get("completion_tokens", 0)),
            latency_ms=float(d.get("latency_ms", 0.0)),
            cost_usd=float(d.get("cost_usd", 0.0)),
            tries=int(d.get("tries", 1)),
        )


@dataclass(frozen=True, slots=True)
class AgentOutput:
    """The normalised result of one agent call.

    Attributes:
        text: the main text of the output (what relevance and risk read).
        data: structured fields (what schema/required-field checks read).
        actions: actions the agent proposes.
        self_score: the agent's own estimate of its quality (MetacognitiveAgent), if any.
        usage: tokens, latency, cost and tries of a model call (``ChatAgent``), if any.
    """

    text: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    actions: tuple[ProposedAction, ...] = ()
    self_score: float | None = None
    usage: Usage | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text, "data": dict(self.data)}
        if self.actions:
            d["actions"] = [a.to_dict() for a in self.actions]
        if self.self_score is not None:
            d["self_score"] = self.self_score
        if self.usage is not None:
            d["usage"] = self.usage.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AgentOutput:
        return cls(
            text=str(d.get("text", "")),
            data=dict(d.get("data") or {}),
            actions=tuple(ProposedAction.from_dict(a) for a in d.get("actions") or ()),
            self_score=d.get("self_score"),
            usage=Usage.from_dict(d["usage"]) if d.get("usage") else None,
        )

    def as_reference(self) -> dict[str, Any]:
        """The view later steps reference: ``steps.NAME.text``, ``steps.NAME.FIELD``."""
        ref: dict[str, Any] = dict(self.data)
        ref["text"] = self.text
        ref["data"] = dict(self.data)
        return ref


@dataclass(frozen=True, slots=True)
class StepContext:
    """Everything an agent may want to know about the step it is running, besides its input."""

    run_id: str
    workflow: str
    step: str
    attempt: int
    capability: str | None = None
    task: str = ""
    feedback: Feedback | None = None
    knowledge: tuple[Insight, ...] = ()
    """Insights from earlier high-QSR outputs, redacted, retrieved for this step (read-only)."""


MAX_STORED_BYTES = 16 * 1024 * 1024
"""The largest run input or agent output a step may store (JSON, UTF-8)."""


def storable(value: Any) -> str | None:
    """Why ``value`` cannot be stored as JSON (too deeply nested, too large, not encodable),
    or None when it can."""
    try:
        size = len(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))
    except orjson.JSONEncodeError as e:
        reason = str(e)
        if "recursion" in reason.lower():
            return "it is nested more deeply than 254 levels"
        return reason
    if size > MAX_STORED_BYTES:
        return f"it is {size:,} bytes of JSON (the limit is {MAX_STORED_BYTES:,})"
    return None
