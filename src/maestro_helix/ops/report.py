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
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Literal

from maestro_helix.core.ports import Store
from maestro_helix.core.records import ActionIntent, RunRecord, RunStatus, StepRecord
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
_FAILED_SHOWN = 100  # failed actions listed on the page at most


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
    failed_actions: tuple[ActionIntent, ...] = ()  # of the window's runs, newest first

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


async def _failed_actions(store: Store, run_ids: set[str]) -> tuple[ActionIntent, ...]:
    """The window's actions whose handler failed (``maestro actions retry KEY`` runs one again)."""
    failed = await store.list_intents(status="failed", limit=_FAILED_SHOWN * 10)
    return tuple(i for i in failed if i.run_id in run_ids)[:_FAILED_SHOWN]


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


def pct(x: float | None) -> str:
    """A share as a percentage for people ("—" when there is none)."""
    return "—" if x is None else f"{x * 100:.1f} %"


def _reasons(runs: RunCounts, interval: tuple[float, float] | None, verdict: Verdict) -> list[str]:
    if not runs.finished:
        reasons = ["No finished task in this window: there is nothing to judge, so no GO."]
    else:
        share = runs.met / runs.finished
        reasons = [
            f"{pct(share)} of {runs.finished:,} finished tasks ({runs.met:,}) met the quality "
            f"gates without a human escalation; GO needs more than {_GO_LINE}"
            + (" (criterion met)." if verdict is Verdict.GO else " (criterion not met).")
        ]
        if interval is not None and interval[0] <= GO_SHARE <= interval[1]:
            reasons.append(
                f"The 95 % confidence interval of that share ({pct(interval[0])}–"
                f"{pct(interval[1])}) includes the {_GO_LINE} line: more tasks would "
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
        failed_actions=await _failed_actions(store, {r.run_id for r in runs}),
    )


def render_html(data: ReportData) -> str:
    """The report as one self-contained HTML page (:mod:`~maestro_helix.ops.report_html`)."""
    from maestro_helix.ops.report_html import render_html as render

    return render(data)
