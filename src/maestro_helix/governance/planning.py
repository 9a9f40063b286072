"""What GIL requires of one gated step: approval requests (with the rule in words, the action's
display fields and an ``approval.requested`` audit entry carrying the payload hash), and
intents for the actions that may run at once. Pure: the engine stores what this returns in the
step's transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from maestro_helix.core.actions import ActionSpec
from maestro_helix.core.audit import AuditDraft, AuditKind
from maestro_helix.core.clock import Clock, iso
from maestro_helix.core.outputs import ProposedAction
from maestro_helix.core.provenance import NO_TAINT, Source, Taint, step_taint
from maestro_helix.core.records import ActionIntent, ApprovalRequest
from maestro_helix.core.scores import GateDecision, RiskScore
from maestro_helix.core.steps import Next, StepInput, StepOutcome
from maestro_helix.governance.policy import (
    GovernancePolicy,
    Requirement,
    action_amount,
    escalation_requirement,
    governed_by_tiers,
    payload_hash,
    requirement_for_action,
)
from maestro_helix.governance.rules import RequestKind, RequestStatus, intents_for
from maestro_helix.governance.taint import rule_of_two, taint_reasons

if TYPE_CHECKING:
    from maestro_helix.governance.service import Governance

__all__ = [
    "GovernanceLink",
    "action_view",
    "approval_summary",
    "own_payloads",
    "plan_step",
    "taint_paths",
]


def action_view(
    policy: GovernancePolicy,
    action: ProposedAction,
    spec: ActionSpec | None,
    mri: float,
    taint: Taint = NO_TAINT,
) -> dict[str, Any]:
    """What an approver sees first about one action: type, amount, currency, the declared
    display fields, and the rule that applies, in words."""
    need = rule_of_two(policy, requirement_for_action(policy, action, spec, mri), action, taint)
    shown = spec.display if spec is not None else ()
    currency = None
    if spec is not None and spec.currency_field is not None:
        currency = action.payload.get(spec.currency_field)
    rule = policy.actions.get(action.type)
    return {
        "type": action.type,
        "amount": action_amount(action, spec),
        "currency": currency or (rule.currency if rule is not None else None),
        "display": {k: action.payload.get(k) for k in shown if k in action.payload},
        "money_fields": [f for f in (spec.amount_field, spec.currency_field) if f]
        if spec is not None
        else [],
        "rule": need.rule,
        "approvals": need.approvals,
    }


@dataclass(frozen=True, slots=True)
class _Plan:
    policy: GovernancePolicy
    policy_version: int
    action_types: Mapping[str, ActionSpec]
    now_iso: str
    taint: Taint = NO_TAINT


def _request(
    plan: _Plan,
    inp: StepInput,
    out: StepOutcome,
    req: Requirement,
    *,
    suffix: str,
    kind: RequestKind,
    action_type: str | None,
    payload: Mapping[str, Any],
    actions: list[dict[str, Any]],
    expires_iso: str,
    policy_required: bool = False,
) -> ApprovalRequest:
    factors = (
        [{"name": f.name, "score": f.score, "detail": f.detail} for f in out.risk.factors]
        if isinstance(out.risk, RiskScore)
        else []
    )
    return ApprovalRequest(
        request_id=f"{inp.run_id}.{inp.index}.{inp.attempt}.{suffix}",
        run_id=inp.run_id,
        step_index=inp.index,
        attempt=inp.attempt,
        kind=kind.value,
        action_type=action_type,
        payload=dict(payload),
        payload_hash=payload_hash(action_type or "escalation", payload),
        reasons=req.reasons,
        scores={
            "qsr": out.qsr,
            "mri": out.mri,
            "decision": out.verdict.decision.value if out.verdict else None,
            "agent_id": out.agent_id,
            "step_id": inp.step.id,
            "workflow": inp.workflow.name,
            "factors": factors,
            "rule": req.rule,
            "actions": actions,
            "policy_required": policy_required,
            "taint": plan.taint.to_list(),
        },
        required_approvals=req.approvals,
        requester_id=inp.operator_id,
        status=RequestStatus.PENDING.value,
        created_at=plan.now_iso,
        expires_at=expires_iso,
        on_expiry=req.on_expiry,
        policy_version=plan.policy_version,
    )


def _non_action_mri(out: StepOutcome) -> float | None:
    """MRI without the proposed actions' own factors (those the policy's tiers govern)."""
    if not isinstance(out.risk, RiskScore):
        return out.mri
    keep = 1.0
    for f in out.risk.factors:
        if f.where != "action":
            keep *= 1.0 - max(0.0, min(1.0, f.score))
    return 1.0 - keep


def _escalation(plan: _Plan, inp: StepInput, out: StepOutcome, clock: Clock) -> ApprovalRequest:
    assert out.verdict is not None
    actions = out.output.actions if out.output is not None else ()
    mri = out.mri if out.mri is not None else 1.0
    tiered = bool(actions) and all(governed_by_tiers(plan.policy, a) for a in actions)
    # the step's own risk sets the base; the actions' risk is the tiers' business when they
    # are governed by tiers (the policy says how many people an amount needs)
    base_mri = _non_action_mri(out) if tiered else out.mri
    req = escalation_requirement(plan.policy, out.verdict.reasons, base_mri)
    if plan.taint.tainted:  # the approver sees how untrusted content reached the step
        req = replace(req, reasons=(*req.reasons, *taint_reasons(plan.taint)))
    views = []
    for action in actions:
        spec = plan.action_types.get(action.type)
        need = rule_of_two(
            plan.policy, requirement_for_action(plan.policy, action, spec, mri), action, plan.taint
        )
        views.append(action_view(plan.policy, action, spec, mri, plan.taint))
        if need.needed and need.approvals >= req.approvals:
            req = Requirement(
                True,
                need.approvals,
                (need.rule, *req.reasons, *need.reasons[1:]),
                req.expiry_s,
                req.on_expiry,
                need.rule,
            )
    body = {
        "step": inp.step.id,
        "output": out.output.to_dict() if out.output is not None else None,
        "agent_error": out.agent_error,
    }
    # escalated only because the policy asks people for these actions (not the agent's fault)
    policy_required = tiered and (base_mri or 0.0) <= plan.policy.risk_threshold
    return _request(
        plan,
        inp,
        out,
        req,
        suffix="escalation",
        kind=RequestKind.ESCALATION,
        action_type=None,
        payload=body,
        actions=views,
        expires_iso=iso(clock.now() + timedelta(seconds=req.expiry_s)),
        policy_required=policy_required,
    )


def plan_step(
    inp: StepInput,
    out: StepOutcome,
    *,
    policy: GovernancePolicy,
    policy_version: int,
    action_types: Mapping[str, ActionSpec],
    clock: Clock,
    taint: Taint = NO_TAINT,
) -> tuple[tuple[ApprovalRequest, ...], tuple[ActionIntent, ...]]:
    """What GIL requires of one gated attempt: approval requests and cleared action intents.

    ``taint`` is the untrusted content that reached the step: with it, every proposed action
    needs people (:func:`~maestro_helix.governance.taint.rule_of_two`)."""
    if out.verdict is None:
        return (), ()
    plan = _Plan(policy, policy_version, action_types, iso(clock.now()), taint)
    decision = out.verdict.decision
    mri = out.mri if out.mri is not None else 1.0
    if decision is GateDecision.ESCALATE:
        return (_escalation(plan, inp, out, clock),), ()
    if decision is not GateDecision.PASS or out.output is None or not out.output.actions:
        return (), ()
    requests: list[ApprovalRequest] = []
    intents: list[ActionIntent] = []
    for i, action in enumerate(out.output.actions):
        spec = action_types.get(action.type)
        req = rule_of_two(policy, requirement_for_action(policy, action, spec, mri), action, taint)
        if req.needed:
            requests.append(
                _request(
                    plan,
                    inp,
                    out,
                    req,
                    suffix=f"action{i}",
                    kind=RequestKind.ACTION,
                    action_type=action.type,
                    payload=action.payload,
                    actions=[action_view(policy, action, spec, mri, taint)],
                    expires_iso=iso(clock.now() + timedelta(seconds=req.expiry_s)),
                )
            )
        else:
            key = f"{inp.run_id}.{inp.index}.{inp.attempt}.action{i}"
            intents.append(
                ActionIntent(
                    key,
                    None,
                    inp.run_id,
                    action.type,
                    dict(action.payload),
                    payload_hash(action.type, action.payload),
                    created_at=plan.now_iso,
                    updated_at=plan.now_iso,
                )
            )
    return tuple(requests), tuple(intents)


def requested_audit(inp: StepInput, req: ApprovalRequest) -> AuditDraft:
    """The audit entry of a request's creation: what must be approved, and its payload hash."""
    return AuditDraft(
        entry_id=f"{req.request_id}/requested",
        ts=req.created_at,
        kind=AuditKind.APPROVAL_REQUESTED,
        run_id=req.run_id,
        step_id=inp.step.id,
        step_index=req.step_index,
        attempt=req.attempt,
        workflow=inp.workflow.name,
        workflow_version=inp.workflow.version,
        qsr_score=req.scores.get("qsr"),
        mri_score=req.scores.get("mri"),
        gil_decision="pending",
        details={
            "request_id": req.request_id,
            "kind": req.kind,
            "action_type": req.action_type,
            "payload_hash": req.payload_hash,
            "required": req.required_approvals,
            "rule": req.scores.get("rule"),
            "policy_version": req.policy_version,
            "taint": req.scores.get("taint") or [],
        },
    )


class GovernanceLink:
    """Attach GIL's requirements to the outcome (pure: the engine stores them with the step).

    Args:
        governance: the policy, its version, the action types and the clock.
        untrusted: agent id → the untrusted sources the agent declares (its step's taint).
    """

    def __init__(
        self, governance: Governance, untrusted: Mapping[str, frozenset[Source]] | None = None
    ) -> None:
        self.governance = governance
        self.untrusted: Mapping[str, frozenset[Source]] = untrusted or {}

    async def execute_step(self, inp: StepInput, nxt: Next) -> StepOutcome:
        out = await nxt(inp)
        g = self.governance
        taint = inp.taint
        if self.untrusted and out.agent_id in self.untrusted:
            taint = step_taint(inp.step, out.agent_id, taint, self.untrusted)
        requests, intents = plan_step(
            inp,
            out,
            policy=g.policy,
            policy_version=g.policy_version,
            action_types=g.action_types,
            clock=g.clock,
            taint=taint,
        )
        if not requests and not intents:
            return out
        audit = tuple(requested_audit(inp, r) for r in requests)
        return replace(out, requests=requests, intents=intents, audit=(*out.audit, *audit))


def _money(amount: Any, currency: Any) -> str:
    if not isinstance(amount, int | float) or isinstance(amount, bool):
        return ""
    return f"{amount:,.2f}" + (f" {currency}" if currency else "")


def approval_summary(req: ApprovalRequest) -> list[dict[str, Any]]:
    """What accepting the request runs, as an approver reads it: one line per action
    ("crm.refund of 899.00 USD to customer C-11") with its type, amount, currency, declared
    display fields and rule in words."""
    out = []
    for a in req.scores.get("actions") or ():
        if not isinstance(a, dict):
            continue
        money = _money(a.get("amount"), a.get("currency"))
        money_fields = set(a.get("money_fields") or ()) if money else set()
        shown = {
            k: v
            for k, v in (a.get("display") or {}).items()
            if v is not None and k not in money_fields
        }
        target = ", ".join(f"{k} {v}" for k, v in shown.items() if k not in ("amount", "currency"))
        line = str(a.get("type"))
        if money:
            line += f" of {money}"
        if target:
            line += f" to {target}"
        out.append({**a, "line": line, "money": money, "shown": shown})
    return out


def taint_paths(req: ApprovalRequest) -> list[dict[str, Any]]:
    """How untrusted content reached the step, as stored with the request: one entry per
    origin with its source, the step that read it, who declared it and the path it took."""
    out = []
    for o in req.scores.get("taint") or ():
        if isinstance(o, dict):
            path = [str(p) for p in o.get("path") or ()]
            out.append({**o, "path": path, "path_text": " → ".join(path)})
    return out


def own_payloads(req: ApprovalRequest) -> list[dict[str, Any]]:
    """The actions' own payloads (what the handlers receive), each with its hash."""
    if req.kind == "action":
        items = [(req.action_type or "", dict(req.payload), req.payload_hash)]
    else:
        items = [(i.action_type, dict(i.payload), i.payload_hash) for i in intents_for(req, "")]
    return [
        {
            "type": t,
            "hash": h,
            "json": json.dumps(p, indent=2, sort_keys=True, ensure_ascii=False, default=str),
        }
        for t, p, h in items
    ]
