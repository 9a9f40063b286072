"""A rollout from draft to production, then a canary that rolls itself back.

v1 of a one-step workflow goes draft → staging (a governance approver and an admin sign off) →
production (its staging window's Go/No-Go report is GO and the product owner signs). v2 swaps in
a new writer agent that handles the staging inputs well but fails on European customers' requests
(its outputs miss the topic, the gate retries and then escalates to people). v2 passes staging,
the product owner signs, and a canary sends 10 % of new runs — by customer id — to it. Every
50 runs the canary is evaluated (``maestro serve`` and ``maestro worker`` do it every few seconds
in their housekeeping); its sequential test rolls v2 back and every new run goes to v1 again (a
run routed to v2 that had not started yet runs v1 when it starts; v2 is refused even when asked
for by version). The figures are the same each time: the requests come from a seeded generator
and the canary's id (which salts the split of customers) is fixed here; without ``canary_id`` it
is a fresh uuid, and the counts vary from run to run.

    python examples/rollout.py [--db PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from maestro_helix import AgentRegistry, Maestro, parse_definition
from maestro_helix.core.errors import MaestroError
from maestro_helix.core.rollout import CanaryConfig, CanaryStatus, Stage
from maestro_helix.core.workflow import WorkflowDef
from maestro_helix.governance.identity import add_operator
from maestro_helix.governance.policy import Role


def brief(agent: str) -> WorkflowDef:
    return parse_definition(
        {
            "name": "brief",
            "steps": [
                {
                    "id": "answer",
                    "agent": agent,
                    "task": "Explain ${input.topic} to ${input.customer}",
                    "input": {"topic": "${input.topic}", "region": "${input.region}"},
                    "expect": {"mentions": ["${input.topic}"]},
                }
            ],
        }
    )


def writer(inp: Mapping[str, Any]) -> str:
    t = inp["topic"]
    return f"{t}: what it is, what {t} costs, and how {t} contracts usually run for ten years."


def writer_v2(inp: Mapping[str, Any]) -> str:
    if inp["region"] == "eu":  # the new agent's blind spot, not seen in staging
        return "Please see the attached brochure."
    return writer(inp)


TOPICS = ["solar panel leasing", "heat pump financing", "battery storage"]


def request(rng: random.Random) -> tuple[str, dict[str, str]]:
    customer = f"customer-{rng.randrange(5000)}"
    region = "eu" if rng.random() < 0.3 else "us"
    return customer, {"topic": rng.choice(TOPICS), "customer": customer, "region": region}


async def main(db: Path) -> None:
    agents = AgentRegistry()
    agents.add("writer", writer, {"explain"})
    agents.add("writer-v2", writer_v2, {"explain"})
    rng = random.Random(14)
    async with Maestro.open(db, agents=agents) as m:
        assert m.rollout is not None
        ops = {
            n: (await add_operator(m.store, n, r))[0]
            for n, r in [("gina", Role.APPROVER), ("ada", Role.ADMIN), ("paul", Role.APPROVER)]
        }

        async def through_staging(defn: WorkflowDef) -> int:
            v = (await m.engine.register(defn)).version  # a draft
            await m.rollout.promote("brief", v, Stage.STAGING, ops["gina"], "governance")
            await m.rollout.promote("brief", v, Stage.STAGING, ops["ada"], "admin")
            staged = await m.store.get_workflow("brief", v)
            for topic in TOPICS:  # the staging window: US requests only
                inp = {"topic": topic, "customer": "qa", "region": "us"}
                await m.engine.run(staged, inp, pin=True)
            out = await m.rollout.promote(
                "brief", v, Stage.PRODUCTION, ops["paul"], "product_owner"
            )
            print(f"v{v}: {out.message}")
            return v

        v1 = await through_staging(brief("writer"))
        v2 = await through_staging(brief("writer-v2"))
        start = await m.rollout.start_canary(
            "brief", v2, CanaryConfig(share=0.10), ops["gina"], canary_id="example-rollout-14"
        )
        print(start.message)
        sent = 0
        while True:
            batch = [request(rng) for _ in range(50)]
            ids = await m.engine.submit_many(
                brief("writer"), [b[1] for b in batch], keys=[b[0] for b in batch]
            )
            for run_id in ids:
                await m.engine.wait(run_id)
            sent += len(ids)
            out = await m.rollout.evaluate("brief")  # what housekeeping does every few seconds
            assert out is not None and out.evaluation is not None and out.canary is not None
            e = out.evaluation
            print(
                f"after {sent} runs: candidate {e.candidate.bad}/{e.candidate.n} bad, stable "
                f"{e.stable.bad}/{e.stable.n} bad -> {e.decision.value}: {e.reason}"
            )
            if out.canary.status is not CanaryStatus.RUNNING or sent >= 3000:
                break
        after = await m.engine.submit_many(brief("writer"), [request(rng)[1] for _ in range(20)])
        versions = {(await m.store.get_run(i)).workflow_version for i in after}
        print(f"new runs now run v{sorted(versions)} (stable is v{v1})")
        try:
            await m.engine.submit(await m.store.get_workflow("brief", v2), {}, pin=True)
        except MaestroError as refused:
            print(f"v{v2} asked for by version: refused ({refused})")
        for i in after:
            await m.engine.wait(i)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=None)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(a.db or Path(tmp) / "rollout.db"))
