"""What ``maestro demo`` shows of the router and the knowledge base after its batch: each routed
step's share of first attempts per agent, early against late in the batch, beside the agents'
stored track records; and what the knowledge base holds."""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.table import Table

from maestro_helix.core.ports import Store
from maestro_helix.core.route import TrackRecord
from maestro_helix.engine.engine import RunResult
from maestro_helix.helix.routing import Router

__all__ = ["knowledge_line", "routing_shares", "routing_table"]


def routing_shares(
    results: Sequence[RunResult],
) -> dict[str, tuple[dict[str, float], dict[str, float]]]:
    """Per step routed to more than one agent: (early, late) share of first attempts per agent,
    early being the first third of the runs in submission order, late the last third."""
    firsts: dict[str, list[str]] = defaultdict(list)
    for r in results:
        for a in r.attempts:
            if a.attempt == 1 and a.agent_id is not None:
                firsts[a.step_id].append(a.agent_id)
    out: dict[str, tuple[dict[str, float], dict[str, float]]] = {}
    for step, agents in firsts.items():
        if len(set(agents)) < 2:
            continue
        k = max(1, len(agents) // 3)
        early, late = Counter(agents[:k]), Counter(agents[-k:])
        names = sorted(set(agents))
        out[step] = (
            {a: early[a] / k for a in names},
            {a: late[a] / k for a in names},
        )
    return out


async def routing_table(store: Store, results: Sequence[RunResult], router: Router) -> Table | None:
    shares = routing_shares(results)
    if not shares:
        return None
    records: dict[str, TrackRecord] = {}
    with contextlib.suppress(NotImplementedError):
        records = {r.agent_id: r for r in await store.all_track_records()}
    now = datetime.now(UTC).timestamp()
    table = Table(
        "step",
        "agent",
        "first attempts, early → late",
        "record: attempts · QSR · MRI · RMM",
        "posterior mean",
        title="routing (Thompson sampling on the shared track record)",
    )
    for step, (early, late) in sorted(shares.items()):
        for agent in sorted(early, key=lambda a: -late[a]):
            rec = records.get(agent)
            if rec is not None:
                p = router.posterior(rec.at(now))
                q, m, r = p.means
                stats = f"{rec.total} · {q:.2f} · {m:.2f} · {r:.2f}"
                mean = f"{p.mean:.3f}"
            else:
                stats, mean = "-", "-"
            table.add_row(step, agent, f"{early[agent]:.0%} → {late[agent]:.0%}", stats, mean)
    return table


async def knowledge_line(store: Store) -> str | None:
    try:
        version, items = await store.knowledge_items()
    except NotImplementedError:
        return None
    if version == 0:
        return "knowledge base: empty (no output scored high enough yet)"
    per = Counter(i.capability or "-" for i in items)
    caps = ", ".join(f"{c} {n}" for c, n in sorted(per.items()))
    return (
        f"knowledge base: version {version}, {len(items)} redacted insight(s) ({caps}) · "
        "maestro knowledge show"
    )
