"""Orchestration intelligence in the demo (issue 13): the demo's research agents revise after the
evaluator's suggestions and are scored again (re-evaluation on request), and the demo's summary
and the Go/No-Go report show it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from maestro_helix import Maestro
from maestro_helix.agents.demo import demo_actions, demo_agents, demo_tasks, demo_workflow
from maestro_helix.app import open_store
from maestro_helix.cli.main import app as cli
from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.records import AuditFilter, RunStatus
from maestro_helix.core.scores import Feedback
from maestro_helix.ops import build_report, render_html
from maestro_helix.ops.routing_report import reevaluation_summary
from maestro_helix.store.base import Store

StoreFactory = Callable[[], Store]

PII_TASK: dict[str, Any] = {
    "topic": "solar panel leasing",
    "angle": "costs",
    "domain": "finance",
    "note": "Customer Ana Souza (ana.souza@example.org) asked for a call back.",
    "ref": "T-pii",
}


def _pii_tasks(n: int) -> list[dict[str, Any]]:
    return [t for t in demo_tasks(600, seed=7) if "@" in str(t.get("note", ""))][:n]


def test_the_research_reviser_redacts_only_when_asked_to_remove_something() -> None:
    from maestro_helix.agents.demo import _revise_research

    findings = ["Solar panel leasing costs rose.", "Requester note: mail ana@example.org today."]
    out = AgentOutput(text=" ".join(findings), data={"findings": findings, "sources": ["kb://x"]})
    asked = Feedback(1, 0.9, 0.6, ("Remove email from the output",))
    revised = _revise_research({}, out, asked)
    assert revised is not None and "ana@example.org" not in revised.text
    assert revised.data["findings"][1] == "Requester note: mail [email] today."
    assert revised.data["sources"] == ["kb://x"]  # the rest of the answer is kept
    other = Feedback(1, 0.5, 0.0, ("Add the missing field(s): sources",))
    assert _revise_research({}, out, other) is None  # it revises nothing else
    clean = AgentOutput(text="no personal data", data={"findings": ["no personal data"]})
    assert _revise_research({}, clean, asked) is None  # nothing to redact: keeps its output


async def test_a_demo_agent_revises_after_suggestions_and_passes_without_a_retry(
    stores: StoreFactory,
) -> None:
    """The note's email trips MRI; the agent hears "Remove email", redacts, is scored again and
    the gate passes the revision in the same attempt (before: a retry)."""
    async with Maestro.open(stores(), agents=demo_agents(), action_types=demo_actions()) as m:
        wf = await m.engine.register(demo_workflow())
        r = await m.run(wf, PII_TASK)
        entries = await m.store.find_audit(AuditFilter(run_id=r.run_id, limit=50))
        records = await m.store.step_records(r.run_id)
    assert r.status is RunStatus.COMPLETED
    research = [a for a in r.attempts if a.step_id == "research"]
    decisions = [e for e in entries if e["kind"] == "step.decision" and e["step_id"] == "research"]
    revised = [d for d in decisions if d["details"].get("reevaluations")]
    assert revised, "no re-evaluation round in the demo"
    (rnd,) = revised[-1]["details"]["reevaluations"]
    assert rnd["revised"] and rnd["kept"] and rnd["mri_after"] < rnd["mri_before"]
    assert any(s.startswith("Remove ") for s in rnd["suggestions"])
    assert revised[-1]["gate_decision"] == "pass" and research[-1].decision == "pass"
    stored = next(s for s in records if s.step_id == "research" and s.decision == "pass")
    assert stored.output is not None and "ana.souza@example.org" not in stored.output["text"]
    # the deep agent's first attempt on this (short) request is on topic: no retry was needed
    if research[0].agent_id == "research.deep":
        assert len(research) == 1


async def test_reevaluation_happens_in_a_demo_batch_and_the_summary_counts_it(
    stores: StoreFactory,
) -> None:
    tasks = _pii_tasks(6) + demo_tasks(20, seed=3)
    async with Maestro.open(stores(), agents=demo_agents(), action_types=demo_actions()) as m:
        wf = await m.engine.register(demo_workflow())
        results = await m.run_many(wf, tasks)
        summary = await reevaluation_summary(m.store, [r.run_id for r in results])
        none = await reevaluation_summary(m.store, ["no-such-run"])
    assert summary.kept >= 1 and summary.passed_after >= 1
    assert summary.rounds >= summary.revised >= summary.kept
    assert {a for a, _, _ in summary.per_agent} <= {"research.deep", "research.quick"}
    assert "kept" in summary.line() and none.rounds == 0


def test_maestro_demo_and_report_show_reevaluations(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "demo.db")
    r = runner.invoke(cli, ["demo", "--tasks", "150", "--db", db])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("re-evaluation on request"))
    kept = int(line.split(" kept")[0].rsplit(" ", 1)[-1])
    assert kept >= 1, line
    page = tmp_path / "report.html"
    done = runner.invoke(cli, ["report", "--db", db, "--out", str(page)])
    assert done.exit_code == 0, done.output
    html = page.read_text()
    assert 'id="reevaluation"' in html and "kept and scored again" in html


async def test_the_report_counts_the_windows_reevaluations(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    async with Maestro.open(db, agents=demo_agents(), action_types=demo_actions()) as m:
        wf = await m.engine.register(demo_workflow())
        await m.run_many(wf, _pii_tasks(3))
    async with open_store(db) as store:
        data = await build_report(store)
    assert data.reevaluation is not None and data.reevaluation.kept >= 1
    assert f"{data.reevaluation.kept:,} kept and scored again" in render_html(data)
