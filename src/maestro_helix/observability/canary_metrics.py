"""Prometheus series of canaries: each evaluation's counts, rates and evidence, and decisions.

Fed by ``ops/canary.py`` after every evaluation a process makes (housekeeping ticks, the API,
the CLI). Labels: ``workflow`` and ``arm`` (stable|candidate), ``test`` (stable|bar),
``decision`` (continue|rollback|promote|abort) — all bounded. The decision counter counts what
this process decided; ``maestro_canary_rollbacks_recent`` is read from the store, so a rollback
decided by a CLI process shows in every serve and worker process too.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["CanaryMetrics"]


class CanaryMetrics:
    """The canary series on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.runs = Gauge(
            "maestro_canary_runs",
            "Settled runs of the running canary, per arm (stable|candidate).",
            ("workflow", "arm"),
            registry=r,
        )
        self.bad = Gauge(
            "maestro_canary_bad_runs",
            "Settled canary runs that escalated to people or failed, per arm.",
            ("workflow", "arm"),
            registry=r,
        )
        self.rate = Gauge(
            "maestro_canary_escalation_rate",
            "Share of settled canary runs that escalated or failed, per arm (0..1).",
            ("workflow", "arm"),
            registry=r,
        )
        self.evidence = Gauge(
            "maestro_canary_evidence",
            "E-value against the candidate (test=stable: worse than stable; test=bar: above the "
            "2 % bar); it rolls back at maestro_canary_evidence_threshold.",
            ("workflow", "test"),
            registry=r,
        )
        self.threshold = Gauge(
            "maestro_canary_evidence_threshold",
            "The e-value at which the canary rolls back (2 / alpha).",
            ("workflow",),
            registry=r,
        )
        self.recent_rollbacks = Gauge(
            "maestro_canary_rollbacks_recent",
            "Canaries of the workflow rolled back in the last 15 minutes, read from the store at "
            "each housekeeping tick: the same in every process, whichever process decided.",
            ("workflow",),
            registry=r,
        )
        self.decisions = Counter(
            "maestro_canary_decisions_total",
            "Canary decisions recorded by this process (rollback|promote|abort).",
            ("workflow", "decision"),
            registry=r,
        )

    def observe(
        self,
        workflow: str,
        arms: dict[str, tuple[int, int]],
        evidence: dict[str, float],
        threshold: float,
    ) -> None:
        """Set the gauges from one evaluation (``arms``: arm -> (runs, bad))."""
        for arm, (n, bad) in arms.items():
            self.runs.labels(workflow, arm).set(n)
            self.bad.labels(workflow, arm).set(bad)
            if n:
                self.rate.labels(workflow, arm).set(bad / n)
        for test, e in evidence.items():
            self.evidence.labels(workflow, test).set(e)
        self.threshold.labels(workflow).set(threshold)

    def decided(self, workflow: str, decision: str) -> None:
        self.decisions.labels(workflow, decision).inc()

    def rollbacks(self, recent: dict[str, int]) -> None:
        """Set the store-derived rollback counts (workflow → rolled back in the window)."""
        for workflow, n in recent.items():
            self.recent_rollbacks.labels(workflow).set(n)
