"""The relational schema, shared by every backend. Alembic migrations build it (see migrations/)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

workflows = Table(
    "workflows",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("name", "digest", name="uq_workflows_name_digest"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("workflow", String(64), nullable=False),
    Column("workflow_version", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("input", JSON, nullable=False),
    Column("next_step", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("operator_id", String(64), nullable=True),
    Column("trace_id", String(32), nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    # the lease: which process executes the run, until when, and the fencing token (epoch)
    Column("owner", String(96), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("epoch", Integer, nullable=False, default=0, server_default="0"),
    # SHA-256 of the state the run's work item carries (distributed mode; None otherwise)
    Column("state_digest", String(64), nullable=True),
    Index("ix_runs_status", "status"),
    Index("ix_runs_workflow_created", "workflow", "created_at"),
)

steps = Table(
    "steps",
    metadata,
    Column("run_id", String(36), ForeignKey("runs.run_id"), primary_key=True),
    Column("step_index", Integer, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("step_id", String(64), nullable=False),
    Column("agent_id", String(128), nullable=True),
    Column("capability", String(64), nullable=True),
    Column("decision", String(16), nullable=False),
    Column("qsr", Float, nullable=True),
    Column("mri", Float, nullable=True),
    Column("output", JSON, nullable=True),
    Column("quality", JSON, nullable=True),
    Column("risk", JSON, nullable=True),
    Column("verdict", JSON, nullable=False),
    Column("agent_error", Text, nullable=True),
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32), nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("eval_latency_ms", Float, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("entry_id", String(160), nullable=False, unique=True),
    Column("ts", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("run_id", String(36), nullable=True),
    Column("step_id", String(64), nullable=True),
    Column("step_index", Integer, nullable=True),
    Column("attempt", Integer, nullable=True),
    Column("workflow", String(64), nullable=True),
    Column("workflow_version", Integer, nullable=True),
    Column("agent_id", String(128), nullable=True),
    Column("qsr_score", Float, nullable=True),
    Column("mri_score", Float, nullable=True),
    Column("gate_decision", String(16), nullable=True),
    Column("gil_decision", String(32), nullable=True),
    Column("human_operator_id", String(64), nullable=False, default=""),
    Column("evaluator_versions", JSON, nullable=False),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_run", "run_id"),
)

reflexive_events = Table(
    "reflexive_events",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("event_id", String(160), nullable=False, unique=True),
    Column("type", String(48), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("run_id", String(36), nullable=True),
    Column("workflow", String(64), nullable=True),
    Column("step_id", String(64), nullable=True),
    Column("payload", JSON, nullable=False),
    Index("ix_events_run", "run_id"),
    Index("ix_events_type_ts", "type", "ts"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("hash", String(64), nullable=False),
)

# -- governance (GIL) --------------------------------------------------------------------------

operators = Table(
    "operators",
    metadata,
    Column("operator_id", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
    Column("disabled", Integer, nullable=False, default=0),
)

approval_requests = Table(
    "approval_requests",
    metadata,
    Column("request_id", String(160), primary_key=True),
    Column("run_id", String(36), ForeignKey("runs.run_id"), nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # "action" | "escalation"
    Column("action_type", String(64), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("scores", JSON, nullable=False),
    Column("required_approvals", Integer, nullable=False),
    Column("requester_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("on_expiry", String(16), nullable=False),
    Column("decided_at", String(32), nullable=True),
    Column("policy_version", Integer, nullable=False),
    Index("ix_requests_status", "status"),
    Index("ix_requests_run", "run_id"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("request_id", String(160), ForeignKey("approval_requests.request_id"), primary_key=True),
    Column("operator_id", String(64), primary_key=True),
    Column("decision", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("payload_hash", String(64), nullable=False),
    Column("ts", String(32), nullable=False),
)

action_executions = Table(
    "action_executions",
    metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("request_id", String(160), nullable=True),
    Column("run_id", String(36), nullable=False),
    Column("action_type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # pending | started | succeeded | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("result", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    # the claim: which process may call the handler, until when
    Column("owner", String(96), nullable=True),
    Column("claim_until", Float, nullable=True),
    Index("ix_actions_status", "status"),
)

action_attempts = Table(
    "action_attempts",
    metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("attempt", Integer, primary_key=True, autoincrement=False),
    Column("owner", String(96), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32), nullable=True),
    Column("outcome", String(16), nullable=True),  # succeeded | failed | refused; NULL: unknown
    Column("error", Text, nullable=True),
)

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(64), nullable=True),
)


workflow_state = Table(
    "workflow_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("paused", Integer, nullable=False, default=0, server_default="0"),
    Column("updated_at", String(32), nullable=True),
    Column("updated_by", String(64), nullable=True),
)


policy_changes = Table(
    "policy_changes",
    metadata,
    Column("change_id", String(64), primary_key=True),
    Column("base_version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("body", JSON, nullable=False),
    Column("loosens", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("proposed_by", String(64), nullable=False),
    Column("proposed_at", String(32), nullable=False),
    Column("decided_by", String(64), nullable=True),
    Column("decided_at", String(32), nullable=True),
)
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column(
        "tree_size",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("root_hash", String(64), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("origin", String(255), nullable=False),
    Column("key_id", String(8), nullable=False),
    Column("note", Text, nullable=False),
)


# -- batched sequencing of the audit log (prototype; see store/sequencer_sql.py) ---------------

audit_pending = Table(
    "audit_pending",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("entry_id", String(160), nullable=False, unique=True),
    Column("ts", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("run_id", String(36), nullable=True),
    Column("step_id", String(64), nullable=True),
    Column("step_index", Integer, nullable=True),
    Column("attempt", Integer, nullable=True),
    Column("workflow", String(64), nullable=True),
    Column("workflow_version", Integer, nullable=True),
    Column("agent_id", String(128), nullable=True),
    Column("qsr_score", Float, nullable=True),
    Column("mri_score", Float, nullable=True),
    Column("gate_decision", String(16), nullable=True),
    Column("gil_decision", String(32), nullable=True),
    Column("human_operator_id", String(64), nullable=False, default=""),
    Column("evaluator_versions", JSON, nullable=False),
    Column("details", JSON, nullable=False),
)
"""Audit entries committed by their transactions, waiting for the sequencer to give them a seq."""

audit_sequencer = Table(
    "audit_sequencer",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("holder", String(128), nullable=False),
    Column("expires_at", Float, nullable=False),
)
"""The sequencer's lease (one row): only its holder assigns seqs, until it expires."""


owners = Table(
    "owners",
    metadata,
    Column("owner", String(96), primary_key=True),
    Column("alive_until", Float, nullable=False),
    Column("started_at", String(32), nullable=False),
)
"""Each process's heartbeat (``host:pid:nonce``), written on a connection of its own: a lease or
claim passes to another process only once its holder's lease time is over *and* its holder has
stopped beating (a live process whose writer is merely slow keeps what it holds)."""


# -- routing and the knowledge base (see store/router_sql.py, store/knowledge_sql.py) -----------

agent_track = Table(
    "agent_track",
    metadata,
    Column("agent_id", String(128), primary_key=True),
    Column("capability", String(64), primary_key=True),
    Column("n", Float, nullable=False),
    Column("passed", Float, nullable=False),
    Column("qsr_sum", Float, nullable=False),
    Column("mri_sum", Float, nullable=False),
    Column("as_of", Float, nullable=False),
    Column("half_life_s", Float, nullable=False),
    Column("total", Integer, nullable=False),
    Column("passes", Integer, nullable=False),
)
"""Each agent × capability's decayed track record, folded in the step commit (helix/routing)."""

knowledge_versions = Table(
    "knowledge_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_at", String(32), nullable=False),
    Column("op", String(16), nullable=False),
    Column("note", Text, nullable=False),
    Column("items", Integer, nullable=False),
)
"""One row per version of the knowledge base: what made it (push, rollback) and its size."""

knowledge_items = Table(
    "knowledge_items",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("capability", String(64), nullable=True),
    Column("text", Text, nullable=False),
    Column("provenance", JSON, nullable=False),
    Column("created_at", String(32), nullable=False),
)
"""Insights, redacted before they were stored; immutable (versions say which are in)."""

knowledge_spans = Table(
    "knowledge_spans",
    metadata,
    Column("item_id", String(64), ForeignKey("knowledge_items.item_id"), primary_key=True),
    Column("from_version", Integer, primary_key=True),
    Column("to_version", Integer, nullable=True),
    Index("ix_knowledge_spans_versions", "from_version", "to_version"),
)
"""Item ``item_id`` is in every version v with from_version <= v < to_version (open: current)."""
risk_models = Table(
    "risk_models",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(64), nullable=True),
    Column("sha256", String(64), nullable=False),
    Column("active", Integer, nullable=False, default=0, server_default="0"),
    Column("metrics", JSON, nullable=False),
    Column("model", JSON, nullable=False),
)


# -- rollout (migration 0007_stages): stages, sign-offs, canaries, each run's route ---------------

workflow_stages = Table(
    "workflow_stages",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("stage", String(16), nullable=False),
    Column("entered_at", String(32), nullable=False),
    Column("entered_by", String(64), nullable=True),
    Column("note", Text, nullable=True),
)

workflow_signoffs = Table(
    "workflow_signoffs",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("target", String(16), nullable=False),
    Column("signed_as", String(32), nullable=False),
    Column("operator_id", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("details", JSON, nullable=False),
    UniqueConstraint("name", "version", "target", "signed_as", name="uq_signoffs_capacity"),
    UniqueConstraint("name", "version", "target", "operator_id", name="uq_signoffs_person"),
)

canaries = Table(
    "canaries",
    metadata,
    Column("canary_id", String(36), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("candidate", Integer, nullable=False),
    Column("stable", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("config", JSON, nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("started_by", String(64), nullable=True),
    Column("ended_at", String(32), nullable=True),
    Column("ended_by", String(64), nullable=True),
    Column("reason", Text, nullable=True),
    Column("evaluations", Integer, nullable=False),
    Column("last_evaluation", JSON, nullable=True),
    Index("ix_canaries_name_status", "name", "status"),
)

run_routes = Table(
    "run_routes",
    metadata,
    Column("run_id", String(36), ForeignKey("runs.run_id"), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("reason", String(16), nullable=False),
    Column("canary_id", String(36), nullable=True),
    Column("arm", String(16), nullable=True),
    Column("key_hash", String(16), nullable=True),
    Index("ix_run_routes_canary", "canary_id", "arm"),
)
