"""The ``Store`` interface and the records it keeps. Backends: SQLite (embedded), PostgreSQL."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from maestro_helix.core.workflow import WorkflowDef
from maestro_helix.governance.audit import AuditDraft, CanonicalRow, ChainReport

if TYPE_CHECKING:
    from maestro_helix.governance.auditscan import Segment

T = TypeVar("T")


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


@dataclass(frozen=True, slots=True)
class NewRun:
    run_id: str
    workflow: str
    workflow_version: int
    input: Mapping[str, Any]
    created_at: str
    operator_id: str | None = None


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
    status: str = "pending"  # pending | started | succeeded | failed
    attempts: int = 0
    result: Any = None
    error: str | None = None
    created_at: str = ""
    updated_at: str = ""


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


class Store(ABC):
    """Durable state of workflows, runs, steps, the audit chain and reflexive events.

    Every write method returns only once its data is durable (committed). Writes made
    concurrently may be grouped into one transaction, but each is all-or-nothing on its own.
    """

    url: str

    def describe(self) -> str:
        """Where the data lives, fit to print (no password)."""
        return self.url

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @abstractmethod
    async def save_workflow(self, defn: WorkflowDef, created_at: str) -> WorkflowDef:
        """Store a definition; an unchanged one keeps its version, a changed one gets the next.

        Returns the definition with its stored ``version``.
        """

    @abstractmethod
    async def get_workflow(self, name: str, version: int | None = None) -> WorkflowDef: ...

    @abstractmethod
    async def list_workflows(self) -> list[WorkflowDef]: ...

    @abstractmethod
    async def create_runs(
        self, runs: Sequence[NewRun], events: Sequence[EventRecord] = ()
    ) -> None: ...

    @abstractmethod
    async def commit_step(self, commit: StepCommit) -> RunStatus | None:
        """Write one step attempt; return the run's status if it was stopped meanwhile.

        A run that was paused, cancelled or escalated while its step was in flight keeps that
        status (the step is still recorded and the run's position advanced); the engine reads
        the returned status to stop at this step boundary.
        """

    @abstractmethod
    async def transition(self, t: Transition) -> RunRecord:
        """Move a run to another status, atomically checked against ``t.allowed``."""

    @abstractmethod
    async def get_run(self, run_id: str) -> RunRecord: ...

    @abstractmethod
    async def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> RunPage: ...

    @abstractmethod
    async def run_ids(self, statuses: Sequence[RunStatus]) -> list[str]: ...

    @abstractmethod
    async def step_records(self, run_id: str) -> list[StepRecord]: ...

    @abstractmethod
    async def append_audit(self, entries: Sequence[AuditDraft]) -> None: ...

    @abstractmethod
    async def audit_entries(
        self, after_seq: int = 0, limit: int = 10_000
    ) -> list[dict[str, Any]]: ...

    @abstractmethod
    async def verify_audit(self) -> ChainReport: ...

    # -- the verifiable log (Merkle tree checkpoints; governance/merkle.py) --------------------

    @abstractmethod
    async def find_audit(self, f: AuditFilter) -> list[dict[str, Any]]:
        """Audit entries matching ``f``, in seq order."""

    @abstractmethod
    async def scan_audit(
        self, fn: Callable[[Iterator[CanonicalRow], tuple[int, str] | None], T]
    ) -> T:
        """``fn(entries as canonical rows in seq order, recorded head)`` over one consistent
        read of the log."""

    @abstractmethod
    async def audit_rows(self, after_seq: int = 0, limit: int = 10_000) -> list[CanonicalRow]:
        """Entries ``after_seq + 1 .. after_seq + limit`` as canonical rows (for followers of
        the log: the checkpointer, the API's proof tree)."""

    @abstractmethod
    async def audit_segments(
        self, sizes: Sequence[int], parts: int
    ) -> tuple[list[Segment], tuple[int, str] | None] | None:
        """The log checked in ``parts`` worker processes (``governance/auditscan.py``), with the
        head read at the start; None when this store cannot (or the log is too small to gain)."""

    @abstractmethod
    async def sequence_audit(self, holder: str, lease_s: float, limit: int) -> int | None:
        """As sequencer ``holder`` (taking or renewing the lease): give up to ``limit`` pending
        audit entries their seq; how many, or None when another holder has the lease."""

    @abstractmethod
    async def pending_audit(self) -> int:
        """Audit entries committed but not sequenced yet (batched sequencing)."""

    @abstractmethod
    async def save_checkpoint(self, cp: CheckpointRecord) -> bool:
        """Store a signed checkpoint; False when one of that tree size is stored already."""

    @abstractmethod
    async def list_checkpoints(self) -> list[CheckpointRecord]:
        """Every stored checkpoint, smallest tree first."""

    @abstractmethod
    async def events(
        self, *, run_id: str | None = None, after_seq: int = 0, limit: int = 1000
    ) -> list[EventRecord]: ...

    @abstractmethod
    async def count(self, table: str) -> int: ...

    @abstractmethod
    async def agent_stats(self) -> list[AgentStat]: ...

    # -- governance (GIL) ----------------------------------------------------------------------

    @abstractmethod
    async def list_requests(
        self,
        *,
        status: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ApprovalRequest]: ...

    @abstractmethod
    async def get_request(
        self, request_id: str
    ) -> tuple[ApprovalRequest, tuple[ApprovalRecord, ...]]: ...

    @abstractmethod
    async def decide(self, d: Any) -> Any:
        """Record a decision (``gil_sql.DecisionInput``) → ``gil_sql.DecisionOutcome``."""

    @abstractmethod
    async def expire_due(
        self, now: Any, ts: str
    ) -> tuple[list[ApprovalRequest], list[EventRecord]]: ...

    @abstractmethod
    async def claim_intents(
        self,
        *,
        run_id: str | None = None,
        keys: Sequence[str] | None = None,
        ts: str,
        recover: bool = False,
    ) -> list[ActionIntent]: ...

    @abstractmethod
    async def finish_intent(
        self,
        key: str,
        *,
        ok: bool,
        result: Any,
        error: str | None,
        ts: str,
        audit: AuditDraft,
        event: EventRecord,
    ) -> None: ...

    @abstractmethod
    async def intents_of(self, run_id: str) -> list[ActionIntent]: ...

    @abstractmethod
    async def accepted_attempts(self, run_id: str) -> set[tuple[int, int]]: ...

    @abstractmethod
    async def add_operator(self, operator_id: str, role: Any, token_hash: str, ts: str) -> None: ...

    @abstractmethod
    async def operator_by_token(self, token_hash: str) -> Any: ...

    @abstractmethod
    async def list_operators(self) -> list[Any]: ...

    @abstractmethod
    async def record_policy(self, policy: Any, ts: str, by: str | None) -> int: ...

    # -- operations (versioned workflows, pause, score logs) -----------------------------------

    @abstractmethod
    async def list_workflow_versions(self, name: str) -> list[Any]: ...

    @abstractmethod
    async def restore_workflow(
        self, name: str, version: int, ts: str, by: str | None
    ) -> WorkflowDef: ...

    @abstractmethod
    async def set_workflow_paused(
        self, name: str, paused: bool, ts: str, by: str | None
    ) -> Any: ...

    @abstractmethod
    async def paused_workflows(self) -> set[str]: ...

    @abstractmethod
    async def qsr_log(self, **filters: Any) -> Any: ...

    @abstractmethod
    async def mri_log(self, **filters: Any) -> Any: ...
