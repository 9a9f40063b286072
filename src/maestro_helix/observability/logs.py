"""Structured logs: every line carries its ``extra=`` fields, the trace id and the component.

``log.warning("work queue fetch failed", extra={"error": "TimeoutError: ..."})`` prints, with
``MAESTRO_LOG_FORMAT=json``, one JSON object per line::

    {"ts": "2026-12-01T09:10:00.123Z", "level": "WARNING", "component": "bus",
     "logger": "maestro_helix.bus.workqueue", "trace_id": "-", "msg": "work queue fetch failed",
     "error": "TimeoutError: ..."}

and otherwise (``MAESTRO_LOG_FORMAT=text``, the default) the same fields as ``key=value``::

    2026-12-01T09:10:00.123Z WARNING bus trace=- msg="work queue fetch failed" error="..."

``component`` is the ``extra`` field of that name when a call site gives one (the TLS listener
says ``api`` or ``bus``), else the package under ``maestro_helix`` the logger belongs to
(``bus``, ``engine``, ``store``...), else the logger's first name (``uvicorn``). ``trace_id`` is
the current OpenTelemetry trace (32 hex digits) or ``-``; it joins a line to the step's span and
audit entry.

``MAESTRO_LOG_LEVEL`` (``DEBUG``, ``INFO``, ``WARNING`` (default), ``ERROR``) sets the level.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from maestro_helix.core.errors import ConfigError

__all__ = [
    "FORMAT_ENV",
    "LEVEL_ENV",
    "LogFormat",
    "StructuredFormatter",
    "configure_logging",
    "record_fields",
]

LEVEL_ENV = "MAESTRO_LOG_LEVEL"
FORMAT_ENV = "MAESTRO_LOG_FORMAT"

# what every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "trace_id",  # set by tracing.TraceIdFilter where that filter is installed
}
_PACKAGE = "maestro_helix."


class LogFormat(enum.StrEnum):
    """How :func:`configure_logging` writes lines."""

    TEXT = "text"
    JSON = "json"


def _trace_id() -> str:
    # OpenTelemetry is imported only where tracing is in use; if it never was, no span is current
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return "-"
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else "-"


def _component(record: logging.LogRecord) -> str:
    given = record.__dict__.get("component")
    if given:
        return str(given)
    name = record.name
    if name.startswith(_PACKAGE):
        return name[len(_PACKAGE) :].split(".", 1)[0]
    return name.split(".", 1)[0] or "root"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields of one line, in order: time, level, component, logger, trace id, message,
    then the ``extra`` fields, then ``exc`` (the traceback) if there is one."""
    ts = datetime.fromtimestamp(record.created, UTC)
    fields: dict[str, Any] = {
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
        "level": record.levelname,
        "component": _component(record),
        "logger": record.name,
        "trace_id": record.__dict__.get("trace_id") or _trace_id(),
        "msg": record.getMessage(),
    }
    for key, value in record.__dict__.items():
        if key not in _STANDARD and key != "component" and not key.startswith("_"):
            fields[key] = _jsonable(value)
    if record.exc_info:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    elif record.exc_text:
        fields["exc"] = record.exc_text
    return fields


def _quote(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and not any(c in text for c in ' "=\n\t') and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


class StructuredFormatter(logging.Formatter):
    """One line per record with every field (see the module's docstring).

    Args:
        fmt: :attr:`LogFormat.JSON` for JSON objects, :attr:`LogFormat.TEXT` for
            ``key=value``.
    """

    def __init__(self, fmt: LogFormat = LogFormat.TEXT) -> None:
        super().__init__()
        self.format_kind = fmt

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        if self.format_kind is LogFormat.JSON:
            return json.dumps(fields, ensure_ascii=False, default=str)
        head = f"{fields.pop('ts')} {fields.pop('level')} {fields.pop('component')}"
        fields.pop("logger")
        trace = fields.pop("trace_id")
        rest = " ".join(f"{k}={_quote(v)}" for k, v in fields.items())
        return f"{head} trace={trace} {rest}"


class _MaestroHandler(logging.StreamHandler[TextIO]):
    """Marks the handler :func:`configure_logging` installed, so a second call replaces it."""


def _level(text: str | None) -> int:
    if not text:
        return logging.WARNING
    name = text.strip().upper()
    value = logging.getLevelNamesMapping().get(name)
    if value is None:
        raise ConfigError(
            LEVEL_ENV, "", f"unknown log level {text!r} (DEBUG, INFO, WARNING, ERROR)"
        )
    return value


def _format(text: str | None) -> LogFormat:
    if not text:
        return LogFormat.TEXT
    try:
        return LogFormat(text.strip().lower())
    except ValueError:
        raise ConfigError(FORMAT_ENV, "", f"unknown log format {text!r} (text, json)") from None


def configure_logging(
    level: int | str | None = None, fmt: LogFormat | str | None = None
) -> logging.Handler:
    """Log to stderr with :class:`StructuredFormatter` (what the ``maestro`` command does).

    Args:
        level: a level or its name; default ``MAESTRO_LOG_LEVEL`` or ``WARNING``.
        fmt: ``text`` or ``json``; default ``MAESTRO_LOG_FORMAT`` or ``text``.

    Returns:
        The handler installed on the root logger (a second call replaces it).

    Raises:
        ConfigError: the level or format is not one of the known names.
    """
    lvl = level if isinstance(level, int) else _level(level or os.environ.get(LEVEL_ENV))
    kind = fmt if isinstance(fmt, LogFormat) else _format(fmt or os.environ.get(FORMAT_ENV))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _MaestroHandler)]:
        root.removeHandler(old)
    handler = _MaestroHandler()
    handler.setFormatter(StructuredFormatter(kind))
    root.addHandler(handler)
    root.setLevel(lvl)
    return handler
