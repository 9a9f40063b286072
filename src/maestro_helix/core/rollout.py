"""Rollout records every room shares: a workflow version's stage, sign-offs, the canary, and the
route a new run was given (which version and why).

Plain values and one pure function (:func:`bucket`), no I/O. The rules (who may sign, when a
version may move, the sequential test) live in ``governance/stages.py`` and
``governance/sequential.py``; the rows in ``store/stages_sql.py``.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from maestro_helix.core.errors import MaestroError

__all__ = [
    "Arm",
    "CanaryConfig",
    "CanaryDecision",
    "CanaryStatus",
    "RouteChanged",
    "RoutePlan",
    "RouteReason",
    "RouteRefused",
    "RunRoute",
    "SignOff",
    "Stage",
    "StageRefused",
    "bucket",
    "key_digest",
]


class Stage(enum.StrEnum):
    """Where a workflow version is in its life. Registering creates a ``draft``."""

    DRAFT = "draft"
    STAGING = "staging"
    PRODUCTION = "production"
    RETIRED = "retired"  # was production, replaced by a newer production version
    ROLLED_BACK = "rolled_back"  # a canary rolled it back: no new run ever starts on it


class RouteReason(enum.StrEnum):
    """Why a new run got its version."""

    PINNED = "pinned"  # the caller asked for this version
    NEWEST = "newest"  # the workflow has no production version yet: the version submitted
    PRODUCTION = "production"
    CANARY = "canary"  # the canary's share, by the run's key
    REROUTED = "rerouted"  # its version was rolled back before it started: production


class Arm(enum.StrEnum):
    """The two sides of a canary."""

    STABLE = "stable"
    CANDIDATE = "candidate"


class CanaryStatus(enum.StrEnum):
    RUNNING = "running"
    ROLLED_BACK = "rolled_back"
    PROMOTED = "promoted"
    ABORTED = "aborted"


class CanaryDecision(enum.StrEnum):
    CONTINUE = "continue"
    ROLLBACK = "rollback"
    PROMOTE = "promote"


class StageRefused(MaestroError):
    """A sign-off or a stage transition the rules refuse; ``reason`` says which rule."""

    def __init__(self, reason: str, *, code: str = "refused") -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


class RouteRefused(MaestroError):
    """A run cannot start on the version asked for (e.g. a rolled-back version)."""


class RouteChanged(MaestroError):
    """The stage or canary changed between reading the route plan and storing the runs."""

    retryable = True


# the runbook's bar: automated rollback if more than 2 % of requests trigger GIL escalations
RUNBOOK_BAR = 0.02
MAX_ALPHA = 0.05


@dataclass(frozen=True, slots=True)
class CanaryConfig:
    """A canary's settings (fixed when it starts; stored with it).

    Attributes:
        share: the fraction of new runs sent to the candidate (default 10 %).
        min_runs: settled candidate runs (and stable runs, for the comparison) before any
            decision; below it the canary only continues (no data is never a pass).
        alpha: the chance of a false rollback over the whole canary, however often it is
            evaluated (split between the two tests). At most 5 %.
        bar: the absolute escalation-rate bar (the runbook's 2 %); may only be lowered.
        promote_after: settled candidate runs after which a clean canary promotes itself
            (0: only a person promotes).
        pause_in_flight: on rollback, pause the candidate's pending and running runs (else
            they finish). Either way one that had not started a step runs stable when it
            starts (``store/reroute_sql.py``).
    """

    share: float = 0.10
    min_runs: int = 30
    alpha: float = 0.05
    bar: float = RUNBOOK_BAR
    promote_after: int = 0
    pause_in_flight: bool = False

    def problems(self) -> list[tuple[str, str]]:
        """(field, reason) for every setting outside what the guardrails allow."""
        out: list[tuple[str, str]] = []
        if not 0.0 < self.share <= 0.5:
            out.append(("share", f"must be in (0, 0.5], got {self.share}"))
        if self.min_runs < 10:
            out.append(("min_runs", f"must be at least 10, got {self.min_runs}"))
        if not 0.0 < self.alpha <= MAX_ALPHA:
            out.append(("alpha", f"must be in (0, {MAX_ALPHA}], got {self.alpha}"))
        if not 0.0 < self.bar <= RUNBOOK_BAR:
            out.append(("bar", f"may only tighten the runbook's {RUNBOOK_BAR}, got {self.bar}"))
        if self.promote_after and self.promote_after < self.min_runs:
            out.append(("promote_after", "must be 0 (manual) or at least min_runs"))
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "share": self.share,
            "min_runs": self.min_runs,
            "alpha": self.alpha,
            "bar": self.bar,
            "promote_after": self.promote_after,
            "pause_in_flight": self.pause_in_flight,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CanaryConfig:
        return cls(
            share=float(data["share"]),
            min_runs=int(data["min_runs"]),
            alpha=float(data["alpha"]),
            bar=float(data["bar"]),
            promote_after=int(data["promote_after"]),
            pause_in_flight=bool(data["pause_in_flight"]),
        )


@dataclass(frozen=True, slots=True)
class SignOff:
    """One person's recorded sign-off of a version for a stage, in a named capacity."""

    workflow: str
    version: int
    target: Stage
    signed_as: str  # e.g. "governance", "admin", "product_owner", "irreversible"
    operator_id: str
    role: str
    ts: str
    note: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """What the store says about a workflow's routing, read once per submit.

    ``token`` identifies the plan's state; the store refuses to create runs routed by a plan
    whose token is no longer current (:class:`RouteChanged`)."""

    workflow: str
    production: int | None = None
    canary_id: str | None = None
    candidate: int | None = None
    share: float = 0.0
    blocked: frozenset[int] = frozenset()  # rolled-back versions
    token: str = ""


@dataclass(frozen=True, slots=True)
class RunRoute:
    """The version a new run got and why; stored with the run, never changed."""

    run_id: str
    version: int
    reason: RouteReason
    canary_id: str | None = None
    arm: Arm | None = None
    key_hash: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "reason": self.reason.value,
            "canary_id": self.canary_id,
            "arm": None if self.arm is None else self.arm.value,
        }


def key_digest(key: str) -> str:
    """What is stored of a routing key (a customer id may be private): its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def bucket(canary_id: str, key: str) -> float:
    """A stable number in [0, 1) for ``key`` in this canary: the same key always lands on the
    same side of a given share, and different canaries split keys independently."""
    h = hashlib.sha256(f"{canary_id}\x00{key}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64
