"""Which version a new run gets: read the rollout from the store once per submit, route each run
(``governance/stages.route_runs``), and store the runs with their routes in one transaction that
refuses a plan gone stale (a canary started, rolled back or promoted in between).

A workflow nobody has promoted has no production version: its runs get the version submitted
(``newest``) and are stored on the fast path, as before stages existed. Once a version is in
production, every unpinned run is routed and its route is a row of ``run_routes``.

A run whose version is rolled back before it takes its first step never runs that version:
:func:`first_step` (called by the engine before any run's first attempt, wherever it runs)
re-routes it to production, or stops it when someone stopped it meanwhile.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from maestro_helix.core.ports import Store
from maestro_helix.core.records import EventRecord, NewRun, RunStatus
from maestro_helix.core.rollout import RouteChanged, RoutePlan, RouteReason, RunRoute
from maestro_helix.core.workflow import WorkflowDef
from maestro_helix.engine.state import RunState
from maestro_helix.governance.stages import route_runs

__all__ = ["RouteChanged", "RoutePlan", "RunRoute", "first_step", "route", "store_routed"]


async def route(
    store: Store,
    defn: WorkflowDef,
    run_ids: Sequence[str],
    keys: Sequence[str | None] | None,
    pin: bool,
) -> tuple[RoutePlan, list[RunRoute]]:
    """The plan read now and each run's route by it."""
    try:
        plan: RoutePlan = await store.route_plan(defn.name)
    except NotImplementedError:  # a store without rollouts: every run gets what was submitted
        plan = RoutePlan(defn.name)
    return plan, route_runs(plan, defn.version, run_ids, keys, pin=pin)


async def store_routed(
    store: Store,
    plan: RoutePlan,
    runs: Sequence[NewRun],
    events: Sequence[EventRecord],
    routes: Sequence[RunRoute],
) -> None:
    """Store the runs; with their route rows whenever the workflow has a rollout.

    Nothing promoted yet (no production version, nothing rolled back) and no pin: the batched
    fast path. A promotion landing between the read and this write leaves those runs on the
    version their caller submitted, which is what they were given; nothing can be blocked yet."""
    fresh = plan.production is None and not plan.blocked
    if fresh and all(r.reason is RouteReason.NEWEST for r in routes):
        await store.create_runs(runs, events)
        return
    await store.create_routed_runs(runs, events, routes, plan.token)


async def first_step(
    store: Store,
    st: RunState,
    ts: str,
    definition: Callable[[str, int], Awaitable[WorkflowDef]],
    publish: Callable[[Sequence[EventRecord]], Awaitable[None]],
) -> RunStatus | None:
    """Before a run's first attempt: move it off a rolled-back version (``st.defn`` becomes
    production's), or the status it was stopped with (it must not run). One store read when its
    version is fine."""
    try:
        got = await store.first_step(st.run_id, ts)
    except NotImplementedError:  # a store without rollouts
        return None
    if got is None:
        return None
    if got.stopped is not None:
        stopped: RunStatus = got.stopped
        return stopped
    st.defn = await definition(st.defn.name, got.version)
    await publish(got.events)
    return None
