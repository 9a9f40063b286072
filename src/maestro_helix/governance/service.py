"""The governance layer (GIL) at work: plan what a step needs, take decisions, run actions once.

Nothing that changes state outside the engine runs except through :meth:`Governance.execute`:
an action runs only from a stored intent, each intent has an idempotency key that is handed to its
handler, and an intent is marked *started* (committed) before the handler is called and
*succeeded* after. A process killed in between leaves the intent *started*; the next
:meth:`execute` calls the handler again with the same key, so a handler that honours the key
(as payment and CRM APIs do) has its effect exactly once.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from maestro_helix.agents._threads import run_in_thread
from maestro_helix.core.actions import ActionSpec
from maestro_helix.core.clock import Clock, SystemClock, iso
from maestro_helix.core.lease import Ownership
from maestro_helix.core.scores import GateDecision, RiskScore
from maestro_helix.engine.bridge import Next, StepInput, StepOutcome
from maestro_helix.governance.audit import AuditDraft
from maestro_helix.governance.policy import (
    Decision,
    GovernancePolicy,
    Requirement,
    Role,
    escalation_requirement,
    payload_hash,
    requirement_for_action,
)
from maestro_helix.store.base import ActionIntent, ApprovalRequest, EventRecord, Store
from maestro_helix.store.gil_sql import Claim, DecisionInput, DecisionOutcome

log = logging.getLogger(__name__)

__all__ = ["ActionResult", "Governance", "GovernanceLink", "plan_step"]


def _request(
    inp: StepInput,
    out: StepOutcome,
    req: Requirement,
    *,
    suffix: str,
    kind: str,
    action_type: str | None,
    payload: Mapping[str, Any],
    policy_version: int,
    now_iso: str,
    expires_iso: str,
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
        kind=kind,
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
        },
        required_approvals=req.approvals,
        requester_id=inp.operator_id,
        status="pending",
        created_at=now_iso,
        expires_at=expires_iso,
        on_expiry=req.on_expiry,
        policy_version=policy_version,
    )


def plan_step(
    inp: StepInput,
    out: StepOutcome,
    *,
    policy: GovernancePolicy,
    policy_version: int,
    action_types: Mapping[str, ActionSpec],
    clock: Clock,
) -> tuple[tuple[ApprovalRequest, ...], tuple[ActionIntent, ...]]:
    """What GIL requires of one gated attempt: approval requests and cleared action intents."""
    if out.verdict is None:
        return (), ()
    now = clock.now()
    now_iso = iso(now)
    decision = out.verdict.decision
    mri = out.mri if out.mri is not None else 1.0
    if decision is GateDecision.ESCALATE:
        req = escalation_requirement(policy, out.verdict.reasons, out.mri)
        # the step's proposed actions run only if the step is accepted: ask for their quorum too
        for action in out.output.actions if out.output is not None else ():
            need = requirement_for_action(policy, action, action_types.get(action.type), mri)
            if need.needed and need.approvals > req.approvals:
                req = Requirement(
                    True, need.approvals, (*req.reasons, *need.reasons), req.expiry_s, req.on_expiry
                )
        body = {
            "step": inp.step.id,
            "output": out.output.to_dict() if out.output is not None else None,
            "agent_error": out.agent_error,
        }
        r = _request(
            inp,
            out,
            req,
            suffix="escalation",
            kind="escalation",
            action_type=None,
            payload=body,
            policy_version=policy_version,
            now_iso=now_iso,
            expires_iso=iso(now + timedelta(seconds=req.expiry_s)),
        )
        return (r,), ()
    if decision is not GateDecision.PASS or out.output is None or not out.output.actions:
        return (), ()
    requests: list[ApprovalRequest] = []
    intents: list[ActionIntent] = []
    for i, action in enumerate(out.output.actions):
        spec = action_types.get(action.type)
        req = requirement_for_action(policy, action, spec, mri)
        if req.needed:
            requests.append(
                _request(
                    inp,
                    out,
                    req,
                    suffix=f"action{i}",
                    kind="action",
                    action_type=action.type,
                    payload=action.payload,
                    policy_version=policy_version,
                    now_iso=now_iso,
                    expires_iso=iso(now + timedelta(seconds=req.expiry_s)),
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
                    created_at=now_iso,
                    updated_at=now_iso,
                )
            )
    return tuple(requests), tuple(intents)


class GovernanceLink:
    """Attach GIL's requirements to the outcome (pure: the engine stores them with the step)."""

    def __init__(self, governance: Governance) -> None:
        self.governance = governance

    async def execute_step(self, inp: StepInput, nxt: Next) -> StepOutcome:
        out = await nxt(inp)
        g = self.governance
        requests, intents = plan_step(
            inp,
            out,
            policy=g.policy,
            policy_version=g.policy_version,
            action_types=g.action_types,
            clock=g.clock,
        )
        if not requests and not intents:
            return out
        return replace(out, requests=requests, intents=intents)


@dataclass(frozen=True, slots=True)
class ActionResult:
    idempotency_key: str
    action_type: str
    ok: bool
    result: Any = None
    error: str | None = None


class Governance:
    """Policy, decisions and action execution over a store.

    Args:
        store: where requests, decisions and intents live.
        policy: the validated policy.
        action_types: registered action types with their handlers.
        clock: time source.
    """

    def __init__(
        self,
        store: Store,
        policy: GovernancePolicy | None = None,
        action_types: Sequence[ActionSpec] = (),
        clock: Clock | None = None,
        ownership: Ownership | None = None,
    ) -> None:
        self.store = store
        self.policy = policy or GovernancePolicy()
        self.action_types = {a.name: a for a in action_types}
        self.clock = clock or SystemClock()
        self.ownership = ownership or Ownership()
        self.policy_version = self.policy.version
        self.on_refused: list[Callable[[ActionIntent], object]] = []
        """Called for each action the pre-handler checks refused (metrics)."""
        self.publish: Callable[[Sequence[EventRecord]], Awaitable[None]] = _no_publish
        """Where GIL's own events (actions run, runs moved by decisions) go once stored; the
        assembly points it at the engine's publisher."""

    async def start(self, by: str | None = None) -> None:
        """Record the policy (a new audited version if it changed since last time)."""
        self.policy_version = await self.store.record_policy(self.policy, iso(self.clock.now()), by)

    async def decide(
        self,
        request_id: str,
        *,
        operator_id: str,
        role: Role,
        decision: Decision,
        reason: str | None = None,
        payload_hash_seen: str | None = None,
        execute: bool = True,
    ) -> DecisionOutcome:
        """Record one operator's decision; run the action once the quorum is reached."""
        now = self.clock.now()
        await self.expire()
        outcome: DecisionOutcome = await self.store.decide(
            DecisionInput(
                request_id, operator_id, role, decision, reason, payload_hash_seen, now, iso(now)
            )
        )
        await self.publish(outcome.events)
        if execute and outcome.intents:
            await self.execute(keys=[i.idempotency_key for i in outcome.intents])
        return outcome

    async def expire(self) -> list[ApprovalRequest]:
        now = self.clock.now()
        requests, events = await self.store.expire_due(now, iso(now))
        await self.publish(events)
        return requests

    def claim(self) -> Claim:
        """A claim by this process, valid for one lease length (renewed while it works)."""
        o = self.ownership
        return Claim(o.owner, o.ttl_s, iso(self.clock.now()))

    def claimed_with_step(self, intents: Sequence[ActionIntent]) -> tuple[ActionIntent, ...]:
        """Intents cleared with their step, stored already claimed by this process."""
        owner = self.ownership.owner
        return tuple(replace(i, status="started", attempts=1, owner=owner) for i in intents)

    async def execute(
        self, *, run_id: str | None = None, keys: Sequence[str] | None = None
    ) -> list[ActionResult]:
        """Run cleared actions that nobody is running: pending ones, and those whose claimer
        died mid-call (its claim expired; the same idempotency key is used again)."""
        claimed, refused = await self.store.claim_intents(
            run_id=run_id, keys=keys, claim=self.claim()
        )
        for intent in refused:
            log.warning(
                "action refused before its handler ran",
                extra={"key": intent.idempotency_key, "reason": intent.error},
            )
            for listener in self.on_refused:
                listener(intent)
        return [await self._run(intent) for intent in claimed]

    async def run_claimed(self, intents: Sequence[ActionIntent]) -> list[ActionResult]:
        """Run intents this process stored as claimed (cleared with their step)."""
        return [await self._run(intent) for intent in intents]

    async def retry(self, key: str, *, by: str) -> list[ActionResult]:
        """Run a failed action again, with the same idempotency key (audited)."""
        await self.store.retry_intent(key, iso(self.clock.now()), by)
        return await self.execute(keys=[key])

    async def _run(self, intent: ActionIntent) -> ActionResult:
        spec = self.action_types.get(intent.action_type)
        ok, result, error = False, None, None
        if spec is None or spec.handler is None:
            error = f"no handler registered for action type {intent.action_type!r}"
        else:
            try:
                handler = spec.handler
                if inspect.iscoroutinefunction(handler):
                    value = await handler(intent.payload, intent.idempotency_key)
                else:  # off the event loop: a slow handler must not stall lease renewals
                    value = await run_in_thread(handler, intent.payload, intent.idempotency_key)
                    if inspect.isawaitable(value):
                        value = await value
                ok, result = True, value
            except Exception as e:
                error = f"{type(e).__name__}: {e}"
        ts = iso(self.clock.now())
        audit = AuditDraft(
            entry_id=f"{intent.idempotency_key}/executed/{intent.attempts}/{intent.owner}",
            ts=ts,
            kind="action.executed",
            run_id=intent.run_id,
            gil_decision="executed" if ok else "execution_failed",
            human_operator_id="",
            details={
                "idempotency_key": intent.idempotency_key,
                "action_type": intent.action_type,
                "payload_hash": intent.payload_hash,
                "error": error,
                "attempt": intent.attempts,
                "owner": intent.owner,
            },
        )
        outcome = "succeeded" if ok else "failed"
        event = EventRecord(
            f"{intent.idempotency_key}/{intent.attempts}/action.{outcome}",
            f"action.{outcome}",
            ts,
            intent.run_id,
            None,
            None,
            {
                "idempotency_key": intent.idempotency_key,
                "action_type": intent.action_type,
                "error": error,
            },
        )
        mine = await self.store.finish_intent(
            intent,
            ok=ok,
            result=_jsonable(result),
            error=error,
            ts=ts,
            audit=audit,
            event=event,
        )
        await self.publish([event])
        if not mine:
            log.warning(
                "action call finished after its claim passed to another process",
                extra={"key": intent.idempotency_key, "attempt": intent.attempts},
            )
        if not ok:
            log.error("action failed", extra={"key": intent.idempotency_key, "error": error})
        return ActionResult(intent.idempotency_key, intent.action_type, ok, result, error)


async def _no_publish(events: Sequence[EventRecord]) -> None:
    return None


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return repr(value)
