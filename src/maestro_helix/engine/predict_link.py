"""The pre-execution link of the PredictiveRiskManager: before a step runs, predict for each
candidate agent the chance of a gate failure or escalation, and mitigate by the governance
policy's ``prediction`` rule — route to another agent, tighten the gate, hold the result for
approval, or proceed. Every attempt's features (numbers and names only), prediction, model
version, mitigation and outcome are recorded in a ``step.prediction`` audit entry and a
``step.predicted`` event (the training history of the next model), counted in metrics and put on
the attempt's span.

Place it just inside :class:`~maestro_helix.governance.service.GovernanceLink` (outside the
gate): the gate then judges with the tightened thresholds, and a held result reaches GIL as an
escalation, so nothing the step proposes runs before people approve it.

:class:`RiskPredictor` holds the active model and the agents' recent record, both read from the
store by :meth:`RiskPredictor.refresh` (at start and on every housekeeping tick), so every
process uses the same model version.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from maestro_helix.agents.base import AgentRegistry
from maestro_helix.core.audit import AuditDraft
from maestro_helix.core.clock import Clock, SystemClock, iso
from maestro_helix.core.errors import MaestroError
from maestro_helix.core.ports import Store
from maestro_helix.core.records import AuditFilter, EventRecord
from maestro_helix.core.scores import GateDecision, GateVerdict
from maestro_helix.core.steps import Next, StepInput, StepOutcome
from maestro_helix.core.workflow import Unresolved, render
from maestro_helix.engine.bridge import assessed_input, default_payload, input_text
from maestro_helix.governance.predict_policy import MitigationPlan, PredictionRule, plan_mitigation
from maestro_helix.helix.predict import (
    HELD_BY_PREDICTION,
    PREDICTION_KIND,
    AgentHistory,
    ModelError,
    RiskModel,
    StepFeatures,
    input_signals,
    roc_auc,
)
from maestro_helix.observability.predict_metrics import PredictionMetrics
from maestro_helix.observability.tracing import annotate_current_span

__all__ = ["PREDICTED_EVENT", "PREDICTION_KIND", "PredictLink", "RiskPredictor"]

log = logging.getLogger(__name__)

PREDICTED_EVENT = "step.predicted"


class RiskPredictor:
    """The active model and the agents' recent record, as last read from the store.

    Args:
        store: where models and step history live.
        metrics: model version and drift gauges (optional).
        history_last: attempts per agent and capability behind the recent record.
        drift_window: recorded attempts behind the AUC gauge.
    """

    def __init__(
        self,
        store: Store,
        metrics: PredictionMetrics | None = None,
        *,
        history_last: int = 50,
        drift_window: int = 500,
        clock: Clock | None = None,
        history_every_s: float = 5.0,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.clock = clock or SystemClock()
        self.history_last = history_last
        self.history_every_s = history_every_s
        self._history_at = float("-inf")
        self.model: RiskModel | None = None
        self.history: dict[tuple[str, str], AgentHistory] = {}
        self._window: deque[tuple[int, float]] = deque(maxlen=drift_window)
        self._cursor = 0

    @property
    def version(self) -> int | None:
        return self.model.version if self.model is not None else None

    async def refresh(self) -> None:
        """Take up the active model (a changed version, or none) and the agents' record; move
        the drift window on. A stored model whose hash does not match is refused (logged) and
        no model is used: prediction then proceeds without mitigation."""
        try:
            active = await self.store.active_risk_version()
        except NotImplementedError:
            return
        if active != self.version:
            self.model = None
            self._window.clear()
            if active is not None:
                await self._load(active)
        await self.refresh_history()
        await self._drift()
        if self.metrics is not None:
            self.metrics.version.set(self.version or 0)

    async def refresh_history(self, *, if_older_than_s: float | None = None) -> None:
        """Re-read the agents' record from the router's shared track record (one row per agent
        × capability, folded in every step commit by every process): a read of a small table,
        never a scan of the step history. With ``if_older_than_s``, only when the last read is
        older than that (the link calls it before each step: a batch's record stays fresh in a
        process without housekeeping)."""
        t = self.clock.monotonic()
        if if_older_than_s is not None and t - self._history_at < if_older_than_s:
            return
        self._history_at = t
        try:
            records = await self.store.all_track_records()
        except NotImplementedError:
            return
        now = self.clock.now().timestamp()
        self.history = {
            (r.agent_id, r.capability): AgentHistory.of(r, now, self.history_last)
            for r in records
            if r.total > 0
        }

    async def _load(self, version: int) -> None:
        stored = await self.store.risk_model(version)
        try:
            model = RiskModel(stored.model)
            if stored.sha256 != stored.model.get("sha256"):
                raise ModelError("sha256: the row's hash and the document's differ")
        except ModelError as e:
            log.error(
                "risk model refused; predicting without a model",
                extra={"version": version, "error": str(e)},
            )
            return
        self.model = model
        log.info("risk model active", extra={"version": version, "sha256": stored.sha256})

    async def _drift(self) -> None:
        rows = await self.store.find_audit(
            AuditFilter(kind=PREDICTION_KIND, after_seq=self._cursor, limit=5000)
        )
        for r in rows:
            d = r.get("details") or {}
            if d.get("model_version") == self.version and isinstance(d.get("p"), float):
                self._window.append((int(d.get("outcome") != "pass"), float(d["p"])))
        if rows:
            self._cursor = int(rows[-1]["seq"])
        if self.metrics is not None and self._window:
            auc = roc_auc([y for y, _ in self._window], [p for _, p in self._window])
            if auc is not None:
                self.metrics.auc.set(auc)
                self.metrics.evaluated.set(len(self._window))

    def history_of(self, agent: str, capability: str) -> AgentHistory:
        return self.history.get((agent, capability)) or AgentHistory()


def _candidates(inp: StepInput, agents: AgentRegistry) -> list[str]:
    if inp.agent_id is not None:
        return [inp.agent_id]
    if inp.step.agent is not None:
        return [inp.step.agent]
    if inp.step.capability is None:
        return []
    every = [a.id for a in agents.for_capability(inp.step.capability)]
    # the router's own pool: agents that failed this step already are skipped unless no other
    return [a for a in every if a not in inp.exclude_agents] or every


class PredictLink:
    """Predict before the step runs and mitigate by policy (see the module docstring).

    Args:
        predictor: the model and history holder.
        agents: the registry (candidates per capability).
        rule: the active policy's prediction rule, read at every attempt (a policy applied
            elsewhere takes effect at the next housekeeping tick).
        metrics: prediction metrics (optional).
    """

    def __init__(
        self,
        predictor: RiskPredictor,
        agents: AgentRegistry,
        rule: Callable[[], PredictionRule],
        metrics: PredictionMetrics | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.predictor = predictor
        self.agents = agents
        self.rule = rule
        self.metrics = metrics
        self.clock = clock or SystemClock()

    def features(self, inp: StepInput, candidates: Sequence[str]) -> dict[str, StepFeatures]:
        """Each candidate's features for this attempt; {} when the input cannot be built."""
        step = inp.step
        try:
            payload = (
                render(step.input, inp.scope) if step.input is not None else default_payload(inp)
            )
            task = str(render(step.task, inp.scope)) if step.task else ""
        except Unresolved:
            return {}
        # the same string the risk assessor scans after the agent: its scan is then remembered
        signals = input_signals(payload, assessed_input(task, input_text(payload)))
        now, cap = self.clock.now(), step.capability or ""
        return {
            a: StepFeatures.at(
                now,
                workflow=inp.workflow.name,
                step=step.id,
                capability=cap,
                agent=a,
                attempt=inp.attempt,
                signals=signals,
                history=self.predictor.history_of(a, cap),
            )
            for a in candidates
        }

    async def execute_step(self, inp: StepInput, nxt: Next) -> StepOutcome:
        await self.predictor.refresh_history(if_older_than_s=self.predictor.history_every_s)
        candidates = _candidates(inp, self.agents)
        feats = self.features(inp, candidates)
        model = self.predictor.model
        preds = {a: model.predict(f) for a, f in feats.items()} if model is not None else {}
        rule = self.rule()
        can_route = inp.agent_id is None and inp.step.agent is None and len(candidates) > 1
        last = inp.attempt >= inp.thresholds.max_attempts
        plan = plan_mitigation(preds, rule, inp.thresholds, can_route=can_route, last_attempt=last)
        if preds:
            annotate_current_span(
                {
                    "helix.risk.pool": plan.pool_risk or 0.0,
                    "helix.risk.mitigation": plan.mitigation.value,
                    "helix.risk.model_version": self.predictor.version or 0,
                }
            )
        out = await nxt(
            replace(
                inp,
                exclude_agents=inp.exclude_agents | plan.exclude,
                thresholds=plan.thresholds,
            )
        )
        return self._record(inp, out, feats, preds, plan, rule)

    def _record(
        self,
        inp: StepInput,
        out: StepOutcome,
        feats: dict[str, StepFeatures],
        preds: dict[str, float],
        plan: MitigationPlan,
        rule: PredictionRule,
    ) -> StepOutcome:
        chosen = out.agent_id
        if chosen is None or not feats:
            return out
        f = feats.get(chosen) or self.features(replace(inp, agent_id=chosen), [chosen])[chosen]
        p = preds.get(chosen)
        if p is None and self.predictor.model is not None:
            p = self.predictor.model.predict(f)
        verdict, held = out.verdict, False
        if plan.approval and verdict is not None and verdict.decision is GateDecision.PASS:
            why = (
                f"{HELD_BY_PREDICTION}: predicted risk {plan.pool_risk:.2f} >= "
                f"{rule.approval_above} (risk model v{self.predictor.version})"
            )
            verdict = GateVerdict(
                GateDecision.ESCALATE, (*verdict.reasons, why), verdict.thresholds
            )
            held = True
        details: dict[str, Any] = {
            "features": f.to_dict(),
            "p": round(p, 6) if p is not None else None,
            "model_version": self.predictor.version,
            "mitigation": plan.mitigation.value,
            "candidates": {a: round(q, 6) for a, q in preds.items()},
            "excluded": sorted(plan.exclude),
            "outcome": out.verdict.decision.value if out.verdict is not None else None,
            "held_for_approval": held,
        }
        if plan.thresholds != inp.thresholds:
            details["gate"] = {
                "min_qsr": [inp.thresholds.min_qsr, plan.thresholds.min_qsr],
                "max_mri": [inp.thresholds.max_mri, plan.thresholds.max_mri],
            }
        ts = out.finished_at or iso(self.clock.now())
        entry = AuditDraft(
            entry_id=f"{inp.run_id}/{inp.index}/{inp.attempt}/prediction",
            ts=ts,
            kind=PREDICTION_KIND,
            run_id=inp.run_id,
            step_id=inp.step.id,
            step_index=inp.index,
            attempt=inp.attempt,
            workflow=inp.workflow.name,
            workflow_version=inp.workflow.version,
            agent_id=chosen,
            evaluator_versions={"risk_model": str(self.predictor.version or "none")},
            details=details,
        )
        event = EventRecord(
            event_id=f"{inp.run_id}/{inp.index}/{inp.attempt}/predicted",
            type=PREDICTED_EVENT,
            ts=ts,
            run_id=inp.run_id,
            workflow=inp.workflow.name,
            step_id=inp.step.id,
            payload={k: v for k, v in details.items() if k != "features"},
        )
        observers = out.observers
        if self.metrics is not None:
            metrics, wf, step, mit = self.metrics, inp.workflow.name, inp.step.id, plan.mitigation

            def count() -> None:
                metrics.attempt(wf, step, p, mit.value)

            observers = (*observers, count)
        return replace(
            out,
            verdict=verdict,
            audit=(*out.audit, entry),
            events=(*out.events, event),
            observers=observers,
        )


async def refresh_quietly(predictor: RiskPredictor) -> None:
    """:meth:`RiskPredictor.refresh` for housekeeping: a failure is logged, not raised."""
    try:
        await predictor.refresh()
    except MaestroError as e:
        log.warning("risk model refresh failed; will retry", extra={"error": str(e)})
