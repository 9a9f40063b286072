"""Reading validated JSON config files, with every error as ``file: field: reason``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
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


# -- YAML with limits ---------------------------------------------------------------------------
# A definition is a few kilobytes. These bounds stop a hostile or broken file (an alias bomb:
# 562 bytes that expand to billions of nodes) in milliseconds instead of minutes and gigabytes.
MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_ALIASES = 200
MAX_NODES = 200_000  # after expanding aliases


class _LimitedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that counts nesting and aliases while it composes the document."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.source = source
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _limit(self, f"more than {MAX_ALIASES} aliases (*name)")
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _limit(self, f"nested deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _limit(loader: _LimitedLoader, reason: str) -> ConfigError:
    mark = loader.get_mark()
    return ConfigError(loader.source, f"line {mark.line + 1} column {mark.column + 1}", reason)


def _expanded_size(node: yaml.Node, source: str) -> int:
    """Nodes in the document once every alias is expanded (each shared node counted as often
    as it is referenced), computed without expanding: sizes are memoised per node."""
    sizes: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        known = sizes.get(id(n))
        if known is not None:
            return known
        total = 1
        if isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total += sum(size(v) for v in n.value)
        if total > MAX_NODES:
            mark = n.start_mark
            raise ConfigError(
                source,
                f"line {mark.line + 1} column {mark.column + 1}",
                f"expands to more than {MAX_NODES:,} values through aliases (an alias bomb?)",
            )
        sizes[id(n)] = total
        return total

    return size(node)


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML with limits on size, nesting, aliases and expanded size.

    Raises:
        ConfigError: a limit is passed (with the line and column where), or the text is not
            YAML (``invalid YAML: ...``).
    """
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise ConfigError(source, "", f"larger than {MAX_FILE_BYTES // 1024} KiB")
    loader = _LimitedLoader(text, source)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(source, where, f"invalid YAML: {problem}") from None
    finally:
        loader.dispose()
