"""Financial pattern: invoice extraction → checks → payment transfer (two people above 10,000).

Run offline (deterministic agents)::

    maestro run examples/financial/workflow.yaml --app examples.financial.app:spec \\
        --policy examples/financial/governance.json \\
        --input "$(cat examples/financial/inputs/large.json)"

With ``MAESTRO_LLM_BASE_URL`` / ``MAESTRO_LLM_MODEL`` set, the extraction is done by a model
(JSON-schema output); the checks and the payment stay code, as they should.
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
from maestro_helix.core.outputs import AgentOutput, ProposedAction
from maestro_helix.core.scores import CriterionScore
from maestro_helix.core.workflow import load_definition_file
from maestro_helix.helix.base import EvaluationRequest

HERE = Path(__file__).parent

# the vendor master: who we pay, the last digits of the account on file, open purchase orders
VENDORS: Mapping[str, Mapping[str, Any]] = {
    "Acme Tools GmbH": {"id": "V-100", "account_last4": "3000", "po": {"PO-7731": 750.00}},
    "Nordlicht Logistics AB": {
        "id": "V-230",
        "account_last4": "7741",
        "po": {"PO-9102": 48_200.00},
    },
}
PAID_INVOICES = frozenset({"INV-0999"})

_FIELDS = {
    "vendor": r"Vendor:\s*(.+)",
    "invoice_no": r"Invoice:\s*(INV-\d+)",
    "po_number": r"PO:\s*(PO-\d+)",
    "due_date": r"Due:\s*(\d{4}-\d{2}-\d{2})",
    "bank_account_last4": r"Bank account:.*?(\d{4})\s*$",
}
_TOTAL = re.compile(r"Total:\s*([\d,]+\.\d{2})\s*([A-Z]{3})")


def extract(inp: Mapping[str, Any]) -> AgentOutput:
    doc = str(inp["document"])
    data: dict[str, Any] = {}
    for name, pattern in _FIELDS.items():
        m = re.search(pattern, doc, re.MULTILINE)
        data[name] = m.group(1).strip() if m else ""
    total = _TOTAL.search(doc)
    if total:
        data["amount"] = float(total.group(1).replace(",", ""))
        data["currency"] = total.group(2)
    text = (
        f"Invoice {data.get('invoice_no')} from {data.get('vendor')}: "
        f"{data.get('amount')} {data.get('currency')} for {data.get('po_number')}, "
        f"due {data.get('due_date')}."
    )
    return AgentOutput(text=text, data=data)


def check(inp: Mapping[str, Any]) -> AgentOutput:
    vendor = VENDORS.get(str(inp["vendor"]))
    po_amount = vendor["po"].get(inp["po_number"]) if vendor else None
    checks = {
        "vendor_known": vendor is not None,
        "account_matches_master": bool(vendor)
        and vendor is not None
        and str(inp.get("bank_account_last4")) == vendor["account_last4"],
        "amount_matches_po": po_amount is not None and abs(float(inp["amount"]) - po_amount) < 0.01,
        "not_already_paid": inp["invoice_no"] not in PAID_INVOICES,
    }
    issues = [name.replace("_", " ") for name, ok in checks.items() if not ok]
    text = (
        f"Invoice {inp['invoice_no']}: all {len(checks)} checks passed."
        if not issues
        else f"Invoice {inp['invoice_no']}: failed checks: {', '.join(issues)}."
    )
    return AgentOutput(
        text=text,
        data={
            "checks": checks,
            "ok": not issues,
            "issues": issues,
            "vendor_id": vendor["id"] if vendor else "",
        },
    )


def prepare_payment(inp: Mapping[str, Any]) -> AgentOutput:
    amount = float(inp["amount"])
    payload = {
        "vendor_id": inp["vendor_id"],
        "invoice_no": inp["invoice_no"],
        "amount": amount,
        "currency": inp["currency"],
    }
    return AgentOutput(
        text=f"Transfer of {amount:.2f} {inp['currency']} to {inp['vendor']} "
        f"({inp['vendor_id']}) for {inp['invoice_no']} prepared.",
        data=payload,
        actions=(ProposedAction("payments.transfer", payload, amount=amount),),
    )


def checks_passed(req: EvaluationRequest) -> CriterionScore:
    """QSR criterion: a failed check makes the step fail the gate (and go to people)."""
    ok = bool(req.output.data.get("ok"))
    issues = req.output.data.get("issues") or []
    return CriterionScore(
        "checks_passed", 1.0 if ok else 0.0, detail="all checks passed" if ok else str(issues)
    )


class Ledger:
    """The bank, for the example: each transfer once per idempotency key, in a JSON-lines file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def transfer(self, payload: Mapping[str, Any], key: str) -> dict[str, Any]:
        if self.path is not None:
            done = self.path.read_text().splitlines() if self.path.exists() else []
            if any(json.loads(line)["key"] == key for line in done):
                return {"duplicate": True, "receipt": key}
            with self.path.open("a") as f:
                f.write(json.dumps({"key": key, **payload}) + "\n")
        return {"transferred": payload["amount"], "to": payload["vendor_id"], "receipt": key}


EXTRACT_PROMPT = {
    "system": "You extract fields from invoices. Answer with one JSON object only.",
    "prompt": "Extract vendor, invoice_no, po_number, due_date (YYYY-MM-DD), amount (number), "
    "currency (EUR/USD/GBP) and bank_account_last4 from this invoice:\n\n${input.document}",
    "output": "json_schema",
    "json_schema": {
        "type": "object",
        "required": ["vendor", "invoice_no", "amount", "currency", "due_date", "po_number"],
        "properties": {
            "vendor": {"type": "string"},
            "invoice_no": {"type": "string"},
            "po_number": {"type": "string"},
            "due_date": {"type": "string"},
            "amount": {"type": "number"},
            "currency": {"type": "string"},
            "bank_account_last4": {"type": "string"},
        },
    },
}


def spec(ledger: Path | None = None) -> AppSpec:
    """The app. ``ledger`` (or ``$MAESTRO_EXAMPLE_LEDGER``) records the transfers made."""
    path = ledger or (Path(p) if (p := os.environ.get("MAESTRO_EXAMPLE_LEDGER")) else None)
    endpoints: dict[str, Endpoint] = {}
    agents = AgentRegistry(
        [
            agent_or_llm(
                "invoice.extractor", {"invoice.extract"}, extract, EXTRACT_PROMPT, endpoints
            ),
            agent_or_llm("invoice.checker", {"invoice.check"}, check, None, endpoints),
            agent_or_llm("payments.clerk", {"payments"}, prepare_payment, None, endpoints),
        ]
    )
    bank = Ledger(path)
    actions = (
        ActionSpec(
            "payments.transfer",
            reversible=False,
            risk_class=RiskClass.MEDIUM,
            handler=bank.transfer,
            amount_field="amount",
        ),
    )
    return AppSpec(
        agents,
        actions,
        evaluators={"checks_passed": checks_passed},
        workflows=(load_definition_file(HERE / "workflow.yaml"),),
    )
