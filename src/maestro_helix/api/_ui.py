"""The escalation web UI: server-rendered pages under ``/ui`` for the humans in the loop.

Sign-in exchanges an API token for a server-side session (HttpOnly, SameSite=Strict cookie).
Every form carries the session's CSRF token and every POST must come from this site (its
``Origin``, when sent, must match). A decision form also carries the payload hash that was shown,
so a payload that changed meanwhile is refused rather than approved unseen.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData

from maestro_helix.api._auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_TTL_S,
    Session,
    same_token,
    sessions_of,
    system_of,
)
from maestro_helix.api._decide import decide, refusal_of
from maestro_helix.api._views import (
    action_results,
    approvers,
    factors,
    load_request,
    score_text,
    seconds_left,
    time_left_text,
    why_not,
)
from maestro_helix.core.errors import MaestroError
from maestro_helix.governance.identity import AuthError, Operator, authenticate, hash_token
from maestro_helix.governance.planning import approval_summary, own_payloads, taint_paths
from maestro_helix.governance.policy import Decision, Role
from maestro_helix.store.gil_sql import DecisionOutcome, RequestNotFound

__all__ = ["install"]

QUEUE_LIMIT = 200


class LoginRequired(MaestroError):
    """No valid UI session: the page redirects to the sign-in form."""


@dataclass(frozen=True, slots=True)
class Caller:
    operator: Operator
    session: Session


async def _caller(request: Request) -> Caller:
    sessions = sessions_of(request)
    session = sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise LoginRequired()
    rec = await system_of(request).store.operator_by_token(session.token_hash)
    if rec is None:  # the operator was disabled (or removed) since signing in
        sessions.drop(session.session_id)
        raise LoginRequired()
    return Caller(Operator(rec.operator_id, Role(rec.role)), session)


def _render(request: Request, name: str, *, status: int = 200, **ctx: Any) -> HTMLResponse:
    env = request.app.state.templates
    assert isinstance(env, Environment)
    ctx.setdefault("operator", None)
    ctx.setdefault("csrf", "")
    ctx.setdefault("flashes", [])
    return HTMLResponse(env.get_template(name).render(**ctx), status_code=status)


def _page(request: Request, caller: Caller, name: str, **ctx: Any) -> HTMLResponse:
    return _render(
        request,
        name,
        operator=caller.operator,
        csrf=caller.session.csrf,
        flashes=caller.session.take_flashes(),
        **ctx,
    )


def _error_page(
    request: Request, caller: Caller | None, status: int, title: str, msg: str
) -> Response:
    if caller is None:
        return _render(request, "error.html", status=status, title=title, message=msg)
    return _render(
        request,
        "error.html",
        status=status,
        title=title,
        message=msg,
        operator=caller.operator,
        csrf=caller.session.csrf,
    )


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def _same_origin(request: Request) -> bool:
    """A browser names the page a form came from; refuse a POST another site made."""
    origin = request.headers.get("origin")
    if origin is None:  # not a browser, or an old one: the CSRF token still has to match
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _detail_url(request_id: str) -> str:
    return f"/ui/approvals/{quote(request_id, safe='')}"


def _json(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _kind_label(kind: str, action_type: str | None) -> str:
    if kind == "action" and action_type:
        return f"Action: {action_type}"
    return "Escalated step" if kind == "escalation" else kind


def _outcome_flash(decision: Decision, outcome: DecisionOutcome) -> tuple[str, str]:
    req = outcome.request
    n, need = len(approvers(outcome.approvals)), req.required_approvals
    if outcome.result == "refused":
        return "error", f"Not recorded: {refusal_of(outcome).message}"
    if outcome.result == "replayed":
        return "ok", f"Your {decision.value} was already recorded; nothing changed ({n} of {need})"
    if decision is Decision.REJECT:
        return "ok", "Rejected — the run stops here"
    if decision is Decision.OVERRIDE and req.status == "overridden":
        return "ok", f"Overridden — {n} of {need}: the request is accepted and the run continues"
    if decision is Decision.OVERRIDE:
        return "ok", f"Override recorded — {n} of {need}: another person must still accept"
    if req.status == "approved":
        return "ok", f"Approved — {n} of {need}: the request is approved and the run continues"
    return "ok", f"Approved — {n} of {need}"


def _quorum_text(n: int, need: int) -> str:
    noun = "approval" if need == 1 else "approvals"
    text = f"{n} of {need} {noun}"
    if need >= 2:
        text = f"Two-person rule: {text}"
    left = need - n
    return f"{text} ({left} more needed)" if left > 0 else text


def _router() -> APIRouter:
    r = APIRouter(prefix="/ui", include_in_schema=False)

    @r.get("/login")
    async def login_form(request: Request, signed_out: int = 0) -> Response:
        if sessions_of(request).get(request.cookies.get(SESSION_COOKIE)) is not None:
            return _see_other("/ui")
        token = secrets.token_urlsafe(32)
        response = _render(
            request,
            "login.html",
            login_csrf=token,
            error=None,
            notice="You are signed out." if signed_out else None,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=3600,
            path="/ui/login",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @r.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        if not _same_origin(request) or not same_token(
            _text(form, "login_csrf"), request.cookies.get(LOGIN_COOKIE)
        ):
            return _error_page(
                request, None, 403, "Sign-in refused", "The sign-in form expired; reload it."
            )
        token = _text(form, "token").strip()
        try:
            await authenticate(system_of(request).store, token)
        except AuthError as e:
            return _render(
                request,
                "login.html",
                status=401,
                login_csrf=request.cookies.get(LOGIN_COOKIE, ""),
                error=f"Sign-in failed: {e}.",
                notice=None,
            )
        sessions = sessions_of(request)
        sessions.drop(request.cookies.get(SESSION_COOKIE))  # a fresh id at every sign-in
        session = sessions.create(hash_token(token))
        response = _see_other("/ui")
        response.set_cookie(
            SESSION_COOKIE,
            session.session_id,
            max_age=SESSION_TTL_S,
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/ui/login")
        return response

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        caller = await _caller(request)
        form = await request.form()
        if not _same_origin(request) or not same_token(
            _text(form, "csrf_token"), caller.session.csrf
        ):
            return _error_page(request, caller, 403, "Refused", "Reload the page and try again.")
        sessions_of(request).drop(caller.session.session_id)
        response = _see_other("/ui/login?signed_out=1")
        response.delete_cookie(SESSION_COOKIE, path="/ui")
        return response

    @r.get("")
    async def queue(request: Request) -> Response:
        caller = await _caller(request)
        system = system_of(request)
        now = system.governance.clock.now()
        rows = []
        for q in await system.store.list_requests(status="pending", limit=QUEUE_LIMIT):
            _, records = await system.store.get_request(q.request_id)
            rows.append(
                {
                    "request_id": q.request_id,
                    "short_id": q.request_id[:8] + "…" + q.request_id.split(".", 1)[-1],
                    "workflow": q.scores.get("workflow"),
                    "step_id": q.scores.get("step_id"),
                    "reasons": list(q.reasons),
                    "kind_label": _kind_label(q.kind, q.action_type),
                    "qsr": score_text(q.scores.get("qsr")),
                    "mri": score_text(q.scores.get("mri")),
                    "approvals": len(approvers(records)),
                    "required": q.required_approvals,
                    "time_left": time_left_text(seconds_left(q, now)),
                    "what": approval_summary(q),
                    "rule": q.scores.get("rule") or "",
                }
            )
        return _page(request, caller, "queue.html", rows=rows)

    @r.get("/approvals/{request_id}")
    async def detail(request: Request, request_id: str) -> Response:
        caller = await _caller(request)
        system = system_of(request)
        try:
            page = await load_request(system.store, request_id)
        except RequestNotFound as e:
            return _error_page(request, caller, 404, "Not found", str(e))
        req = page.request
        now = system.governance.clock.now()
        refusal = why_not(page, caller.operator, now, system.governance.runnable())
        blocked = None
        if refusal is not None:
            blocked = refusal.message
            if refusal.code == "not_pending" or (
                refusal.code == "expired" and req.status == "pending"
            ):
                blocked = f"it is {'expired' if refusal.code == 'expired' else req.status}"
        return _page(
            request,
            caller,
            "detail.html",
            req=req,
            kind_label=_kind_label(req.kind, req.action_type),
            run_status=page.run.status.value if page.run else "unknown",
            run_operator=page.run.operator_id if page.run else None,
            scores=req.scores,
            qsr=score_text(req.scores.get("qsr")),
            mri=score_text(req.scores.get("mri")),
            factors=[{**f, "score_text": score_text(f["score"])} for f in factors(req)],
            payload_json=_json(req.payload),
            what=approval_summary(req),
            rule=req.scores.get("rule") or "; ".join(req.reasons[:1]),
            taint=taint_paths(req),
            own_payloads=own_payloads(req),
            results=await action_results(system.store, req),
            quorum_text=_quorum_text(len(approvers(page.records)), req.required_approvals),
            decisions=page.records,
            time_left=time_left_text(seconds_left(req, now)),
            blocked=blocked,
            is_admin=caller.operator.role.at_least(Role.ADMIN),
        )

    @r.post("/approvals/{request_id}/decide")
    async def decide_form(request: Request, request_id: str) -> Response:
        caller = await _caller(request)
        form = await request.form()
        if not _same_origin(request) or not same_token(
            _text(form, "csrf_token"), caller.session.csrf
        ):
            return _error_page(
                request,
                caller,
                403,
                "Refused",
                "The form expired; reload the page and decide again.",
            )
        try:
            decision = Decision(_text(form, "decision"))
        except ValueError:
            caller.session.flash("error", "Choose Approve or Reject.")
            return _see_other(_detail_url(request_id))
        reason = _text(form, "reason").strip() or None
        system = system_of(request)
        try:
            outcome = await decide(
                system,
                request_id,
                caller.operator,
                decision,
                reason=reason,
                # always bound: a form without the hash it showed is treated as a changed payload
                payload_hash_seen=_text(form, "payload_hash"),
            )
        except RequestNotFound as e:
            return _error_page(request, caller, 404, "Not found", str(e))
        caller.session.flash(*_outcome_flash(decision, outcome))
        return _see_other(_detail_url(request_id))

    return r


def install(app: FastAPI) -> None:
    """Add the UI's pages, its static files and its sign-in redirect to ``app``."""
    app.state.templates = Environment(
        loader=PackageLoader("maestro_helix.api", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
    )

    async def to_login(_: Request, __: Exception) -> Response:
        return _see_other("/ui/login")

    app.add_exception_handler(LoginRequired, to_login)
    app.mount(
        "/ui/static",
        StaticFiles(packages=[("maestro_helix.api", "static")]),
        name="ui-static",
    )
    app.include_router(_router())
