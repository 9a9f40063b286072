"""Workflow definitions: a named, versioned list of steps, loaded from YAML/JSON or built in Python.

A definition is checked twice: its shape when it is built (pydantic), and its names against what
is registered (capabilities, agents, action types, evaluators) by :func:`check_definition`. Both
report every problem with the file, the path to the field and the reason.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from maestro_helix.core.configfile import MAX_FILE_BYTES, load_yaml, validation_errors
from maestro_helix.core.errors import ConfigError, WorkflowDefinitionError
from maestro_helix.core.provenance import Source

_NAME = r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$"
_REF = re.compile(r"\$\{([^}]*)\}")
_REF_PATH = re.compile(r"^(input|steps)(\.[A-Za-z0-9_\-]+)*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _integral(value: object) -> object:
    """JSON's integers include 1.0 (JSON Schema says so): a float with no fraction is that
    integer; anything else is left for the strict check to refuse (a bool stays a bool)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class GateOverride(_Frozen):
    """Per-workflow or per-step gate settings; unset fields inherit. Strict: a boolean is
    not a number, a string is not a boolean."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    min_qsr: float | None = Field(default=None, ge=0.0, le=1.0)
    max_mri: float | None = Field(default=None, ge=0.0, le=1.0)
    max_attempts: Annotated[int | None, BeforeValidator(_integral)] = Field(
        default=None, ge=1, le=20
    )
    on_exhausted: Literal["escalate", "fail"] | None = None
    retry_on_risk: bool | None = None


class Expectations(_Frozen):
    """What a good output of this step looks like; the QSR evaluator scores against it.

    Attributes:
        required_fields: keys that must be present and non-empty in the output data.
        output_schema: a JSON Schema the output data must satisfy.
        mentions: terms the output text should cover (completeness); may use ``${...}`` references.
        min_length / max_length: bounds on the output text, in characters.
        format: ``text``, ``markdown``, ``json`` (text must parse as JSON) or ``bullets``.
    """

    required_fields: tuple[str, ...] = ()
    output_schema: dict[str, Any] | None = None
    mentions: tuple[str, ...] = ()
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1)
    format: Literal["text", "markdown", "json", "bullets"] = "text"

    @model_validator(mode="after")
    def _bounds(self) -> Expectations:
        if (
            self.min_length is not None
            and self.max_length is not None
            and self.min_length > self.max_length
        ):
            raise ValueError(
                f"min_length ({self.min_length}) is greater than max_length ({self.max_length})"
            )
        if self.output_schema is not None:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            try:
                Draft202012Validator.check_schema(self.output_schema)
            except SchemaError as e:
                raise ValueError(f"output_schema is not a valid JSON Schema: {e.message}") from None
        return self


class StepDef(_Frozen):
    """One step of a workflow.

    Exactly one of ``capability`` (routed to the best agent that has it) or ``agent`` (fixed).
    ``input`` maps the agent's input keys to values; strings may hold references
    ``${input.KEY}`` (the run input) and ``${steps.STEP.text}`` / ``${steps.STEP.FIELD}``
    (an earlier step's output). A value that is exactly one reference keeps its type. A trailing
    ``?`` makes a reference optional: ``${input.note?}`` is empty when the input has no note.
    Without ``input`` the agent gets ``{"input": <run input>, "steps": {<earlier outputs>}}``.

    ``untrusted`` declares the untrusted content the step reads (``web``, ``email``, ``upload``,
    ``tenant``, ``tool``): its output is tainted, and so is every later step that references it
    (see :mod:`maestro_helix.core.provenance`). ``sources`` names the input keys whose values
    are source documents (retrieved pages, emails, tool results): the QSR's grounding check
    scores the output against them and the MRI scans each for prompt injection.
    """

    id: str = Field(pattern=_NAME)
    capability: str | None = None
    agent: str | None = None
    task: str = ""
    input: dict[str, Any] | None = None
    expect: Expectations = Field(default_factory=Expectations)
    gate: GateOverride = Field(default_factory=GateOverride)
    actions: tuple[str, ...] = ()
    evaluators: tuple[str, ...] = ()
    timeout_s: float | None = Field(default=None, gt=0)
    untrusted: tuple[Source, ...] = ()
    sources: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_target(self) -> StepDef:
        if (self.capability is None) == (self.agent is None):
            raise ValueError("give exactly one of 'capability' or 'agent'")
        if self.input is not None:
            missing = [k for k in self.sources if k not in self.input]
            if missing:
                raise ValueError(
                    f"sources {missing} are not keys of the step's input "
                    f"(keys: {', '.join(self.input) or 'none'})"
                )
        return self

    def references(self) -> list[tuple[str, str]]:
        """Every ``${...}`` reference in this step as (field path, reference)."""
        found: list[tuple[str, str]] = []
        for path, text in _strings(
            {"task": self.task, "input": self.input or {}, "mentions": list(self.expect.mentions)}
        ):
            for m in _REF.finditer(text):
                found.append((path, m.group(1).strip()))
        return found


class WorkflowDef(_Frozen):
    """A named, versioned workflow definition."""

    name: str = Field(pattern=_NAME)
    version: int = Field(default=1, ge=1)
    description: str = ""
    gate: GateOverride = Field(default_factory=GateOverride)
    steps: tuple[StepDef, ...] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _unique_ids(cls, steps: tuple[StepDef, ...]) -> tuple[StepDef, ...]:
        seen: set[str] = set()
        for s in steps:
            if s.id in seen:
                raise ValueError(f"step id {s.id!r} is used twice")
            seen.add(s.id)
        return steps

    def step(self, step_id: str) -> StepDef:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def canonical(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=False)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON: identifies this exact definition."""
        body = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


def _strings(obj: Any, path: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from _strings(v, f"{path}[{i}]")


def _pydantic_errors(source: str, err: ValidationError) -> WorkflowDefinitionError:
    return WorkflowDefinitionError(validation_errors(source, err).errors)


def parse_definition(data: Any, source: str = "<python>") -> WorkflowDef:
    """Build a definition from plain data, reporting shape errors with their field paths."""
    if not isinstance(data, Mapping):
        raise WorkflowDefinitionError(
            [ConfigError(source, "", f"expected a mapping at the top, got {type(data).__name__}")]
        )
    try:
        return WorkflowDef.model_validate(data)
    except ValidationError as e:
        raise _pydantic_errors(source, e) from None


def load_definition_file(path: str | Path) -> WorkflowDef:
    """Load a YAML (``.yaml``/``.yml``) or JSON file. Errors name the file, field and reason."""
    p = Path(path)
    source = p.name
    try:
        if p.stat().st_size > MAX_FILE_BYTES:  # refuse before reading it all
            raise WorkflowDefinitionError(
                [ConfigError(str(p), "", f"larger than {MAX_FILE_BYTES // 1024} KiB")]
            )
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkflowDefinitionError([ConfigError(str(p), "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise WorkflowDefinitionError([ConfigError(str(p), "", f"cannot read: {e}")]) from None
    return parse_definition(load_text(text, source, p.suffix.lower()), source)


def load_text(text: str, source: str, suffix: str) -> Any:
    """Parse YAML or JSON text; syntax errors carry the line and column."""
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise WorkflowDefinitionError(
                [ConfigError(source, f"line {e.lineno} column {e.colno}", f"invalid JSON: {e.msg}")]
            ) from None
    try:
        return load_yaml(text, source)  # bounded: size, depth, aliases, expanded size
    except ConfigError as e:
        raise WorkflowDefinitionError([e]) from None


@dataclass(frozen=True, slots=True)
class Catalog:
    """The names a definition may use: what is registered in the running system."""

    capabilities: frozenset[str]
    agents: frozenset[str]
    action_types: frozenset[str] | None = None  # None: action types are not checked
    evaluators: frozenset[str] = frozenset()
    untrusted: Mapping[str, frozenset[Source]] = field(default_factory=dict)
    """Agent id → the untrusted sources the agent declares it reads (provenance)."""


def _known(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def check_definition(defn: WorkflowDef, catalog: Catalog, source: str = "<python>") -> None:
    """Check every name and reference in ``defn`` against ``catalog``; raise all problems."""
    errors: list[ConfigError] = []
    earlier: list[str] = []
    for i, step in enumerate(defn.steps):
        at = f"steps[{i}]"
        if step.capability is not None and step.capability not in catalog.capabilities:
            errors.append(
                ConfigError(
                    source,
                    f"{at}.capability",
                    f"unknown capability {step.capability!r} "
                    f"(known: {_known(catalog.capabilities)})",
                )
            )
        if step.agent is not None and step.agent not in catalog.agents:
            errors.append(
                ConfigError(
                    source,
                    f"{at}.agent",
                    f"unknown agent {step.agent!r} (known: {_known(catalog.agents)})",
                )
            )
        if catalog.action_types is not None:
            for j, action in enumerate(step.actions):
                if action not in catalog.action_types:
                    errors.append(
                        ConfigError(
                            source,
                            f"{at}.actions[{j}]",
                            f"unknown action type {action!r} "
                            f"(known: {_known(catalog.action_types)})",
                        )
                    )
        for j, ev in enumerate(step.evaluators):
            if ev not in catalog.evaluators:
                errors.append(
                    ConfigError(
                        source,
                        f"{at}.evaluators[{j}]",
                        f"unknown evaluator {ev!r} (known: {_known(catalog.evaluators)})",
                    )
                )
        for path, ref in step.references():
            problem = _check_ref(ref, step.id, earlier, [s.id for s in defn.steps])
            if problem:
                errors.append(ConfigError(source, f"{at}.{path}", problem))
        earlier.append(step.id)
    if errors:
        raise WorkflowDefinitionError(errors)


def _check_ref(ref: str, step_id: str, earlier: list[str], all_ids: list[str]) -> str | None:
    ref = ref.removesuffix("?")
    if not _REF_PATH.match(ref):
        return f"bad reference '${{{ref}}}' (use ${{input.KEY}} or ${{steps.STEP.text}})"
    parts = ref.split(".")
    if parts[0] == "steps":
        if len(parts) < 2:
            return f"bad reference '${{{ref}}}': name a step, e.g. ${{steps.STEP.text}}"
        target = parts[1]
        if target not in all_ids:
            return f"reference to unknown step {target!r} (steps: {', '.join(all_ids)})"
        if target not in earlier:
            return f"step {step_id!r} refers to {target!r}, which does not run before it"
    return None


class Unresolved(Exception):
    """A reference points at data that is not there at run time."""


def _lookup(ref: str, scope: Mapping[str, Any]) -> Any:
    optional = ref.endswith("?")
    return _resolve(tuple((ref[:-1] if optional else ref).split(".")), optional, scope)


def _resolve(parts: tuple[str, ...], optional: bool, scope: Mapping[str, Any]) -> Any:
    cur: Any = scope
    for part in parts:
        if (type(cur) is dict or isinstance(cur, Mapping)) and part in cur:
            cur = cur[part]
        elif optional:
            return None
        else:
            raise Unresolved(".".join(parts))
    return cur


_Ref = tuple[tuple[str, ...], bool]


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> tuple[str, Any]:
    """A string template, parsed once: constant, one whole reference, or interpolation."""
    m = _REF.fullmatch(text.strip())
    if m:
        ref = m.group(1).strip()
        opt = ref.endswith("?")
        return "ref", (tuple((ref[:-1] if opt else ref).split(".")), opt)
    if "${" not in text:
        return "const", text
    pieces: list[str | _Ref] = []
    pos = 0
    for mm in _REF.finditer(text):
        if mm.start() > pos:
            pieces.append(text[pos : mm.start()])
        ref = mm.group(1).strip()
        opt = ref.endswith("?")
        pieces.append((tuple((ref[:-1] if opt else ref).split(".")), opt))
        pos = mm.end()
    if pos < len(text):
        pieces.append(text[pos:])
    return "interp", tuple(pieces)


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Resolve ``${...}`` references in ``value`` against ``scope`` (keys ``input``, ``steps``)."""
    t = type(value)
    if t is str or isinstance(value, str):
        kind, body = _compile(value)
        if kind == "const":
            return body
        if kind == "ref":
            return _resolve(body[0], body[1], scope)
        return "".join(p if type(p) is str else _as_text(_resolve(p[0], p[1], scope)) for p in body)
    if t is dict or isinstance(value, Mapping):
        return {k: render(v, scope) for k, v in value.items()}
    if t is list or t is tuple:
        return [render(v, scope) for v in value]
    return value


def _as_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True, default=str)
