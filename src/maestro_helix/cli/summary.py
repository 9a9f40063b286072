"""The summary table printed after a batch of runs.

It costs a few queries whatever the batch size: one for the batch's approval requests, and one
pass over the audit entries the batch wrote (pages of 10,000, the bytes that were hashed), which
checks them against the chain (each hash, each seq, linked to the entry before them) and keeps
what the other lines count: the actions run, the re-evaluation rounds, the risk predictions.
The whole chain is checked only when asked (``maestro demo --verify-audit``,
``maestro audit verify``).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.table import Table

from maestro_helix.core.audit import AuditKind, ChainReport
from maestro_helix.core.ports import Store
from maestro_helix.core.records import RunStatus
from maestro_helix.engine.engine import RunResult

EVENT_PAGE = 10_000


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def process_elapsed_s() -> float | None:
    """Wall time since this process started (Linux ``/proc``), or ``None`` where unknown."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))


@dataclass(frozen=True, slots=True)
class Marks:
    """Where the store's append-only tables stood before a batch (``count`` is a lower bound
    of the newest seq: reading after it never misses what the batch writes)."""

    events: int
    audit: int

    @classmethod
    async def take(cls, store: Store) -> Marks:
        return cls(await store.count("reflexive_events"), await store.count("audit_log"))


async def verify_since(store: Store, after_seq: int) -> ChainReport:
    """Check the audit entries after ``after_seq``: each hash, each seq, and each link back to
    the entry before it (the first one to entry ``after_seq``)."""
    return (await read_since(store, after_seq)).report


@dataclass(frozen=True, slots=True)
class BatchAudit:
    """One pass over a batch's audit entries: the chain's verdict, and the entries of the kinds
    asked for (decoded from the bytes that were hashed, so what is counted is what was
    verified)."""

    report: ChainReport
    entries: Mapping[str, list[dict[str, Any]]]


async def read_since(
    store: Store, after_seq: int, kinds: Sequence[str] = (), page: int = EVENT_PAGE
) -> BatchAudit:
    """Verify the entries after ``after_seq`` (as :func:`verify_since`) and keep those of
    ``kinds``, reading the log once: the summary's other lines (re-evaluation, risk prediction,
    actions run) are folds of the same entries."""
    needles = {k: b'"kind":' + orjson.dumps(k) for k in kinds}
    found: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    prev: str | None = None
    if after_seq:
        before = await store.audit_rows(after_seq - 1, 1)
        prev = hashlib.sha256(before[0][3]).hexdigest() if before else None
    checked, seq = 0, after_seq

    def bad(at: int, why: str) -> BatchAudit:
        return BatchAudit(ChainReport(False, checked, at, why), found)

    while True:
        rows = await store.audit_rows(seq, page)  # the entries seq + 1 .. seq + page
        for at, prev_hash, stored, body in rows:
            checked += 1
            if at != seq + 1 and not (checked == 1 and prev is None):
                return bad(at, f"entry {at} follows entry {seq}: entries are missing")
            if prev is not None and prev_hash != prev:
                return bad(at, f"entry {at} does not link to {seq}")
            prev = hashlib.sha256(body).hexdigest()
            if prev != stored:
                return bad(at, f"entry {at} was altered")
            seq = at
            if needles and any(n in body for n in needles.values()):
                e = orjson.loads(body)
                bucket = found.get(str(e.get("kind")))
                if bucket is not None:
                    bucket.append(e)
        if len(rows) < page:  # the end, or a gap: is there an entry after it?
            after = await store.audit_entries(after_seq=seq, limit=1)
            if not after:
                return BatchAudit(ChainReport(True, checked), found)
            if checked or prev is not None:
                return bad(int(after[0]["seq"]), f"entries after {seq} are missing")
            seq = int(after[0]["seq"]) - 1  # the log starts later than after_seq


SUMMARY_KINDS = (AuditKind.STEP_DECISION, AuditKind.STEP_PREDICTION, AuditKind.ACTION_EXECUTED)
"""What the demo's summary counts: re-evaluation rounds, risk prediction, actions run."""


@dataclass
class BatchSummary:
    """Figures over many runs: what ``maestro demo`` reports.

    Args:
        min_qsr: the gate's QSR line (scores below it are counted).
        max_mri: the gate's MRI line (scores above it are counted).
    """

    min_qsr: float = 0.7
    max_mri: float = 0.3
    runs: int = 0
    completed: int = 0
    passed_clean: int = 0
    escalated: int = 0
    failed: int = 0
    retries: int = 0
    qsr: list[float] = field(default_factory=list)
    mri: list[float] = field(default_factory=list)
    eval_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    summary_s: float = 0.0
    process_s: float | None = None
    pending_requests: int = 0
    two_person: int = 0
    decided_requests: int = 0
    actions_run: int = 0
    actions_failed: int = 0

    def add(self, r: RunResult) -> None:
        self.runs += 1
        self.completed += r.status is RunStatus.COMPLETED
        self.failed += r.status is RunStatus.FAILED
        self.escalated += r.status is RunStatus.ESCALATED or r.escalated
        if r.status is RunStatus.COMPLETED and not r.escalated:
            self.passed_clean += 1
        self.retries += r.retries
        for a in r.attempts:
            if a.qsr is not None:
                self.qsr.append(a.qsr)
            if a.mri is not None:
                self.mri.append(a.mri)
            self.eval_ms.append(a.eval_ms)

    async def add_governance(self, store: Store, run_ids: Sequence[str], batch: BatchAudit) -> None:
        """GIL's side of the batch: the requests of these runs (one query) and the outcomes of
        their actions (the batch's ``action.executed`` entries; the latest per key counts)."""
        t0 = time.perf_counter()
        mine = set(run_ids)
        for req in await store.list_requests(limit=1_000_000):
            if req.run_id not in mine:
                continue
            if req.status == "pending":
                self.pending_requests += 1
                self.two_person += req.required_approvals >= 2
            else:
                self.decided_requests += 1
        outcomes: dict[str, bool] = {}
        for e in batch.entries.get(AuditKind.ACTION_EXECUTED, ()):
            if e.get("run_id") in mine:
                key = str((e.get("details") or {}).get("idempotency_key") or e.get("entry_id"))
                outcomes[key] = e.get("gil_decision") == "executed"
        self.actions_run += sum(outcomes.values())
        self.actions_failed += sum(1 for ok in outcomes.values() if not ok)
        self.summary_s += time.perf_counter() - t0

    @property
    def throughput_per_min(self) -> float:
        return self.runs / self.elapsed_s * 60.0 if self.elapsed_s > 0 else 0.0

    def table(self, title: str = "summary") -> Table:
        share = self.passed_clean / self.runs if self.runs else 0.0
        t = Table(title=title, show_header=True)
        t.add_column("metric")
        t.add_column("value", justify="right")
        for label, value in self.rows(share):
            t.add_row(label, value)
        return t

    def rows(self, share: float) -> list[tuple[str, str]]:
        rows = [
            ("tasks", f"{self.runs}"),
            ("passed without escalation", f"{self.passed_clean} ({share:.1%})"),
            ("completed", f"{self.completed}"),
            ("escalated to humans", f"{self.escalated}"),
            (
                "approval requests waiting",
                f"{self.pending_requests} ({self.two_person} need two people)",
            ),
            ("approval requests decided", f"{self.decided_requests}"),
            ("actions run through GIL", f"{self.actions_run} ({self.actions_failed} failed)"),
            ("failed", f"{self.failed}"),
            ("retries (with evaluator feedback)", f"{self.retries}"),
            ("QSR mean / p1", f"{_mean(self.qsr):.3f} / {percentile(self.qsr, 1):.3f}"),
            (
                f"QSR below the gate ({self.min_qsr:g})",
                _share(self.qsr, lambda x: x < self.min_qsr),
            ),
            ("MRI mean / p99", f"{_mean(self.mri):.3f} / {percentile(self.mri, 99):.3f}"),
            (
                f"MRI above the gate ({self.max_mri:g})",
                _share(self.mri, lambda x: x > self.max_mri),
            ),
            ("throughput", f"{self.throughput_per_min:,.0f} tasks/min"),
            (
                "evaluation latency p50 / p99",
                f"{percentile(self.eval_ms, 50):.2f} / {percentile(self.eval_ms, 99):.2f} ms",
            ),
            ("wall time (runs)", f"{self.elapsed_s:.2f} s"),
            ("summary queries", f"{self.summary_s:.2f} s"),
        ]
        if self.process_s is not None:
            rows.append(("wall time (whole process)", f"{self.process_s:.2f} s"))
        return rows


def _mean(v: list[float]) -> float:
    return sum(v) / len(v) if v else 0.0


def _share(values: list[float], pred: Callable[[float], bool]) -> str:
    n = sum(1 for x in values if pred(x))
    return f"{n / len(values):.1%} of attempts" if values else "—"
