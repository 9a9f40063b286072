"""The assembled system measures every step and serves /metrics; spans when OTEL asks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from maestro_helix import Maestro
from maestro_helix.agents.demo import demo_actions, demo_agents, demo_tasks, demo_workflow
from maestro_helix.api.app import create_app
from maestro_helix.store.base import Store


async def test_runs_feed_the_runbook_metrics_and_metrics_endpoint(
    stores: Callable[[], Store],
) -> None:
    async with Maestro.open(stores(), agents=demo_agents(), action_types=demo_actions()) as m:
        defn = await m.engine.register(demo_workflow())
        ids = await m.engine.submit_many(defn, demo_tasks(30))
        for i in ids:
            await m.engine.wait(i)
        transport = httpx.ASGITransport(app=create_app(m))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            resp = await client.get("/metrics")
    assert resp.status_code == 200
    text = resp.text
    for name in (
        "helix_qsr_bucket",
        "helix_mri_bucket",
        "helix_qsr_average",
        "helix_mri_average",
        "maestro_tasks_total",
        "helix_gate_decisions_total",
    ):
        assert name in text, name
    assert 'maestro_tasks_total{status="completed",workflow="research-pipeline"}' in text
    assert "run_id" not in text


async def test_spans_carry_scores_and_join_the_audit_log(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with Maestro.open(
        tmp_path / "t.db",
        agents=demo_agents(),
        action_types=demo_actions(),
        tracer_provider=provider,
    ) as m:
        r = await m.run(demo_workflow(), demo_tasks(1)[0])
        entries = [e for e in await m.store.audit_entries() if e["kind"] == "step.decision"]
    finished = exporter.get_finished_spans()
    (run,) = [s for s in finished if s.name == "maestro.run"]
    spans = [s for s in finished if s.name == "maestro.step"]
    assert len(spans) == len(r.attempts)
    assert all(s.parent is not None and s.parent.span_id == run.context.span_id for s in spans)
    trace_ids = {format(s.context.trace_id, "032x") for s in spans}
    assert {e["details"]["trace_id"] for e in entries} <= trace_ids
    assert spans[0].attributes is not None and "helix.qsr" in spans[0].attributes
