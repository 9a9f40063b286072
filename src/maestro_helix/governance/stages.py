"""Rules of a workflow version's stages and sign-offs, and the choice of a new run's version.

Pure functions of their inputs; the store (``store/stages_sql.py``) calls them inside the
transaction that records the result, so two processes cannot both pass a rule that only one may.

- **draft → staging** (the runbook's Governance Review): a sign-off per capacity the policy
  names — by default ``governance`` (role approver or above) and ``admin`` (role admin) — by
  distinct people. A version that adds an irreversible action type (one not in the production
  version) also needs an ``irreversible`` sign-off (an explicit GIL approval record, role
  approver or above, another person again).
- **staging → production**: the Go/No-Go report for the version's staging window is GO and the
  ``product_owner`` signed (role approver or above; the policy may name who). With a production
  version already live, the new one reaches production through a canary.
- Configuration may tighten these (more capacities, higher roles, named product owners), never
  drop the floor (:func:`check_rollout_policy`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from maestro_helix.core.errors import ConfigError, ConfigErrors
from maestro_helix.core.rollout import (
    Arm,
    RoutePlan,
    RouteReason,
    RouteRefused,
    RunRoute,
    SignOff,
    Stage,
    bucket,
    key_digest,
)
from maestro_helix.governance.policy import ROLLOUT_FLOOR, GovernancePolicy, Role

__all__ = [
    "IRREVERSIBLE",
    "PRODUCT_OWNER",
    "RolloutPolicy",
    "check_rollout_policy",
    "missing_signoffs",
    "route_runs",
    "signoff_refusal",
    "transition_refusal",
]

IRREVERSIBLE = "irreversible"
PRODUCT_OWNER = "product_owner"

# the floor: what no configuration may drop (capacity -> lowest role)
_FLOOR: dict[Stage, dict[str, Role]] = {
    Stage(stage): {cap: Role(role) for cap, role in caps.items()}
    for stage, caps in ROLLOUT_FLOOR.items()
}


@dataclass(frozen=True, slots=True)
class RolloutPolicy:
    """Who signs what. ``signoffs[stage]`` maps a capacity to the lowest role that may sign in it;
    ``product_owners`` (if any) are the only operators who may sign as product owner."""

    signoffs: dict[Stage, dict[str, Role]] = field(
        default_factory=lambda: {s: dict(c) for s, c in _FLOOR.items()}
    )
    product_owners: tuple[str, ...] = ()

    @classmethod
    def of(cls, policy: GovernancePolicy) -> RolloutPolicy:
        """The rollout rules of a (validated) governance policy: its ``rollout`` section."""
        rule = policy.rollout
        return cls(
            {
                Stage(stage): {cap: Role(role) for cap, role in caps.items()}
                for stage, caps in rule.capacities().items()
            },
            tuple(rule.product_owners),
        )

    def capacities(self, target: Stage, irreversible_added: bool) -> dict[str, Role]:
        caps = dict(self.signoffs.get(target, {}))
        if target is Stage.STAGING and irreversible_added:
            caps[IRREVERSIBLE] = Role.APPROVER
        return caps


def check_rollout_policy(p: RolloutPolicy, source: str = "<rollout>") -> None:
    """Raise ConfigErrors when ``p`` drops a capacity of the floor or lowers its role."""
    errors = []
    for stage, caps in _FLOOR.items():
        for cap, role in caps.items():
            got = p.signoffs.get(stage, {}).get(cap)
            if got is None or not got.at_least(role):
                errors.append(
                    ConfigError(
                        source,
                        f"rollout.signoffs.{stage.value}.{cap}",
                        f"the floor needs a {cap!r} sign-off by role {role.value} or above",
                    )
                )
    if errors:
        raise ConfigErrors(errors)


def signoff_refusal(
    policy: RolloutPolicy,
    *,
    stage: Stage,
    target: Stage,
    signed_as: str,
    operator_id: str,
    role: Role,
    irreversible_added: bool,
    existing: Sequence[SignOff],
    report_go: bool | None = None,
) -> str | None:
    """Why this sign-off may not be recorded (None: it may). The product owner signs the
    Go/No-Go of the staging window: only a GO report can be signed (``report_go``)."""
    wanted = {Stage.STAGING: Stage.DRAFT, Stage.PRODUCTION: Stage.STAGING}.get(target)
    if wanted is None:
        return f"nothing signs a version off for {target.value}"
    if stage is not wanted:
        return f"the version is {stage.value}: a {target.value} sign-off needs it {wanted.value}"
    caps = policy.capacities(target, irreversible_added)
    needed = caps.get(signed_as)
    if needed is None:
        return f"no {signed_as!r} sign-off for {target.value}; the policy names {sorted(caps)}"
    if not role.at_least(needed):
        return f"signing as {signed_as!r} needs role {needed.value}; {operator_id} is {role.value}"
    if signed_as == PRODUCT_OWNER and operator_id not in (policy.product_owners or (operator_id,)):
        return f"{operator_id} is not a product owner the policy names"
    if signed_as == PRODUCT_OWNER and not report_go:
        return (
            "the Go/No-Go report for the staging window is not GO: nothing to sign"
            if report_go is False
            else "no Go/No-Go report for the staging window to sign"
        )
    for s in existing:
        if s.target is not target:
            continue
        if s.signed_as == signed_as:
            return f"{s.operator_id} already signed as {signed_as!r}"
        if s.operator_id == operator_id:
            return (
                f"{operator_id} already signed as {s.signed_as!r}: sign-offs need distinct people"
            )
    return None


def missing_signoffs(
    policy: RolloutPolicy, target: Stage, irreversible_added: bool, existing: Iterable[SignOff]
) -> list[str]:
    """Capacities still to sign for ``target``, in a stable order."""
    have = {s.signed_as for s in existing if s.target is target}
    return sorted(c for c in policy.capacities(target, irreversible_added) if c not in have)


def transition_refusal(
    policy: RolloutPolicy,
    *,
    stage: Stage,
    target: Stage,
    irreversible_added: bool,
    signoffs: Sequence[SignOff],
    report_go: bool | None,
) -> str | None:
    """Why the version may not move to ``target`` now (None: it may)."""
    if stage is Stage.ROLLED_BACK:
        return "a rolled-back version never runs again; register a new version"
    wanted = {Stage.STAGING: Stage.DRAFT, Stage.PRODUCTION: Stage.STAGING}.get(target)
    if wanted is None or stage is not wanted:
        return f"a {stage.value} version cannot be promoted to {target.value}"
    missing = missing_signoffs(policy, target, irreversible_added, signoffs)
    if missing:
        return f"missing sign-off(s): {', '.join(missing)}"
    if target is Stage.PRODUCTION and not report_go:
        return (
            "the Go/No-Go report for the staging window is not GO"
            if report_go is False
            else "no Go/No-Go report for the staging window is attached"
        )
    return None


def route_runs(
    plan: RoutePlan,
    submitted: int,
    run_ids: Sequence[str],
    keys: Sequence[str | None] | None = None,
    *,
    pin: bool = False,
) -> list[RunRoute]:
    """The version each new run gets, and why (decided once, at submit).

    ``submitted`` is the version the caller passed. Pinned: that version (never a rolled-back
    one). No production version yet: that version too (``newest``). Otherwise production, or the
    canary's candidate for the keys whose bucket falls under the canary's share (the key defaults
    to the run id)."""
    if keys is not None and len(keys) != len(run_ids):
        raise ValueError("one key per run")
    if submitted in plan.blocked and (pin or plan.production is None):
        raise RouteRefused(f"{plan.workflow} v{submitted} was rolled back: no new run starts on it")
    out: list[RunRoute] = []
    for i, run_id in enumerate(run_ids):
        key = (keys[i] if keys is not None else None) or run_id
        if pin or plan.production is None:
            reason = RouteReason.PINNED if pin else RouteReason.NEWEST
            out.append(RunRoute(run_id, submitted, reason))
            continue
        if plan.canary_id is None or plan.candidate is None:
            out.append(RunRoute(run_id, plan.production, RouteReason.PRODUCTION))
            continue
        to_candidate = bucket(plan.canary_id, key) < plan.share
        out.append(
            RunRoute(
                run_id,
                plan.candidate if to_candidate else plan.production,
                RouteReason.CANARY if to_candidate else RouteReason.PRODUCTION,
                plan.canary_id,
                Arm.CANDIDATE if to_candidate else Arm.STABLE,
                key_digest(key)[:16],
            )
        )
    return out
