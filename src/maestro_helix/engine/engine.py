"""The engine: runs workflows as durable state machines, one step attempt at a time.

Every attempt ends in one store transaction (the step record, the run's new position and status,
the audit entries and the reflexive events) and only then is the attempt reported and its events
published. After a crash, :meth:`Engine.resume_unfinished` picks every pending or running run up at
the step after its last committed one, so no committed step runs twice and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from maestro_helix.bus.base import EventBus
from maestro_helix.core.clock import Clock, SystemClock, iso
from maestro_helix.core.errors import InputError, InvalidTransition, MaestroError
from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.scores import Feedback, GateDecision
from maestro_helix.core.workflow import Catalog, WorkflowDef, check_definition
from maestro_helix.engine.bridge import (
    MaestroHelixBridge,
    StepInput,
    StepOutcome,
    feedback_for,
)

if TYPE_CHECKING:
    from maestro_helix.governance.service import Governance
from maestro_helix.helix.gate import HelixQualityGate
from maestro_helix.store.base import (
    UNFINISHED,
    EventRecord,
    NewRun,
    RunStatus,
    StepCommit,
    StepRecord,
    Store,
    Transition,
)

log = logging.getLogger(__name__)

_WORKFLOW_PAUSED = "workflow paused"

__all__ = ["Engine", "RunResult", "StepSummary", "WorkItem"]


@dataclass(frozen=True, slots=True)
class StepSummary:
    step_id: str
    attempt: int
    agent_id: str | None
    decision: str
    qsr: float | None
    mri: float | None
    eval_ms: float


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended (or where it stopped)."""

    run_id: str
    status: RunStatus
    attempts: tuple[StepSummary, ...] = ()
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def retries(self) -> int:
        return sum(1 for a in self.attempts if a.decision == GateDecision.RETRY.value)

    @property
    def escalated(self) -> bool:
        return any(a.decision == GateDecision.ESCALATE.value for a in self.attempts)


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One step attempt of one run, handed to a worker that has the capability (or agent)."""

    run_id: str
    step_index: int
    attempt: int
    capability: str | None
    agent: str | None = None

    @property
    def key(self) -> str:
        """Unique per attempt: the work queue de-duplicates re-sent items by it."""
        return f"{self.run_id}.{self.step_index}.{self.attempt}"

    @property
    def route(self) -> str:
        return f"capability.{self.capability}" if self.capability else f"agent.{self.agent}"


class Dispatcher(Protocol):
    """Hands step attempts to workers (see ``bus.workqueue.JetStreamWorkQueue``)."""

    async def dispatch(self, items: Sequence[WorkItem]) -> None: ...


@dataclass(slots=True)
class _RunState:
    run_id: str
    defn: WorkflowDef
    input: Mapping[str, Any]
    next_step: int = 0
    attempt: int = 1
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    feedback: Feedback | None = None
    exclude: set[str] = field(default_factory=set)
    attempts: list[StepSummary] = field(default_factory=list)
    operator_id: str | None = None


def _required_inputs(defn: WorkflowDef) -> frozenset[str]:
    """Input keys the definition reads without ``?``."""
    keys = set()
    for step in defn.steps:
        for _, ref in step.references():
            parts = ref.split(".")
            if parts[0] == "input" and len(parts) > 1 and not ref.endswith("?"):
                keys.add(parts[1])
    return frozenset(keys)


class Engine:
    """Runs workflows over a store, a bus and a bridge (the chain of Helix links).

    Args:
        store: durable state.
        bus: where reflexive events go once stored.
        bridge: the step chain (see :func:`maestro_helix.engine.bridge.default_links`).
        gate: resolves each step's thresholds.
        catalog: names definitions may use (checked when a workflow is registered).
        concurrency: runs executing at once.
        clock: time source.
    """

    def __init__(
        self,
        *,
        store: Store,
        bus: EventBus,
        bridge: MaestroHelixBridge,
        gate: HelixQualityGate,
        catalog: Catalog,
        concurrency: int = 64,
        clock: Clock | None = None,
        governance: Governance | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.store = store
        self.bus = bus
        self.bridge = bridge
        self.gate = gate
        self.catalog = catalog
        self.concurrency = concurrency
        self.clock = clock or SystemClock()
        self.governance = governance
        self.dispatcher = dispatcher
        self.run_scope: Callable[[str, str], AbstractContextManager[object]] = (
            lambda run_id, workflow: contextlib.nullcontext()
        )
        """Entered around each run's execution here, with (run_id, workflow): tracing sets it."""
        self.on_run_stopped: list[Callable[[str, str], object]] = []
        """Called with (workflow, status) when a run stops here (metrics, notifications)."""
        self._queue: asyncio.Queue[str | _RunState | None] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._waiters: dict[str, asyncio.Future[RunResult]] = {}
        # results of runs that stopped before anyone waited for them (bounded, oldest dropped)
        self._finished: OrderedDict[str, RunResult] = OrderedDict()
        self.keep_results = 100_000
        self._active: set[str] = set()
        self._stop_requested: dict[str, RunStatus] = {}
        self._paused_workflows: set[str] = set()
        self._unpublished: list[EventRecord] = []
        self._republisher: asyncio.Task[None] | None = None
        self._defs: dict[tuple[str, int], WorkflowDef] = {}
        self._required: dict[tuple[str, int], frozenset[str]] = {}
        self._closed = False

    # -- lifetime -----------------------------------------------------------------------------

    async def start(self) -> None:
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._worker(), name=f"maestro-engine-{i}")
                for i in range(self.concurrency)
            ]

    async def aclose(self) -> None:
        """Stop taking work; runs in flight finish their current attempt first."""
        if self._closed:
            return
        self._closed = True
        for _ in self._workers:
            self._queue.put_nowait(None)
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._republisher is not None and not self._republisher.done():
            try:  # give a recovering bus a little time to take what is waiting
                await asyncio.wait_for(asyncio.shield(self._republisher), timeout=10)
            except TimeoutError:
                self._republisher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._republisher
                log.error(
                    "closing with unpublished events (they are in the store)",
                    extra={"count": len(self._unpublished)},
                )

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- definitions --------------------------------------------------------------------------

    async def register(self, defn: WorkflowDef, source: str = "<python>") -> WorkflowDef:
        """Check a definition against what is registered and store it (a new version if changed)."""
        check_definition(defn, self.catalog, source)
        stored = await self.store.save_workflow(defn, iso(self.clock.now()))
        self._defs[(stored.name, stored.version)] = stored
        return stored

    async def _definition(self, name: str, version: int) -> WorkflowDef:
        d = self._defs.get((name, version))
        if d is None:
            d = await self.store.get_workflow(name, version)
            self._defs[(name, version)] = d
        return d

    # -- submitting ---------------------------------------------------------------------------

    def _check_input(self, defn: WorkflowDef, data: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            raise InputError(where, f"a run input must be a JSON object, got {type(data).__name__}")
        key = (defn.name, defn.version)
        required = self._required.get(key)
        if required is None:
            required = self._required[key] = _required_inputs(defn)
        missing = sorted(k for k in required if k not in data)
        if missing:
            raise InputError(
                where, f"missing input field(s) the workflow uses: {', '.join(missing)}"
            )
        return data

    async def submit(
        self, defn: WorkflowDef, input: Mapping[str, Any], *, operator_id: str | None = None
    ) -> str:
        """Store a new run and queue it. Returns its id once the run is durable."""
        ids = await self.submit_many(defn, [input], operator_id=operator_id)
        return ids[0]

    async def submit_many(
        self,
        defn: WorkflowDef,
        inputs: Sequence[Mapping[str, Any]],
        *,
        operator_id: str | None = None,
        chunk: int = 500,
    ) -> list[str]:
        """Store many runs (in chunks, each one transaction) and queue them."""
        if self._closed:
            raise MaestroError("the engine is closed")
        if (defn.name, defn.version) not in self._defs:
            defn = await self.register(defn)
        checked = [self._check_input(defn, x, f"inputs[{i}]") for i, x in enumerate(inputs)]
        ids: list[str] = []
        now = iso(self.clock.now())
        for start in range(0, len(checked), chunk):
            part = checked[start : start + chunk]
            runs = [
                NewRun(str(uuid.uuid4()), defn.name, defn.version, dict(x), now, operator_id)
                for x in part
            ]
            events = [
                EventRecord(
                    f"{r.run_id}/submitted",
                    "run.submitted",
                    now,
                    r.run_id,
                    defn.name,
                    None,
                    {"workflow_version": defn.version, "operator_id": operator_id},
                )
                for r in runs
            ]
            await self.store.create_runs(runs, events)
            await self._publish(events)
            if self.dispatcher is not None:  # workers elsewhere run the steps
                step0 = defn.steps[0]
                await self.dispatcher.dispatch(
                    [WorkItem(r.run_id, 0, 1, step0.capability, step0.agent) for r in runs]
                )
                ids.extend(r.run_id for r in runs)
                continue
            for r in runs:
                self._waiters[r.run_id] = asyncio.get_running_loop().create_future()
                self._queue.put_nowait(_RunState(r.run_id, defn, r.input, operator_id=operator_id))
                ids.append(r.run_id)
        return ids

    async def wait(self, run_id: str, *, poll_s: float = 0.05) -> RunResult:
        """Wait until the run stops (finished, paused, escalated or cancelled)."""
        if self.dispatcher is not None:  # executed by workers: watch the store
            delay = poll_s
            while (await self.store.get_run(run_id)).status in UNFINISHED:
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 1.0)
            return await self.result_from_store(run_id)
        fut = self._waiters.get(run_id)
        if fut is not None:
            result = await asyncio.shield(fut)
            self._finished.pop(run_id, None)
            return result
        done = self._finished.pop(run_id, None)
        if done is not None:
            return done
        return await self.result_from_store(run_id)

    async def result_from_store(self, run_id: str) -> RunResult:
        """The run as stored: status, every attempt, and the outputs of passed steps."""
        rec = await self.store.get_run(run_id)
        attempts = []
        outputs: dict[str, Any] = {}
        for r in await self.store.step_records(run_id):
            attempts.append(
                StepSummary(
                    r.step_id, r.attempt, r.agent_id, r.decision, r.qsr, r.mri, r.eval_latency_ms
                )
            )
            if r.decision == GateDecision.PASS.value and r.output is not None:
                outputs[r.step_id] = AgentOutput.from_dict(r.output).as_reference()
        return RunResult(run_id, rec.status, tuple(attempts), outputs, rec.error)

    async def run(
        self, defn: WorkflowDef, input: Mapping[str, Any], *, operator_id: str | None = None
    ) -> RunResult:
        """Submit one run and wait for it."""
        await self.start()
        return await self.wait(await self.submit(defn, input, operator_id=operator_id))

    async def resume_unfinished(self) -> list[str]:
        """Queue every pending or running run found in the store (after a restart, or after
        humans cleared what a run was waiting for). Cleared actions that have not run yet (or
        whose process died while running them) are executed first."""
        if self.governance is not None:
            await self.governance.execute()
        ids = await self.store.run_ids(UNFINISHED)
        if self.dispatcher is not None:
            items = []
            for run_id in ids:
                st = await self._load(run_id)
                if st is not None and st.next_step < len(st.defn.steps):
                    items.append(self._item(st))
            await self.dispatcher.dispatch(items)
            return ids
        for run_id in ids:
            if run_id not in self._active and run_id not in self._waiters:
                self._waiters[run_id] = asyncio.get_running_loop().create_future()
                self._queue.put_nowait(run_id)
        return ids

    # -- control ------------------------------------------------------------------------------

    async def load_paused_workflows(self) -> None:
        """Read which workflows are paused (at start, and periodically by long-lived servers)."""
        self._paused_workflows = set(await self.store.paused_workflows())

    async def pause_workflow(self, name: str, *, by: str | None = None) -> None:
        """Stop every run of ``name`` at its next step boundary; new runs wait too."""
        await self.store.set_workflow_paused(name, True, iso(self.clock.now()), by)
        self._paused_workflows.add(name)

    async def resume_workflow(self, name: str, *, by: str | None = None) -> list[str]:
        """Let ``name`` run again: its runs paused by the workflow pause continue."""
        await self.store.set_workflow_paused(name, False, iso(self.clock.now()), by)
        self._paused_workflows.discard(name)
        resumed = []
        for run_id in await self.store.run_ids([RunStatus.PAUSED]):
            rec = await self.store.get_run(run_id)
            if rec.workflow == name and rec.error == _WORKFLOW_PAUSED:
                await self.resume(run_id)
                resumed.append(run_id)
        return resumed

    async def pause(self, run_id: str) -> None:
        """Stop the run at its next step boundary; :meth:`resume` continues it."""
        await self._transition(run_id, RunStatus.PAUSED, (RunStatus.PENDING, RunStatus.RUNNING))

    async def cancel(self, run_id: str) -> None:
        """Stop the run for good at its next step boundary."""
        await self._transition(
            run_id,
            RunStatus.CANCELLED,
            (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.ESCALATED),
        )

    async def resume(self, run_id: str) -> None:
        """Continue a paused run from the step after its last completed one."""
        await self._transition(run_id, RunStatus.RUNNING, (RunStatus.PAUSED,))
        self._stop_requested.pop(run_id, None)
        if run_id not in self._active:
            if run_id not in self._waiters or self._waiters[run_id].done():
                self._waiters[run_id] = asyncio.get_running_loop().create_future()
            self._queue.put_nowait(run_id)

    async def _transition(self, run_id: str, to: RunStatus, allowed: tuple[RunStatus, ...]) -> None:
        now = iso(self.clock.now())
        rec = await self.store.get_run(run_id)
        ev = EventRecord(
            str(uuid.uuid4()),
            f"run.{to.value}",
            now,
            run_id,
            rec.workflow,
            None,
            {"from": rec.status.value},
        )
        await self.store.transition(Transition(run_id, to, allowed, now, events=(ev,)))
        await self._publish([ev])
        if to in (RunStatus.PAUSED, RunStatus.CANCELLED):
            self._stop_requested[run_id] = to
            if run_id not in self._active:
                self._settle(run_id, RunResult(run_id, to))

    # -- events -------------------------------------------------------------------------------

    async def publish(self, events: Sequence[EventRecord]) -> None:
        """Publish events already stored (by the engine or by GIL), surviving bus outages."""
        await self._publish(events)

    async def _publish(self, events: Sequence[EventRecord]) -> None:
        """Publish stored events. A bus outage never stops a run: the events are already in the
        store, and those the bus refused are re-published (same ids: de-duplicated) until it
        takes them."""
        if not events:
            return
        if self._unpublished:  # keep order: nothing overtakes what is waiting
            self._unpublished.extend(events)
            return
        try:
            await self.bus.publish(events)
        except MaestroError as e:
            log.warning("event bus unavailable; will re-publish", extra={"error": str(e)})
            self._unpublished.extend(events)
            if self._republisher is None or self._republisher.done():
                self._republisher = asyncio.create_task(self._republish(), name="republish")

    async def _republish(self) -> None:
        delay = 0.2
        while self._unpublished:
            await asyncio.sleep(delay)
            batch = list(self._unpublished)
            try:
                await self.bus.publish(batch)
            except MaestroError as e:
                delay = min(delay * 2, 5.0)
                log.warning(
                    "event bus still unavailable", extra={"error": str(e), "waiting": len(batch)}
                )
                continue
            del self._unpublished[: len(batch)]
            delay = 0.2

    @property
    def unpublished(self) -> int:
        """Events stored but not yet taken by the bus (non-zero only during a bus outage)."""
        return len(self._unpublished)

    # -- execution ----------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            run_id = item if isinstance(item, str) else item.run_id
            if run_id in self._active:
                continue
            self._active.add(run_id)
            try:
                state = item if isinstance(item, _RunState) else await self._load(run_id)
                result = await self._execute(state) if state is not None else None
            except Exception as e:  # the store failed: the run stays as last committed
                log.exception("run stopped by an error", extra={"run_id": run_id})
                self._fail_waiter(run_id, e)
            else:
                if result is not None:
                    self._settle(run_id, result)
            finally:
                self._active.discard(run_id)

    def _settle(self, run_id: str, result: RunResult) -> None:
        fut = self._waiters.pop(run_id, None)
        if fut is not None and not fut.done():
            fut.set_result(result)
            self._finished[run_id] = result
            while len(self._finished) > self.keep_results:
                self._finished.popitem(last=False)

    def _fail_waiter(self, run_id: str, exc: BaseException) -> None:
        fut = self._waiters.pop(run_id, None)
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    async def _load(self, run_id: str) -> _RunState | None:
        """Rebuild a run's state from its committed steps."""
        rec = await self.store.get_run(run_id)
        if rec.status not in (*UNFINISHED, RunStatus.RUNNING):
            self._settle(run_id, RunResult(run_id, rec.status, error=rec.error))
            return None
        defn = await self._definition(rec.workflow, rec.workflow_version)
        state = _RunState(
            run_id, defn, rec.input, next_step=rec.next_step, operator_id=rec.operator_id
        )
        records: list[StepRecord] = await self.store.step_records(run_id)
        accepted = await self.store.accepted_attempts(run_id)
        last_at_next: StepRecord | None = None
        for r in records:
            state.attempts.append(
                StepSummary(
                    r.step_id, r.attempt, r.agent_id, r.decision, r.qsr, r.mri, r.eval_latency_ms
                )
            )
            passed = r.decision == GateDecision.PASS.value or (r.step_index, r.attempt) in accepted
            if passed and r.output is not None:
                state.outputs[r.step_id] = AgentOutput.from_dict(r.output).as_reference()
            if r.step_index == rec.next_step:
                last_at_next = r
                if r.agent_id and r.decision != GateDecision.PASS.value:
                    state.exclude.add(r.agent_id)
        if last_at_next is not None:
            state.attempt = last_at_next.attempt + 1
            state.feedback = feedback_for(
                last_at_next.attempt,
                last_at_next.quality,
                last_at_next.risk,
                tuple(last_at_next.verdict.get("reasons", ())),
            )
        return state

    async def _execute(self, st: _RunState) -> RunResult:
        with self.run_scope(st.run_id, st.defn.name):  # e.g. the run's trace span
            return await self._execute_steps(st)

    async def _execute_steps(self, st: _RunState) -> RunResult:
        steps = st.defn.steps
        while st.next_step < len(steps):
            stop = self._stop_requested.pop(st.run_id, None)
            if stop is not None:
                return self._result(st, stop)
            if st.defn.name in self._paused_workflows:
                return await self._pause_for_workflow(st)
            status, stopped, error = await self._attempt_once(st)
            if stopped is not None:
                self._stop_requested.pop(st.run_id, None)
                return self._result(st, stopped)
            if status is not RunStatus.RUNNING:
                return self._result(st, status, error)
        return self._result(st, RunStatus.COMPLETED)

    async def _pause_for_workflow(self, st: _RunState) -> RunResult:
        now = iso(self.clock.now())
        ev = EventRecord(
            f"{st.run_id}.{st.next_step}.{st.attempt}.workflow-paused",
            "run.paused",
            now,
            st.run_id,
            st.defn.name,
            None,
            {"reason": _WORKFLOW_PAUSED},
        )
        try:
            await self.store.transition(
                Transition(
                    st.run_id,
                    RunStatus.PAUSED,
                    UNFINISHED,
                    now,
                    error=_WORKFLOW_PAUSED,
                    events=(ev,),
                )
            )
        except InvalidTransition:
            rec = await self.store.get_run(st.run_id)
            return self._result(st, rec.status, rec.error)
        await self._publish([ev])
        return self._result(st, RunStatus.PAUSED, _WORKFLOW_PAUSED)

    async def _attempt_once(self, st: _RunState) -> tuple[RunStatus, RunStatus | None, str | None]:
        """Run, score, gate, commit and publish the next attempt of ``st``; move ``st`` on.

        Returns the run's new status, the status someone else stopped it with (if so), and the
        error when it failed.
        """
        defn = st.defn
        step = defn.steps[st.next_step]
        inp = StepInput(
            run_id=st.run_id,
            workflow=defn,
            step=step,
            index=st.next_step,
            attempt=st.attempt,
            scope={"input": st.input, "steps": st.outputs},
            thresholds=self.gate.thresholds_for(defn, step),
            feedback=st.feedback,
            exclude_agents=frozenset(st.exclude),
            operator_id=st.operator_id,
        )
        out = await self.bridge.execute_step(inp)
        decision = out.decision
        status, next_step, error = self._advance(st, out)
        if out.requests and status is not RunStatus.FAILED:
            status = RunStatus.ESCALATED  # a human decision is due before the run goes on
        events = out.events
        if status is not RunStatus.RUNNING:
            events = (*events, self._run_event(st, status, out))
        stopped = await self.store.commit_step(
            StepCommit(
                step=self._record(out, decision),
                run_status=status,
                next_step=next_step,
                run_error=error,
                audit=out.audit,
                events=events,
                updated_at=out.finished_at,
                requests=out.requests,
                intents=out.intents,
            )
        )
        await self._publish(events)
        if out.intents and self.governance is not None:
            await self.governance.run_claimed(out.intents)
        if status is not RunStatus.RUNNING:
            for listener in self.on_run_stopped:
                listener(defn.name, status.value)
        st.attempts.append(
            StepSummary(
                step.id, st.attempt, out.agent_id, decision.value, out.qsr, out.mri, out.eval_ms
            )
        )
        # move the in-memory state only after the commit
        if decision is GateDecision.PASS:
            assert out.output is not None
            st.outputs[step.id] = out.output.as_reference()
            st.next_step, st.attempt, st.feedback = next_step, 1, None
            st.exclude.clear()
        elif decision is GateDecision.RETRY:
            st.attempt += 1
            st.feedback = out.feedback()
            if out.agent_id is not None:
                st.exclude.add(out.agent_id)
        return status, stopped, error

    async def execute_item(self, run_id: str, step_index: int, attempt: int) -> WorkItem | None:
        """Distributed mode: run one step attempt of a run (as handed out by a work queue).

        Idempotent: if the attempt is already committed (a redelivery), nothing runs again.
        Returns the run's next work item (to hand out), or None when the run stopped.
        """
        st = await self._load(run_id)
        if st is None or st.next_step >= len(st.defn.steps):
            return None
        if (st.next_step, st.attempt) == (step_index, attempt):
            status, stopped, _ = await self._attempt_once(st)
            if stopped is not None or status is not RunStatus.RUNNING:
                return None
        return self._item(st)

    def _item(self, st: _RunState) -> WorkItem:
        step = st.defn.steps[st.next_step]
        return WorkItem(st.run_id, st.next_step, st.attempt, step.capability, step.agent)

    @staticmethod
    def _advance(st: _RunState, out: StepOutcome) -> tuple[RunStatus, int, str | None]:
        decision = out.decision
        last = st.next_step == len(st.defn.steps) - 1
        if decision is GateDecision.PASS:
            return (RunStatus.COMPLETED if last else RunStatus.RUNNING), st.next_step + 1, None
        if decision is GateDecision.RETRY:
            return RunStatus.RUNNING, st.next_step, None
        reasons = "; ".join(out.verdict.reasons) if out.verdict else ""
        if decision is GateDecision.ESCALATE:
            return RunStatus.ESCALATED, st.next_step, None
        return RunStatus.FAILED, st.next_step, f"step {out.input.step.id!r}: {reasons}"

    def _run_event(self, st: _RunState, status: RunStatus, out: StepOutcome) -> EventRecord:
        return EventRecord(
            f"{st.run_id}/{out.input.index}/{out.input.attempt}/{status.value}",
            f"run.{status.value}",
            out.finished_at,
            st.run_id,
            st.defn.name,
            out.input.step.id,
            {
                "workflow_version": st.defn.version,
                "steps": len(st.defn.steps),
                "reasons": list(out.verdict.reasons) if out.verdict else [],
            },
        )

    @staticmethod
    def _record(out: StepOutcome, decision: GateDecision) -> StepRecord:
        inp = out.input
        return StepRecord(
            run_id=inp.run_id,
            step_index=inp.index,
            attempt=inp.attempt,
            step_id=inp.step.id,
            agent_id=out.agent_id,
            capability=inp.step.capability,
            decision=decision.value,
            qsr=out.qsr,
            mri=out.mri,
            output=out.output.to_dict() if out.output is not None else None,
            quality=out.quality.to_dict() if out.quality is not None else None,
            risk=out.risk.to_dict() if out.risk is not None else None,
            verdict=out.verdict.to_dict() if out.verdict is not None else {},
            agent_error=out.agent_error or out.input_error,
            started_at=out.started_at,
            finished_at=out.finished_at,
            latency_ms=out.latency_ms,
            eval_latency_ms=out.eval_ms,
        )

    @staticmethod
    def _result(st: _RunState, status: RunStatus, error: str | None = None) -> RunResult:
        return RunResult(st.run_id, status, tuple(st.attempts), dict(st.outputs), error)

    async def drain(self) -> None:
        """Wait for every queued and running run to stop."""
        while self._waiters:
            await asyncio.gather(*list(self._waiters.values()), return_exceptions=True)
