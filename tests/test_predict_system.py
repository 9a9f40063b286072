"""The predictor in the running system, on SQLite and PostgreSQL: every attempt recorded with its
features and outcome, models trained from that history and stored versioned with their hash,
taken up by every process, and mitigations applied by the policy before the step runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from typer.testing import CliRunner

from maestro_helix import Maestro
from maestro_helix.agents.synthetic import (
    TRIAGE_AGENTS,
    triage_agents,
    triage_tasks,
    triage_workflow,
)
from maestro_helix.cli.main import app
from maestro_helix.core.errors import MaestroError
from maestro_helix.core.records import RunStatus
from maestro_helix.engine.housekeeping import housekeep_once
from maestro_helix.governance.policy import GovernancePolicy
from maestro_helix.governance.predict_policy import PredictionRule
from maestro_helix.helix.gate import GateConfig
from maestro_helix.helix.routing import RoutingConfig
from maestro_helix.ops.risk_model import TrainSettings, load_examples, train_and_store
from maestro_helix.store.base import Store

TS = "2026-12-01T12:00:00+00:00"
# these tests count attempts: routing on the posterior mean (no Thompson draw), as before
GREEDY = GateConfig(routing=RoutingConfig(explore=0))


async def _history(m: Maestro, n: int, seed: int = 1) -> list[Any]:
    m.router.explore = 1.0  # every agent tried: a history that says something of each
    try:
        return await m.run_many(triage_workflow(), triage_tasks(n, seed=seed))
    finally:
        m.router.explore = 0.05


def _entries(rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in rows if e["kind"] == kind]


async def _trained(m: Maestro, n: int = 200) -> Any:
    await _history(m, n)
    stored = await train_and_store(m.store, ts=TS, by="ops", settings=TrainSettings(trees=40))
    assert m.predictor is not None
    await m.predictor.refresh()
    return stored


async def test_every_attempt_is_recorded_with_features_and_outcome_only(
    stores: Callable[[], Store],
) -> None:
    async with Maestro.open(stores(), agents=triage_agents(), gates=GREEDY) as m:
        results = await _history(m, 20)
        rows = await m.store.audit_entries()
        events = await m.store.events(limit=1000)
    recorded = _entries(rows, "step.prediction")
    assert len(recorded) == sum(len(r.attempts) for r in results) == 20
    for e in recorded:
        d = e["details"]
        assert d["model_version"] is None and d["p"] is None and d["mitigation"] == "proceed"
        assert d["outcome"] in {"pass", "escalate"} and e["agent_id"] in TRIAGE_AGENTS
        text = " ".join(str(v) for v in d["features"].values())
        assert "@example.org" not in text and "customer" not in text  # no input text
    assert sum(1 for ev in events if ev.type == "step.predicted") == 20


async def test_models_are_stored_versioned_hashed_and_one_is_active(
    stores: Callable[[], Store],
) -> None:
    async with Maestro.open(stores(), agents=triage_agents()) as m:
        first = await _trained(m)
        second = await train_and_store(
            m.store, ts=TS, activate=False, settings=TrainSettings(trees=10)
        )
        assert (first.version, second.version) == (1, 2)
        assert first.active and not second.active
        assert second.sha256 == second.model["sha256"] and first.sha256 != second.sha256
        assert (await m.store.active_risk_version()) == 1
        await m.store.activate_risk_model(2, ts=TS, by="ops")
        assert [x.active for x in await m.store.risk_models()] == [False, True]
        with pytest.raises(MaestroError, match="no risk model version 9"):
            await m.store.risk_model(9)
        kinds = [e["kind"] for e in await m.store.audit_entries() if e["kind"].startswith("risk.")]
        assert kinds == ["risk.model_saved", "risk.model_saved", "risk.model_activated"]
        assert first.metrics["held_out"]["roc_auc"] >= 0.8
        history = await m.store.agent_history(50)
        assert set(history) == {(a, "triage") for a in TRIAGE_AGENTS}
        assert all(0 < h.n <= 50 for h in history.values())


async def test_risky_agents_are_routed_away_and_it_is_audited_evented_and_counted(
    stores: Callable[[], Store],
) -> None:
    async with Maestro.open(stores(), agents=triage_agents(), gates=GREEDY) as m:
        await _trained(m)
        before = len(await m.store.audit_entries(limit=100_000))
        results = await m.run_many(triage_workflow(), triage_tasks(80, seed=5))
        rows = (await m.store.audit_entries(limit=100_000))[before:]
        metrics = generate_latest(m.metrics.registry).decode()
    recorded = _entries(rows, "step.prediction")
    assert len(recorded) == len(results)
    routed = [e for e in recorded if e["details"]["mitigation"] == "route"]
    assert routed, "some tickets have a safe and a risky candidate"
    for e in recorded:
        d = e["details"]
        assert d["model_version"] == 1 and set(d["candidates"]) == set(TRIAGE_AGENTS)
        assert e["agent_id"] not in d["excluded"]
        assert d["p"] == d["candidates"][e["agent_id"]]
        assert e["evaluator_versions"] == {"risk_model": "1"}
    assert 'helix_risk_mitigations_total{mitigation="route",step="triage"' in metrics
    assert "helix_risk_model_version 1.0" in metrics


async def test_a_result_predicted_too_risky_waits_for_people_even_when_the_gate_passes(
    stores: Callable[[], Store],
) -> None:
    hold_all = GovernancePolicy(
        prediction=PredictionRule(route_above=1.0, tighten_above=0.0, approval_above=0.0)
    )
    async with Maestro.open(stores(), agents=triage_agents(), gates=GREEDY, policy=hold_all) as m:
        await _trained(m)
        r = await m.run(triage_workflow(), triage_tasks(1, seed=9)[0])
        rows = await m.store.audit_entries(limit=100_000)
        requests = await m.store.list_requests(run_id=r.run_id)
    (entry,) = [e for e in _entries(rows, "step.prediction") if e["run_id"] == r.run_id]
    assert entry["details"]["mitigation"] == "approval"
    assert entry["details"]["gate"] == {"min_qsr": [0.7, 0.75], "max_mri": [0.3, 0.25]}
    if entry["details"]["outcome"] == "pass":
        assert entry["details"]["held_for_approval"]
    assert r.status is RunStatus.ESCALATED and len(requests) == 1
    (decision,) = [e for e in rows if e["kind"] == "step.decision" and e["run_id"] == r.run_id]
    assert decision["gate_decision"] == "escalate"


async def test_another_process_takes_up_the_active_model_at_its_housekeeping_tick(
    stores: Callable[[], Store],
) -> None:
    async with (
        Maestro.open(stores(), agents=triage_agents(), gates=GREEDY) as a,
        Maestro.open(stores(), agents=triage_agents(), gates=GREEDY) as b,
    ):
        assert b.predictor is not None and b.predictor.version is None
        await _trained(a)
        assert b.predictor.version is None  # nothing copied: read at the next tick
        await housekeep_once(b.engine, b.governance, (b.predictor.refresh,))
        assert b.predictor.version == 1
        assert b.predictor.history  # the agents' record, from the shared step history


async def test_a_tampered_stored_model_is_refused_and_nothing_is_predicted(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    async with Maestro.open(db, agents=triage_agents(), gates=GREEDY) as m:
        await _trained(m)
    with sqlite3.connect(db) as c:
        c.execute("UPDATE risk_models SET model = json_set(model, '$.init', 3.0)")
    async with Maestro.open(db, agents=triage_agents(), gates=GREEDY) as m:
        assert m.predictor is not None and m.predictor.model is None
        r = await m.run(triage_workflow(), triage_tasks(1, seed=4)[0])
        (entry,) = [
            e
            for e in _entries(await m.store.audit_entries(limit=100_000), "step.prediction")
            if e["run_id"] == r.run_id
        ]
        assert entry["details"]["mitigation"] == "proceed" and entry["details"]["p"] is None


async def test_the_drift_gauge_compares_predictions_with_outcomes(tmp_path: Path) -> None:
    async with Maestro.open(tmp_path / "m.db", agents=triage_agents(), gates=GREEDY) as m:
        await _trained(m)
        await m.run_many(triage_workflow(), triage_tasks(60, seed=6))
        assert m.predictor is not None
        await m.predictor.refresh()
        text = generate_latest(m.metrics.registry).decode()
    auc = [ln for ln in text.splitlines() if ln.startswith("helix_risk_model_auc ")]
    assert auc and float(auc[0].split()[1]) >= 0.7
    assert "helix_risk_model_evaluated 60.0" in text


runner = CliRunner()


def test_risk_commands_train_show_evaluate_and_activate(tmp_path: Path) -> None:
    import asyncio

    db = str(tmp_path / "m.db")

    async def history() -> None:
        async with Maestro.open(db, agents=triage_agents(), gates=GREEDY) as m:
            await _history(m, 200)

    asyncio.run(history())
    r = runner.invoke(app, ["risk", "train", "--db", db, "--trees", "30"])
    assert r.exit_code == 0, r.output
    assert "risk model version 1 stored (active)" in r.output and "ROC AUC" in r.output
    r = runner.invoke(app, ["risk", "train", "--db", db, "--no-activate", "--json"])
    assert r.exit_code == 0 and '"version": 2' in r.output
    r = runner.invoke(app, ["risk", "show", "--db", db])
    assert r.exit_code == 0 and "yes" in r.output
    r = runner.invoke(app, ["risk", "evaluate", "--db", db, "--min-auc", "0.8"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["risk", "evaluate", "--db", db, "--min-auc", "1.01"])
    assert r.exit_code == 1 and "below" in r.output
    r = runner.invoke(app, ["risk", "activate", "2", "--db", db])
    assert r.exit_code == 0 and "version 2 is active" in r.output
    r = runner.invoke(app, ["risk", "show", "--db", db, "--version", "7"])
    assert r.exit_code == 2 and "no risk model version 7" in r.output
    r = runner.invoke(app, ["risk", "train", "--db", str(tmp_path / "none.db")])
    assert r.exit_code == 2


def test_training_on_too_little_history_is_refused_with_the_reason(tmp_path: Path) -> None:
    import asyncio

    async def main() -> None:
        async with Maestro.open(tmp_path / "m.db", agents=triage_agents(), gates=GREEDY) as m:
            await _history(m, 10)
            assert len(await load_examples(m.store)) == 10
            with pytest.raises(MaestroError, match="10 recorded attempts, at least 50 needed"):
                await train_and_store(m.store, ts=TS)
            assert await m.store.risk_models() == []

    asyncio.run(main())
