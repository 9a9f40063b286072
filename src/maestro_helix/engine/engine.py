"""The engine: runs workflows as durable state machines, one step attempt at a time.

Every attempt ends in one store transaction (the step record, the run's new position and status,
the audit entries and the reflexive events) and only then is the attempt reported and its events
published. After a crash, :meth:`Engine.resume_unfinished` picks every pending or running run up at
the step after its last committed one, so no committed step runs twice and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from maestro_helix.bus.base import EventBus
from maestro_helix.core.clock import Clock, SystemClock, iso
from maestro_helix.core.errors import (
    InputError,
    InvalidTransition,
    LeaseLost,
    MaestroError,
    StoreError,
)
from maestro_helix.core.lease import Ownership
from maestro_helix.core.outputs import storable
from maestro_helix.core.provenance import inherited_taint
from maestro_helix.core.scores import GateDecision
from maestro_helix.core.steps import StepInput, StepOutcome
from maestro_helix.core.work import Dispatcher, WorkItem
from maestro_helix.core.workflow import Catalog, WorkflowDef, check_definition
from maestro_helix.engine.bridge import MaestroHelixBridge
from maestro_helix.engine.local import LocalDispatcher, next_of
from maestro_helix.engine.publisher import EventPublisher
from maestro_helix.engine.rollout import (
    RouteChanged,
    RoutePlan,
    RunRoute,
    first_step,
    route,
    store_routed,
)
from maestro_helix.engine.state import (
    FRESH,
    FRESH_DIGEST,
    RunResult,
    RunState,
    StepSummary,
    digest,
    passed_agents,
    rebuild_state,
    required_inputs,
)
from maestro_helix.engine.work_item import execute_item, item_of, load_run

if TYPE_CHECKING:
    from maestro_helix.governance.service import Governance
from maestro_helix.core.ports import Store
from maestro_helix.core.records import (
    QUEUE_OWNER,
    UNFINISHED,
    EventRecord,
    Lease,
    NewRun,
    RunStatus,
    StepCommit,
    StepRecord,
    Transition,
)
from maestro_helix.helix.gate import HelixQualityGate

log = logging.getLogger(__name__)

_WORKFLOW_PAUSED = "workflow paused"
_FINISHED_KEPT = 10_000
"""Finished runs whose result :meth:`Engine.wait` answers from memory (older ones: the store)."""

_CLOSED = (
    "this process stopped before the run finished; another process (or a restart) continues it"
)

__all__ = ["Dispatcher", "Engine", "RunResult", "StepSummary", "WorkItem", "rebuild_state"]


class Engine:
    """Runs workflows over a store, a bus and a bridge (the chain of Helix links).

    Any number of engines (in any number of processes) may share one store: a run being
    executed is leased to one of them (owner, expiry, fencing epoch, see
    :mod:`maestro_helix.core.lease`), only the holder of the current epoch can commit its steps,
    and an engine resumes only runs nobody live holds.

    Args:
        store: durable state.
        bus: where reflexive events go once stored.
        bridge: the step chain (see :func:`maestro_helix.engine.bridge.default_links`).
        gate: resolves each step's thresholds.
        catalog: names definitions may use (checked when a workflow is registered).
        concurrency: runs executing at once.
        clock: time source.
        governance: GIL (approval requests, cleared actions).
        dispatcher: hand steps to workers elsewhere instead of running them here.
        ownership: this process's identity and lease timing.
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
        ownership: Ownership | None = None,
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
        self.ownership = ownership or (
            governance.ownership if governance is not None else Ownership()
        )
        self.run_scope: Callable[[str, str], AbstractContextManager[object]] = (
            lambda run_id, workflow: contextlib.nullcontext()
        )
        """Entered around each run's execution here, with (run_id, workflow): tracing sets it."""
        self.on_run_stopped: list[Callable[[str, str], object]] = []
        """Called with (workflow, status) when a run stops here (metrics, notifications)."""
        self._local = LocalDispatcher()
        """Attempts of runs executed here, taken by this engine's tasks."""
        self._states: dict[str, RunState] = {}
        """States of runs submitted here and not yet taken (no store read before step one)."""
        self._workers: list[asyncio.Task[None]] = []
        self._renewer: asyncio.Task[None] | None = None
        self._waiters: dict[str, asyncio.Future[RunResult | None]] = {}
        # finished runs this process stopped itself, newest last: wait() after the fact answers
        # from them (a finished run never changes again); bounded, the store has the rest
        self._finished: OrderedDict[str, RunResult] = OrderedDict()
        self._active: set[str] = set()
        self._stop_requested: dict[str, RunStatus] = {}
        self._events = EventPublisher(bus)
        self._defs: dict[tuple[str, int], WorkflowDef] = {}
        self._required: dict[tuple[str, int], frozenset[str]] = {}
        self._closing = False
        self._closed = False

    @property
    def owner(self) -> str:
        return self.ownership.owner

    # -- lifetime -----------------------------------------------------------------------------

    async def start(self) -> None:
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._worker(), name=f"maestro-engine-{i}")
                for i in range(self.concurrency)
            ]
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew(), name="maestro-lease-renewer")

    async def aclose(self, *, grace_s: float = 10.0) -> None:
        """Stop taking work. Runs in flight stop at their next step boundary (an attempt still
        running after ``grace_s`` is abandoned uncommitted); action handler calls in flight are
        waited for (at least a minute), never walked away from; then every lease this process
        holds is released, so other processes continue those runs at once."""
        if self._closed:
            return
        self._closed = self._closing = True
        self._local.close(len(self._workers))  # not started: left to other processes
        self._states.clear()
        if self._workers:
            _, pending = await asyncio.wait(self._workers, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        left = 0
        if self.governance is not None:  # handler calls in flight finish, claims renewed
            left = await self.governance.drain(max(grace_s, 60.0))
        for run_id in list(self._waiters):
            self._settle(run_id, RunResult(run_id, RunStatus.RUNNING, error=_CLOSED))
        await self._close_renewer()
        try:
            await self.store.release_leases(self.owner)
            if not left:  # nothing of ours still running: not alive any more, at once
                await self.store.keep_alive(self.owner, 0.0)
        except MaestroError as e:  # they expire by themselves
            log.warning("could not release leases at close", extra={"error": str(e)})
        await self._events.aclose()

    async def _close_renewer(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None

    async def _renew(self) -> None:
        """Keep this process alive in the store (its heartbeat, on a connection of its own) and
        its leases and action claims renewed while it works. Another process takes over what
        this one holds only when both have lapsed: late renewals alone never hand over a run,
        or an action whose handler is being called here."""
        period = self.ownership.ttl_s / 3
        while True:
            try:
                await self.store.keep_alive(self.owner, self.ownership.ttl_s)
            except MaestroError as e:
                log.warning("heartbeat failed; will retry", extra={"error": str(e)})
            await asyncio.sleep(period)
            try:
                await self.store.renew_leases(self.owner, self.ownership.ttl_s)
            except MaestroError as e:
                log.warning("lease renewal failed; will retry", extra={"error": str(e)})

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
        problem = storable(data)
        if problem is not None:
            raise InputError(where, f"the run input cannot be stored: {problem}")
        key = (defn.name, defn.version)
        required = self._required.get(key)
        if required is None:
            required = self._required[key] = required_inputs(defn)
        missing = sorted(k for k in required if k not in data)
        if missing:
            raise InputError(
                where, f"missing input field(s) the workflow uses: {', '.join(missing)}"
            )
        return data

    async def submit(
        self,
        defn: WorkflowDef,
        input: Mapping[str, Any],
        *,
        operator_id: str | None = None,
        key: str | None = None,
        pin: bool = False,
    ) -> str:
        """Store a new run and queue it. Returns its id once the run is durable.

        The version it runs is chosen here, once (:func:`~maestro_helix.engine.rollout.route`):
        ``defn``'s own version while the workflow has no production version (or when ``pin``),
        else production or, by ``key`` (default: the run id), a running canary's candidate."""
        ids = await self.submit_many(
            defn, [input], operator_id=operator_id, keys=None if key is None else [key], pin=pin
        )
        return ids[0]

    async def submit_many(
        self,
        defn: WorkflowDef,
        inputs: Sequence[Mapping[str, Any]],
        *,
        operator_id: str | None = None,
        chunk: int = 500,
        keys: Sequence[str | None] | None = None,
        pin: bool = False,
    ) -> list[str]:
        """Store many runs (in chunks, each one transaction) and queue them.

        New runs are leased to this process (or to the work queue) as they are stored. Runs of a
        paused workflow are stored paused and continue when the workflow is resumed. Each run's
        version (and why) is decided once, from the store, as it is stored (see :meth:`submit`)."""
        if self._closing:
            raise MaestroError("the engine is closed")
        if (defn.name, defn.version) not in self._defs:
            defn = await self.register(defn)
        ids = [str(uuid.uuid4()) for _ in inputs]
        keys = list(keys) if keys is not None else [None] * len(inputs)
        plan, routes = await route(self.store, defn, ids, keys, pin)
        defs = {v: await self._definition(defn.name, v) for v in {r.version for r in routes}}
        checked = [
            self._check_input(defs[r.version], x, f"inputs[{i}]")
            for i, (r, x) in enumerate(zip(routes, inputs, strict=True))
        ]
        paused = defn.name in await self.store.paused_workflows()
        for start in range(0, len(checked), chunk):
            end = start + chunk
            first = (plan, routes[start:end])
            runs = await self._store_runs(
                defn, first, keys[start:end], checked[start:end], operator_id, paused, pin
            )
            if paused:
                continue
            if self.dispatcher is not None:  # workers elsewhere run the steps
                items = []
                for r in runs:
                    step0 = (await self._definition(r.workflow, r.workflow_version)).steps[0]
                    items.append(WorkItem(r.run_id, 0, 1, step0.capability, step0.agent, 1, FRESH))
                await self.dispatcher.dispatch(items)
                continue
            loop = asyncio.get_running_loop()
            items = []
            for r in runs:
                self._waiters[r.run_id] = loop.create_future()
                run_defn = await self._definition(r.workflow, r.workflow_version)
                st = RunState(r.run_id, run_defn, r.input, operator_id=operator_id)
                st.lease = Lease(self.owner, 1)
                self._states[r.run_id] = st
                step0 = run_defn.steps[0]
                items.append(WorkItem(r.run_id, 0, 1, step0.capability, step0.agent, 1))
            await self._local.dispatch(items)
        return ids

    async def _store_runs(
        self,
        defn: WorkflowDef,
        first: tuple[RoutePlan, Sequence[RunRoute]],
        keys: Sequence[str | None],
        inputs: Sequence[Mapping[str, Any]],
        operator_id: str | None,
        paused: bool,
        pin: bool,
    ) -> list[NewRun]:
        if paused:
            owner, lease_s = None, 0.0
        elif self.dispatcher is not None:
            owner, lease_s = QUEUE_OWNER, self.ownership.handoff_s
        else:
            owner, lease_s = self.owner, self.ownership.ttl_s
        plan, routes = first
        for attempt in range(5):  # the rollout changed in between: route this chunk again
            if attempt:
                ids = [r.run_id for r in routes]
                plan, routes = await route(self.store, defn, ids, keys, pin)
            now = iso(self.clock.now())
            runs = [
                NewRun(
                    r.run_id,
                    defn.name,
                    r.version,
                    dict(x),
                    now,
                    operator_id,
                    owner=owner,
                    lease_s=lease_s,
                    status=RunStatus.PAUSED if paused else RunStatus.PENDING,
                    error=_WORKFLOW_PAUSED if paused else None,
                    state_digest=FRESH_DIGEST if owner == QUEUE_OWNER else None,
                )
                for r, x in zip(routes, inputs, strict=True)
            ]
            for r in runs:  # a new version routed in: its input must fit it too
                self._check_input(
                    await self._definition(defn.name, r.workflow_version), r.input, "input"
                )
            events = [
                EventRecord(
                    f"{r.run_id}/submitted",
                    "run.submitted",
                    now,
                    r.run_id,
                    defn.name,
                    None,
                    {
                        "workflow_version": r.workflow_version,
                        "operator_id": operator_id,
                        "route": rt.as_json(),
                    },
                )
                for r, rt in zip(runs, routes, strict=True)
            ]
            try:
                await store_routed(self.store, plan, runs, events, routes)
            except RouteChanged:
                if attempt == 4:
                    raise
                continue
            await self._publish(events)
            return runs
        raise AssertionError("unreachable")

    async def wait(self, run_id: str, *, poll_s: float = 0.05) -> RunResult:
        """Wait until the run stops (finished, paused, escalated or cancelled), wherever it is
        executed. A run this process stopped itself is answered from the state it committed
        (the same values :func:`rebuild_state` gives); any other is read from the store, as
        :meth:`result_from_store` gives it."""
        fut = self._waiters.get(run_id)
        if fut is not None:  # an error that stopped it here is raised
            done = await asyncio.shield(fut)
            if done is not None:
                return done
        finished = self._finished.get(run_id)
        if finished is not None:  # it finished here before anyone asked
            return finished
        delay = poll_s
        while (await self.store.get_run(run_id)).status in UNFINISHED:
            fut = self._waiters.get(run_id)
            if fut is not None:  # taken up here again meanwhile (e.g. resumed)
                done = await asyncio.shield(fut)
                if done is not None:
                    return done
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 1.0)
        return await self.result_from_store(run_id)

    async def result_from_store(self, run_id: str) -> RunResult:
        """The run as stored: status and its reason, every attempt, and the outputs of passed
        and human-accepted steps."""
        rec = await self.store.get_run(run_id)
        defn = await self._definition(rec.workflow, rec.workflow_version)
        st = rebuild_state(
            rec,
            defn,
            await self.store.step_records(run_id),
            await self.store.accepted_attempts(run_id),
        )
        return RunResult(run_id, rec.status, tuple(st.attempts), dict(st.outputs), rec.error)

    async def run(
        self,
        defn: WorkflowDef,
        input: Mapping[str, Any],
        *,
        operator_id: str | None = None,
        key: str | None = None,
        pin: bool = False,
    ) -> RunResult:
        """Submit one run and wait for it (``key``, ``pin``: see :meth:`submit`)."""
        await self.start()
        return await self.wait(
            await self.submit(defn, input, operator_id=operator_id, key=key, pin=pin)
        )

    async def resume_unfinished(self) -> list[str]:
        """Take up every unfinished run that no live process holds (after a restart, after
        humans cleared what a run was waiting for, or after its holder died). Cleared actions
        that nobody is running (or whose claimer died) are executed first."""
        if self.governance is not None:
            await self.governance.execute()
        return await self.take_up(await self.store.runs_to_resume(self.owner))

    async def take_up(self, ids: Sequence[str]) -> list[str]:
        """Take up these runs unless another live process holds them (a run a decision here
        moved on: this process continues that one, not every run it could find)."""
        if self.dispatcher is not None:
            items = []
            for run_id in ids:
                st = await self._load(run_id, QUEUE_OWNER)
                if st is not None and st.next_step < len(st.defn.steps):
                    items.append(item_of(st))
            await self.dispatcher.dispatch(items)
            return list(ids)
        taken = []
        for run_id in ids:
            if run_id not in self._active and run_id not in self._waiters:
                self._waiters[run_id] = asyncio.get_running_loop().create_future()
                taken.append(run_id)
        await self._local.dispatch([next_of(run_id) for run_id in taken])
        return taken

    # -- control ------------------------------------------------------------------------------

    async def pause_workflow(self, name: str, *, by: str | None = None) -> None:
        """Stop every run of ``name`` at its next step boundary, in every process; new runs
        wait too."""
        await self.store.set_workflow_paused(name, True, iso(self.clock.now()), by)

    async def resume_workflow(self, name: str, *, by: str | None = None) -> list[str]:
        """Let ``name`` run again: its runs paused by the workflow pause continue."""
        await self.store.set_workflow_paused(name, False, iso(self.clock.now()), by)
        resumed = []
        for run_id in await self.store.run_ids([RunStatus.PAUSED]):
            rec = await self.store.get_run(run_id)
            if rec.workflow == name and rec.error == _WORKFLOW_PAUSED:
                with contextlib.suppress(InvalidTransition):  # resumed by someone else
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
        if self.dispatcher is not None:
            st = await self._load(run_id, QUEUE_OWNER)
            if st is not None and st.next_step < len(st.defn.steps):
                await self.dispatcher.dispatch([item_of(st)])
            return
        if run_id not in self._active:
            if run_id not in self._waiters or self._waiters[run_id].done():
                self._waiters[run_id] = asyncio.get_running_loop().create_future()
            await self._local.dispatch([next_of(run_id)])

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

    @property
    def unpublished(self) -> int:
        """Events stored but not yet taken by the bus (non-zero only during a bus outage)."""
        return self._events.unpublished

    async def _publish(self, events: Sequence[EventRecord]) -> None:
        await self._events.publish(events)

    # -- execution ----------------------------------------------------------------------------

    async def _worker(self) -> None:
        """One of this engine's N consumers of its local work queue."""
        while True:
            item = await self._local.take()
            if item is None or self._closing:
                return
            run_id = item.run_id
            if run_id in self._active:
                continue
            self._active.add(run_id)
            try:
                state = self._states.pop(run_id, None) or await self._load(run_id)
                result = await self._execute(state) if state is not None else None
            except LeaseLost as e:  # another process holds the run now: it is theirs
                log.info(
                    "run taken over by another process",
                    extra={"run_id": run_id, "holder": e.holder},
                )
                self._settle(run_id, None)
            except StoreError as e:  # the store is unreachable: the run stays as committed
                log.error("run stopped by a store error", extra={"run_id": run_id, "error": str(e)})
                self._fail_waiter(run_id, e)
            except Exception as e:  # a bug: the run fails with the reason, it does not loop
                log.exception("run stopped by an error", extra={"run_id": run_id})
                await self._fail_run(run_id, f"internal error: {type(e).__name__}: {e}")
                self._fail_waiter(run_id, e)
            else:
                self._settle(run_id, result)
            finally:
                self._active.discard(run_id)

    async def _fail_run(self, run_id: str, reason: str) -> None:
        now = iso(self.clock.now())
        ev = EventRecord(
            f"{run_id}/failed/{now}", "run.failed", now, run_id, None, None, {"error": reason}
        )
        try:
            await self.store.transition(
                Transition(run_id, RunStatus.FAILED, UNFINISHED, now, error=reason, events=(ev,))
            )
            await self.store.release_leases(self.owner, [run_id])
        except MaestroError as e:
            log.error("could not mark the run failed", extra={"run_id": run_id, "error": str(e)})
            return
        await self._publish([ev])

    def _settle(self, run_id: str, result: RunResult | None) -> None:
        """Wake whoever waits here, with the result when this process stopped the run itself
        (None: :meth:`wait` reads the store)."""
        if result is not None and result.status.finished:
            self._finished[run_id] = result
            if len(self._finished) > _FINISHED_KEPT:
                self._finished.popitem(last=False)
        fut = self._waiters.pop(run_id, None)
        if fut is not None and not fut.done():
            fut.set_result(result)

    def _fail_waiter(self, run_id: str, exc: BaseException) -> None:
        fut = self._waiters.pop(run_id, None)
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    async def _load(
        self,
        run_id: str,
        owner: str | None = None,
        *,
        handed: tuple[int, int] | None = None,
        carried: bytes | None = None,
        step: int | None = None,
    ) -> RunState | None:
        """Take the run's lease and its state (:func:`~maestro_helix.engine.work_item.load_run`)."""
        return await load_run(self, run_id, owner, handed=handed, carried=carried, step=step)

    async def _execute(self, st: RunState) -> RunResult | None:
        with self.run_scope(st.run_id, st.defn.name):  # e.g. the run's trace span
            return await self._execute_steps(st)

    async def _execute_steps(self, st: RunState) -> RunResult | None:
        """Take the run's attempts one after the other while it runs here: each through
        :meth:`_step`, the function a worker's :meth:`execute_item` runs too."""
        while True:
            if self._closing:  # stop at this boundary; the lease is released at close
                return None
            stop = self._stop_requested.pop(st.run_id, None)
            if stop is not None:
                await self.store.release_leases(self.owner, [st.run_id])
                return None
            status, stopped, error = await self._step(st)
            if stopped is not None:
                self._stop_requested.pop(st.run_id, None)
                return None
            if status is None:  # completed without a step (its last one was accepted)
                return None
            if status is not RunStatus.RUNNING:  # stopped here, as committed
                return RunResult(st.run_id, status, tuple(st.attempts), dict(st.outputs), error)

    async def _step(
        self, st: RunState, *, hand_to_queue: bool = False
    ) -> tuple[RunStatus | None, RunStatus | None, str | None]:
        """The one step function: a run whose every step is done completes (status None);
        otherwise its next attempt runs, is scored, gated, committed and published."""
        if st.next_step >= len(st.defn.steps):  # its last step was accepted by people
            await self._complete(st)
            return None, None, None
        if st.next_step == 0 and not st.attempts:  # its version may have been rolled back
            now = iso(self.clock.now())
            stopped = await first_step(self.store, st, now, self._definition, self._publish)
            if stopped is not None:  # stopped meanwhile (e.g. paused by the rollback)
                await self.store.release_leases(self.owner, [st.run_id])
                return None, stopped, None
        return await self._attempt_once(st, hand_to_queue=hand_to_queue)

    async def _complete(self, st: RunState) -> None:
        """A run whose every step is done (the last one accepted by people) completes."""
        now = iso(self.clock.now())
        ev = EventRecord(
            f"{st.run_id}/completed",
            "run.completed",
            now,
            st.run_id,
            st.defn.name,
            None,
            {"workflow_version": st.defn.version, "steps": len(st.defn.steps)},
        )
        with contextlib.suppress(InvalidTransition):
            await self.store.transition(
                Transition(st.run_id, RunStatus.COMPLETED, UNFINISHED, now, events=(ev,))
            )
            await self._publish([ev])
            for listener in self.on_run_stopped:
                listener(st.defn.name, RunStatus.COMPLETED.value)
        await self.store.release_leases(self.owner, [st.run_id])

    async def _pause_for_workflow(self, st: RunState) -> None:
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
            return
        finally:
            if st.lease is not None:
                await self.store.release_leases(st.lease.owner, [st.run_id])
        await self._publish([ev])

    def _step_input(self, st: RunState) -> StepInput:
        defn = st.defn
        step = defn.steps[st.next_step]
        return StepInput(
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
            taint=inherited_taint(defn, st.next_step, passed_agents(st), self.catalog.untrusted),
        )

    async def _attempt_once(
        self, st: RunState, *, hand_to_queue: bool = False
    ) -> tuple[RunStatus, RunStatus | None, str | None]:
        """Run, score, gate, commit and publish the next attempt of ``st``; move ``st`` on.

        Returns the run's new status and the status someone else stopped it with (if so).
        Raises :class:`LeaseLost` (nothing stored) when another process took the run over.
        """
        defn = st.defn
        step = defn.steps[st.next_step]
        out = await self.bridge.execute_step(self._step_input(st))
        decision = out.decision
        status, next_step, error = self._advance(st, out)
        if out.requests and status is not RunStatus.FAILED:
            status = RunStatus.ESCALATED  # a human decision is due before the run goes on
        events = out.events
        if status is not RunStatus.RUNNING:
            events = (*events, self._run_event(st, status, out))
        intents = out.intents
        if intents and self.governance is not None:
            intents = self.governance.claimed_with_step(intents)
        lease = st.lease
        hand_to = None
        if lease is not None:
            hand_to = Lease(QUEUE_OWNER, lease.epoch) if hand_to_queue else lease
        summary = StepSummary(
            step.id, st.attempt, out.agent_id, decision.value, out.qsr, out.mri, out.eval_ms
        )
        nxt = st.moved(
            summary,
            decision,
            next_step,
            out.output.as_reference() if decision is GateDecision.PASS and out.output else None,
            out.feedback() if decision is GateDecision.RETRY else None,
        )
        if hand_to_queue and status is RunStatus.RUNNING:  # the next item carries the state
            nxt.carried = nxt.carry()
        reported = await self.store.commit_step(
            StepCommit(
                step=self._record(out, decision),
                run_status=status,
                next_step=next_step,
                run_error=error,
                audit=out.audit,
                events=events,
                updated_at=out.finished_at,
                requests=out.requests,
                intents=intents,
                lease=lease,
                hand_to=hand_to,
                workflow=defn.name,
                lease_s=self.ownership.handoff_s if hand_to_queue else self.ownership.ttl_s,
                claim_s=self.ownership.ttl_s,
                state_digest=None if nxt.carried is None else digest(nxt.carried),
            )
        )
        # the store reports a stopped run's status: this commit's own, or someone else's stop
        stopped = None if reported is status else reported
        st.lease = hand_to
        for observe in out.observers:  # only now: the attempt is stored
            try:
                pending = observe()
                if inspect.isawaitable(pending):
                    await pending
            except Exception:  # an observer's bug must not undo a committed step
                log.exception("step observer failed", extra={"run_id": st.run_id})
        await self._publish(events)
        if intents and self.governance is not None:  # none of them if the run was stopped
            await self.governance.run_claimed(intents, reported)
        if status is not RunStatus.RUNNING:
            for listener in self.on_run_stopped:
                listener(defn.name, status.value)
        st.adopt(nxt)  # move the in-memory state only after the commit
        return status, stopped, error

    async def execute_item(
        self,
        run_id: str,
        step_index: int,
        attempt: int,
        *,
        epoch: int | None = None,
        state: bytes | None = None,
    ) -> WorkItem | None:
        """Distributed mode: run one step attempt of a run as a work queue handed it out
        (see :func:`~maestro_helix.engine.work_item.execute_item`)."""
        return await execute_item(self, run_id, step_index, attempt, epoch=epoch, state=state)

    @staticmethod
    def _advance(st: RunState, out: StepOutcome) -> tuple[RunStatus, int, str | None]:
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

    def _run_event(self, st: RunState, status: RunStatus, out: StepOutcome) -> EventRecord:
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

    async def drain(self) -> None:
        """Wait for every queued and running run here to stop."""
        while self._waiters:
            await asyncio.gather(*list(self._waiters.values()), return_exceptions=True)
