"""Structured logs: the extra fields, the trace id and the component reach the line."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider

from maestro_helix.observability.logs import LogFormat, StructuredFormatter, record_fields


def make_record(name: str, msg: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.WARNING, __file__, 1, msg, (), None)
    record.__dict__.update(extra)
    return record


def test_json_line_carries_every_extra_field() -> None:
    rec = make_record(
        "maestro_helix.security.tls",
        "TLS handshake failed",
        peer="10.0.0.9:51234",
        component="api",
        error="certificate unknown",
    )
    line = json.loads(StructuredFormatter(LogFormat.JSON).format(rec))
    assert line["msg"] == "TLS handshake failed"
    assert line["peer"] == "10.0.0.9:51234"
    assert line["error"] == "certificate unknown"
    assert line["component"] == "api"  # the call site's own component wins
    assert line["level"] == "WARNING"
    assert line["trace_id"] == "-"
    assert line["ts"].endswith("Z")


def test_component_defaults_to_the_package_of_the_logger() -> None:
    assert record_fields(make_record("maestro_helix.bus.workqueue", "x"))["component"] == "bus"
    assert record_fields(make_record("uvicorn.error", "x"))["component"] == "uvicorn"


def test_key_value_line_quotes_values_with_spaces() -> None:
    rec = make_record(
        "maestro_helix.bus.workqueue",
        "work queue fetch failed",
        error="TimeoutError: nats: timeout",
        attempt=3,
    )
    line = StructuredFormatter(LogFormat.TEXT).format(rec)
    assert " WARNING bus trace=- " in line
    assert 'msg="work queue fetch failed"' in line
    assert 'error="TimeoutError: nats: timeout"' in line
    assert "attempt=3" in line


def test_the_current_trace_id_is_on_the_line() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("step") as span:
        fields = record_fields(make_record("maestro_helix.engine.engine", "x"))
    provider.shutdown()
    assert fields["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_an_exception_is_kept_as_a_field() -> None:
    try:
        raise ValueError("bad payload")
    except ValueError:
        rec = logging.LogRecord("maestro_helix.governance", 40, "", 1, "action failed", (), None)
        rec.exc_info = sys.exc_info()
    line = json.loads(StructuredFormatter(LogFormat.JSON).format(rec))
    assert "ValueError: bad payload" in line["exc"]


def run_cli_logging(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    prog = (
        "import logging\n"
        "from maestro_helix.observability.logs import configure_logging\n"
        "configure_logging()\n" + code
    )
    return subprocess.run(
        [sys.executable, "-c", prog],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_environment_selects_json_and_the_level() -> None:
    r = run_cli_logging(
        {"MAESTRO_LOG_FORMAT": "json", "MAESTRO_LOG_LEVEL": "info"},
        "log = logging.getLogger('maestro_helix.engine.engine')\n"
        "log.debug('hidden')\n"
        "log.info('resuming unfinished runs', extra={'count': 4})\n",
    )
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stderr.splitlines()]
    assert [x["msg"] for x in lines] == ["resuming unfinished runs"]
    assert lines[0]["count"] == 4
    assert lines[0]["component"] == "engine"


def test_caplog_sees_the_fields_a_call_site_passes(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("maestro_helix.test")
    with caplog.at_level(logging.WARNING):
        log.warning("action failed", extra={"action": "email.send", "reason": "smtp 550"})
    line = StructuredFormatter(LogFormat.TEXT).format(caplog.records[0])
    assert "action=email.send" in line and 'reason="smtp 550"' in line


@pytest.mark.parametrize(
    ("var", "value"), [("MAESTRO_LOG_LEVEL", "LOUD"), ("MAESTRO_LOG_FORMAT", "xml")]
)
def test_a_bad_variable_stops_the_command_with_its_name(var: str, value: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "maestro_helix", "--help"],
        env={**os.environ, var: value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2
    assert var in r.stderr and value in r.stderr
