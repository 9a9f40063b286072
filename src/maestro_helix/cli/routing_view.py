"""What ``maestro demo`` shows of the router and the knowledge base after its batch: each routed
step's share of first attempts per agent, early against late in the batch, beside the agents'
stored track records; and what the knowledge base holds."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.table import Table

from maestro_helix.core.ports import Store
from maestro_helix.core.route import TrackRecord
from maestro_helix.engine.engine import RunResult
from maestro_helix.helix.routing import Router
from maestro_helix.ops.routing_report import RoutingShare, shares

__all__ = ["knowledge_line", "routing_shares", "routing_table"]


def routing_shares(results: Sequence[RunResult]) -> tuple[RoutingShare, ...]:
    """Per step routed to more than one agent: each agent's share of first attempts in the
    first and the last third of the runs, in submission order."""
    return shares([[(a.step_id, a.attempt, a.agent_id) for a in r.attempts] for r in results])


async def routing_table(store: Store, results: Sequence[RunResult], router: Router) -> Table | None:
    found = routing_shares(results)
    if not found:
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
    for sh in found:
        rec = records.get(sh.agent_id)
        if rec is not None:
            p = router.posterior(rec.at(now))
            q, m, r = p.means
            stats = f"{rec.total} · {q:.2f} · {m:.2f} · {r:.2f}"
            mean = f"{p.mean:.3f}"
        else:
            stats, mean = "-", "-"
        table.add_row(sh.step_id, sh.agent_id, f"{sh.early:.0%} → {sh.late:.0%}", stats, mean)
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
