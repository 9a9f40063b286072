"""The worker's entry into the engine: take a run as a work item left it, run its current
attempt through the engine's one step function, and name the run's next item.

Kept out of :mod:`maestro_helix.engine.worker` because the engine itself loads runs this way
(resume, take-up) and must not import the work queue (NATS is an optional extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maestro_helix.core.errors import LeaseLost, RunHeld
from maestro_helix.core.records import QUEUE_OWNER, UNFINISHED, Lease, RunStatus
from maestro_helix.core.work import WorkItem
from maestro_helix.engine.state import RunState, carried_state, rebuild_state

if TYPE_CHECKING:
    from maestro_helix.engine.engine import Engine

__all__ = ["execute_item", "item_of", "load_run"]


async def load_run(
    engine: Engine,
    run_id: str,
    owner: str | None = None,
    *,
    handed: tuple[int, int] | None = None,
    carried: bytes | None = None,
    step: int | None = None,
) -> RunState | None:
    """Take the run's lease and rebuild its state from its committed steps. None when
    another live process holds it, or it is no longer unfinished.

    ``handed`` and ``carried``: a work item's (epoch, step index) and the state it carries;
    the run is taken only if it waits on the queue as the item left it, and the carried
    state is used when the run row's digest vouches for it (no re-read of its steps).
    ``step``: take it only if it is still at that step."""
    if owner == QUEUE_OWNER:  # hand it to the work queue: any worker may take it
        ttl, holder = engine.ownership.handoff_s, QUEUE_OWNER
    else:
        ttl, holder = engine.ownership.ttl_s, engine.owner
    got = await engine.store.acquire_run(run_id, holder, ttl, handed=handed, step=step)
    if got is None:
        return None
    rec, paused = got
    defn = await engine._definition(rec.workflow, rec.workflow_version)
    state = None if carried is None else carried_state(rec, defn, carried)
    if state is None:
        state = rebuild_state(
            rec,
            defn,
            await engine.store.step_records(run_id),
            await engine.store.accepted_attempts(run_id),
        )
    state.lease = Lease(holder, rec.epoch)
    if paused and owner != QUEUE_OWNER:
        await engine._pause_for_workflow(state)
        return None
    return state


async def execute_item(
    engine: Engine,
    run_id: str,
    step_index: int,
    attempt: int,
    *,
    epoch: int | None = None,
    state: bytes | None = None,
) -> WorkItem | None:
    """Distributed mode: run one step attempt of a run (as handed out by a work queue).

    Idempotent: if the attempt is already committed (a redelivery), or another worker holds
    the run, nothing runs again. Returns the run's next work item (to hand out), or None
    when the run stopped (or is not this worker's to continue).

    ``epoch`` and ``state``: the item's hand-out epoch and the run state it carries. When
    the run still waits on the queue as this item left it, one write takes it and the
    carried state is used if the run row's digest vouches for it; otherwise the run is
    read from the store as for any item.
    """
    if run_id in engine._active:  # this process is at the run now: look again shortly
        raise RunHeld(run_id, engine.owner, 0.5)
    engine._active.add(run_id)
    try:
        st = None
        if state is not None and epoch is not None:
            st = await load_run(engine, run_id, handed=(epoch, step_index), carried=state)
        if st is None:
            rec = await engine.store.get_run(run_id)
            if rec.status not in UNFINISHED or rec.next_step != step_index:
                return None  # stopped, or past this step: an old item
            st = await load_run(engine, run_id, step=step_index)  # only if still at this step
        if st is None:  # another live worker holds it: ask the queue to try again later
            held = await engine.store.get_run(run_id)
            if held.status not in UNFINISHED or held.next_step != step_index:
                return None
            left = (held.lease_until or 0.0) - engine.ownership.now()
            raise RunHeld(run_id, held.owner, min(max(left, 0.5), engine.ownership.ttl_s))
        # the run is this worker's, at this item's step: its current attempt runs here
        # (an old attempt's item, e.g. redelivered after a retry, stands for the current one:
        # the current attempt's own item finds the run moved on, or held, and is dropped)
        try:
            status, stopped, _ = await engine._step(st, hand_to_queue=True)
        except LeaseLost:
            return None
        if stopped is not None or status is not RunStatus.RUNNING:
            return None
        return item_of(st)
    finally:
        engine._active.discard(run_id)


def item_of(st: RunState) -> WorkItem:
    """The work item of the run's next attempt, with the state it carries."""
    step = st.defn.steps[st.next_step]
    epoch = st.lease.epoch if st.lease is not None else 0
    return WorkItem(
        st.run_id, st.next_step, st.attempt, step.capability, step.agent, epoch, st.carried
    )
