"""The Go/No-Go report as one self-contained HTML page (:func:`render_html`): inline CSS and SVG,
no script, nothing fetched. The figures come from :func:`~maestro_helix.ops.report.build_report`."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from maestro_helix.core.records import ActionIntent
from maestro_helix.ops import routing_report
from maestro_helix.ops.report import (
    LATENCY_EDGES_MS,
    SCORE_BINS,
    GroupStats,
    LatencyStats,
    ReportData,
    RunCounts,
    ScoreDistribution,
    Verdict,
    pct,
)

__all__ = ["render_html"]

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
        share = pct(n / f) if f else "—"
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
            ("met without escalation", f"{g.runs.met:,} ({pct(g.runs.share_met)})"),
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


def _failed_table(failed: Sequence[ActionIntent]) -> str:
    if not failed:
        return "<p>none: every action whose handler was called succeeded</p>"
    rows = "".join(
        f"<tr><td>{_e(i.action_type)}</td><td><code>{_e(i.idempotency_key)}</code></td>"
        f"<td>{i.attempts}</td><td>{_e(i.error or '')}</td></tr>"
        for i in failed
    )
    return (
        '<p class="muted">An admin runs one again with the same idempotency key: '
        "<code>maestro actions retry KEY</code> (audited).</p>"
        "<table><tr><th>action type</th><th>key</th><th>attempts</th><th>error</th></tr>"
        f"{rows}</table>"
    )


def render_html(data: ReportData) -> str:
    """One self-contained page (inline CSS and SVG, no script, nothing fetched): the verdict on
    top, then the counts, the runbook's lines, the distributions and the latencies."""
    v = data.verdict
    cls = "go" if v is Verdict.GO else "no-go"
    runs = data.runs
    interval = (
        ""
        if data.share_interval is None
        else f" (95 % confidence interval {pct(data.share_interval[0])}–"
        f"{pct(data.share_interval[1])})"
    )
    headline = (
        f"{pct(runs.share_met)} met the gates without escalation: {runs.met:,} of "
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
<h2 id="failed-actions">Failed actions</h2>{_failed_table(data.failed_actions)}
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
