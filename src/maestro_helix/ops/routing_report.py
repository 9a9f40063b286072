"""The Go/No-Go report's routing, knowledge and re-evaluation sections: each routed step's share
of first attempts per agent, early against late in the window (runs in creation order), the
agents' stored track records, what the knowledge base holds, and how often agents revised their
output after the evaluator's suggestions and asked to be scored again."""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from maestro_helix.core.audit import AuditKind
from maestro_helix.core.ports import Store
from maestro_helix.core.records import AuditFilter, StepRecord
from maestro_helix.core.route import TrackRecord

__all__ = [
    "KnowledgeSummary",
    "ReevaluationFold",
    "ReevaluationSummary",
    "RoutingShare",
    "knowledge_summary",
    "reevaluation_summary",
    "render",
    "shares",
]

_PAGE = 10_000


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


@dataclass(frozen=True, slots=True)
class ReevaluationSummary:
    """Re-evaluation on request over a set of runs (from their ``step.decision`` entries).

    Attributes:
        attempts: attempts with at least one round (the agent heard suggestions).
        rounds: rounds in all; revised: rounds in which the agent handed back a revision;
            kept: revisions that scored at least as well and were gated instead.
        passed_after: attempts whose kept revision the gate passed.
        per_agent: (agent, rounds, kept), by agent.
    """

    attempts: int = 0
    rounds: int = 0
    revised: int = 0
    kept: int = 0
    passed_after: int = 0
    per_agent: tuple[tuple[str, int, int], ...] = ()

    def line(self) -> str:
        """One line for a batch's summary."""
        if not self.rounds:
            return "re-evaluation on request: no agent revised after suggestions"
        agents = ", ".join(f"{a} {k}/{n}" for a, n, k in self.per_agent)
        return (
            f"re-evaluation on request: {self.rounds} round(s) on {self.attempts} attempt(s), "
            f"{self.revised} revised, {self.kept} kept (scored again), {self.passed_after} "
            f"passed on the revision without a retry · kept/rounds per agent: {agents}"
        )


async def reevaluation_summary(
    store: Store, run_ids: Iterable[str] | None = None, *, after_seq: int = 0
) -> ReevaluationSummary:
    """The rounds recorded in the ``step.decision`` entries after ``after_seq`` (of ``run_ids``
    only, when given), read in pages."""
    fold = ReevaluationFold(run_ids)
    seq = after_seq
    while True:
        page = await store.find_audit(
            AuditFilter(kind=AuditKind.STEP_DECISION, after_seq=seq, limit=_PAGE)
        )
        for e in page:
            seq = int(e["seq"])
            fold.add(e)
        if len(page) < _PAGE:
            return fold.summary()


class ReevaluationFold:
    """:class:`ReevaluationSummary` built one ``step.decision`` entry at a time (of ``run_ids``
    only, when given), so a reader that already walks the entries needs no query of its own."""

    def __init__(self, run_ids: Iterable[str] | None = None) -> None:
        self.mine = set(run_ids) if run_ids is not None else None
        self.attempts = self.rounds = self.revised = self.kept = self.passed = 0
        self.per: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def add(self, e: Mapping[str, Any]) -> None:
        if self.mine is not None and e.get("run_id") not in self.mine:
            return
        done = (e.get("details") or {}).get("reevaluations") or []
        if not done:
            return
        self.attempts += 1
        agent = str(e.get("agent_id") or "-")
        n_kept = sum(1 for r in done if r.get("kept"))
        self.rounds += len(done)
        self.revised += sum(1 for r in done if r.get("revised"))
        self.kept += n_kept
        self.passed += bool(n_kept) and e.get("gate_decision") == "pass"
        self.per[agent][0] += len(done)
        self.per[agent][1] += n_kept

    def summary(self) -> ReevaluationSummary:
        return ReevaluationSummary(
            self.attempts,
            self.rounds,
            self.revised,
            self.kept,
            self.passed,
            tuple((a, n, k) for a, (n, k) in sorted(self.per.items())),
        )


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


def _reevaluation_html(r: ReevaluationSummary | None) -> str:
    if r is None or not r.rounds:
        return "<p>no agent revised its output after suggestions in this window</p>"
    rows = "".join(
        f"<tr><td>{_e(a)}</td><td>{n:,}</td><td>{k:,}</td></tr>" for a, n, k in r.per_agent
    )
    return (
        f"<p>{r.rounds:,} round(s) on {r.attempts:,} attempt(s): {r.revised:,} revised, "
        f"{r.kept:,} kept and scored again, {r.passed_after:,} passed on the revision without "
        "a retry.</p><table><tr><th>agent</th><th>rounds</th><th>revisions kept</th></tr>"
        f"{rows}</table>"
    )


def render(
    routing: Sequence[RoutingShare],
    knowledge: KnowledgeSummary | None,
    reevaluation: ReevaluationSummary | None = None,
) -> str:
    """The three sections as HTML (tables only, no script)."""
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
        '<h2 id="reevaluation">Re-evaluation on request</h2>'
        '<p class="muted">Agents that can revise hear the evaluator\'s suggestions after their '
        "output is scored (on a passing output too) and may hand back a revision, scored again "
        "before the gate; a revision is kept only if it scores at least as well.</p>"
        f"{_reevaluation_html(reevaluation)}"
    )
