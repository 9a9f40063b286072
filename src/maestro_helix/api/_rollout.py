"""Rollout routes: each version's stage and sign-offs, promotion with sign-offs, the canary
(start, status, evaluate now, abort). The Go/No-Go report of one version: ``maestro report
--workflow NAME --version N``.

Roles: reading is for every operator; signing is checked per capacity by the rules
(``governance/stages.py``: governance ≥ approver, admin = admin, product owner ≥ approver);
starting, evaluating and aborting a canary need an operator (starting one needs the candidate to
carry the product owner's sign-off and a GO report already).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from maestro_helix.api._auth import AnyRole, OperatorRole, System
from maestro_helix.api._ops import WorkflowName, error_responses
from maestro_helix.core.rollout import CanaryConfig, Stage
from maestro_helix.governance.stages import RolloutPolicy
from maestro_helix.ops.canary import Rollout, canary_json, stage_view_json
from maestro_helix.store.stages_sql import Outcome

__all__ = ["rollout_router"]

_INT32 = 2**31 - 1
Version = Annotated[int, Path(ge=1, le=_INT32, description="workflow version")]
_ROLLOUT_409 = {409: "a rollout rule refuses it (stage, sign-off, report, canary)"}


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Literal["staging", "production"]
    signed_as: str | None = Field(
        default=None,
        alias="as",
        pattern=r"^[a-z_]{1,32}$",
        description="sign off in this capacity first: governance, admin, irreversible, "
        "product_owner",
    )
    note: str = Field(default="", max_length=2000, pattern=r"^[^\x00]*$")


class CanaryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=_INT32)
    share: float = Field(default=0.10, gt=0.0, le=0.5)
    min_runs: int = Field(default=30, ge=10, le=1_000_000)
    alpha: float = Field(default=0.05, gt=0.0, le=0.05)
    bar: float = Field(default=0.02, gt=0.0, le=0.02)
    promote_after: int = Field(default=0, ge=0, le=10_000_000)
    pause_in_flight: bool = False


class AbortBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000, pattern=r"^[^\x00]*$")


def _rollout(system: Any) -> Rollout:
    r: Rollout | None = system.rollout
    if r is None:  # a system without one: the rules of its governance policy
        gov = getattr(system, "governance", None)
        policy = RolloutPolicy() if gov is None else RolloutPolicy.of(gov.policy)
        r = Rollout(system.store, policy=policy)
    return r


def _outcome(o: Outcome | None) -> dict[str, Any]:
    if o is None:
        return {"message": "no canary is running", "canary": None}
    return {
        "message": o.message,
        "stage": None if o.stage is None else o.stage.value,
        "missing": list(o.missing),
        "canary": canary_json(o.canary),
        "evaluation": None if o.evaluation is None else o.evaluation.as_json(),
    }


def rollout_router() -> APIRouter:
    r = APIRouter(tags=["rollout"])

    @r.get("/workflows/{name}/stages", responses=error_responses(404, 422))
    async def stages(name: WorkflowName, system: System, _: AnyRole) -> dict[str, Any]:
        """Every version's stage and sign-offs, and the canary (running, else the newest)."""
        return stage_view_json(await system.store.stage_view(name))

    @r.post(
        "/workflows/{name}/versions/{version}/promote",
        responses=error_responses(400, 403, 404, 409, 413, 422, words=_ROLLOUT_409),
    )
    async def promote(
        name: WorkflowName, version: Version, body: PromoteBody, system: System, op: OperatorRole
    ) -> dict[str, Any]:
        """Sign off (``as``) and promote once every sign-off is in (see the rules)."""
        out = await _rollout(system).promote(
            name, version, Stage(body.to), op, body.signed_as, body.note
        )
        return _outcome(out)

    @r.post(
        "/workflows/{name}/canary",
        status_code=201,
        responses=error_responses(400, 403, 404, 409, 413, 422, words=_ROLLOUT_409),
    )
    async def start(
        name: WorkflowName, body: CanaryBody, system: System, op: OperatorRole
    ) -> dict[str, Any]:
        """Start a canary of ``version`` against the production version."""
        cfg = CanaryConfig(
            body.share,
            body.min_runs,
            body.alpha,
            body.bar,
            body.promote_after,
            body.pause_in_flight,
        )
        return _outcome(await _rollout(system).start_canary(name, body.version, cfg, op))

    @r.get("/workflows/{name}/canary", responses=error_responses(404, 422))
    async def status(name: WorkflowName, system: System, _: AnyRole) -> dict[str, Any]:
        """The canary as last evaluated (housekeeping evaluates it every few seconds)."""
        view = await system.store.stage_view(name)
        return {"name": name, "canary": canary_json(view.canary)}

    @r.post("/workflows/{name}/canary/evaluate", responses=error_responses(403, 404, 422))
    async def evaluate(name: WorkflowName, system: System, op: OperatorRole) -> dict[str, Any]:
        """Evaluate the running canary now (recorded when the counts changed)."""
        await system.store.stage_view(name)  # 404 for an unknown workflow
        return _outcome(await _rollout(system).evaluate(name, op.operator_id))

    @r.post(
        "/workflows/{name}/canary/abort",
        responses=error_responses(400, 403, 404, 409, 413, 422, words=_ROLLOUT_409),
    )
    async def abort(
        name: WorkflowName, body: AbortBody, system: System, op: OperatorRole
    ) -> dict[str, Any]:
        """Stop the running canary: every new run goes to the stable version at once."""
        return _outcome(await _rollout(system).abort(name, op, body.reason))

    return r
