"""Everything a rollout does is in the audit log, with what it was decided on, and the chain
stays intact: a full rollout (draft -> staging -> production, a canary aborted by hand, one
started again that promotes itself), on SQLite and PostgreSQL; and embedded housekeeping rolls a
bad canary back with nobody calling evaluate()."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from maestro_helix.app import Maestro
from maestro_helix.core.rollout import CanaryConfig, CanaryStatus, Stage
from maestro_helix.store.base import Store
from maestro_helix.testing import RecordingBus
from test_stages import TOPIC, agents, candidate, flow, people, to_production

StoreFactory = Callable[[], Store]


def only(entries: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["kind"] == kind]


async def test_a_full_rollout_is_audited_and_the_chain_verifies(stores: StoreFactory) -> None:
    first = CanaryConfig(share=0.5, min_runs=10)
    second = CanaryConfig(share=0.5, min_runs=10, promote_after=10)
    async with Maestro.open(stores(), agents=agents()) as m:
        assert m.rollout is not None
        ops = await people(m.store)
        v1 = await to_production(m, ops, flow("good"))
        v2 = await candidate(m, ops, agent="other")
        started = await m.rollout.start_canary("brief", v2, first, ops["otto"])
        assert started.canary is not None
        await m.rollout.abort("brief", ops["gina"], "wrong day")
        again = await m.rollout.start_canary("brief", v2, second, ops["otto"])
        assert again.canary is not None
        ids = await m.engine.submit_many(flow("good"), [{"topic": TOPIC}] * 60)
        for i in ids:
            await m.engine.wait(i)
        out = await m.rollout.evaluate("brief")
        assert out is not None and out.canary is not None
        assert out.canary.status is CanaryStatus.PROMOTED, out.message
        view = await m.store.stage_view("brief")
        entries = await m.store.audit_entries()
        report = await m.verify_audit()
    assert report.ok, report
    assert {s.version: s.stage for s in view.versions} == {v1: Stage.RETIRED, v2: Stage.PRODUCTION}

    signoffs = only(entries, "workflow.signoff")
    assert [(e["workflow_version"], e["details"]["signed_as"], e["human_operator_id"])
            for e in signoffs] == [
        (v, cap, who)
        for v in (v1, v2)
        for cap, who in (("governance", "gina"), ("admin", "ada"), ("product_owner", "paul"))
    ]  # fmt: skip
    po = [e for e in signoffs if e["details"]["signed_as"] == "product_owner"]
    assert all(e["details"]["report"]["verdict"] == "GO" for e in po)
    promoted = only(entries, "workflow.promoted")
    assert [
        (e["workflow_version"], e["details"]["from"], e["details"]["to"]) for e in promoted
    ] == [
        (v1, "draft", "staging"),
        (v1, "staging", "production"),
        (v2, "draft", "staging"),
    ]

    starts = only(entries, "canary.started")
    assert [e["details"]["canary_id"] for e in starts] == [
        started.canary.canary_id,
        again.canary.canary_id,
    ]
    for e, cfg in zip(starts, (first, second), strict=True):
        assert e["workflow_version"] == v2 and e["human_operator_id"] == "otto"
        assert e["details"]["stable"] == v1 and e["details"]["config"] == cfg.as_json()
        assert e["details"]["report"]["verdict"] == "GO"

    (aborted,) = only(entries, "canary.aborted")
    assert aborted["human_operator_id"] == "gina" and aborted["workflow_version"] == v2
    assert aborted["details"] == {
        "canary_id": started.canary.canary_id,
        "stable": v1,
        "reason": "wrong day",
    }

    (done,) = only(entries, "canary.promoted")
    assert done["workflow_version"] == v2
    assert done["details"]["canary_id"] == again.canary.canary_id
    assert done["details"]["stable"] == v1 and done["details"]["reason"] == out.message
    evaluated = only(entries, "canary.evaluated")
    assert evaluated[-1]["details"]["decision"] == "promote"
    assert evaluated[-1]["details"]["canary_id"] == again.canary.canary_id
    assert evaluated[-1]["details"]["candidate"]["runs"] >= 10
    assert only(entries, "canary.rolled_back") == []
    order = [e["kind"] for e in entries if e["kind"].startswith("canary.")]
    assert order == ["canary.started", "canary.aborted", "canary.started", *(
        ["canary.evaluated"] * len(evaluated)), "canary.promoted"]  # fmt: skip


async def test_embedded_housekeeping_rolls_a_bad_canary_back_by_itself(
    stores: StoreFactory,
) -> None:
    """Maestro.open(housekeeping_s=...): nobody calls evaluate(); the housekeeping tick reads
    the canary's runs from the store and rolls it back, published and counted."""

    state = {"good": True}
    bus = RecordingBus()
    cfg = CanaryConfig(share=0.5, min_runs=10)
    async with Maestro.open(stores(), agents=agents(state), bus=bus, housekeeping_s=0.2) as m:
        assert m.rollout is not None
        ops = await people(m.store)
        await to_production(m, ops, flow("good"))
        v2 = await candidate(m, ops)
        state["good"] = False
        await m.rollout.start_canary("brief", v2, cfg, ops["otto"])
        ids = await m.engine.submit_many(
            flow("good"), [{"topic": TOPIC}] * 40, keys=[f"c{i}" for i in range(40)]
        )
        for i in ids:
            await m.engine.wait(i)
        for _ in range(100):
            c = (await m.store.stage_view("brief")).canary
            if c is not None and c.status is not CanaryStatus.RUNNING:
                break
            await asyncio.sleep(0.1)
        assert c is not None and c.status is CanaryStatus.ROLLED_BACK, c
        rollbacks = m.metrics.canary.decisions.labels("brief", "rollback")._value.get()
    assert any(e.type == "canary.rolled_back" for e in bus.events)
    assert rollbacks == 1
