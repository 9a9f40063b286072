"""Reading validated JSON config files, with every error as ``file: field: reason``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from maestro_helix.core.errors import ConfigError, ConfigErrors

M = TypeVar("M", bound=BaseModel)


def field_path(loc: Sequence[int | str]) -> str:
    """``("steps", 2, "capability")`` → ``steps[2].capability``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_errors(source: str, err: ValidationError) -> ConfigErrors:
    """pydantic's errors as ours, one per field, in words a user can act on."""
    errors = []
    for e in err.errors():
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "missing":
            msg = "required field is missing"
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        errors.append(ConfigError(source, field_path(loc), msg))
    return ConfigErrors(errors)


def parse_model(model: type[M], data: Any, source: str) -> M:
    """Validate ``data`` (a JSON object) as ``model``."""
    if not isinstance(data, Mapping):
        raise ConfigErrors([ConfigError(source, "", "expected a JSON object at the top")])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise validation_errors(source, e) from None


def read_json(path: str | Path) -> Any:
    """The parsed content of a JSON file; a missing, unreadable or malformed file is a
    :class:`ConfigErrors` naming the file (and the line and column of a syntax error)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigErrors([ConfigError(str(p), "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigErrors([ConfigError(str(p), "", f"cannot read: {e}")]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        where = f"line {e.lineno} column {e.colno}"
        raise ConfigErrors([ConfigError(str(p), where, f"invalid JSON: {e.msg}")]) from None
