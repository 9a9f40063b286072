"""Provenance: which step outputs carry untrusted content, and how it got there.

A step (``StepDef.untrusted``) or an agent (its ``untrusted`` attribute) declares the untrusted
sources it reads: the web, email, uploads, other tenants' data. Its outputs are *tainted*, and
the taint flows to every later step whose input or task references them (``${steps.X...}``; a
step without an ``input`` mapping receives every earlier output, so it inherits every earlier
taint). The governance layer's rule of two reads the result: a tainted step that proposes an
external state change needs a human, whatever its scores.

Pure functions over the definition and the agents of the attempts that passed, so a run
resumed in another process (or by a worker) derives the same taint from the store's step
records as the process that ran its first steps.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maestro_helix.core.workflow import StepDef, WorkflowDef

__all__ = [
    "NO_TAINT",
    "Origin",
    "Source",
    "Taint",
    "agent_sources",
    "inherited_taint",
    "step_taint",
]


class Source(enum.StrEnum):
    """Kinds of untrusted content a step or an agent may read."""

    WEB = "web"  # pages fetched from the internet, search results
    EMAIL = "email"  # messages from outside senders
    UPLOAD = "upload"  # files users upload
    TENANT = "tenant"  # another tenant's data
    TOOL = "tool"  # results of third-party tools or APIs


@dataclass(frozen=True, slots=True)
class Origin:
    """One way untrusted content reached a step.

    Attributes:
        source: what kind of content.
        step_id: the step that read it.
        declared_by: ``"step"`` (the definition says so) or ``"agent ID"`` (the agent that ran
            the step declares it).
        path: the steps it flowed through, from ``step_id`` to the step it reached.
    """

    source: Source
    step_id: str
    declared_by: str
    path: tuple[str, ...]

    def words(self) -> str:
        """``web read by step fetch (declared by the step) → summarise → act``."""
        who = "the step" if self.declared_by == "step" else self.declared_by
        head = f"{self.source.value} read by step {self.step_id} (declared by {who})"
        return " → ".join((head, *self.path[1:]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source.value,
            "step": self.step_id,
            "declared_by": self.declared_by,
            "path": list(self.path),
        }


@dataclass(frozen=True, slots=True)
class Taint:
    """The untrusted origins of one step's input and output (empty: untainted)."""

    origins: tuple[Origin, ...] = ()

    @property
    def tainted(self) -> bool:
        return bool(self.origins)

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(dict.fromkeys(o.source for o in self.origins))

    def words(self) -> list[str]:
        return [o.words() for o in self.origins]

    def to_list(self) -> list[dict[str, Any]]:
        return [o.to_dict() for o in self.origins]

    def through(self, step_id: str) -> Taint:
        """This taint as it reaches ``step_id`` (one more hop on each path)."""
        return Taint(tuple(_hop(o, step_id) for o in self.origins))

    def plus(self, other: Taint) -> Taint:
        """Both taints; one origin per (source, step, declarer), the shortest path kept."""
        best: dict[tuple[Source, str, str], Origin] = {}
        for o in (*self.origins, *other.origins):
            key = (o.source, o.step_id, o.declared_by)
            if key not in best or len(o.path) < len(best[key].path):
                best[key] = o
        return Taint(tuple(best.values()))


NO_TAINT = Taint()


def _hop(o: Origin, step_id: str) -> Origin:
    if o.path and o.path[-1] == step_id:
        return o
    return Origin(o.source, o.step_id, o.declared_by, (*o.path, step_id))


def _own(step_id: str, declared_by: str, sources: Iterable[Source | str]) -> Taint:
    return Taint(tuple(Origin(Source(s), step_id, declared_by, (step_id,)) for s in sources))


def step_taint(
    step: StepDef,
    agent_id: str | None,
    upstream: Taint,
    agents: Mapping[str, frozenset[Source]],
) -> Taint:
    """The taint of one step's output: what it inherits, what it declares, what its agent
    declares."""
    own = _own(step.id, "step", step.untrusted)
    if agent_id is not None and agents.get(agent_id):
        own = own.plus(_own(step.id, f"agent {agent_id}", sorted(agents[agent_id])))
    return upstream.through(step.id).plus(own)


def _reads(step: StepDef, earlier: Iterable[str]) -> set[str]:
    """The earlier steps whose outputs reach the agent of ``step`` (its task and input)."""
    if step.input is None:  # the agent receives every earlier output
        return set(earlier)
    found = set()
    for path, ref in step.references():
        parts = ref.removesuffix("?").split(".")
        if path.startswith("mentions"):  # evaluation only: never shown to the agent
            continue
        if parts[0] == "steps" and len(parts) > 1:
            found.add(parts[1])
    return found


def inherited_taint(
    defn: WorkflowDef,
    index: int,
    passed: Mapping[str, str | None],
    agents: Mapping[str, frozenset[Source]],
) -> Taint:
    """The taint that step ``index`` receives through its references, plus its own declared
    sources (its agent's are added by :func:`step_taint` once routing chose it).

    Args:
        defn: the workflow.
        index: the step about to run.
        passed: step id → the agent of its passed (or human-accepted) attempt, as stored.
        agents: agent id → the untrusted sources it declares.
    """
    if not agents and not any(s.untrusted for s in defn.steps[: index + 1]):
        return NO_TAINT
    out: dict[str, Taint] = {}
    for i, step in enumerate(defn.steps[:index]):
        if step.id not in passed:
            continue
        up = _merged(out, _reads(step, (s.id for s in defn.steps[:i])))
        out[step.id] = step_taint(step, passed[step.id], up, agents)
    step = defn.steps[index]
    up = _merged(out, _reads(step, (s.id for s in defn.steps[:index])))
    return up.through(step.id).plus(_own(step.id, "step", step.untrusted))


def _merged(taints: Mapping[str, Taint], ids: Iterable[str]) -> Taint:
    t = NO_TAINT
    for i in ids:
        if i in taints:
            t = t.plus(taints[i])
    return t


def agent_sources(agents: Iterable[Any]) -> dict[str, frozenset[Source]]:
    """Agent id → its declared untrusted sources (the ``untrusted`` attribute, if any)."""
    out: dict[str, frozenset[Source]] = {}
    for a in agents:
        declared = getattr(a, "untrusted", ())
        if declared:
            out[a.id] = frozenset(Source(s) for s in declared)
    return out
