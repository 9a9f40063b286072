"""A refund workflow for the governance tests: amount tiers people can say (up to 100 USD runs
automatically, up to 500 needs one person, above 500 two), declared display fields, and a
handler whose effects are recorded once per idempotency key in a ledger file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from maestro_helix import ActionSpec, AgentRegistry, RiskClass, parse_definition
from maestro_helix.appspec import AppSpec
from maestro_helix.core.outputs import AgentOutput, ProposedAction

FLOW = parse_definition(
    {
        "name": "refund",
        "steps": [
            {
                "id": "refund",
                "capability": "support",
                "task": "Refund ${input.amount} USD to customer ${input.customer}",
                "input": {"customer": "${input.customer}", "amount": "${input.amount}"},
                "expect": {"required_fields": ["customer", "amount"]},
                "actions": ["crm.refund"],
            }
        ],
    }
)

POLICY: dict[str, Any] = {
    "actions": {
        "crm.refund": {
            "label": "refunds",
            "amount_limit": 1000,
            "tiers": [
                {"up_to": 100, "approvals": 0},
                {"up_to": 500, "approvals": 1},
                {"approvals": 2},
            ],
        }
    }
}


def refund_agent(inp: Mapping[str, Any]) -> AgentOutput:
    amount = float(inp["amount"])
    customer = str(inp["customer"])
    return AgentOutput(
        text=f"Refund of {amount:.2f} USD to customer {customer} prepared.",
        data={"customer": customer, "amount": amount},
        actions=(
            ProposedAction(
                "crm.refund", {"customer": customer, "amount": amount, "currency": "USD"}
            ),
        ),
    )


class Refunds:
    """The CRM's refunds, once per idempotency key, in a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]

    @property
    def down(self) -> Path:
        """While this file exists the CRM is unreachable: every refund call fails."""
        return self.path.with_name(self.path.name + ".down")

    def refund(self, payload: Mapping[str, Any], key: str) -> dict[str, Any]:
        if self.down.exists():
            raise ConnectionError("CRM unreachable")
        for e in self.entries():
            if e["key"] == key:
                return {"refund_id": e["refund_id"], "duplicate": True}
        refund_id = f"R-{len(self.entries()) + 1:04d}"
        with self.path.open("a") as f:
            f.write(json.dumps({"key": key, "refund_id": refund_id, **dict(payload)}) + "\n")
        return {"refund_id": refund_id}


def agents() -> AgentRegistry:
    reg = AgentRegistry()
    reg.add("support.clerk", refund_agent, {"support"})
    return reg


def actions(refunds: Refunds) -> list[ActionSpec]:
    return [
        ActionSpec(
            "crm.refund",
            reversible=True,
            risk_class=RiskClass.MEDIUM,
            handler=refunds.refund,
            amount_field="amount",
            currency_field="currency",
            display=("amount", "currency", "customer"),
        )
    ]


def app() -> AppSpec:
    """``--app refund_app:app`` (the ledger file from ``REFUNDS_FILE``)."""
    import os

    return AppSpec(
        agents=agents(),
        action_types=tuple(actions(Refunds(Path(os.environ["REFUNDS_FILE"])))),
        workflows=(FLOW,),
    )
