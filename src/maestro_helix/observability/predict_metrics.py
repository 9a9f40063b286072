"""Metrics of the pre-execution risk prediction (on the same registry as :class:`HelixMetrics`).

- ``helix_risk_predicted`` (histogram, ``workflow``, ``step``): the predicted chance of a gate
  failure or escalation for the agent that ran each attempt (only with an active model).
- ``helix_risk_mitigations_total`` (counter, ``workflow``, ``step``, ``mitigation``): what the
  prediction did (``proceed``, ``route``, ``tighten``, ``approval``), one per committed attempt.
- ``helix_risk_model_version`` (gauge): the active model version this process uses (0: none).
- ``helix_risk_model_auc`` (gauge): ROC AUC of the active model's predictions against the
  outcomes on the last recorded attempts (``helix_risk_model_evaluated`` of them), from the store,
  so every process reports the same; the drift alert ``HelixRiskModelDrift`` reads it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["PredictionMetrics"]


class PredictionMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.predicted = Histogram(
            "helix_risk_predicted",
            "Predicted chance of a gate failure or escalation, per attempt",
            ["workflow", "step"],
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0),
            registry=registry,
        )
        self.mitigations = Counter(
            "helix_risk_mitigations_total",
            "What the risk prediction did before each attempt",
            ["workflow", "step", "mitigation"],
            registry=registry,
        )
        self.version = Gauge(
            "helix_risk_model_version", "Active risk model version (0: none)", registry=registry
        )
        self.auc = Gauge(
            "helix_risk_model_auc",
            "ROC AUC of the active model's predictions on recent recorded attempts",
            registry=registry,
        )
        self.evaluated = Gauge(
            "helix_risk_model_evaluated",
            "Recorded attempts behind helix_risk_model_auc",
            registry=registry,
        )
        # the labelled children, resolved once per label values (labels() locks and hashes)
        self._predicted: dict[tuple[str, str], Histogram] = {}
        self._mitigations: dict[tuple[str, str, str], Counter] = {}

    def attempt(self, workflow: str, step: str, p: float | None, mitigation: str) -> None:
        if p is not None:
            key = (workflow, step)
            hist = self._predicted.get(key)
            if hist is None:
                hist = self._predicted[key] = self.predicted.labels(*key)
            hist.observe(p)
        mkey = (workflow, step, mitigation)
        counter = self._mitigations.get(mkey)
        if counter is None:
            counter = self._mitigations[mkey] = self.mitigations.labels(*mkey)
        counter.inc()
