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

from maestro_helix.observability.metrics import HelixMetrics, MetricsLink, metrics_app
from maestro_helix.observability.tracing import TracingLink, run_span, tracer_provider_from_env

__all__ = [
    "HelixMetrics",
    "MetricsLink",
    "TracingLink",
    "metrics_app",
    "run_span",
    "tracer_provider_from_env",
]
