"""Customer-service pattern: triage → reply without personal data → refund by amount tier.

Run offline (deterministic agents)::

    maestro run examples/customer_service/workflow.yaml --app examples.customer_service.app:spec \\
        --policy examples/customer_service/governance.json \\
        --input "$(cat examples/customer_service/inputs/small_refund.json)"

With ``MAESTRO_LLM_BASE_URL`` / ``MAESTRO_LLM_MODEL`` set, triage and the reply are written by a
model; the refund stays code (the amount comes from triage, the tier from the policy).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from examples._llm import agent_or_llm
from maestro_helix import ActionSpec, AgentRegistry, RiskClass
from maestro_helix.agents.endpoint import Endpoint
from maestro_helix.appspec import AppSpec
from maestro_helix.core.outputs import AgentOutput, ProposedAction, StepContext
from maestro_helix.core.workflow import load_definition_file

HERE = Path(__file__).parent

_ORDER = re.compile(r"\bA-\d{4,}\b")
_AMOUNT = re.compile(r"(\d[\d,]*\.\d{2})\s*EUR")


def triage(inp: Mapping[str, Any]) -> AgentOutput:
    msg = str(inp["message"])
    low = msg.lower()
    order = _ORDER.search(msg)
    amount = _AMOUNT.search(msg)
    if "refund" in low or "money back" in low:
        category = "refund"
    elif "ship" in low or "deliver" in low:
        category = "delivery"
    elif "furious" in low or "angry" in low:
        category = "complaint"
    else:
        category = "question"
    urgency = "high" if any(w in low for w in ("furious", "broken", "damaged")) else "normal"
    data: dict[str, Any] = {"category": category, "urgency": urgency}
    if order:
        data["order_id"] = order.group()
    if amount:
        data["amount"] = float(amount.group(1).replace(",", ""))
    return AgentOutput(
        text=f"{category} request, urgency {urgency}, order {data.get('order_id', 'unknown')}.",
        data=data,
    )


def reply(inp: Mapping[str, Any], ctx: StepContext) -> AgentOutput:
    customer = inp.get("customer") or {}
    name = str(customer.get("name", "")).split(" ")[0] or "there"
    order = inp.get("order_id") or "your order"
    lines = [f"Hello {name},", ""]
    if inp.get("category") == "refund":
        lines.append(
            f"I am sorry about {order}. We have started a refund of {inp.get('amount')} EUR "
            "as store credit; you will see it on your account within two working days."
        )
    elif inp.get("category") == "delivery":
        lines.append(f"Thank you for waiting. Your order {order} leaves our warehouse tomorrow.")
    else:
        lines.append(f"Thank you for writing about {order}. A colleague will answer today.")
    # the first draft confirms the contact details, as a careless agent would; the gate's
    # feedback (MRI: personal data in the output) makes the next attempt leave them out
    if ctx.feedback is None and customer.get("email"):
        lines.append(f"We will confirm by e-mail to {customer['email']}.")
    lines += ["", "Kind regards, the support team"]
    return AgentOutput(text="\n".join(lines))


def refund(inp: Mapping[str, Any]) -> AgentOutput:
    amount = inp.get("amount")
    if inp.get("category") != "refund" or not isinstance(amount, int | float) or amount <= 0:
        return AgentOutput(
            text="Nothing to pay back: this message is not a refund request (category "
            + str(inp.get("category"))
            + ").",
            data={"decision": "none"},
        )
    payload = {"order_id": inp["order_id"], "amount": float(amount), "currency": "EUR"}
    return AgentOutput(
        text=f"Refund of {float(amount):.2f} EUR as store credit for {inp['order_id']}.",
        data={"decision": "refund", **payload},
        actions=(ProposedAction("crm.refund", payload, amount=float(amount)),),
    )


class Crm:
    """The CRM, for the example: each refund once per idempotency key, in a JSON-lines file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def refund(self, payload: Mapping[str, Any], key: str) -> dict[str, Any]:
        if self.path is not None:
            done = self.path.read_text().splitlines() if self.path.exists() else []
            if any(json.loads(line)["key"] == key for line in done):
                return {"duplicate": True, "receipt": key}
            with self.path.open("a") as f:
                f.write(json.dumps({"key": key, **payload}) + "\n")
        return {"credited": payload["amount"], "order": payload["order_id"], "receipt": key}


TRIAGE_PROMPT = {
    "system": "You triage customer messages. Answer with one JSON object only.",
    "prompt": "Message: ${input.message}\n\nGive category (refund, delivery, question or "
    "complaint), urgency (low, normal or high), order_id (like A-12345) and amount (a number "
    "in EUR, if the customer names one).",
    "output": "json",
}
REPLY_PROMPT = {
    "system": "You are a polite support agent. Never repeat e-mail addresses, phone numbers or "
    "card numbers in a reply.",
    "prompt": "Customer message: ${input.message}\nCategory: ${input.category}\n"
    "Order: ${input.order_id}\n\nWrite a short reply (3-5 sentences) that names the order.",
}


def spec(crm_log: Path | None = None) -> AppSpec:
    """The app. ``crm_log`` (or ``$MAESTRO_EXAMPLE_LEDGER``) records the refunds made."""
    path = crm_log or (Path(p) if (p := os.environ.get("MAESTRO_EXAMPLE_LEDGER")) else None)
    endpoints: dict[str, Endpoint] = {}
    agents = AgentRegistry(
        [
            agent_or_llm("support.triage", {"support.triage"}, triage, TRIAGE_PROMPT, endpoints),
            agent_or_llm("support.writer", {"support.reply"}, reply, REPLY_PROMPT, endpoints),
            agent_or_llm("support.refunds", {"support.refund"}, refund, None, endpoints),
        ]
    )
    crm = Crm(path)
    actions = (
        ActionSpec(
            "crm.refund",
            reversible=True,  # store credit: taken back if the claim turns out wrong
            risk_class=RiskClass.MEDIUM,
            handler=crm.refund,
            amount_field="amount",
        ),
    )
    return AppSpec(agents, actions, workflows=(load_definition_file(HERE / "workflow.yaml"),))
