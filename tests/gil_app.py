"""A payments workflow for the governance tests: an agent that proposes a transfer, and a
transfer handler whose effect is recorded once per idempotency key in a ledger file."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from maestro_helix import ActionSpec, AgentRegistry, RiskClass, parse_definition
from maestro_helix.core.outputs import AgentOutput, ProposedAction

FLOW = parse_definition(
    {
        "name": "payout",
        "steps": [
            {
                "id": "prepare",
                "capability": "payments",
                "task": "Prepare the payout of ${input.amount} EUR to supplier ${input.supplier}",
                "input": {"supplier": "${input.supplier}", "amount": "${input.amount}"},
                "expect": {"required_fields": ["supplier", "amount"]},
                "actions": ["payments.transfer", "email.send"],
            },
            {
                "id": "confirm",
                "capability": "writing",
                "task": "Confirm the payout to ${input.supplier}",
                "input": {"supplier": "${input.supplier}"},
                "expect": {"mentions": ["${input.supplier}"]},
            },
        ],
    }
)


def prepare(inp: Mapping[str, Any]) -> AgentOutput:
    amount = float(inp["amount"])
    supplier = str(inp["supplier"])
    actions = [
        ProposedAction("payments.transfer", {"supplier": supplier, "amount": amount}, amount=amount)
    ]
    if inp.get("notify", True):
        actions.append(
            ProposedAction("email.send", {"to": f"ap@{supplier}.example", "subject": "payout"})
        )
    return AgentOutput(
        text=f"Payout of {amount} EUR to supplier {supplier} prepared.",
        data={"supplier": supplier, "amount": amount},
        actions=tuple(actions),
    )


def confirm(inp: Mapping[str, Any]) -> str:
    return f"Supplier {inp['supplier']}: your payout was sent. Thanks, {inp['supplier']} team."


def agents() -> AgentRegistry:
    reg = AgentRegistry()
    reg.add("payments.clerk", prepare, {"payments"})
    reg.add("writer", confirm, {"writing"})
    return reg


class Ledger:
    """Effects, once per idempotency key, in a file (survives the process)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []

    def transfer(self, payload: Mapping[str, Any], key: str) -> dict[str, Any]:
        if any(line.startswith(key + " ") for line in self.entries()):
            return {"duplicate": True}
        if os.environ.get("GIL_SLOW_BEFORE"):
            time.sleep(float(os.environ["GIL_SLOW_BEFORE"]))
        with self.path.open("a") as f:
            f.write(f"{key} transfer {payload['supplier']} {payload['amount']}\n")
            f.flush()
            os.fsync(f.fileno())
        if os.environ.get("GIL_SLOW_AFTER"):
            time.sleep(float(os.environ["GIL_SLOW_AFTER"]))
        return {"ok": True}

    def email(self, payload: Mapping[str, Any], key: str) -> None:
        with self.path.open("a") as f:
            f.write(f"{key} email {payload['to']}\n")


def actions(ledger: Ledger) -> list[ActionSpec]:
    return [
        ActionSpec(
            "payments.transfer",
            reversible=False,
            risk_class=RiskClass.HIGH,
            handler=ledger.transfer,
            amount_field="amount",
        ),
        ActionSpec("email.send", reversible=True, risk_class=RiskClass.LOW, handler=ledger.email),
    ]
