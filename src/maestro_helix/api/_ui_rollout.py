"""The UI's rollout page: each workflow's versions, stage and sign-offs, and a canary panel
(share, runs, bad-run rates with their always-valid bounds, the decision and why). Read-only:
changes go through the API or ``maestro workflows promote | canary ...``, which check the rules.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from maestro_helix.api._auth import system_of
from maestro_helix.api._ui import _caller, _page
from maestro_helix.ops.canary import canary_json, stage_view_json

__all__ = ["rollout_ui_router"]


def _pct(x: object) -> str:
    return "—" if not isinstance(x, int | float) else f"{x:.2%}"


def _arm(ev: dict[str, object], arm: str) -> dict[str, str]:
    a = ev[arm]
    assert isinstance(a, dict)
    b = a["bounds"]
    return {
        "arm": arm,
        "runs": str(a["runs"]),
        "bad": str(a["bad"]),
        "rate": _pct(a["rate"]),
        "bounds": "—" if not b else f"{_pct(b[0])} – {_pct(b[1])}",
        "in_progress": str(a["in_progress"]),
    }


def rollout_ui_router() -> APIRouter:
    r = APIRouter(prefix="/ui", include_in_schema=False)

    @r.get("/workflows")
    async def workflows(request: Request) -> Response:
        caller = await _caller(request)
        system = system_of(request)
        names = sorted({d.name for d in await system.store.list_workflows()})
        items = []
        for name in names:
            stages = await system.store.stage_view(name)
            view, c = stage_view_json(stages), canary_json(stages.canary)
            panel = None
            if c is not None:
                ev = c["last_evaluation"]
                panel = {
                    **c,
                    "share_text": _pct(c["config"]["share"]),
                    "arms": [] if not ev else [_arm(ev, "candidate"), _arm(ev, "stable")],
                    "decision": None if not ev else ev["decision"],
                    "why": c["reason"] or (None if not ev else ev["reason"]),
                    "evidence": None
                    if not ev
                    else f"worse than stable e={ev['e_stable']:g}, above the bar "
                    f"e={ev['e_bar']:g}; rollback at e ≥ {ev['threshold']:g}",
                }
            items.append({"name": name, "versions": view["versions"], "canary": panel})
        return _page(request, caller, "workflows.html", workflows=items)

    return r
