"""Assembly: build the parts once, wire them, hand them out, close them in reverse order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from maestro_helix.agents.base import AgentRegistry
from maestro_helix.bus.base import EventBus
from maestro_helix.bus.memory import InProcessBus
from maestro_helix.core.actions import ActionSpec
from maestro_helix.core.audit import ChainReport
from maestro_helix.core.clock import Clock, SystemClock
from maestro_helix.core.errors import ConfigError
from maestro_helix.core.extras import require
from maestro_helix.core.lease import Ownership
from maestro_helix.core.ports import Store
from maestro_helix.core.records import EventRecord
from maestro_helix.core.work import Dispatcher
from maestro_helix.core.workflow import Catalog, WorkflowDef
from maestro_helix.engine.bridge import EventLink, MaestroHelixBridge, default_links
from maestro_helix.engine.engine import Engine, RunResult
from maestro_helix.engine.housekeeping import housekeeping
from maestro_helix.engine.learning import KnowledgeLink, LearningLink, LearningService
from maestro_helix.engine.predict_link import PredictLink, RiskPredictor, refresh_quietly
from maestro_helix.engine.reevaluate import Reevaluation
from maestro_helix.governance.auditlog import Checkpointer, CheckpointPolicy
from maestro_helix.governance.checkpoint import NoteSigner
from maestro_helix.governance.policy import GovernancePolicy, load_policy
from maestro_helix.governance.service import Governance, GovernanceLink
from maestro_helix.governance.stages import RolloutPolicy
from maestro_helix.helix.base import CustomCriterion
from maestro_helix.helix.gate import GateConfig, HelixQualityGate, load_gate_config
from maestro_helix.helix.qsr import QSREvaluator
from maestro_helix.helix.risk import RiskAssessor
from maestro_helix.helix.routing import Router
from maestro_helix.observability.metrics import HelixMetrics, MetricsLink
from maestro_helix.observability.tracing import TracingLink, run_span, tracer_provider_from_env
from maestro_helix.ops.canary import Rollout
from maestro_helix.store.sequencer import AuditSequencer
from maestro_helix.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

__all__ = ["Maestro", "open_store"]


def open_store(db: str | Path, *, must_exist: bool = False) -> Store:
    """A store for a path or URL: a plain path or ``sqlite:///PATH`` (embedded SQLite), or
    ``postgresql://user@host:port/db`` (production). With ``must_exist`` a missing SQLite file
    is a :class:`ConfigError` instead of a new database (for read commands)."""
    text = str(db)
    if text.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        require("psycopg", extra="postgres", feature="a PostgreSQL store (--db postgresql://)")
        from maestro_helix.store.postgres import PostgresStore

        return PostgresStore(text)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise ConfigError(
            "--db",
            "",
            f"unsupported database URL scheme {scheme!r} (use a file path, "
            "sqlite:///PATH or postgresql://...)",
        )
    return SQLiteStore(text, must_exist=must_exist)


def _counted(
    publish: Callable[[Sequence[EventRecord]], Awaitable[None]], metrics: HelixMetrics
) -> Callable[[Sequence[EventRecord]], Awaitable[None]]:
    """GIL's publisher, counting the actions it ran (``gil_actions_total``) on the way."""

    async def counted(events: Sequence[EventRecord]) -> None:
        metrics.gil_events(events)
        await publish(events)

    return counted


def _amount_limits(
    policy: GovernancePolicy, action_types: Sequence[ActionSpec]
) -> dict[str, float]:
    """Each action type's magnitude limit for MRI: the policy's rule, else the type's own,
    else the policy's ``amount_limit``."""
    out: dict[str, float] = {}
    for a in action_types:
        rule = policy.actions.get(a.name)
        limit = (rule.amount_limit if rule is not None else None) or a.amount_limit
        limit = limit or policy.amount_limit
        if limit:
            out[a.name] = limit
    return out


@dataclass
class Maestro:
    """A running system: store, bus, Helix evaluators, gate, router, bridge and engine.

    Build one with :meth:`open` (an async context manager); everything it opened is closed
    on exit, in reverse order.
    """

    store: Store
    bus: EventBus
    engine: Engine
    agents: AgentRegistry
    gate: HelixQualityGate
    router: Router
    qsr: QSREvaluator
    risk: RiskAssessor
    bridge: MaestroHelixBridge
    governance: Governance
    metrics: HelixMetrics
    work_queue: Any = None  # set by the CLI when steps go to workers
    checkpointer: Checkpointer | None = None  # signs the audit log's tree head (with a key)
    rollout: Rollout | None = None  # stages, sign-offs, canaries (ops/canary.py)
    learning: LearningService | None = None  # the knowledge base's writer (gate config)
    predictor: RiskPredictor | None = None  # the active risk model, refreshed by housekeeping

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        db: str | Path | Store = "maestro.db",
        *,
        agents: AgentRegistry,
        gates: str | Path | GateConfig | None = None,
        policy: str | Path | GovernancePolicy | None = None,
        action_types: Sequence[ActionSpec] = (),
        evaluators: Mapping[str, CustomCriterion] | None = None,
        bus: EventBus | None = None,
        concurrency: int = 64,
        clock: Clock | None = None,
        resume: bool = True,
        dispatcher: Dispatcher | None = None,
        metrics: HelixMetrics | None = None,
        tracer_provider: TracerProvider | None = None,
        ownership: Ownership | None = None,
        housekeeping_s: float | None = None,
        audit_signer: NoteSigner | None = None,
        checkpoints: CheckpointPolicy | None = None,
    ) -> AsyncIterator[Maestro]:
        """Open (or create) a system on ``db``.

        Args:
            db: SQLite path (created if missing), or a ready :class:`Store`.
            agents: the registered agents.
            gates: gate config path or value (defaults: QSR >= 0.7, MRI <= 0.3). A malformed
                file raises :class:`~maestro_helix.core.errors.ConfigError` here, at start-up.
            policy: governance policy path or value (defaults: approve every irreversible
                action; two approvers for high risk; 4 h expiry). Validated at start-up too.
            action_types: the action types steps may propose.
            evaluators: custom QSR criteria, by name (steps name them in ``evaluators``).
            bus: event bus (default: in-process).
            concurrency: runs executing at once.
            clock: time source (tests pass a FakeClock).
            resume: pick up unfinished runs found in the store.
            dispatcher: hand steps to workers elsewhere (a work queue) instead of running them
                here.
            metrics: Prometheus metrics (default: a fresh registry, exposed at ``/metrics``).
            tracer_provider: OpenTelemetry provider (default: from the ``OTEL_*`` variables;
                none configured means no spans).
            ownership: this process's identity and lease timing (default: a new id, leases
                of ``MAESTRO_LEASE_S`` seconds, 10 by default).
            housekeeping_s: run housekeeping (expiry, actions and runs nobody holds) every this
                many seconds; long-lived processes (``serve``, ``worker``) set it.
            audit_signer: the audit log's key: with it, this process signs checkpoints of the
                log's Merkle tree (``checkpoints``: every N entries or T seconds, and at close).
            checkpoints: how often (default: 1000 entries or 60 s).
        """
        gate_config = gates if isinstance(gates, GateConfig) else load_gate_config(gates)
        gil_policy = policy if isinstance(policy, GovernancePolicy) else load_policy(policy)
        clock = clock or SystemClock()
        async with AsyncExitStack() as stack:
            store = db if isinstance(db, Store) else open_store(db)
            await store.open()
            stack.push_async_callback(store.aclose)
            the_bus = bus or InProcessBus()
            await the_bus.open()
            stack.push_async_callback(the_bus.aclose)
            gate = HelixQualityGate(gate_config)
            # the track record lives in the store, folded in each step commit: nothing loaded
            router = Router(gate_config.routing)
            store.track_half_life_s = gate_config.routing.half_life_s
            qsr = QSREvaluator(custom=evaluators or {})
            owner = ownership or Ownership.from_env()
            governance = Governance(store, gil_policy, action_types, clock, owner)
            await governance.start(
                gil_policy if policy is not None else None,
                str(policy) if isinstance(policy, str | Path) else "policy",
            )
            risk = RiskAssessor(
                {a.name: a for a in action_types},
                amount_limits=_amount_limits(governance.policy, action_types),
            )
            governance.on_adopt.append(  # a policy applied later brings its own limits
                lambda p: risk.use_amount_limits(_amount_limits(p, action_types))
            )
            checkpointer = None
            if audit_signer is not None:  # closed after the engine: its last entries are signed
                checkpointer = Checkpointer(store, audit_signer, checkpoints, clock)
                await checkpointer.start()
                stack.push_async_callback(checkpointer.aclose)
            if getattr(store, "audit_batched", False):  # entries wait as pending: sequence them
                sequencer = AuditSequencer(store)  # closed before the checkpointer signs
                await sequencer.start()
                stack.push_async_callback(sequencer.aclose)
            the_metrics = metrics or HelixMetrics(CollectorRegistry())
            # a JetStream bus knows how far behind every consumer of the stream is
            lag = getattr(the_bus, "event_lag_ms", None) or getattr(the_bus, "lag_ms", None)
            if callable(lag):
                the_metrics.watch_event_lag(lag)
            provider = tracer_provider or tracer_provider_from_env()
            if provider is not None and tracer_provider is None:
                stack.callback(provider.shutdown)  # we made it: we flush and close it
            predictor = RiskPredictor(store, the_metrics.prediction, clock=clock)
            await predictor.refresh()
            predict = PredictLink(
                predictor, agents, lambda: governance.policy.prediction, predictor.metrics, clock
            )
            outer: list[Any] = [MetricsLink(the_metrics)]
            tracer = provider.get_tracer("maestro_helix") if provider is not None else None
            if tracer is not None:
                outer.insert(0, TracingLink(tracer))
            bridge = (
                default_links(
                    agents=agents,
                    qsr=qsr,
                    risk=risk,
                    gate=gate,
                    router=router,
                    clock=clock,
                    step_timeout_s=gate_config.step_timeout_s,
                    store=store,
                )
                # innermost: sees the verdict
                .with_links(add=[GovernanceLink(governance, agents.untrusted())])
                .with_links(add=[predict])  # inside GIL: a held result reaches it escalated
                .with_links(before=EventLink, add=outer)
            )
            if gate_config.max_reevaluations > 0:  # revise after suggestions, scored again
                bridge = bridge.with_revision(
                    Reevaluation(agents, gate_config.max_reevaluations, gate_config.step_timeout_s)
                )
            learning = None
            if gate_config.knowledge.enabled:  # learn from the verdict, read before the agent
                learning = LearningService(store, gate_config.knowledge, clock)
                stack.push_async_callback(learning.aclose)  # after the engine: its last insights
                bridge = bridge.with_links(add=[LearningLink(learning)])
                bridge = bridge.with_inputs([KnowledgeLink(store, gate_config.knowledge, clock)])
            catalog = Catalog(
                capabilities=agents.capabilities(),
                agents=agents.ids(),
                action_types=frozenset(a.name for a in action_types),
                evaluators=frozenset(evaluators or {}),
                untrusted=agents.untrusted(),
            )
            engine = Engine(
                store=store,
                bus=the_bus,
                bridge=bridge,
                gate=gate,
                catalog=catalog,
                concurrency=concurrency,
                clock=clock,
                governance=governance,
                dispatcher=dispatcher,
                ownership=owner,
            )
            engine.on_run_stopped.append(the_metrics.run_finished)
            governance.publish = _counted(engine.publish, the_metrics)
            governance.on_refusal.append(the_metrics.decision_refused)
            governance.on_policy_refused.append(the_metrics.policy_refused)
            governance.resume = engine.take_up
            if tracer is not None:
                engine.run_scope = lambda run_id, workflow: run_span(tracer, run_id, workflow)
            await engine.start()
            stack.push_async_callback(engine.aclose)
            rollout = Rollout(
                store,
                governance.action_types,
                publish=engine.publish,
                metrics=the_metrics.canary,
                clock=clock,
                policy_of=lambda: RolloutPolicy.of(governance.policy),
            )
            system = cls(
                store,
                the_bus,
                engine,
                agents,
                gate,
                router,
                qsr,
                risk,
                bridge,
                governance,
                the_metrics,
                checkpointer=checkpointer,
                rollout=rollout,
                learning=learning,
                predictor=predictor,
            )
            if resume:
                resumed = await engine.resume_unfinished()
                if resumed:
                    log.info("resuming unfinished runs", extra={"count": len(resumed)})
            if housekeeping_s is not None:
                task = asyncio.create_task(
                    housekeeping(
                        engine,
                        governance,
                        housekeeping_s,
                        (lambda: refresh_quietly(predictor), rollout.evaluate_all),
                    ),
                    name="maestro-housekeeping",
                )
                stack.push_async_callback(_cancel, task)
            yield system

    async def run(self, workflow: WorkflowDef, input: Mapping[str, Any]) -> RunResult:
        """Run one workflow on one input and wait for it to stop."""
        return await self.engine.run(workflow, input)

    async def run_many(
        self, workflow: WorkflowDef, inputs: Sequence[Mapping[str, Any]]
    ) -> list[RunResult]:
        ids = await self.engine.submit_many(workflow, inputs)
        return [await self.engine.wait(i) for i in ids]

    async def verify_audit(self) -> ChainReport:
        return await self.store.verify_audit()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
