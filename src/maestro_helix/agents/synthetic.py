"""A generator for the risk predictor's tests and benchmark: support tickets of varied shape and
three triage agents that each fail by a hidden rule of the input (the predictor is never told the
rules; it sees only the features of :mod:`maestro_helix.helix.predict`):

- ``triage.fast`` loses the thread on tickets with more than four attachments (``items``);
- ``triage.careful`` gives up on long bodies (over 350 characters);
- ``triage.plain`` goes off topic when the ticket carries a contact (personal data).

Besides, every agent fails about 3 % of tickets at random (a hash of the ticket and the agent),
so no model can be perfect. The workflow allows one attempt: a failed attempt is escalated,
which is what mitigation should avoid. Deterministic: the same seed gives the same tickets.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any

from maestro_helix.agents.base import AgentRegistry, FunctionAgent
from maestro_helix.core.outputs import AgentOutput, StepContext
from maestro_helix.core.workflow import WorkflowDef, parse_definition

__all__ = ["TRIAGE_AGENTS", "hidden_failure", "triage_agents", "triage_tasks", "triage_workflow"]

TRIAGE_AGENTS = ("triage.fast", "triage.careful", "triage.plain")

_SUBJECTS = [
    "invoice reminder",
    "password reset",
    "delivery delay",
    "refund request",
    "broken charger",
    "account upgrade",
    "duplicate charge",
    "missing parcel",
]
_SENTENCES = [
    "The customer wrote in this morning about the {s}.",
    "They have been waiting for an answer for several days.",
    "Earlier messages on the {s} were answered by the night shift.",
    "The order history shows two similar cases last quarter.",
    "They ask for a clear next step and a date.",
    "The tone of the message is polite but firm.",
    "A colleague already checked the warehouse system.",
    "The customer mentions they may cancel the contract.",
]
_NAMES = ["ana.souza", "lars.jensen", "mei.tanaka", "omar.haddad"]


def _h(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest(), "big")


def triage_tasks(n: int, *, seed: int = 1) -> list[dict[str, Any]]:
    """``n`` tickets: subject, a body of 1–8 sentences, 0–8 attachments, a contact in ~25 %."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        s = _SUBJECTS[rng.randrange(len(_SUBJECTS))]
        body = " ".join(t.format(s=s) for t in rng.sample(_SENTENCES, rng.randint(1, 8)))
        task: dict[str, Any] = {
            "ref": f"K{seed}-{i:05d}",
            "subject": s,
            "body": body,
            "items": [f"attachment-{j}.pdf" for j in range(rng.randint(0, 8))],
        }
        if rng.random() < 0.25:
            task["contact"] = f"{_NAMES[rng.randrange(len(_NAMES))]}@example.org"
        out.append(task)
    return out


def hidden_failure(agent: str, task: Mapping[str, Any]) -> bool:
    """Whether ``agent`` fails ``task`` (the rules above; for tests and the bench's oracle)."""
    if _h(agent, str(task.get("ref", ""))) % 100 < 3:
        return True
    if agent == "triage.fast":
        return len(task.get("items") or ()) > 4
    if agent == "triage.careful":
        return len(str(task.get("body", ""))) > 350
    if agent == "triage.plain":
        return bool(task.get("contact"))
    return False


def _agent(agent_id: str) -> Any:
    def run(input: Mapping[str, Any], ctx: StepContext) -> AgentOutput:
        s = str(input.get("subject", ""))
        if hidden_failure(agent_id, input):
            text = "Several general trends are worth watching this year across many industries."
            return AgentOutput(text=text, data={"notes": [text]})
        n = len(input.get("items") or ())
        summary = (
            f"Triage of the {s}: the customer needs a clear next step on the {s}. "
            f"The ticket has {n} attachments; reply within one working day about the {s}."
        )
        return AgentOutput(text=summary, data={"summary": summary, "priority": "normal"})

    return run


def triage_agents() -> AgentRegistry:
    reg = AgentRegistry()
    for a in TRIAGE_AGENTS:
        reg.register(FunctionAgent(a, _agent(a), {"triage"}, inline=True))
    return reg


TRIAGE_WORKFLOW: dict[str, Any] = {
    "name": "ticket-triage",
    "description": "One triage step; a failed attempt goes to people (one attempt allowed).",
    "steps": [
        {
            "id": "triage",
            "capability": "triage",
            "task": "Triage the ticket about ${input.subject}.",
            "input": {
                "ref": "${input.ref}",
                "subject": "${input.subject}",
                "body": "${input.body}",
                "items": "${input.items}",
                "contact": "${input.contact?}",
            },
            "expect": {
                "required_fields": ["summary"],
                "mentions": ["${input.subject}"],
                "min_length": 60,
            },
            "gate": {"max_attempts": 1},
        }
    ],
}


def triage_workflow() -> WorkflowDef:
    return parse_definition(TRIAGE_WORKFLOW, "<triage>")
