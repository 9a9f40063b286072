"""Property tests of the governance rules (``governance/rules.py``), over sequences of decisions
by operators of every role: no sequence clears a request with fewer distinct eligible people than
its rule demands, no override lowers a quorum, and a payload changed after the request was made
is never accepted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from maestro_helix.core.actions import ActionSpec, RiskClass
from maestro_helix.governance.policy import Decision, Role, payload_hash
from maestro_helix.governance.rules import (
    Ballot,
    Proposal,
    RequestFacts,
    RequestKind,
    RequestStatus,
    Verdict,
    facts_of,
    rule,
)
from maestro_helix.store.base import ApprovalRequest, RunStatus

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
PEOPLE = ("requester", "starter", "a", "b", "c", "d")
GOOD_HASH = "a" * 64

roles = st.sampled_from(list(Role))
proposals = st.tuples(
    st.sampled_from(PEOPLE),
    st.sampled_from(list(Decision)),
    st.sampled_from([None, "", "  ", "because"]),
    st.sampled_from([GOOD_HASH, None, "b" * 64]),
)

# decisions that pass every check but the count: eligible people, a reason, the right hash
sound = st.tuples(
    st.sampled_from(("a", "b", "c", "d")),
    st.sampled_from([Decision.APPROVE, Decision.OVERRIDE]),
    st.just("because"),
    st.just(GOOD_HASH),
)


def _facts(required: int, floor: int, kind: RequestKind) -> RequestFacts:
    return RequestFacts(
        request_id="r1",
        kind=kind,
        status=RequestStatus.PENDING,
        requester_id="requester",
        run_operator_id="starter",
        run_status=RunStatus.ESCALATED,
        stored_hash=GOOD_HASH,
        current_hash=GOOD_HASH,
        required=required,
        floor=floor,
        expires_at=NOW + timedelta(hours=1),
        clears=("crm.refund",),
    )


def _play(
    facts: RequestFacts, who_role: dict[str, Role], seq: list[tuple[Any, ...]]
) -> tuple[RequestFacts, list[tuple[Proposal, Any]]]:
    played = []
    for op, decision, reason, seen in seq:
        p = Proposal(op, who_role[op], decision, reason, seen, NOW, frozenset({"crm.refund"}))
        r = rule(facts, p)
        played.append((p, r))
        if r.verdict is Verdict.RECORDED:
            assert r.ballot is not None
            facts = replace(facts, ballots=(*facts.ballots, r.ballot), status=r.status)
    return facts, played


def _eligible(op: str, role: Role) -> bool:
    return role.at_least(Role.APPROVER) and op not in ("requester", "starter")


@settings(max_examples=400, deadline=None)
@given(
    required=st.integers(1, 3),
    floor=st.integers(0, 2),
    kind=st.sampled_from(list(RequestKind)),
    role_list=st.lists(roles, min_size=len(PEOPLE), max_size=len(PEOPLE)),
    seq=st.lists(proposals, max_size=14),
)
def test_no_sequence_clears_a_request_with_fewer_eligible_people_than_its_rule(
    required: int,
    floor: int,
    kind: RequestKind,
    role_list: list[Role],
    seq: list[tuple[Any, ...]],
) -> None:
    who_role = dict(zip(PEOPLE, role_list, strict=True))
    final, played = _play(_facts(required, floor, kind), who_role, seq)
    recorded = [(p, r) for p, r in played if r.verdict is Verdict.RECORDED]
    for p, _ in recorded:  # only eligible people are ever recorded, each once
        assert _eligible(p.operator_id, p.role)
        if p.decision is not Decision.REJECT:
            assert p.payload_hash_seen == GOOD_HASH
        if p.decision is Decision.OVERRIDE:
            assert p.role is Role.ADMIN and (p.reason or "").strip()
    assert len({p.operator_id for p, _ in recorded}) == len(recorded)
    accepted = {b.operator_id for b in final.ballots if b.decision is not Decision.REJECT}
    if final.status.accepted:
        assert len(accepted) >= max(required, floor)
        assert all(_eligible(o, who_role[o]) for o in accepted)
        assert not any(b.decision is Decision.REJECT for b in final.ballots)
    if final.status is RequestStatus.OVERRIDDEN:  # an override never lowers the quorum
        assert len(accepted) >= max(required, floor)
    if final.status is RequestStatus.PENDING:  # approvals and overrides never add up
        for kind_ in (Decision.APPROVE, Decision.OVERRIDE):
            group = {b.operator_id for b in final.ballots if b.decision is kind_}
            assert len(group) < max(required, floor)


@settings(max_examples=400, deadline=None)
@given(
    required=st.integers(1, 3),
    floor=st.integers(0, 2),
    kind=st.sampled_from(list(RequestKind)),
    role_list=st.lists(roles, min_size=len(PEOPLE), max_size=len(PEOPLE)),
    seq=st.lists(st.one_of(proposals, sound), max_size=14),
)
def test_an_overridden_request_was_overridden_by_its_quorum_of_distinct_admins(
    required: int,
    floor: int,
    kind: RequestKind,
    role_list: list[Role],
    seq: list[tuple[Any, ...]],
) -> None:
    """The README's rule: on a request that needs two people, two distinct admins each override
    with a reason. Every accepter an overridden request counts is a distinct eligible admin who
    overrode with a reason, as many as its quorum; an approved one counts only approvals."""
    who_role = dict(zip(PEOPLE, role_list, strict=True))
    final, _ = _play(_facts(required, floor, kind), who_role, seq)
    quorum = max(required, floor)
    if final.status is RequestStatus.OVERRIDDEN:
        admins = {
            b.operator_id
            for b in final.ballots
            if b.decision is Decision.OVERRIDE
            and (b.reason or "").strip()
            and who_role[b.operator_id] is Role.ADMIN
            and _eligible(b.operator_id, who_role[b.operator_id])
        }
        assert len(admins) >= quorum
    if final.status is RequestStatus.APPROVED:
        approvers = {b.operator_id for b in final.ballots if b.decision is Decision.APPROVE}
        assert len(approvers) >= quorum


def test_one_override_and_one_approval_do_not_settle_a_two_person_request() -> None:
    roles_ = {"a": Role.ADMIN, "b": Role.APPROVER, "c": Role.ADMIN, "d": Role.APPROVER}
    seq = [("a", Decision.OVERRIDE, "because", GOOD_HASH), ("b", Decision.APPROVE, None, GOOD_HASH)]
    final, _ = _play(_facts(2, 2, RequestKind.ACTION), roles_, seq)
    assert final.status is RequestStatus.PENDING
    overridden, _ = _play(final, roles_, [("c", Decision.OVERRIDE, "because", GOOD_HASH)])
    assert overridden.status is RequestStatus.OVERRIDDEN
    approved, _ = _play(final, roles_, [("d", Decision.APPROVE, None, GOOD_HASH)])
    assert approved.status is RequestStatus.APPROVED


@settings(max_examples=200, deadline=None)
@given(
    seq=st.lists(proposals, min_size=1, max_size=10),
    role_list=st.lists(roles, min_size=len(PEOPLE), max_size=len(PEOPLE)),
)
def test_a_single_admin_override_never_clears_a_two_person_request(
    seq: list[tuple[Any, ...]], role_list: list[Role]
) -> None:
    who_role = dict(zip(PEOPLE, role_list, strict=True))
    final, _ = _play(_facts(2, 2, RequestKind.ACTION), who_role, seq)
    if final.status.accepted:
        assert len({b.operator_id for b in final.ballots}) >= 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    payload=st.dictionaries(st.text(min_size=1, max_size=6), json_values, min_size=1, max_size=5),
    key=st.text(min_size=1, max_size=6),
    value=json_values,
    drop=st.booleans(),
)
def test_any_change_to_the_stored_payload_stops_an_approval(
    payload: dict[str, Any], key: str, value: Any, drop: bool
) -> None:
    changed = dict(payload)
    if drop and key in changed and len(changed) > 1:
        del changed[key]
    else:
        changed[key] = value
    if changed == payload:
        return
    req = ApprovalRequest(
        request_id="r1",
        run_id="run",
        step_index=0,
        attempt=1,
        kind="action",
        action_type="crm.refund",
        payload=changed,
        payload_hash=payload_hash("crm.refund", payload),  # hashed when it was created
        reasons=(),
        scores={},
        required_approvals=1,
        requester_id="requester",
        status="pending",
        created_at=NOW.isoformat(),
        expires_at=(NOW + timedelta(hours=1)).isoformat(),
        on_expiry="deny",
        policy_version=1,
    )
    spec = ActionSpec("crm.refund", reversible=False, risk_class=RiskClass.MEDIUM)
    facts = facts_of(
        req, (), run_operator_id=None, run_status=RunStatus.ESCALATED, specs={spec.name: spec}
    )
    for seen in (req.payload_hash, payload_hash("crm.refund", changed)):
        r = rule(
            facts,
            Proposal("a", Role.ADMIN, Decision.APPROVE, None, seen, NOW, frozenset({spec.name})),
        )
        assert r.verdict is Verdict.REFUSED and r.refusal is not None
        assert r.refusal.code in ("payload_tampered", "payload_changed")


def test_the_invariant_floor_holds_whatever_the_stored_quorum() -> None:
    """A request stored with ``required_approvals`` lowered to 1 for a high-risk action type
    still needs two people."""
    high = ActionSpec("payments.transfer", reversible=False, risk_class=RiskClass.HIGH)
    body = {"to": "x", "amount": 10}
    req = ApprovalRequest(
        "r1",
        "run",
        0,
        1,
        "action",
        high.name,
        body,
        payload_hash(high.name, body),
        (),
        {},
        1,
        "requester",
        "pending",
        NOW.isoformat(),
        (NOW + timedelta(hours=1)).isoformat(),
        "deny",
        1,
    )
    facts = facts_of(req, (), run_operator_id=None, run_status=None, specs={high.name: high})
    assert facts.quorum == 2
    p = Proposal(
        "a", Role.ADMIN, Decision.APPROVE, None, req.payload_hash, NOW, frozenset({high.name})
    )
    r = rule(facts, p)
    assert r.verdict is Verdict.RECORDED and r.status is RequestStatus.PENDING
    facts = replace(facts, ballots=(Ballot("a", Decision.APPROVE),))
    r2 = rule(facts, replace(p, operator_id="b"))
    assert r2.status is RequestStatus.APPROVED and r2.accepted_by == ("a", "b")


def _accepted_action(body: dict[str, Any]) -> tuple[ApprovalRequest, Any]:
    from maestro_helix.governance.rules import intents_for

    req = ApprovalRequest(
        "r1", "run", 0, 1, "action", "crm.refund", body, payload_hash("crm.refund", body), (),
        {}, 1, "requester", "approved", NOW.isoformat(), NOW.isoformat(), "deny", 1,
    )  # fmt: skip
    (intent,) = intents_for(req, NOW.isoformat())
    return req, intent


@settings(max_examples=200, deadline=None)
@given(
    payload=st.dictionaries(st.text(min_size=1, max_size=6), json_values, min_size=1, max_size=4),
    key=st.text(min_size=1, max_size=6),
    value=json_values,
    where=st.sampled_from(["intent", "request"]),
)
def test_a_payload_changed_after_approval_never_runs(
    payload: dict[str, Any], key: str, value: Any, where: str
) -> None:
    from maestro_helix.governance.rules import pre_run_refusal

    req, intent = _accepted_action(payload)
    assert pre_run_refusal(intent, req, RunStatus.RUNNING) is None
    changed = {**payload, key: value}
    if changed == payload:
        return
    if where == "intent":
        intent = replace(intent, payload=changed)
    else:
        req = replace(req, payload=changed)
    refusal = pre_run_refusal(intent, req, RunStatus.RUNNING)
    assert refusal is not None and refusal.code == "payload_mismatch"


def test_a_stopped_run_or_a_withdrawn_request_never_runs() -> None:
    from maestro_helix.governance.rules import pre_run_refusal

    req, intent = _accepted_action({"amount": 5})
    cancelled = pre_run_refusal(intent, req, RunStatus.CANCELLED)
    assert cancelled is not None and cancelled.code == "run_stopped"
    withdrawn = pre_run_refusal(intent, replace(req, status="withdrawn"), RunStatus.RUNNING)
    assert withdrawn is not None and withdrawn.code == "not_accepted"
