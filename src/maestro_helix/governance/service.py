"""The governance layer (GIL) at work: plan what a step needs, take decisions, run actions once.

Nothing that changes state outside the engine runs except through :meth:`Governance.execute`:
an action runs only from a stored intent, each intent has an idempotency key that is handed to its
handler, and an intent is marked *started* (committed) before the handler is called and
*succeeded* after. A process killed in between leaves the intent *started*; the next
:meth:`execute` calls the handler again with the same key, so a handler that honours the key
(as payment and CRM APIs do) has its effect exactly once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from maestro_helix.agents._threads import run_in_thread
from maestro_helix.core.actions import ActionSpec
from maestro_helix.core.audit import AuditDraft, AuditKind
from maestro_helix.core.clock import Clock, SystemClock, iso
from maestro_helix.core.errors import ConfigErrors
from maestro_helix.core.lease import Ownership
from maestro_helix.core.ports import AdminPort, GilPort
from maestro_helix.core.records import ActionIntent, ApprovalRequest, EventRecord, RunStatus
from maestro_helix.governance.planning import GovernanceLink, plan_step
from maestro_helix.governance.policy import (
    Decision,
    GovernancePolicy,
    Role,
    check_invariants,
)
from maestro_helix.governance.records import (
    Claim,
    DecisionInput,
    DecisionOutcome,
    RetryForbidden,
)
from maestro_helix.governance.rules import Verdict, pre_run_refusal

log = logging.getLogger(__name__)

__all__ = ["ActionResult", "Governance", "GovernanceLink", "plan_step"]


@dataclass(frozen=True, slots=True)
class ActionResult:
    idempotency_key: str
    action_type: str
    ok: bool
    result: Any = None
    error: str | None = None


class GovernanceStore(GilPort, AdminPort, Protocol):
    """What GIL needs from the store: requests, decisions, intents, and the active policy."""


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
        store: GovernanceStore,
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
        self.on_refusal: list[Callable[[str], None]] = []
        """Called with the code of every refused decision (metrics)."""
        self.resume: Callable[[Sequence[str]], Awaitable[Any]] = _no_resume
        """How a run moved on by a decision continues (the assembly points it at
        ``Engine.take_up``: the process that recorded the decision continues that run)."""
        self._in_flight: set[asyncio.Task[ActionResult]] = set()
        self.on_adopt: list[Callable[[GovernancePolicy], object]] = []
        """Called with each policy this process takes up (the MRI magnitude limits follow it)."""
        self.on_policy_refused: list[Callable[[int], object]] = []
        """Called with the version of an active policy this process refused to take up."""
        self._refused_version: int | None = None

    async def start(self, requested: GovernancePolicy | None = None, source: str = "") -> None:
        """Read the active policy from the store; never write it, except on a fresh database
        where the first process installs ``requested`` (or the defaults) once.

        A ``requested`` policy that differs from the active one is reported and not applied
        (``maestro policy apply`` changes the active policy).

        Raises:
            ConfigErrors: a policy that loosens an invariant for this app's action types.
        """
        if requested is not None:
            check_invariants(requested, self.action_types, source or "--policy")
        active = await self.store.install_policy(requested or self.policy, iso(self.clock.now()))
        if requested is not None and active.digest != requested.digest():
            log.warning(
                "policy %s differs from the active policy (version %d): not applied; "
                "`maestro policy diff %s` shows how, `maestro policy apply` changes it",
                source,
                active.version,
                source,
                extra={"file": source, "active_version": active.version},
            )
        self._adopt(active.policy, active.version)

    def _adopt(self, policy: GovernancePolicy, version: int) -> None:
        check_invariants(policy, self.action_types, f"active policy version {version}")
        self.policy, self.policy_version = policy, version
        for listener in self.on_adopt:
            listener(policy)

    async def refresh_policy(self) -> bool:
        """Take up a policy applied since (by another process); True if it changed.

        A stored policy that loosens an invariant for this process's action types (written by
        an older version, or by hand) is not taken up: the last good policy stays in force,
        the refusal is logged and counted (``on_policy_refused``) once per version."""
        active = await self.store.active_policy()
        if active is None or active.version in (self.policy_version, self._refused_version):
            return False
        try:
            self._adopt(active.policy, active.version)
        except ConfigErrors as e:
            self._refused_version = active.version
            log.error(
                "the active policy loosens an invariant for this app: keeping the last good one",
                extra={"version": active.version, "kept": self.policy_version, "error": str(e)},
            )
            for observe in self.on_policy_refused:
                observe(active.version)
            return False
        log.info("active policy changed", extra={"version": active.version})
        return True

    def runnable(self) -> frozenset[str]:
        """The action types this process can run (registered with a handler): an approval
        that would clear any other is refused before it is recorded."""
        return frozenset(n for n, s in self.action_types.items() if s.handler is not None)

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
        """The one ``decide`` use case of the API, the UI and the CLI: record one operator's
        decision (ruled by :mod:`~maestro_helix.governance.rules`), run the cleared actions
        once the quorum is reached, and let a run that can go on continue."""
        now = self.clock.now()
        await self.expire()
        outcome: DecisionOutcome = await self.store.decide(
            DecisionInput(
                request_id,
                operator_id,
                role,
                decision,
                reason,
                payload_hash_seen,
                now,
                iso(now),
                self.action_types,
                self.runnable(),
            )
        )
        if outcome.refusal is not None:
            for observe in self.on_refusal:
                observe(outcome.refusal.code)
        await self.publish(outcome.events)
        if execute and outcome.intents:
            await self.execute(keys=[i.idempotency_key for i in outcome.intents])
        if outcome.result is Verdict.RECORDED and outcome.run_status is RunStatus.RUNNING:
            await self.resume([outcome.request.run_id])
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
            self._refused(intent)
        return [await self._run_tracked(intent) for intent in claimed]

    def _refused(self, intent: ActionIntent) -> None:
        log.warning(
            "action refused before its handler ran",
            extra={"key": intent.idempotency_key, "reason": intent.error},
        )
        for listener in self.on_refused:
            listener(intent)
        for observe in self.on_refusal:
            observe((intent.error or "refused").split(":", 1)[0])

    async def run_claimed(
        self, intents: Sequence[ActionIntent], run_status: RunStatus | None = None
    ) -> list[ActionResult]:
        """Run intents this process stored as claimed (cleared with their step).

        ``run_status``: the run's status as the step's commit reported it (``commit_step``;
        a run someone stopped mid-step keeps that status). The commit transaction was the
        claim: it stored these
        intents refused by :func:`~maestro_helix.governance.rules.pre_run_refusal` over that
        status (``store/gil_commit.py``); the same rule over the same status says here which
        ones, and none of them runs."""
        out = []
        for intent in intents:
            refusal = pre_run_refusal(intent, None, run_status)
            if refusal is not None:
                why = f"{refusal.code}: {refusal.message}"
                self._refused(replace(intent, status="refused", error=why, owner=None))
                continue
            out.append(await self._run_tracked(intent))
        return out

    async def drain(self, timeout_s: float = 60.0) -> int:
        """Wait for the handler calls in flight here (a process that is closing never walks
        away from an effect half made: its claims stay renewed meanwhile). Returns how many were
        still running after ``timeout_s`` (their claims expire; another process calls them again
        with the same idempotency key)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._in_flight:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                log.error(
                    "closing with action handlers still running",
                    extra={"count": len(self._in_flight)},
                )
                break
            await asyncio.wait(set(self._in_flight), timeout=left)
        return len(self._in_flight)

    async def _run_tracked(self, intent: ActionIntent) -> ActionResult:
        """Run one claimed intent as a task of its own: cancelling the caller (a step task at
        close) does not cancel the handler call; :meth:`drain` waits for it."""
        task = asyncio.ensure_future(self._run(intent))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return await asyncio.shield(task)

    async def retry(self, key: str, *, by: str, role: Role) -> ActionIntent:
        """Run a failed action again here, with the same idempotency key (admins; audited
        ``action.retry`` with the operator): a handler that honours the key has its effect
        once. The pre-handler checks apply as to any claim (a stopped run refuses it).

        Returns the action as it stands after the call (succeeded, failed again, refused).

        Raises:
            RetryForbidden: ``role`` is not admin.
            ActionNotFound: no action has this key.
            ActionNotRetryable: the action did not fail (it is pending, ran, or was refused).
        """
        if not role.at_least(Role.ADMIN):
            raise RetryForbidden(f"operator {by} has role {role.value!r}; a retry needs an admin")
        intent = await self.store.retry_intent(key, iso(self.clock.now()), by)
        await self.execute(keys=[key])
        now = {i.idempotency_key: i for i in await self.store.intents_of(intent.run_id)}
        return now.get(key, intent)

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
            kind=AuditKind.ACTION_EXECUTED,
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


async def _no_resume(run_ids: Sequence[str]) -> None:
    return None


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return repr(value)
