"""The Go/No-Go report's routing and knowledge sections: each routed step's share of first
attempts per agent, early against late in the window (runs in creation order), the agents' stored
track records, and what the knowledge base holds."""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from maestro_helix.core.ports import Store
from maestro_helix.core.records import StepRecord
from maestro_helix.core.route import TrackRecord

__all__ = ["KnowledgeSummary", "RoutingShare", "knowledge_summary", "render", "shares"]


@dataclass(frozen=True, slots=True)
class RoutingShare:
    """One agent's share of a routed step's first attempts: early and late third of the runs."""

    step_id: str
    agent_id: str
    early: float
    late: float
    record: TrackRecord | None = None


@dataclass(frozen=True, slots=True)
class KnowledgeSummary:
    version: int
    items: int
    per_capability: tuple[tuple[str, int], ...]
    versions_kept: int


def shares(
    runs: Iterable[Sequence[tuple[str, int, str | None]]],
    records: Sequence[TrackRecord] = (),
) -> tuple[RoutingShare, ...]:
    """From each run's attempts ``(step_id, attempt, agent_id)``, oldest run first: per step
    that more than one agent ran, each agent's share of first attempts early and late."""
    firsts: dict[str, list[str]] = defaultdict(list)
    for attempts in runs:
        for step_id, attempt, agent in attempts:
            if attempt == 1 and agent is not None:
                firsts[step_id].append(agent)
    by_agent = {r.agent_id: r for r in records}
    out: list[RoutingShare] = []
    for step, agents in sorted(firsts.items()):
        if len(set(agents)) < 2:
            continue
        k = max(1, len(agents) // 3)
        early, late = Counter(agents[:k]), Counter(agents[-k:])
        for a in sorted(set(agents), key=lambda x: (-late[x], x)):
            out.append(RoutingShare(step, a, early[a] / k, late[a] / k, by_agent.get(a)))
    return tuple(out)


def from_steps(
    pairs: Iterable[Sequence[StepRecord]], records: Sequence[TrackRecord]
) -> tuple[RoutingShare, ...]:
    """The same from stored attempts, in the order they started (when each choice was made)."""
    flat = sorted((s for ss in pairs for s in ss), key=lambda s: s.started_at)
    return shares([[(s.step_id, s.attempt, s.agent_id)] for s in flat], records)


async def records_of(store: Store) -> list[TrackRecord]:
    try:
        return await store.all_track_records()
    except NotImplementedError:
        return []


async def knowledge_summary(store: Store) -> KnowledgeSummary | None:
    try:
        version, items = await store.knowledge_items()
        kept = len(await store.knowledge_versions())
    except NotImplementedError:
        return None
    per = Counter(i.capability or "-" for i in items)
    return KnowledgeSummary(version, len(items), tuple(sorted(per.items())), kept)


def _e(v: object) -> str:
    return html.escape(str(v))


def render(routing: Sequence[RoutingShare], knowledge: KnowledgeSummary | None) -> str:
    """The two sections as HTML (tables only, no script)."""
    now = datetime.now(UTC).timestamp()
    rows = []
    for r in routing:
        rec = r.record.at(now) if r.record is not None else None
        stats = (
            f"{r.record.total:,} attempts · QSR {rec.qsr_sum / rec.n:.2f} · MRI "
            f"{rec.mri_sum / rec.n:.2f} · pass {rec.passed / rec.n:.0%}"
            if r.record is not None and rec is not None and rec.n > 0
            else "—"
        )
        rows.append(
            f"<tr><td>{_e(r.step_id)}</td><td>{_e(r.agent_id)}</td><td>{r.early:.0%}</td>"
            f"<td>{r.late:.0%}</td><td>{_e(stats)}</td></tr>"
        )
    routing_html = (
        "<table><tr><th>step</th><th>agent</th><th>first attempts, early third</th>"
        "<th>late third</th><th>stored record (decayed)</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>no step in this window was routed to more than one agent</p>"
    )
    if knowledge is None or knowledge.version == 0:
        kb = "<p>the knowledge base is empty</p>"
    else:
        caps = ", ".join(f"{_e(c)} {n:,}" for c, n in knowledge.per_capability)
        kb = (
            f"<p>version {knowledge.version:,} ({knowledge.versions_kept:,} kept): "
            f"{knowledge.items:,} redacted insight(s) — {caps}. "
            "<code>maestro knowledge show</code> lists them with their provenance.</p>"
        )
    return (
        '<h2 id="routing">Routing</h2>'
        '<p class="muted">Which agent took each routed step first, in the first and the last '
        "third of the window's runs (Thompson sampling on the shared track record; an "
        "exploratory pick that fails is retried on the best agent, never escalated).</p>"
        f"{routing_html}"
        '<h2 id="knowledge">Knowledge base</h2>'
        f"{kb}"
    )
