"""The summary table printed after a batch of runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.table import Table

from maestro_helix.core.ports import Store
from maestro_helix.core.records import RunStatus
from maestro_helix.engine.engine import RunResult


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


@dataclass
class BatchSummary:
    """Figures over many runs: what ``maestro demo`` reports."""

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
    pending_requests: int = 0
    two_person: int = 0
    approvals: int = 0
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

    async def add_governance(self, store: Store, run_ids: Sequence[str]) -> None:
        """GIL's side of the batch: requests waiting for people, decisions, actions run."""
        mine = set(run_ids)
        for req in await store.list_requests(limit=1_000_000):
            if req.run_id not in mine:
                continue
            if req.status == "pending":
                self.pending_requests += 1
                self.two_person += req.required_approvals >= 2
            self.approvals += len((await store.get_request(req.request_id))[1])
        for run_id in run_ids:
            for intent in await store.intents_of(run_id):
                self.actions_run += intent.status == "succeeded"
                self.actions_failed += intent.status == "failed"

    @property
    def throughput_per_min(self) -> float:
        return self.runs / self.elapsed_s * 60.0 if self.elapsed_s > 0 else 0.0

    def table(self, title: str = "summary") -> Table:
        def mean(v: list[float]) -> float:
            return sum(v) / len(v) if v else 0.0

        share = self.passed_clean / self.runs if self.runs else 0.0
        t = Table(title=title, show_header=True)
        t.add_column("metric")
        t.add_column("value", justify="right")
        t.add_row("tasks", f"{self.runs}")
        t.add_row("passed without escalation", f"{self.passed_clean} ({share:.1%})")
        t.add_row("completed", f"{self.completed}")
        t.add_row("escalated to humans", f"{self.escalated}")
        t.add_row(
            "approval requests waiting",
            f"{self.pending_requests} ({self.two_person} need two people)",
        )
        t.add_row("human decisions recorded", f"{self.approvals}")
        t.add_row("actions run through GIL", f"{self.actions_run} ({self.actions_failed} failed)")
        t.add_row("failed", f"{self.failed}")
        t.add_row("retries (with evaluator feedback)", f"{self.retries}")
        t.add_row("QSR mean / p99", f"{mean(self.qsr):.3f} / {percentile(self.qsr, 99):.3f}")
        t.add_row("MRI mean / p99", f"{mean(self.mri):.3f} / {percentile(self.mri, 99):.3f}")
        t.add_row("throughput", f"{self.throughput_per_min:,.0f} tasks/min")
        t.add_row(
            "evaluation latency p50 / p99",
            f"{percentile(self.eval_ms, 50):.2f} / {percentile(self.eval_ms, 99):.2f} ms",
        )
        t.add_row("wall time", f"{self.elapsed_s:.2f} s")
        return t
