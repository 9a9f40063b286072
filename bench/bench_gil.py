"""GIL benchmark: from the deciding approval to the action's effect, and decisions per second.

Refund runs escalate for approval under amount tiers (300 USD: one person; 899 USD: two). For each
request the clock starts when the deciding approval is handed to ``Governance.decide`` (the one
use case the API, the UI and the CLI call) and stops when the refund handler performs its effect;
the approval is recorded, ruled, its intent stored and claimed, the handler called and the run
resumed, all on SQLite with fsync. Figures go to bench/RESULTS.md.

Run:  python bench/bench_gil.py --runs 300
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench_engine import machine, pct

from maestro_helix import ActionSpec, AgentRegistry, Maestro, RiskClass, parse_definition
from maestro_helix.core.outputs import AgentOutput, ProposedAction
from maestro_helix.governance.policy import Decision, Role, parse_policy
from maestro_helix.store.base import RunStatus
from maestro_helix.store.sqlite import SQLiteStore

HERE = Path(__file__).parent
FLOW = parse_definition(
    {
        "name": "refund",
        "steps": [
            {
                "id": "refund",
                "capability": "support",
                "input": {"customer": "${input.customer}", "amount": "${input.amount}"},
                "expect": {"required_fields": ["customer", "amount"]},
                "actions": ["crm.refund"],
            }
        ],
    }
)
POLICY = {
    "actions": {
        "crm.refund": {
            "label": "refunds",
            "amount_limit": 1000,
            "tiers": [
                {"up_to": 100, "approvals": 0},
                {"up_to": 500, "approvals": 1},
                {"approvals": 2},
            ],
        }
    }
}


def agent(inp: Mapping[str, Any]) -> AgentOutput:
    amount = float(inp["amount"])
    return AgentOutput(
        text=f"Refund of {amount:.2f} USD to customer {inp['customer']} prepared.",
        data={"customer": inp["customer"], "amount": amount},
        actions=(ProposedAction("crm.refund", {"customer": inp["customer"], "amount": amount}),),
    )


async def measure(n: int, amount: float, db: Path) -> dict[str, Any]:
    effects: dict[str, float] = {}

    def refund(payload: Mapping[str, Any], key: str) -> dict[str, str]:
        effects.setdefault(key, time.perf_counter())
        return {"refund_id": key}

    reg = AgentRegistry()
    reg.add("clerk", agent, {"support"})
    spec = ActionSpec("crm.refund", reversible=True, risk_class=RiskClass.MEDIUM, handler=refund,
                      amount_field="amount", display=("amount", "customer"))  # fmt: skip
    async with Maestro.open(
        SQLiteStore(db),
        agents=reg,
        action_types=[spec],
        policy=parse_policy(POLICY, "bench policy"),
    ) as m:
        ids = await m.engine.submit_many(
            FLOW, [{"customer": f"C-{i}", "amount": amount} for i in range(n)]
        )
        for i in ids:
            assert (await m.engine.wait(i)).status is RunStatus.ESCALATED
        reqs = [(await m.store.list_requests(run_id=i))[0] for i in ids]
        need = reqs[0].required_approvals
        latencies: list[float] = []
        t_all = time.perf_counter()
        for req in reqs:
            for k, who in enumerate(("ann", "bob")[:need]):
                t0 = time.perf_counter()
                out = await m.governance.decide(
                    req.request_id,
                    operator_id=who,
                    role=Role.APPROVER,
                    decision=Decision.APPROVE,
                    payload_hash_seen=req.payload_hash,
                )
                if k == need - 1:  # the deciding approval
                    assert out.request.status == "approved", out
                    key = out.intents[0].idempotency_key
                    latencies.append((effects[key] - t0) * 1000)
        elapsed = time.perf_counter() - t_all
        for i in ids:
            assert (await m.engine.wait(i)).status is RunStatus.COMPLETED
    return {
        "n": n,
        "need": need,
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
        "max": max(latencies),
        "decisions_per_s": n * need / elapsed,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for amount in (300.0, 899.0):
            r = asyncio.run(measure(args.runs, amount, Path(d) / f"gil{amount:g}.db"))
            rows.append((amount, r))
            print(amount, r)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()  # fmt: skip
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"\n## GIL: deciding approval → effect: {now} (commit {commit})\n",
        f"- machine: {machine()}",
        f"- command: `python bench/bench_gil.py --runs {args.runs}`",
        "- path: `Governance.decide` (rules, approval row, audit entry, intent) → claim → handler"
        " → run resumed; SQLite WAL, synchronous=FULL, one process\n",
        "| measurement | figure | target |",
        "|---|---|---|",
    ]
    for amount, r in rows:
        who = "one approver" if r["need"] == 1 else "two approvers, from the second"
        lines.append(
            f"| {r['n']} refunds of {amount:g} USD ({who}): deciding approval → handler effect "
            f"| p50 {r['p50']:.1f} ms, **p99 {r['p99']:.1f} ms** (max {r['max']:.1f}) "
            "| p99 ≤ 250 ms |"
        )
        lines.append(
            f"| the same: approvals recorded per second, one operator at a time "
            f"| {r['decisions_per_s']:.0f} /s | — |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        with (HERE / "RESULTS.md").open("a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
