"""What an agent gets and gives back for one step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

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
class AgentOutput:
    """The normalised result of one agent call.

    Attributes:
        text: the main text of the output (what relevance and risk read).
        data: structured fields (what schema/required-field checks read).
        actions: actions the agent proposes.
        self_score: the agent's own estimate of its quality (MetacognitiveAgent), if any.
    """

    text: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    actions: tuple[ProposedAction, ...] = ()
    self_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text, "data": dict(self.data)}
        if self.actions:
            d["actions"] = [a.to_dict() for a in self.actions]
        if self.self_score is not None:
            d["self_score"] = self.self_score
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AgentOutput:
        return cls(
            text=str(d.get("text", "")),
            data=dict(d.get("data") or {}),
            actions=tuple(ProposedAction.from_dict(a) for a in d.get("actions") or ()),
            self_score=d.get("self_score"),
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
