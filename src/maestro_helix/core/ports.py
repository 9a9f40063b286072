"""The store port: what the engine, GIL and the API need from durable state, as small typed
protocols — a part of the system types its dependency by the ones it uses (housekeeping needs
``RunPort`` and ``GilPort``, the audit verifier ``AuditPort``) — and :class:`Store`, all of them
together, which each backend (:mod:`maestro_helix.store`: SQLite embedded, PostgreSQL in
production) implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from maestro_helix.core.audit import AuditDraft, CanonicalRow, ChainReport
from maestro_helix.core.knowledge import Insight, InsightDraft, KnowledgeVersion
from maestro_helix.core.records import (
    ActionAttempt,
    ActionIntent,
    AgentStat,
    ApprovalRecord,
    ApprovalRequest,
    AuditFilter,
    CheckpointRecord,
    EventRecord,
    LiveProcess,
    NewRun,
    RunPage,
    RunRecord,
    RunStatus,
    StepCommit,
    StepRecord,
    Transition,
)
from maestro_helix.core.route import TrackRecord
from maestro_helix.core.workflow import WorkflowDef

__all__ = [
    "AdminPort",
    "AuditPort",
    "GilPort",
    "KnowledgePort",
    "ReadPort",
    "RiskPort",
    "RolloutPort",
    "RoutingPort",
    "RunPort",
    "Store",
    "WorkflowPort",
]

T = TypeVar("T")


class WorkflowPort(Protocol):
    """Workflow definitions: versions, restore, pause."""

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


class RunPort(Protocol):
    """Runs and their steps: submit, commit a step (fenced by the lease), leases, reads."""

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
    async def acquire_run(
        self,
        run_id: str,
        owner: str,
        ttl_s: float,
        *,
        handed: tuple[int, int] | None = None,
        step: int | None = None,
    ) -> tuple[RunRecord, bool] | None:
        """Take the run's lease if nobody live holds it (raises its epoch); returns the run and
        whether its workflow is paused, or None when another process holds it. ``handed``
        (epoch, step index): only if it waits on the work queue exactly as that item left it;
        ``step``: only if the run is at that step."""

    @abstractmethod
    async def renew_leases(self, owner: str, ttl_s: float) -> int:
        """Extend every run lease and action claim of ``owner`` by ``ttl_s`` from now."""

    @abstractmethod
    async def keep_alive(self, owner: str, ttl_s: float) -> None:
        """Record that ``owner`` lives for ``ttl_s`` more seconds, never queued behind other
        writes: what a beating process holds never passes to another process."""

    @abstractmethod
    async def live_owners(self) -> list[LiveProcess]:
        """Processes beating now, with the runs and action calls each holds."""

    @abstractmethod
    async def release_leases(self, owner: str, run_ids: Sequence[str] | None = None) -> int:
        """Give up ``owner``'s run leases (all of them, or those of ``run_ids``)."""

    @abstractmethod
    async def runs_to_resume(self, owner: str) -> list[str]:
        """Unfinished runs that no live process holds."""

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
    async def accepted_attempts(self, run_id: str) -> set[tuple[int, int]]: ...


class AuditPort(Protocol):
    """The audit chain and its verifiable log (Merkle checkpoints, batched sequencing)."""

    @abstractmethod
    async def append_audit(self, entries: Sequence[AuditDraft]) -> None: ...

    @abstractmethod
    async def audit_entries(
        self, after_seq: int = 0, limit: int = 10_000
    ) -> list[dict[str, Any]]: ...

    @abstractmethod
    async def verify_audit(self) -> ChainReport: ...

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
    ) -> tuple[list[Any], tuple[int, str] | None] | None:
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


class ReadPort(Protocol):
    """Reflexive events, counts and score logs (reports, the router's records)."""

    @abstractmethod
    async def events(
        self, *, run_id: str | None = None, after_seq: int = 0, limit: int = 1000
    ) -> list[EventRecord]: ...

    @abstractmethod
    async def count(self, table: str) -> int: ...

    @abstractmethod
    async def agent_stats(self) -> list[AgentStat]: ...

    @abstractmethod
    async def qsr_log(self, **filters: Any) -> Any: ...

    @abstractmethod
    async def mri_log(self, **filters: Any) -> Any: ...


class GilPort(Protocol):
    """Governance: approval requests, decisions, expiry, action intents and their attempts."""

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
        self, *, run_id: str | None = None, keys: Sequence[str] | None = None, claim: Any
    ) -> tuple[list[ActionIntent], list[ActionIntent]]:
        """Claim cleared actions (``gil_sql.Claim``): returns (claimed, refused)."""

    @abstractmethod
    async def finish_intent(
        self,
        intent: ActionIntent,
        *,
        ok: bool,
        result: Any,
        error: str | None,
        ts: str,
        audit: AuditDraft,
        event: EventRecord,
    ) -> bool:
        """Record a handler call's end; False if the claim had passed to another process."""

    @abstractmethod
    async def action_attempts(self, key: str) -> list[ActionAttempt]: ...

    @abstractmethod
    async def retry_intent(self, key: str, ts: str, by: str) -> ActionIntent: ...

    @abstractmethod
    async def list_intents(
        self, *, status: str | None = None, limit: int = 100
    ) -> list[ActionIntent]: ...

    @abstractmethod
    async def intents_of(self, run_id: str) -> list[ActionIntent]: ...

    @abstractmethod
    async def withdraw_requests(self, run_id: str, reason: str, ts: str) -> list[str]:
        """Withdraw a stopped run's open requests (audited); returns their ids."""


class AdminPort(Protocol):
    """Operators and the governance policy's versions and changes."""

    @abstractmethod
    async def add_operator(self, operator_id: str, role: Any, token_hash: str, ts: str) -> None: ...

    @abstractmethod
    async def operator_by_token(self, token_hash: str) -> Any: ...

    @abstractmethod
    async def list_operators(self) -> list[Any]: ...

    @abstractmethod
    async def change_operator(
        self,
        operator_id: str,
        change: Any,
        *,
        ts: str,
        by: str | None,
        token_hash: str | None = None,
    ) -> None:
        """Disable, enable, rotate the token of or remove an operator (``admin_sql``)."""

    @abstractmethod
    async def active_policy(self) -> Any:
        """The active policy version (``admin_sql.ActivePolicy``), None on a fresh database."""

    @abstractmethod
    async def install_policy(self, policy: Any, ts: str) -> Any:
        """The active policy, installing ``policy`` as version 1 on a fresh database."""

    @abstractmethod
    async def apply_policy(self, policy: Any, loosens: Sequence[str], *, ts: str, by: str) -> Any:
        """An operator's policy change (pending a second admin when it loosens a rule)."""

    @abstractmethod
    async def approve_policy_change(
        self, change_id: str, *, ts: str, by: str, approve: bool
    ) -> Any: ...

    @abstractmethod
    async def policy_changes(self, status: Any = None) -> list[Any]: ...

    @abstractmethod
    async def policy_versions(self) -> list[Any]: ...


class RolloutPort(ABC):  # noqa: B024 (defaults, no abstract method: backends without rollouts)
    """Rollout: stages, sign-offs, canaries (``store/stages_sql.py``; values in
    ``core/rollout.py``). The defaults raise NotImplementedError: a store without rollouts runs
    every run on the version submitted (``engine/rollout.py``)."""

    async def route_plan(self, name: str) -> Any:
        """The :class:`~maestro_helix.core.rollout.RoutePlan` of ``name`` now."""
        raise NotImplementedError

    async def create_routed_runs(
        self,
        runs: Sequence[NewRun],
        events: Sequence[EventRecord],
        routes: Sequence[Any],
        token: str,
    ) -> None:
        """Like :meth:`create_runs`, with each run's route; RouteChanged if the plan moved on."""
        raise NotImplementedError

    async def stage_view(self, name: str) -> Any:
        raise NotImplementedError

    async def sign_off(self, signoff: Any, policy: Any, irreversible_added: bool) -> Any:
        raise NotImplementedError

    async def promote_version(self, name: str, version: int, target: Any, **kw: Any) -> Any:
        raise NotImplementedError

    async def start_canary(self, name: str, version: int, config: Any, **kw: Any) -> Any:
        raise NotImplementedError

    async def evaluate_canary(self, name: str, ts: str, by: str | None = None) -> Any:
        raise NotImplementedError

    async def abort_canary(self, name: str, ts: str, by: str, reason: str) -> Any:
        raise NotImplementedError

    async def running_canaries(self) -> list[str]:
        raise NotImplementedError

    async def recent_rollbacks(self, since: str) -> dict[str, int]:
        """Workflow → canaries rolled back at or after ``since`` (0 for the other workflows that
        have had a canary)."""
        raise NotImplementedError

    async def first_step(self, run_id: str, ts: str) -> Any:
        """None, or the :class:`~maestro_helix.store.reroute_sql.FirstStep` a run about to take
        its first step must follow (its version was rolled back)."""
        raise NotImplementedError


class RoutingPort(Protocol):
    """The router's shared track record: one row per agent × capability, folded by the store in
    each step commit (``store/router_sql.py``), read at every routing decision."""

    track_half_life_s: float = 3 * 86400.0
    """The decay a new track record is folded with (``RoutingConfig.half_life_s``)."""

    async def track_records(self, capability: str, agent_ids: Sequence[str]) -> list[TrackRecord]:
        """The stored records of ``agent_ids`` (all agents when empty) for ``capability``."""
        raise NotImplementedError(f"{type(self).__name__} keeps no track records")

    async def all_track_records(self) -> list[TrackRecord]:
        raise NotImplementedError(f"{type(self).__name__} keeps no track records")


class KnowledgePort(Protocol):
    """The versioned knowledge base (CSIL): written only by the learning service (push) and by
    admins (rollback, prune); read by the knowledge link and the ``maestro knowledge`` commands."""

    async def push_knowledge(
        self, drafts: Sequence[InsightDraft], ts: str, note: str = ""
    ) -> KnowledgeVersion | None:
        """A new version with ``drafts`` added (None: nothing new). Refuses (``InputError``)
        any item in which the detectors still find personal data or secrets."""
        raise NotImplementedError(f"{type(self).__name__} has no knowledge base")

    async def knowledge_items(
        self, version: int | None = None, capability: str | None = None
    ) -> tuple[int, list[Insight]]:
        """(version, its items): the current version when ``version`` is None."""
        raise NotImplementedError(f"{type(self).__name__} has no knowledge base")

    async def knowledge_version(self) -> int:
        """The current version's number (0: nothing pushed yet)."""
        raise NotImplementedError(f"{type(self).__name__} has no knowledge base")

    async def knowledge_versions(self) -> list[KnowledgeVersion]:
        raise NotImplementedError(f"{type(self).__name__} has no knowledge base")

    async def rollback_knowledge(self, to_version: int, ts: str, by: str) -> KnowledgeVersion:
        raise NotImplementedError(f"{type(self).__name__} has no knowledge base")

    async def prune_knowledge(self, keep: int, ts: str, by: str) -> tuple[int, int]:
        raise NotImplementedError(f"{type(self).__name__} has no knowledge base")


class RiskPort(Protocol):
    """The risk predictor's models (``store/risk_sql.py``) and the agents' recent record. The
    defaults raise: a store without them runs with no model (prediction proceeds)."""

    async def save_risk_model(
        self, make: Callable[[int], dict[str, Any]], *, ts: str, by: str | None, activate: bool
    ) -> Any:
        """Store ``make(version)`` as the next model version (optionally the active one)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no risk models")

    async def activate_risk_model(self, version: int, *, ts: str, by: str | None) -> Any:
        raise NotImplementedError(f"{type(self).__name__} keeps no risk models")

    async def risk_model(self, version: int | None = None) -> Any:
        """One stored model version, or the active one (``None``)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no risk models")

    async def active_risk_version(self) -> int | None:
        raise NotImplementedError(f"{type(self).__name__} keeps no risk models")

    async def risk_models(self) -> list[Any]:
        raise NotImplementedError(f"{type(self).__name__} keeps no risk models")

    async def agent_history(self, last: int = 50) -> dict[tuple[str, str], Any]:
        """Each (agent, capability)'s record over its last ``last`` attempts."""
        raise NotImplementedError(f"{type(self).__name__} keeps no step history")


class Store(
    WorkflowPort,
    RunPort,
    AuditPort,
    ReadPort,
    GilPort,
    AdminPort,
    RiskPort,
    RoutingPort,
    KnowledgePort,
    RolloutPort,
    ABC,
):
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
