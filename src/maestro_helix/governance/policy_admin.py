"""Changing the active policy: the use cases behind ``maestro policy apply | approve``.

A change is made by an admin (their token), audited with their id; a change that loosens any
rule waits for a second, different admin. A policy that loosens an invariant is refused outright.
"""

from __future__ import annotations

from collections.abc import Mapping

from maestro_helix.core.actions import ActionSpec
from maestro_helix.core.audit import AuditDraft, AuditKind
from maestro_helix.core.clock import Clock, SystemClock, iso
from maestro_helix.core.errors import ConfigErrors, MaestroError
from maestro_helix.core.ports import Store
from maestro_helix.governance.identity import Operator
from maestro_helix.governance.policy import GovernancePolicy, Role, check_invariants
from maestro_helix.governance.policy_change import loosenings
from maestro_helix.governance.records import PolicyChange

__all__ = ["PolicyForbidden", "apply_policy", "decide_policy_change"]


class PolicyForbidden(MaestroError):
    """Only admins change the policy."""


def _admin(who: Operator) -> None:
    if not who.role.at_least(Role.ADMIN):
        raise PolicyForbidden(
            f"operator {who.operator_id} has role {who.role.value!r}; changing the policy "
            "needs an admin"
        )


async def apply_policy(
    store: Store,
    policy: GovernancePolicy,
    who: Operator,
    *,
    source: str,
    action_types: Mapping[str, ActionSpec],
    clock: Clock | None = None,
) -> PolicyChange:
    """Make ``policy`` the active one (at once if it only tightens; else pending a second
    admin).

    Raises:
        PolicyForbidden: ``who`` is not an admin.
        ConfigErrors: the policy loosens an invariant (for a type ``action_types`` does not
            hold, the floor of an unregistered type: two people).
    """
    ts = iso((clock or SystemClock()).now())
    try:
        _admin(who)
        check_invariants(policy, action_types, source, unknown="strict")
    except MaestroError as e:  # every refusal is audited, naming who tried
        await store.append_audit(
            [
                AuditDraft(
                    entry_id=f"policy.refused/{who.operator_id}/{ts}",
                    ts=ts,
                    kind=AuditKind.POLICY_REFUSED,
                    human_operator_id=who.operator_id,
                    details={"source": source, "reason": str(e), "digest": policy.digest()},
                )
            ]
        )
        raise
    try:
        current = await store.install_policy(GovernancePolicy(), ts)
        loose = loosenings(current.policy, policy, action_types)
    except ConfigErrors:
        loose = []  # the stored policy breaks an invariant (an older version wrote it): any
        # valid policy is stricter, so one admin may replace it
    change: PolicyChange = await store.apply_policy(policy, loose, ts=ts, by=who.operator_id)
    return change


async def decide_policy_change(
    store: Store, change_id: str, who: Operator, *, approve: bool, clock: Clock | None = None
) -> PolicyChange:
    """A second admin approves (or rejects) a pending loosening change."""
    _admin(who)
    ts = iso((clock or SystemClock()).now())
    change: PolicyChange = await store.approve_policy_change(
        change_id, ts=ts, by=who.operator_id, approve=approve
    )
    if change.refused is not None:
        raise MaestroError(change.refused)
    return change
