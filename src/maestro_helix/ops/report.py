"""The Go/No-Go report: did more than 95 % of tasks meet the quality gates without a human
escalation (the runbook's week-8 gate), with the distributions behind it.

:func:`build_report` reads runs and their step attempts from a :class:`Store` (paging through
``list_runs``, then ``step_records`` per run; approval requests through ``list_requests``) and
:func:`render_html` turns the figures into one self-contained page: inline CSS and SVG, no script,
nothing fetched.

How runs are counted (also printed on the page):

- The window selects runs by creation time: ``since <= created_at < until``.
- Runs still pending, running or paused are *in progress*: reported, left out of every share.
- A run *met the gates without escalation* when it completed and none of its step attempts was
  escalated to humans. Retries with evaluator feedback are part of meeting the gates. A run that
  failed, was cancelled, was escalated, or waits for a human to approve an action has not (yet).
- The verdict is GO when that share of finished runs is strictly above 95 %, NO-GO otherwise
  (and with no finished run). The runbook's alert lines are shown for information only.
"""

from __future__ import annotations

import asyncio
import enum
import html
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Literal

from maestro_helix.core.ports import Store
from maestro_helix.core.records import RunRecord, RunStatus, StepRecord
from maestro_helix.ops import routing_report

__all__ = [
    "GO_SHARE",
    "Check",
    "GroupStats",
    "LatencyStats",
    "ReportData",
    "RunCounts",
    "ScoreDistribution",
    "Verdict",
    "build_report",
    "render_html",
    "verdict_for",
]

GO_SHARE = Fraction(95, 100)
"""The runbook's criterion: strictly more than this share of tasks meet the gates unescalated."""

SCORE_BINS = 20  # 0.05 wide over 0..1
# upper bounds of the latency bins, 0.01 ms to 50 s, then everything slower
LATENCY_EDGES_MS: tuple[float, ...] = (
    *(round(m * 10.0**e, 2) for e in range(-2, 5) for m in (1.0, 2.0, 5.0)),
    math.inf,
)
_GO_LINE = f"{float(GO_SHARE) * 100:g} %"
_IN_PROGRESS = frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED})
_ESCALATE = "escalate"
_NO_AGENT = "(no agent)"
_PAGE = 500
_READERS = 8  # step_records calls in flight at once


CheckStatus = Literal["normal", "watch", "alert", "no data"]


class Verdict(enum.StrEnum):
    """The runbook's Go/No-Go decision for the window."""

    GO = "GO"
    NO_GO = "NO-GO"


def verdict_for(met: int, finished: int) -> Verdict:
    """GO when ``met / finished`` is strictly above :data:`GO_SHARE` (exact arithmetic)."""
    return Verdict.GO if finished > 0 and met > GO_SHARE * finished else Verdict.NO_GO


# -- figures -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoreDistribution:
    """Scores (QSR or MRI, 0..1) of step attempts; ``counts`` has :data:`SCORE_BINS` bins.

    ``gate`` is the threshold every attempt of the group was judged against, when there was
    exactly one (``None`` if none was recorded or they differed)."""

    n: int
    mean: float | None
    p5: float | None
    p50: float | None
    p95: float | None
    counts: tuple[int, ...]
    gate: float | None


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Milliseconds; nearest-rank percentiles; ``counts`` over :data:`LATENCY_EDGES_MS`
    (bin ``i`` holds values below edge ``i`` and at or above edge ``i - 1``)."""

    n: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RunCounts:
    """Runs created in the window. ``finished`` = all but ``in_progress`` = ``met`` +
    ``escalated`` + ``awaiting_approval`` + ``failed`` + ``cancelled``."""

    total: int = 0
    in_progress: int = 0
    met: int = 0
    escalated: int = 0
    awaiting_approval: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def finished(self) -> int:
        return self.total - self.in_progress

    @property
    def share_met(self) -> float | None:
        return self.met / self.finished if self.finished else None


@dataclass(frozen=True, slots=True)
class GroupStats:
    """The step attempts of one workflow, one agent, or all of them."""

    name: str
    attempts: int
    passed: int
    retries: int
    escalations: int
    qsr: ScoreDistribution
    mri: ScoreDistribution
    step_latency_ms: LatencyStats
    eval_latency_ms: LatencyStats
    runs: RunCounts | None = None  # per workflow


@dataclass(frozen=True, slots=True)
class Check:
    """One of the runbook's monitoring lines, against this window (information only)."""

    metric: str
    value: float | None
    shown: str
    normal: str
    status: CheckStatus


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything the page shows. Shares are of finished runs; rates per 10,000 of them."""

    since: datetime | None
    until: datetime | None
    generated_at: datetime
    verdict: Verdict
    reasons: tuple[str, ...]
    runs: RunCounts
    share_interval: tuple[float, float] | None  # Wilson 95 % interval of the share met
    gate_escalations: int
    action_approvals: int
    overall: GroupStats
    by_workflow: tuple[GroupStats, ...]
    by_agent: tuple[GroupStats, ...]
    checks: tuple[Check, ...]
    routing: tuple[routing_report.RoutingShare, ...] = ()
    knowledge: routing_report.KnowledgeSummary | None = None
    reevaluation: routing_report.ReevaluationSummary | None = None

    @property
    def share_met(self) -> float | None:
        return self.runs.share_met

    def per_10k(self, count: int) -> float | None:
        return count / self.runs.finished * 10_000 if self.runs.finished else None

    @property
    def escalations_per_10k(self) -> float | None:
        """Gate escalations plus action approvals (what ``gil_escalations_total`` counts)."""
        return self.per_10k(self.gate_escalations + self.action_approvals)


def _rank(sorted_values: Sequence[float], p: float) -> float | None:
    if not sorted_values:
        return None
    k = math.ceil(p / 100 * len(sorted_values))
    return sorted_values[min(len(sorted_values) - 1, max(0, k - 1))]


def _scores(values: list[float], gates: set[float]) -> ScoreDistribution:
    s = sorted(values)
    counts = [0] * SCORE_BINS
    for v in s:
        counts[min(SCORE_BINS - 1, max(0, int(v * SCORE_BINS)))] += 1
    return ScoreDistribution(
        n=len(s),
        mean=sum(s) / len(s) if s else None,
        p5=_rank(s, 5),
        p50=_rank(s, 50),
        p95=_rank(s, 95),
        counts=tuple(counts),
        gate=next(iter(gates)) if len(gates) == 1 else None,
    )


def _latency(values: list[float]) -> LatencyStats:
    s = sorted(values)
    counts = [0] * len(LATENCY_EDGES_MS)
    i = 0
    for v in s:  # sorted: walk the edges once
        while i < len(LATENCY_EDGES_MS) - 1 and v >= LATENCY_EDGES_MS[i]:
            i += 1
        counts[i] += 1
    return LatencyStats(
        n=len(s),
        p50=_rank(s, 50),
        p95=_rank(s, 95),
        p99=_rank(s, 99),
        max=s[-1] if s else None,
        counts=tuple(counts),
    )


def _group(name: str, steps: Iterable[StepRecord], runs: RunCounts | None = None) -> GroupStats:
    qsr: list[float] = []
    mri: list[float] = []
    lat: list[float] = []
    ev: list[float] = []
    min_qsr: set[float] = set()
    max_mri: set[float] = set()
    attempts = passed = retries = escalations = 0
    for s in steps:
        attempts += 1
        passed += s.decision == "pass"
        retries += s.decision == "retry"
        escalations += s.decision == _ESCALATE
        lat.append(s.latency_ms)
        ev.append(s.eval_latency_ms)
        if s.qsr is not None:
            qsr.append(s.qsr)
        if s.mri is not None:
            mri.append(s.mri)
        thresholds = s.verdict.get("thresholds") or {}
        if isinstance(thresholds.get("min_qsr"), int | float):
            min_qsr.add(float(thresholds["min_qsr"]))
        if isinstance(thresholds.get("max_mri"), int | float):
            max_mri.add(float(thresholds["max_mri"]))
    return GroupStats(
        name=name,
        attempts=attempts,
        passed=passed,
        retries=retries,
        escalations=escalations,
        qsr=_scores(qsr, min_qsr),
        mri=_scores(mri, max_mri),
        step_latency_ms=_latency(lat),
        eval_latency_ms=_latency(ev),
        runs=runs,
    )


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    if n == 0:
        return None
    p = k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, centre - half), min(1.0, centre + half)


def _count(runs: Iterable[tuple[RunRecord, list[StepRecord]]]) -> RunCounts:
    c: dict[str, int] = defaultdict(int)
    for run, steps in runs:
        c["total"] += 1
        if run.status in _IN_PROGRESS:
            c["in_progress"] += 1
        elif any(s.decision == _ESCALATE for s in steps):
            c["escalated"] += 1
        elif run.status is RunStatus.COMPLETED:
            c["met"] += 1
        elif run.status is RunStatus.ESCALATED:
            c["awaiting_approval"] += 1  # every step passed; an action waits for approval
        elif run.status is RunStatus.FAILED:
            c["failed"] += 1
        else:
            c["cancelled"] += 1
    return RunCounts(**c)


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _created(run: RunRecord) -> datetime:
    dt = datetime.fromisoformat(run.created_at)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


async def _runs_in(store: Store, since: datetime | None, until: datetime | None) -> list[RunRecord]:
    """Runs created in ``[since, until)``, paging newest first; stops at the first older run."""
    seen: set[str] = set()
    found: list[RunRecord] = []
    offset = 0
    while True:
        page = await store.list_runs(limit=_PAGE, offset=offset)
        offset += len(page.runs)
        for run in page.runs:
            created = _created(run)
            if since is not None and created < since:
                return found
            # runs created while we page shift the pages: skip the ones seen twice
            if (until is None or created < until) and run.run_id not in seen:
                seen.add(run.run_id)
                found.append(run)
        if len(page.runs) < _PAGE:
            return found


async def _action_approvals(store: Store, run_ids: set[str]) -> int:
    n, offset = 0, 0
    while True:
        page = await store.list_requests(limit=_PAGE, offset=offset)
        offset += len(page)
        n += sum(1 for r in page if r.kind == "action" and r.run_id in run_ids)
        if len(page) < _PAGE:
            return n


def _status(bad: bool, alert: bool, value: float | None) -> CheckStatus:
    return "no data" if value is None else "alert" if alert else "watch" if bad else "normal"


def _checks(per10k: float | None, overall: GroupStats) -> tuple[Check, ...]:
    p99 = overall.eval_latency_ms.p99
    qsr = overall.qsr.mean
    mri = overall.mri.mean
    return (
        Check(
            "GIL escalations per 10k tasks",
            per10k,
            "—" if per10k is None else f"{per10k:,.1f}",
            "≤ 1 (alert > 5)",
            _status(per10k is not None and per10k > 1, per10k is not None and per10k > 5, per10k),
        ),
        Check(
            "evaluation latency p99",
            p99,
            "—" if p99 is None else f"{p99:,.2f} ms",
            "< 200 ms",
            _status(False, p99 is not None and p99 >= 200, p99),
        ),
        Check(
            "mean QSR",
            qsr,
            "—" if qsr is None else f"{qsr:.3f}",
            "≥ 0.75 (alert < 0.6)",
            _status(qsr is not None and qsr < 0.75, qsr is not None and qsr < 0.6, qsr),
        ),
        Check(
            "mean MRI",
            mri,
            "—" if mri is None else f"{mri:.3f}",
            "≤ 0.25 (alert > 0.4)",
            _status(mri is not None and mri > 0.25, mri is not None and mri > 0.4, mri),
        ),
    )


def _reasons(runs: RunCounts, interval: tuple[float, float] | None, verdict: Verdict) -> list[str]:
    if not runs.finished:
        reasons = ["No finished task in this window: there is nothing to judge, so no GO."]
    else:
        share = runs.met / runs.finished
        reasons = [
            f"{_pct(share)} of {runs.finished:,} finished tasks ({runs.met:,}) met the quality "
            f"gates without a human escalation; GO needs more than {_GO_LINE}"
            + (" (criterion met)." if verdict is Verdict.GO else " (criterion not met).")
        ]
        if interval is not None and interval[0] <= GO_SHARE <= interval[1]:
            reasons.append(
                f"The 95 % confidence interval of that share ({_pct(interval[0])}–"
                f"{_pct(interval[1])}) includes the {_GO_LINE} line: more tasks would "
                "make the verdict firmer."
            )
    if runs.in_progress:
        reasons.append(f"{runs.in_progress:,} task(s) still in progress are not counted.")
    return reasons


async def build_report(
    store: Store,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    workflow: str | None = None,
    version: int | None = None,
) -> ReportData:
    """Read the runs created in ``[since, until)`` and their attempts; compute the report.

    Args:
        store: an open store.
        since: first creation time included (naive values are UTC); ``None``: from the start.
        until: first creation time excluded; ``None``: up to now.
        now: the report's time stamp (tests pass a fixed one).
        workflow, version: only the runs of this workflow (and version): the Go/No-Go of one
            version, e.g. over its staging window.
    """
    start, end = _utc(since), _utc(until)
    runs = [
        r
        for r in await _runs_in(store, start, end)
        if (workflow is None or r.workflow == workflow)
        and (version is None or r.workflow_version == version)
    ]
    gate = asyncio.Semaphore(_READERS)

    async def steps_of(run_id: str) -> list[StepRecord]:
        async with gate:
            return await store.step_records(run_id)

    steps = await asyncio.gather(*(steps_of(r.run_id) for r in runs))
    pairs = list(zip(runs, steps, strict=True))
    counts = _count(pairs)
    action_approvals = await _action_approvals(store, {r.run_id for r in runs})

    by_workflow: dict[str, list[tuple[RunRecord, list[StepRecord]]]] = defaultdict(list)
    by_agent: dict[str, list[StepRecord]] = defaultdict(list)
    for run, ss in pairs:
        by_workflow[run.workflow].append((run, ss))
        for s in ss:
            by_agent[s.agent_id or _NO_AGENT].append(s)
    all_steps = [s for ss in steps for s in ss]
    overall = _group("all", all_steps)
    gate_escalations = sum(s.decision == _ESCALATE for s in all_steps)
    per10k = (
        (gate_escalations + action_approvals) / counts.finished * 10_000
        if counts.finished
        else None
    )
    interval = _wilson(counts.met, counts.finished)
    verdict = verdict_for(counts.met, counts.finished)
    return ReportData(
        since=start,
        until=end,
        generated_at=_utc(now) or datetime.now(UTC),
        verdict=verdict,
        reasons=tuple(_reasons(counts, interval, verdict)),
        runs=counts,
        share_interval=interval,
        gate_escalations=gate_escalations,
        action_approvals=action_approvals,
        overall=overall,
        by_workflow=tuple(
            _group(name, (s for _, ss in group for s in ss), _count(group))
            for name, group in sorted(by_workflow.items())
        ),
        by_agent=tuple(_group(name, ss) for name, ss in sorted(by_agent.items())),
        checks=_checks(per10k, overall),
        routing=routing_report.from_steps(steps, await routing_report.records_of(store)),
        knowledge=await routing_report.knowledge_summary(store),
        reevaluation=await routing_report.reevaluation_summary(store, {r.run_id for r in runs}),
    )


# -- HTML ----------------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
margin:0 auto;max-width:1120px;padding:24px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #d0d7de}
h3{font-size:15px;margin:0 0 6px}.muted{color:#59636e}
.verdict{border:2px solid;border-radius:8px;padding:16px 20px;margin:16px 0}
.verdict.go{border-color:#1a7f37;background:#f0fff4}.verdict.no-go{border-color:#b42318;background:#fff5f5}
.word{font-size:40px;font-weight:700;margin:0}.go .word{color:#1a7f37}.no-go .word{color:#b42318}
.share{font-size:17px;margin:4px 0 8px}
table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f6f8fa}
.normal{color:#1a7f37}.watch{color:#9a6700}.alert{color:#b42318;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:16px}
.card{border:1px solid #d0d7de;border-radius:6px;padding:12px}
.stats{font-size:13px;color:#59636e;margin:2px 0 0}
svg{display:block}svg text{font:11px system-ui,sans-serif;fill:#59636e}
svg .bar{fill:#4873b3}svg .axis{stroke:#8c959f}svg .gate{stroke:#b42318;stroke-dasharray:4 3}
svg .gate-label{fill:#b42318}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(x: float | None, spec: str = ".3f") -> str:
    return "—" if x is None else format(x, spec)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f} %"


def _ms(v: float) -> str:
    return f"{v / 1000:g} s" if v >= 1000 else f"{v:g} ms"


def _svg_bars(
    counts: Sequence[int],
    labels: Sequence[str],
    *,
    dist: str,
    title: str,
    ticks: Sequence[tuple[float, str]],
    marker: tuple[float, str] | None = None,
) -> str:
    """A histogram: one bar per bin (heights from zero), tick labels at fractions of the width,
    an optional dashed line (a gate). Each bar's tooltip says its bin and count."""
    w, h, left, right, top, bottom = 360, 150, 40, 12, 12, 34
    pw, ph = w - left - right, h - top - bottom
    peak = max(counts, default=0)
    out = [
        f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        f'aria-label="{_e(title)}" data-dist="{_e(dist)}"><title>{_e(title)}</title>'
    ]
    if peak == 0:
        out.append(f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle">no data</text></svg>')
        return "".join(out)
    bw = pw / len(counts)
    for i, (c, label) in enumerate(zip(counts, labels, strict=True)):
        bh = c / peak * ph
        out.append(
            f'<rect class="bar" x="{left + i * bw + 0.5:.1f}" y="{top + ph - bh:.1f}" '
            f'width="{max(bw - 1, 1):.1f}" height="{bh:.1f}">'
            f"<title>{_e(label)}: {c:,}</title></rect>"
        )
    base = top + ph
    out.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{left + pw}" y2="{base}"/>')
    out.append(f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{base}"/>')
    out.append(f'<text x="{left - 4}" y="{base}" text-anchor="end">0</text>')
    out.append(f'<text x="{left - 4}" y="{top + 9}" text-anchor="end">{peak:,}</text>')
    for frac, text in ticks:
        x = left + frac * pw
        out.append(f'<text x="{x:.1f}" y="{base + 14}" text-anchor="middle">{_e(text)}</text>')
    out.append(
        f'<text x="{left + pw / 2}" y="{h - 3}" text-anchor="middle">{_e(title.split(" — ")[0])}'
        " (bar height: attempts)</text>"
    )
    if marker is not None:
        x = left + marker[0] * pw
        out.append(f'<line class="gate" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{base}"/>')
        out.append(f'<text class="gate-label" x="{x + 3:.1f}" y="{top + 9}">{_e(marker[1])}</text>')
    out.append("</svg>")
    return "".join(out)


def _score_chart(d: ScoreDistribution, kind: str, scope: str, name: str) -> str:
    step = 1 / SCORE_BINS
    labels = [f"{i * step:.2f}–{(i + 1) * step:.2f}" for i in range(SCORE_BINS)]
    ticks = [(f, f"{f:g}") for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    marker = None if d.gate is None else (d.gate, f"gate {d.gate:g}")
    svg = _svg_bars(
        d.counts,
        labels,
        dist=f"{kind}/{scope}/{name}",
        title=f"{kind.upper()} — {scope} {name}",
        ticks=ticks,
        marker=marker,
    )
    stats = (
        f"n={d.n:,} · mean {_num(d.mean)} · p5 {_num(d.p5)} · p50 {_num(d.p50)} · p95 {_num(d.p95)}"
    )
    return f'<div>{svg}<p class="stats">{kind.upper()}: {stats}</p></div>'


def _latency_chart(stats: LatencyStats, kind: str) -> str:
    edges = LATENCY_EDGES_MS
    used = [i for i, c in enumerate(stats.counts) if c]
    lo, hi = (min(used), max(used)) if used else (0, len(edges) - 1)
    lo, hi = max(0, lo - 1), min(len(edges) - 1, hi + 1)
    counts = stats.counts[lo : hi + 1]
    labels = [
        (f"< {_ms(edges[i])}" if i == 0 else f"≥ {_ms(edges[i - 1])}")
        if i in (0, len(edges) - 1)
        else f"{_ms(edges[i - 1])}–{_ms(edges[i])}"
        for i in range(lo, hi + 1)
    ]
    n = hi - lo + 1
    ticks = [
        ((i - lo) / n, _ms(edges[i - 1]))
        for i in range(lo + 1, hi + 1)
        if edges[i - 1] == 10 ** round(math.log10(edges[i - 1]))
    ]
    svg = _svg_bars(counts, labels, dist=f"{kind}/all", title=f"{kind} — all attempts", ticks=ticks)
    return f'<div class="card">{svg}<p class="stats">{_e(kind)}, log-scale bins</p></div>'


def _runs_table(runs: RunCounts) -> str:
    f = runs.finished

    def row(label: str, n: int, note: str = "") -> str:
        share = _pct(n / f) if f else "—"
        return f"<tr><td>{label}</td><td>{n:,}</td><td>{share}</td><td>{note}</td></tr>"

    return (
        "<table><tr><th>tasks</th><th>count</th><th>share of finished</th><th></th></tr>"
        + row("finished", f)
        + row("met the gates without escalation", runs.met, "counts toward GO")
        + row("escalated to humans by the gate", runs.escalated)
        + row("waiting for an action approval", runs.awaiting_approval, "every step passed")
        + row("failed", runs.failed)
        + row("cancelled", runs.cancelled)
        + f"<tr><td>in progress (not counted)</td><td>{runs.in_progress:,}</td><td>—</td>"
        "<td></td></tr></table>"
    )


def _group_card(g: GroupStats, scope: str) -> str:
    rows = [("attempts", f"{g.attempts:,}"), ("passed the gate", f"{g.passed:,}")]
    if g.runs is not None:
        rows = [
            ("finished tasks", f"{g.runs.finished:,}"),
            ("met without escalation", f"{g.runs.met:,} ({_pct(g.runs.share_met)})"),
            *rows,
        ]
    rows += [("retries", f"{g.retries:,}"), ("escalations", f"{g.escalations:,}")]
    table = "<table>" + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows) + "</table>"
    return (
        f'<div class="card"><h3>{_e(g.name)}</h3>{table}'
        f"{_score_chart(g.qsr, 'qsr', scope, g.name)}{_score_chart(g.mri, 'mri', scope, g.name)}"
        "</div>"
    )


def _latency_rows(groups: Iterable[tuple[str, GroupStats]]) -> str:
    head = (
        "<tr><th>attempts of</th><th>n</th>"
        + "".join(f"<th>step {p}</th>" for p in ("p50", "p95", "p99", "max"))
        + "".join(f"<th>evaluation {p}</th>" for p in ("p50", "p95", "p99"))
        + "</tr>"
    )
    body = []
    for label, g in groups:
        s, e = g.step_latency_ms, g.eval_latency_ms
        cells = [s.p50, s.p95, s.p99, s.max, e.p50, e.p95, e.p99]
        body.append(
            f"<tr><td>{_e(label)}</td><td>{s.n:,}</td>"
            + "".join(f"<td>{_num(c, ',.2f')}</td>" for c in cells)
            + "</tr>"
        )
    return f"<table>{head}{''.join(body)}</table><p class='muted'>milliseconds</p>"


def _window(data: ReportData) -> str:
    def t(dt: datetime) -> str:
        return dt.strftime("%Y-%m-%d %H:%M:%S UTC")

    since, until = data.since, data.until
    if until is None:
        return "all tasks" if since is None else f"tasks created since {t(since)}"
    if since is None:
        return f"tasks created before {t(until)}"
    return f"tasks created from {t(since)} to {t(until)} (end excluded)"


def render_html(data: ReportData) -> str:
    """One self-contained page (inline CSS and SVG, no script, nothing fetched): the verdict on
    top, then the counts, the runbook's lines, the distributions and the latencies."""
    v = data.verdict
    cls = "go" if v is Verdict.GO else "no-go"
    runs = data.runs
    interval = (
        ""
        if data.share_interval is None
        else f" (95 % confidence interval {_pct(data.share_interval[0])}–"
        f"{_pct(data.share_interval[1])})"
    )
    headline = (
        f"{_pct(runs.share_met)} met the gates without escalation: {runs.met:,} of "
        f"{runs.finished:,} finished tasks{interval}"
        if runs.finished
        else "no finished tasks"
    )
    reasons = "".join(f"<li>{_e(r)}</li>" for r in data.reasons)
    checks = "".join(
        f"<tr><td>{_e(c.metric)}</td><td>{_e(c.shown)}</td><td>{_e(c.normal)}</td>"
        f'<td class="{c.status.replace(" ", "-")}">{_e(c.status)}</td></tr>'
        for c in data.checks
    )
    p10k = data.per_10k
    esc = (
        "<table><tr><th>GIL escalations</th><th>count</th><th>per 10k tasks</th></tr>"
        f"<tr><td>steps escalated by the gate</td><td>{data.gate_escalations:,}</td>"
        f"<td>{_num(p10k(data.gate_escalations), ',.1f')}</td></tr>"
        f"<tr><td>actions sent for approval</td><td>{data.action_approvals:,}</td>"
        f"<td>{_num(p10k(data.action_approvals), ',.1f')}</td></tr>"
        f"<tr><td>together (as gil_escalations_total counts)</td>"
        f"<td>{data.gate_escalations + data.action_approvals:,}</td>"
        f"<td>{_num(data.escalations_per_10k, ',.1f')}</td></tr></table>"
    )
    workflows = "".join(_group_card(g, "workflow") for g in data.by_workflow)
    agents = "".join(_group_card(g, "agent") for g in data.by_agent)
    latency_groups = [
        ("all", data.overall),
        *((f"workflow {g.name}", g) for g in data.by_workflow),
        *((f"agent {g.name}", g) for g in data.by_agent),
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Maestro + Helix Go/No-Go: {v.value}</title><style>{_CSS}</style></head><body>
<h1>Maestro + Helix — Go/No-Go report</h1>
<p class="muted">{_e(_window(data))} · generated {data.generated_at:%Y-%m-%d %H:%M:%S} UTC</p>
<section class="verdict {cls}" id="verdict"><p class="muted">Verdict</p>
<p class="word">{v.value}</p><p class="share">{_e(headline)}</p><ul>{reasons}</ul>
<p class="muted">Criterion (runbook, phase 2 Go/No-Go gate): more than 95 % of tasks meet the
quality gates without manual GIL escalations.</p></section>
<h2>Tasks</h2>{_runs_table(runs)}
<h2>Escalations</h2>{esc}
<h2>Runbook monitoring lines</h2>
<p class="muted">For information: the verdict above uses only the Go/No-Go criterion.</p>
<table><tr><th>metric</th><th>this window</th><th>normal</th><th>status</th></tr>{checks}</table>
<h2>QSR and MRI by workflow</h2>
<p class="muted">Every step attempt, retries included. Dashed line: the gate threshold the
attempts were judged against, when they all had the same one.</p>
<div class="cards">{workflows or "<p>no attempts</p>"}</div>
<h2>QSR and MRI by agent</h2><div class="cards">{agents or "<p>no attempts</p>"}</div>
{routing_report.render(data.routing, data.knowledge, data.reevaluation)}
<h2 id="latency">Latency</h2>
<p class="muted">Step latency: the agent's run time for one attempt, as stored with the step.
Evaluation latency: QSR and MRI evaluation of that attempt; the runbook's target is under
200 ms. Nearest-rank percentiles.</p>
{_latency_rows(latency_groups)}
<div class="cards">{_latency_chart(data.overall.step_latency_ms, "step latency")}
{_latency_chart(data.overall.eval_latency_ms, "evaluation latency")}</div>
<h2>How these numbers are counted</h2><ul>
<li>The window selects tasks (runs) by creation time; tasks still pending, running or paused
are left out of every share.</li>
<li>A task met the gates without escalation when it completed and none of its step attempts was
escalated to humans. Retries with evaluator feedback are allowed. A task that failed, was
cancelled, was escalated, or still waits for a human to approve an action has not.</li>
<li>Per 10k tasks: per 10,000 finished tasks. An action approval is a human sign-off the policy
requires for an irreversible action; it is shown beside the gate escalations and does not by
itself count against the criterion unless the task has not completed.</li>
<li>The confidence interval is Wilson's, at 95 %. All figures are computed from every stored
attempt in the window; nothing is sampled.</li></ul>
</body></html>
"""
