"""The records every room shares: runs, steps, events, approval requests, action intents and
attempts, leases, step commits. Plain frozen data, no I/O."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from maestro_helix.core.audit import AuditDraft


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    ESCALATED = "escalated"  # waiting for a human decision (governance layer)
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


UNFINISHED = (RunStatus.PENDING, RunStatus.RUNNING)
"""Statuses a restarted engine picks up again by itself."""


QUEUE_OWNER = ":queue"
"""The lease holder of a run whose next step waits on a work queue (any worker may take it)."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A process's hold on a run: only the holder of the current ``epoch`` may commit its steps.

    Attributes:
        owner: the holding process (``host:pid:nonce``).
        epoch: the fencing token, raised by every acquisition.
    """

    owner: str
    epoch: int


@dataclass(frozen=True, slots=True)
class NewRun:
    run_id: str
    workflow: str
    workflow_version: int
    input: Mapping[str, Any]
    created_at: str
    operator_id: str | None = None
    owner: str | None = None
    lease_s: float = 0.0  # the owner's lease, counted from the write
    status: RunStatus = RunStatus.PENDING
    error: str | None = None
    state_digest: str | None = None  # of the state its first work item carries


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    workflow: str
    workflow_version: int
    status: RunStatus
    input: Mapping[str, Any]
    next_step: int
    error: str | None
    operator_id: str | None
    created_at: str
    updated_at: str
    owner: str | None = None
    lease_until: float | None = None
    epoch: int = 0
    state_digest: str | None = None  # of the state its work item carries (see engine.carry)


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One attempt of one step, as stored."""

    run_id: str
    step_index: int
    attempt: int
    step_id: str
    agent_id: str | None
    capability: str | None
    decision: str
    qsr: float | None
    mri: float | None
    output: Mapping[str, Any] | None
    quality: Mapping[str, Any] | None
    risk: Mapping[str, Any] | None
    verdict: Mapping[str, Any]
    agent_error: str | None
    started_at: str
    finished_at: str
    latency_ms: float
    eval_latency_ms: float


@dataclass(frozen=True, slots=True)
class EventRecord:
    event_id: str
    type: str
    ts: str
    run_id: str | None
    workflow: str | None
    step_id: str | None
    payload: Mapping[str, Any]
    seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "ts": self.ts,
            "run_id": self.run_id,
            "workflow": self.workflow,
            "step_id": self.step_id,
            "payload": dict(self.payload),
        }


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A human decision GIL is waiting for: an action to approve, or an escalated step."""

    request_id: str
    run_id: str
    step_index: int
    attempt: int
    kind: str  # "action" | "escalation"
    action_type: str | None
    payload: Mapping[str, Any]
    payload_hash: str
    reasons: Sequence[str]
    scores: Mapping[str, Any]
    required_approvals: int
    requester_id: str | None
    status: str  # pending | approved | rejected | overridden | expired
    created_at: str
    expires_at: str
    on_expiry: str
    policy_version: int
    decided_at: str | None = None


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    request_id: str
    operator_id: str
    decision: str
    reason: str | None
    payload_hash: str
    ts: str


@dataclass(frozen=True, slots=True)
class ActionIntent:
    """An action GIL has cleared to run; executed once, keyed by ``idempotency_key``."""

    idempotency_key: str
    request_id: str | None
    run_id: str
    action_type: str
    payload: Mapping[str, Any]
    payload_hash: str
    status: str = "pending"  # pending | started | succeeded | failed | refused
    attempts: int = 0
    result: Any = None
    error: str | None = None
    created_at: str = ""
    updated_at: str = ""
    owner: str | None = None
    claim_until: float | None = None


@dataclass(frozen=True, slots=True)
class LiveProcess:
    """A process beating now (``maestro processes``): what it holds is not taken over.

    Attributes:
        owner: ``host:pid:nonce``, as written on the runs and actions it holds.
        started_at: its first beat (ISO-8601 UTC).
        alive_for_s: how long its last beat lasts from now.
        runs: unfinished runs it holds.
        actions: action handler calls it has claimed and not finished.
    """

    owner: str
    started_at: str
    alive_for_s: float
    runs: int
    actions: int


@dataclass(frozen=True, slots=True)
class ActionAttempt:
    """One call of an action's handler, recorded before it starts and after it ends."""

    idempotency_key: str
    attempt: int
    owner: str
    started_at: str
    finished_at: str | None = None
    outcome: str | None = None  # succeeded | failed | refused; None: never heard back
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StepCommit:
    """Everything one step attempt changes, written in one transaction.

    Attributes:
        step: the attempt's record.
        run_status: the run's status after this attempt.
        next_step: the index of the step to run next (unchanged on retry).
        run_error: set when the run fails.
        audit: entries to append to the chain.
        events: reflexive events to store (and publish once stored).
        lease: the writer's lease; a commit whose lease is not the run's current one writes
            nothing and fails with :class:`~maestro_helix.core.errors.LeaseLost`.
        hand_to: the lease after this commit while the run goes on: the writer's own (renewed)
            lease, or the work queue's (``QUEUE_OWNER``); released when the run stops.
        workflow: the run's workflow (a paused workflow pauses the run at this boundary).
        lease_s: how long ``hand_to`` lasts, counted from the moment the commit is written
            (the writer's clock, under its lock).
        claim_s: the same for the action intents claimed with the step.
        state_digest: SHA-256 of the run state the next work item carries (when handed to
            the work queue): the next worker trusts the item's state only if it hashes to this.
    """

    step: StepRecord
    run_status: RunStatus
    next_step: int
    run_error: str | None = None
    audit: Sequence[AuditDraft] = ()
    events: Sequence[EventRecord] = ()
    updated_at: str = ""
    requests: Sequence[ApprovalRequest] = ()
    intents: Sequence[ActionIntent] = ()
    lease: Lease | None = None
    hand_to: Lease | None = None
    workflow: str | None = None
    lease_s: float = 10.0
    claim_s: float = 10.0
    state_digest: str | None = None


@dataclass(frozen=True, slots=True)
class AgentStat:
    agent_id: str
    capability: str
    passed: int
    total: int
    qsr_sum: float
    mri_sum: float


@dataclass(frozen=True, slots=True)
class RunPage:
    runs: Sequence[RunRecord]
    total: int


@dataclass(frozen=True, slots=True)
class Transition:
    """Ask to move a run to ``to`` only if it is in one of ``allowed`` now."""

    run_id: str
    to: RunStatus
    allowed: tuple[RunStatus, ...]
    updated_at: str
    error: str | None = None
    audit: Sequence[AuditDraft] = field(default_factory=tuple)
    events: Sequence[EventRecord] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit entries to read (every given field must match), oldest first."""

    run_id: str | None = None
    operator: str | None = None
    kind: str | None = None
    seq: int | None = None
    after_seq: int = 0
    limit: int = 100


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    """A signed checkpoint of the audit log's Merkle tree, as stored.

    Attributes:
        tree_size: entries covered (seq 1..tree_size).
        root_hash: hex RFC 6962 tree head of those entries.
        ts: when it was signed (RFC 3339 UTC).
        origin: the log's name (the key's name).
        key_id: hex signed-note key id of the signing key.
        note: the whole signed note (what ``audit checkpoint --export`` writes to a file).
    """

    tree_size: int
    root_hash: str
    ts: str
    origin: str
    key_id: str
    note: str
