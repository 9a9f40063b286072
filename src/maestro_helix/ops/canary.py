"""Rollout operations: sign-offs, promotion, the canary and its evaluation.

:class:`Rollout` is what the API, the CLI and housekeeping call. It gathers what the store's
transaction needs from outside the store — the caller's role, whether the version adds an
irreversible action type (from the app's action catalog), the Go/No-Go report of the version's
staging window — then the store checks the rules and writes the result in one transaction
(``store/stages_sql.py``). Afterwards it publishes the events the transaction stored and updates
the canary metrics.

Everything is read from the store each time: every process (API, workers, CLI, housekeeping)
sees and evaluates the same canary.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from maestro_helix.core.actions import ActionSpec
from maestro_helix.core.clock import Clock, SystemClock, iso
from maestro_helix.core.errors import ConfigError, ConfigErrors
from maestro_helix.core.ports import Store
from maestro_helix.core.records import EventRecord
from maestro_helix.core.rollout import CanaryConfig, SignOff, Stage, StageRefused
from maestro_helix.governance.identity import Operator
from maestro_helix.governance.stages import RolloutPolicy, check_rollout_policy
from maestro_helix.observability.canary_metrics import CanaryMetrics
from maestro_helix.ops.report import build_report
from maestro_helix.store.stages_sql import CanaryRecord, Outcome, StageView

__all__ = ["Rollout", "canary_json", "irreversible_actions", "stage_view_json"]

log = logging.getLogger(__name__)

# a rollback counts as recent this long (the MaestroCanaryRolledBack alert fires while it is)
ROLLBACK_ALERT_WINDOW = timedelta(minutes=15)

Publish = Callable[[Sequence[EventRecord]], Awaitable[None]]


def irreversible_actions(
    steps_actions: Sequence[Sequence[str]], catalog: Mapping[str, ActionSpec]
) -> frozenset[str]:
    """Action types the steps may propose that are irreversible (unknown ones count as such)."""
    names = {a for acts in steps_actions for a in acts}
    return frozenset(a for a in names if a not in catalog or not catalog[a].reversible)


@dataclass
class Rollout:
    """Rollout operations on one store.

    Attributes:
        store: the open store.
        action_types: the app's action catalog (decides which action types are irreversible).
        policy: who signs what (defaults: governance + admin for staging, product owner for
            production); refused if it drops the floor.
        policy_of: where to read the rules each time instead (the active governance policy's
            ``rollout`` section: :meth:`RolloutPolicy.of`).
        publish: publishes events already stored (``Engine.publish``); None: not published.
        metrics: the canary series to update; None: none.
    """

    store: Store
    action_types: Mapping[str, ActionSpec] = field(default_factory=dict)
    policy: RolloutPolicy = field(default_factory=RolloutPolicy)
    publish: Publish | None = None
    metrics: CanaryMetrics | None = None
    clock: Clock = field(default_factory=SystemClock)
    policy_of: Callable[[], RolloutPolicy] | None = None

    def __post_init__(self) -> None:
        check_rollout_policy(self.policy)

    def _now(self) -> str:
        return iso(self.clock.now())

    def _policy(self) -> RolloutPolicy:
        """The rules now: ``policy_of()`` (the active governance policy's ``rollout``) if set."""
        if self.policy_of is None:
            return self.policy
        p = self.policy_of()
        check_rollout_policy(p)
        return p

    async def _done(self, out: Outcome) -> Outcome:
        if out.events and self.publish is not None:
            await self.publish(out.events)
        if self.metrics is not None:
            if out.evaluation is not None and out.canary is not None:
                ev = out.evaluation.as_json()
                arms = {
                    a: (int(ev[a]["runs"]), int(ev[a]["bad"]))  # type: ignore[index]
                    for a in ("candidate", "stable")
                }
                evidence = {"stable": float(ev["e_stable"]), "bar": float(ev["e_bar"])}  # type: ignore[arg-type]
                self.metrics.observe(out.canary.workflow, arms, evidence, float(ev["threshold"]))  # type: ignore[arg-type]
            for e in out.events:
                kind = {
                    "canary.rolled_back": "rollback",
                    "canary.promoted": "promote",
                    "canary.aborted": "abort",
                }.get(e.type)
                if kind is not None and e.workflow is not None:
                    self.metrics.decided(e.workflow, kind)
        return out

    # -- what a version adds ------------------------------------------------------------------

    async def irreversible_added(self, name: str, version: int) -> frozenset[str]:
        """Irreversible action types ``version`` may propose that production's version does not
        (all of them when nothing is in production yet)."""
        defn = await self.store.get_workflow(name, version)
        mine = irreversible_actions([s.actions for s in defn.steps], self.action_types)
        view: StageView = await self.store.stage_view(name)
        prod = next((v.version for v in view.versions if v.stage is Stage.PRODUCTION), None)
        if prod is None:
            return mine
        theirs = await self.store.get_workflow(name, prod)
        return mine - irreversible_actions([s.actions for s in theirs.steps], self.action_types)

    async def staging_report(self, name: str, version: int) -> dict[str, Any] | None:
        """The Go/No-Go figures of the runs of ``version`` since it entered staging (None when
        it is not in staging)."""
        view: StageView = await self.store.stage_view(name)
        vs = next((v for v in view.versions if v.version == version), None)
        if vs is None or vs.stage is not Stage.STAGING or vs.entered_at is None:
            return None
        since = datetime.fromisoformat(vs.entered_at)
        data = await build_report(self.store, since=since, workflow=name, version=version)
        return {
            "verdict": data.verdict.value,
            "since": vs.entered_at,
            "generated_at": data.generated_at.isoformat(),
            "finished": data.runs.finished,
            "met": data.runs.met,
            "share_met": data.share_met,
            "reasons": list(data.reasons),
        }

    # -- operations ---------------------------------------------------------------------------

    async def view(self, name: str) -> StageView:
        result: StageView = await self.store.stage_view(name)
        return result

    async def sign_off(
        self, name: str, version: int, target: Stage, who: Operator, signed_as: str, note: str = ""
    ) -> Outcome:
        """Record ``who``'s sign-off of ``version`` for ``target`` in the capacity ``signed_as``."""
        added = await self.irreversible_added(name, version) if target is Stage.STAGING else set()
        details: dict[str, Any] = {}
        if signed_as == "irreversible":
            details["irreversible_actions"] = sorted(added)
        if target is Stage.PRODUCTION:
            details["report"] = await self.staging_report(name, version)
        s = SignOff(
            name,
            version,
            target,
            signed_as,
            who.operator_id,
            who.role.value,
            self._now(),
            note,
            details,
        )
        return await self._done(await self.store.sign_off(s, self._policy(), bool(added)))

    async def promote(
        self,
        name: str,
        version: int,
        target: Stage,
        who: Operator,
        signed_as: str | None = None,
        note: str = "",
    ) -> Outcome:
        """Sign (if ``signed_as``) and move the version to ``target`` once every sign-off is in.

        With sign-offs still missing after the caller's, the answer says which (no error);
        without a sign-off of the caller, a refused transition raises StageRefused."""
        signed: Outcome | None = None
        if signed_as is not None:
            signed = await self.sign_off(name, version, target, who, signed_as, note)
            if signed.missing:
                return signed
        added = await self.irreversible_added(name, version) if target is Stage.STAGING else set()
        report = await self.staging_report(name, version) if target is Stage.PRODUCTION else None
        try:
            out = await self.store.promote_version(
                name,
                version,
                target,
                ts=self._now(),
                by=who.operator_id,
                policy=self._policy(),
                irreversible_added=bool(added),
                report=report,
            )
        except StageRefused as e:
            if signed is not None and e.code == "needs_canary":
                return Outcome(f"{signed.message}; {e.reason}", signed.stage)
            raise
        return await self._done(out)

    async def start_canary(
        self,
        name: str,
        version: int,
        cfg: CanaryConfig,
        who: Operator,
        *,
        canary_id: str | None = None,
    ) -> Outcome:
        """Start sending ``cfg.share`` of new runs to ``version``. ``canary_id`` (default: a
        new uuid4) salts the assignment of keys to arms: the same id splits the same keys
        alike (reproducible examples and tests); it must be new."""
        problems = cfg.problems()
        if problems:
            raise ConfigErrors([ConfigError("<canary>", f, why) for f, why in problems])
        report = await self.staging_report(name, version)
        out = await self.store.start_canary(
            name,
            version,
            cfg,
            ts=self._now(),
            by=who.operator_id,
            policy=self._policy(),
            report=report,
            canary_id=canary_id,
        )
        return await self._done(out)

    async def evaluate(self, name: str, by: str | None = None) -> Outcome | None:
        """Evaluate the running canary of ``name`` (None: none runs); decides and records."""
        out: Outcome | None = await self.store.evaluate_canary(name, self._now(), by)
        if out is None:
            return None
        if out.events:
            log.info(
                "canary evaluated",
                extra={
                    "workflow": name,
                    "decision": out.evaluation.decision.value if out.evaluation else None,
                },
            )
        return await self._done(out)

    async def evaluate_all(self) -> list[Outcome]:
        """Evaluate every running canary (each housekeeping tick of every process)."""
        done = []
        for name in await self.store.running_canaries():
            out = await self.evaluate(name)
            if out is not None:
                done.append(out)
        if self.metrics is not None:
            since = iso(self.clock.now() - ROLLBACK_ALERT_WINDOW)
            self.metrics.rollbacks(await self.store.recent_rollbacks(since))
        return done

    async def abort(self, name: str, who: Operator, reason: str = "") -> Outcome:
        return await self._done(
            await self.store.abort_canary(name, self._now(), who.operator_id, reason)
        )


# -- JSON (one shape for the API, the CLI and the UI) ----------------------------------------


def canary_json(c: CanaryRecord | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "canary_id": c.canary_id,
        "candidate": c.candidate,
        "stable": c.stable,
        "status": c.status.value,
        "config": c.config.as_json(),
        "started_at": c.started_at,
        "started_by": c.started_by,
        "ended_at": c.ended_at,
        "ended_by": c.ended_by,
        "reason": c.reason,
        "evaluations": c.evaluations,
        "last_evaluation": c.last_evaluation,
    }


def stage_view_json(v: StageView) -> dict[str, Any]:
    return {
        "name": v.workflow,
        "versions": [
            {
                "version": s.version,
                "stage": s.stage.value,
                "entered_at": s.entered_at,
                "entered_by": s.entered_by,
                "signoffs": [
                    {
                        "target": x.target.value,
                        "as": x.signed_as,
                        "operator_id": x.operator_id,
                        "role": x.role,
                        "ts": x.ts,
                        "note": x.note,
                    }
                    for x in s.signoffs
                ],
            }
            for s in v.versions
        ],
        "canary": canary_json(v.canary),
    }
