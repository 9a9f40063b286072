"""Records and the store port now live in :mod:`maestro_helix.core` (``core.records``,
``core.ports``); kept here for existing imports."""

from maestro_helix.core.ports import Store
from maestro_helix.core.records import (
    QUEUE_OWNER,
    UNFINISHED,
    ActionAttempt,
    ActionIntent,
    AgentStat,
    ApprovalRecord,
    ApprovalRequest,
    EventRecord,
    Lease,
    NewRun,
    RunPage,
    RunRecord,
    RunStatus,
    StepCommit,
    StepRecord,
    Transition,
)

__all__ = [
    "QUEUE_OWNER",
    "UNFINISHED",
    "ActionAttempt",
    "ActionIntent",
    "AgentStat",
    "ApprovalRecord",
    "ApprovalRequest",
    "EventRecord",
    "Lease",
    "NewRun",
    "RunPage",
    "RunRecord",
    "RunStatus",
    "StepCommit",
    "StepRecord",
    "Store",
    "Transition",
]
