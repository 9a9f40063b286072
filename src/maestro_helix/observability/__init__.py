"""Observability: Prometheus metrics and OpenTelemetry traces for every step attempt.

Both are bridge links. Recommended position: outermost, tracing first, so the audit entries and
events built inside carry the trace id, and metrics see the gate's verdict and GIL's requests::

    from prometheus_client import CollectorRegistry
    from maestro_helix.engine.bridge import EventLink
    from maestro_helix.observability import (
        HelixMetrics, MetricsLink, TracingLink, tracer_provider_from_env,
    )

    metrics = HelixMetrics(CollectorRegistry())
    provider = tracer_provider_from_env()          # None unless OTEL_* asks for OTLP export
    links = [MetricsLink(metrics)]
    if provider is not None:
        links.insert(0, TracingLink(provider.get_tracer("maestro_helix")))
    bridge = bridge.with_links(before=EventLink, add=links)
    ...
    body, content_type = metrics.render(accept_header)   # GET /metrics (or mount metrics_app)
    ...
    if provider is not None:
        provider.shutdown()                               # on exit: flushes queued spans
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maestro_helix.observability.logs import configure_logging
    from maestro_helix.observability.metrics import HelixMetrics, MetricsLink, metrics_app
    from maestro_helix.observability.tracing import (
        TracingLink,
        run_span,
        tracer_provider_from_env,
    )

# imported on first use: the CLI configures logging without loading Prometheus or OpenTelemetry
_LAZY = {
    "configure_logging": "maestro_helix.observability.logs",
    "HelixMetrics": "maestro_helix.observability.metrics",
    "MetricsLink": "maestro_helix.observability.metrics",
    "metrics_app": "maestro_helix.observability.metrics",
    "TracingLink": "maestro_helix.observability.tracing",
    "run_span": "maestro_helix.observability.tracing",
    "tracer_provider_from_env": "maestro_helix.observability.tracing",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'maestro_helix.observability' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "HelixMetrics",
    "MetricsLink",
    "TracingLink",
    "configure_logging",
    "metrics_app",
    "run_span",
    "tracer_provider_from_env",
]
