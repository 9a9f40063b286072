"""Helix and GIL in the OpenAI Agents SDK: an output guardrail and a tool-approval hook.

    from maestro_helix.adapters import HelixJudge
    from maestro_helix.adapters.openai_agents import GilToolApprovals, helix_output_guardrail

    gil = GilToolApprovals(policy, action_types, tools={"refund": "crm.refund"})
    agent = Agent(name="support", instructions=...,
                  tools=[function_tool(refund, needs_approval=gil.needs_approval("refund"))],
                  output_guardrails=[helix_output_guardrail(HelixJudge(), expect={...})])

The guardrail scores the agent's final output with Helix and trips (the SDK raises
``OutputGuardrailTripwireTriggered``) unless the gate passes it; the judgement is the
guardrail's ``output_info``. The approval hook asks GIL's policy whether a tool call needs
people (irreversible, high risk, above the amount limit ...) and how many; ``decide`` applies
GIL's rules to each person's decision (role, requester ≠ approver, nobody twice, payload
unchanged, reason for a rejection) and approves the call in the SDK's run state only when the
quorum is reached (two distinct people for high risk).

The rule of two applies as on the native path (:mod:`maestro_helix.governance.taint`): declare
the untrusted sources the agent reads (``untrusted=("web",)``, like an agent's ``untrusted``
attribute), pass a run's :class:`~maestro_helix.core.provenance.Taint` (``taint=``), or record a
read while the run goes on (:meth:`GilToolApprovals.record_read`, e.g. from a web-search tool).
A tainted run's state-changing tool calls then need people whatever their amount, and the
approver sees how the untrusted content got there (``ApprovalStatus.taint``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from agents import Agent, GuardrailFunctionOutput, OutputGuardrail, RunContextWrapper
from agents.items import ToolApprovalItem
from agents.run_state import RunState
from pydantic import BaseModel

from maestro_helix.adapters._judge import HelixJudge
from maestro_helix.core.actions import ActionSpec
from maestro_helix.core.outputs import AgentOutput, ProposedAction
from maestro_helix.core.provenance import NO_TAINT, Origin, Source, Taint
from maestro_helix.core.scores import GateDecision
from maestro_helix.core.workflow import Expectations
from maestro_helix.governance.policy import (
    Decision,
    GovernancePolicy,
    Requirement,
    Role,
    payload_hash,
    requirement_for_action,
)
from maestro_helix.governance.rules import (
    Ballot,
    Proposal,
    Refusal,
    RequestFacts,
    RequestKind,
    RequestStatus,
    rule,
)
from maestro_helix.governance.taint import rule_of_two

__all__ = ["ApprovalStatus", "GilToolApprovals", "helix_output_guardrail"]


def _as_agent_output(value: Any) -> AgentOutput:
    if isinstance(value, str):
        return AgentOutput(text=value)
    if isinstance(value, BaseModel):
        data = value.model_dump(mode="json")
        return AgentOutput(text=json.dumps(data, sort_keys=True), data=data)
    if isinstance(value, Mapping):
        return AgentOutput(text=json.dumps(dict(value), sort_keys=True, default=str), data=value)
    return AgentOutput(text=str(value))


def helix_output_guardrail(
    judge: HelixJudge,
    *,
    task: str | None = None,
    expect: Expectations | Mapping[str, Any] | None = None,
    name: str = "helix",
) -> OutputGuardrail[Any]:
    """An output guardrail that trips unless Helix's gate passes the agent's final output.

    Args:
        judge: scores and gates.
        task: what the agent was asked (default: its instructions, when they are a string).
        expect: what a good output looks like.
        name: the guardrail's name in the SDK's results and traces.
    """

    async def check(ctx: RunContextWrapper[Any], agent: Agent[Any], output: Any) -> Any:
        what = (
            task
            if task is not None
            else (agent.instructions if isinstance(agent.instructions, str) else "")
        )
        j = await judge.judge(
            _as_agent_output(output), task=what, expect=expect, step_id=agent.name
        )
        return GuardrailFunctionOutput(
            output_info=j.to_dict(), tripwire_triggered=j.decision is not GateDecision.PASS
        )

    return OutputGuardrail(guardrail_function=check, name=name)


@dataclass
class ApprovalStatus:
    """Where one tool call's approval stands."""

    call_id: str
    status: str  # "pending", "approved", "rejected"
    requirement: Requirement
    approvals: list[str] = field(default_factory=list)
    rejected_by: list[str] = field(default_factory=list)
    refusal: Refusal | None = None
    payload_hash: str = ""  # what an approver binds to: send it back as payload_hash_seen
    taint: list[dict[str, Any]] = field(default_factory=list)  # untrusted origins, if any


@dataclass
class _Pending:
    action: ProposedAction
    requirement: Requirement
    payload_hash: str
    requester_id: str | None
    expires_at: datetime
    approvals: list[str] = field(default_factory=list)
    rejected_by: list[str] = field(default_factory=list)
    ballots: list[Ballot] = field(default_factory=list)
    status: str = "pending"


class GilToolApprovals:
    """GIL's approval rules for the SDK's tool calls.

    Args:
        policy: the GIL policy (``config/governance.json``).
        action_types: the registered action types (reversibility, risk class, amount field).
        tools: tool name → action type, e.g. ``{"refund": "crm.refund"}``.
        mri: the risk index the calls are judged at (default 0: only the action itself counts).
        untrusted: the untrusted sources the agent reads (``web``, ``email``, ``upload``,
            ``tenant``, ``tool``): every call it proposes is tainted (the rule of two).
        taint: the taint the run already carries (e.g. from an earlier workflow step).
        agent_id: the agent's name in the taint path the approver reads.
    """

    def __init__(
        self,
        policy: GovernancePolicy,
        action_types: Sequence[ActionSpec],
        tools: Mapping[str, str],
        *,
        mri: float = 0.0,
        untrusted: Sequence[Source | str] = (),
        taint: Taint = NO_TAINT,
        agent_id: str = "agent",
    ) -> None:
        self.policy = policy
        self.specs = {a.name: a for a in action_types}
        self.tools = dict(tools)
        self.mri = mri
        self.agent_id = agent_id
        declared = Taint(
            tuple(
                Origin(Source(src), agent_id, f"agent {agent_id}", (agent_id,))
                for src in dict.fromkeys(untrusted)
            )
        )
        self.taint = taint.plus(declared)
        self._pending: dict[str, _Pending] = {}

    def record_read(self, source: Source | str, *, by: str) -> None:
        """The run read untrusted content (``by``: the tool or step that read it): its later
        state-changing calls need people (the rule of two)."""
        origin = Origin(Source(source), by, "step", (by, self.agent_id))
        self.taint = self.taint.plus(Taint((origin,)))

    def action_for(self, tool: str, params: Mapping[str, Any]) -> ProposedAction:
        action_type = self.tools.get(tool, tool)
        spec = self.specs.get(action_type)
        amount = params.get(spec.amount_field) if spec and spec.amount_field else None
        return ProposedAction(
            action_type,
            dict(params),
            float(amount)
            if isinstance(amount, int | float) and not isinstance(amount, bool)
            else None,
        )

    def requirement(self, tool: str, params: Mapping[str, Any]) -> Requirement:
        """What GIL requires of this call: the policy's rule, raised by the rule of two when
        the run is tainted."""
        action = self.action_for(tool, params)
        need = requirement_for_action(self.policy, action, self.specs.get(action.type), self.mri)
        return rule_of_two(self.policy, need, action, self.taint)

    def needs_approval(
        self, tool: str
    ) -> Callable[[RunContextWrapper[Any], dict[str, Any], str], Awaitable[bool]]:
        """For ``function_tool(..., needs_approval=...)``: does GIL want people for this call?"""

        async def check(
            _ctx: RunContextWrapper[Any], params: dict[str, Any], _call_id: str
        ) -> bool:
            return self.requirement(tool, params).needed

        return check

    def _pending_for(
        self, item: ToolApprovalItem, requester_id: str | None
    ) -> tuple[str, _Pending]:
        call_id = str(getattr(item.raw_item, "call_id", "") or getattr(item.raw_item, "id", ""))
        found = self._pending.get(call_id)
        if found is None:
            params = json.loads(item.arguments or "{}")
            action = self.action_for(str(item.name), params)
            found = _Pending(
                action,
                self.requirement(str(item.name), params),
                payload_hash(action.type, action.payload),
                requester_id,
                datetime.now(UTC) + timedelta(seconds=self.policy.expiry_s),
            )
            self._pending[call_id] = found
        return call_id, found

    def decide(
        self,
        state: RunState[Any],
        item: ToolApprovalItem,
        *,
        operator_id: str,
        role: Role,
        decision: Decision,
        reason: str | None = None,
        requester_id: str | None = None,
        payload_hash_seen: str | None = None,
    ) -> ApprovalStatus:
        """Record one person's decision on a pending tool call (GIL's rules); approve or reject
        the call in ``state`` once that is settled. Resume the run with ``state`` afterwards."""
        call_id, p = self._pending_for(item, requester_id)
        facts = RequestFacts(
            request_id=call_id,
            kind=RequestKind.ACTION,
            status=RequestStatus(p.status),
            requester_id=p.requester_id,
            run_operator_id=requester_id,
            run_status=None,
            stored_hash=p.payload_hash,
            current_hash=p.payload_hash,
            required=p.requirement.approvals,
            floor=max(1, p.requirement.approvals),
            expires_at=p.expires_at,
            clears=(p.action.type,),
            ballots=tuple(p.ballots),
        )
        proposal = Proposal(  # the SDK runs the tool itself: its handler is there
            operator_id, role, decision, reason, payload_hash_seen, datetime.now(UTC),
            runnable=frozenset({p.action.type}),
        )  # fmt: skip
        ruling = rule(facts, proposal)
        if ruling.ballot is not None:
            self._record(state, item, p, ruling.ballot, ruling.status)
        return ApprovalStatus(
            call_id, p.status, p.requirement, list(p.approvals), list(p.rejected_by),
            ruling.refusal, p.payload_hash, self.taint.to_list(),
        )  # fmt: skip

    def review(self, item: ToolApprovalItem, *, requester_id: str | None = None) -> ApprovalStatus:
        """What an approver sees of a pending tool call, with the payload hash to approve."""
        call_id, p = self._pending_for(item, requester_id)
        return ApprovalStatus(
            call_id, p.status, p.requirement, list(p.approvals), list(p.rejected_by), None,
            p.payload_hash, self.taint.to_list(),
        )  # fmt: skip

    def _record(
        self,
        state: RunState[Any],
        item: ToolApprovalItem,
        p: _Pending,
        ballot: Ballot,
        status: RequestStatus,
    ) -> None:
        p.ballots.append(ballot)
        if ballot.decision is Decision.REJECT:
            p.rejected_by.append(ballot.operator_id)
        else:
            p.approvals.append(ballot.operator_id)
        p.status = status.value
        if status is RequestStatus.REJECTED:
            state.reject(
                item, rejection_message=f"rejected by {ballot.operator_id}: {ballot.reason}"
            )
        elif status in (RequestStatus.APPROVED, RequestStatus.OVERRIDDEN):
            state.approve(item)
