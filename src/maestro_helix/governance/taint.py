"""The rule of two: untrusted input and an external state change never together without a human.

A pure rule over typed values, like the others in :mod:`maestro_helix.governance.rules`: given
what the policy already requires of a proposed action and the taint of the step proposing it,
what is required now. It only ever raises the requirement.
"""

from __future__ import annotations

from maestro_helix.core.outputs import ProposedAction
from maestro_helix.core.provenance import Taint
from maestro_helix.governance.policy import GovernancePolicy, Requirement
from maestro_helix.governance.wording import people

__all__ = ["rule_of_two", "taint_reasons"]


def taint_reasons(taint: Taint) -> tuple[str, ...]:
    """How the untrusted content reached the step, one line per origin, as approvers read it."""
    return tuple(f"untrusted input: {w}" for w in taint.words())


def rule_of_two(
    policy: GovernancePolicy, need: Requirement, action: ProposedAction, taint: Taint
) -> Requirement:
    """``need`` for ``action``, raised by the rule of two when the proposing step is tainted:
    at least ``policy.rule_of_two.approvals`` people (never fewer than ``need`` asked), with
    the rule and the taint path among the reasons."""
    if not taint.tainted:
        return need
    n = max(need.approvals, policy.rule_of_two.approvals)
    sources = ", ".join(s.value for s in taint.sources)
    words = (
        f"rule of two: {action.type} proposed by a step that read untrusted content "
        f"({sources}) needs {people(n)}"
    )
    raised = not need.needed or n > need.approvals
    rule = words if raised else need.rule
    reasons = (rule, *need.reasons, words, *taint_reasons(taint))
    if need.needed:
        expiry_s, on_expiry = need.expiry_s, need.on_expiry
    else:
        cfg = policy.actions.get(action.type)
        expiry_s = (cfg.expiry_s if cfg else None) or policy.expiry_s
        on_expiry = (cfg.on_expiry if cfg else None) or policy.on_expiry
    return Requirement(True, n, tuple(dict.fromkeys(reasons)), expiry_s, on_expiry, rule)
