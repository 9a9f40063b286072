"""Action types: the state changes agents may propose. Registered explicitly; GIL runs them."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any


class RiskClass(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


ActionHandler = Callable[[Mapping[str, Any], str], Any | Awaitable[Any]]
"""``handler(payload, idempotency_key)``: performs the action. The same key may arrive twice after
a crash; a handler must do its effect once per key (pass it to the downstream API)."""


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """A registered action type.

    Attributes:
        name: e.g. ``"payments.transfer"``.
        reversible: False means it can never run without explicit human approval.
        risk_class: how much harm a wrong call can do; feeds MRI and the approval policy.
        handler: what performs the action (called only by the governance layer).
        amount_field: payload key holding the monetary magnitude, if any.
        currency_field: payload key holding the amount's currency, if any.
        display: payload keys an approver sees first (e.g. amount, currency, customer).
        amount_limit: the magnitude limit of this type for MRI (default: the assessor's).
    """

    name: str
    reversible: bool
    risk_class: RiskClass = RiskClass.MEDIUM
    handler: ActionHandler | None = None
    amount_field: str | None = None
    currency_field: str | None = None
    display: tuple[str, ...] = ()
    amount_limit: float | None = None
