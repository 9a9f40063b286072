"""``maestro workflows stage | promote | canary start | status | abort``: a version's way from
draft to production, with recorded sign-offs and a canary that rolls itself back."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from maestro_helix.cli.common import (
    AppOpt,
    BusOpt,
    DbOpt,
    GatesOpt,
    JsonOpt,
    PolicyOpt,
    TokenOpt,
    load_app,
    open_store,
    open_system,
    out,
    print_json,
    run_async,
)
from maestro_helix.core.errors import MaestroError

if TYPE_CHECKING:
    from maestro_helix.app import Maestro
    from maestro_helix.governance.identity import Operator
    from maestro_helix.store.stages_sql import CanaryRecord, Outcome, StageView

__all__ = ["canary_app", "register_rollout"]

canary_app = typer.Typer(
    help="Canary rollouts: a share of new runs on a candidate, rolled back automatically.",
    no_args_is_help=True,
)

AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Sign off in this capacity: governance or admin (to staging), irreversible (a "
        "version adding an irreversible action), product_owner (to production).",
    ),
]


async def _who(store: Any, token: str | None) -> Operator:
    from maestro_helix.governance.identity import authenticate
    from maestro_helix.governance.policy import Role

    if token is None:
        raise MaestroError("give your operator token with --token or MAESTRO_TOKEN")
    who = await authenticate(store, token)
    if not who.role.at_least(Role.OPERATOR):
        raise MaestroError(f"role {who.role.value!r} cannot change a rollout")
    return who


def _print_canary(c: CanaryRecord | None) -> None:
    if c is None:
        out.print("no canary")
        return
    out.print(
        f"canary {c.canary_id[:8]}: v{c.candidate} vs stable v{c.stable}, {c.status.value}, "
        f"share {c.config.share:.0%}, {c.evaluations} evaluation(s)"
        + (f" — {c.reason}" if c.reason else "")
    )
    ev = c.last_evaluation
    if not ev:
        return
    table = Table("arm", "settled runs", "bad", "rate", "always-valid bounds", "in progress")
    for arm in ("candidate", "stable"):
        a = ev[arm]
        b = a["bounds"]
        rate = "—" if a["rate"] is None else f"{a['rate']:.2%}"
        bounds = "—" if b is None else f"{b[0]:.2%} – {b[1]:.2%}"
        table.add_row(arm, str(a["runs"]), str(a["bad"]), rate, bounds, str(a["in_progress"]))
    out.print(table)
    out.print(
        f"evidence: worse than stable e={ev['e_stable']:g}, above the bar e={ev['e_bar']:g} "
        f"(rollback at {ev['threshold']:g}); decision: {ev['decision']} — {ev['reason']}"
    )


def _say(o: Outcome) -> None:
    out.print(o.message + (f"; still missing: {', '.join(o.missing)}" if o.missing else ""))


def stage_cmd(name: str, db: DbOpt = "maestro.db", as_json: JsonOpt = False) -> None:
    """Each version's stage and sign-offs, and the workflow's canary."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            v: StageView = await store.stage_view(name)
        if as_json:
            from maestro_helix.ops.canary import stage_view_json

            print_json(stage_view_json(v))
            return
        table = Table("version", "stage", "since", "by", "sign-offs")
        for s in v.versions:
            signs = ", ".join(f"{x.target.value}:{x.signed_as}={x.operator_id}" for x in s.signoffs)
            table.add_row(
                str(s.version), s.stage.value, (s.entered_at or "")[:19], s.entered_by or "", signs
            )
        out.print(table)
        _print_canary(v.canary)

    run_async(main())


def promote_cmd(
    name: str,
    version: int,
    to: Annotated[str, typer.Option("--to", help="staging or production.")],
    signed_as: AsOpt = None,
    note: Annotated[str, typer.Option(help="Why, in words (kept with the sign-off).")] = "",
    token: TokenOpt = None,
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
    bus: BusOpt = None,
) -> None:
    """Sign a version off (--as) and promote it once every sign-off the policy names is in.

    To staging: governance (approver) and admin, distinct people (+ irreversible if the version
    adds an irreversible action). To production: the staging window's Go/No-Go report GO and the
    product owner; with a production version live, through a canary (or ends it promoted)."""
    from maestro_helix.core.rollout import Stage

    try:
        target = Stage(to)
    except ValueError:
        raise typer.BadParameter("staging or production", param_hint="--to") from None

    async def main() -> None:
        async with _rollout_system(db, gates, policy, app_spec, bus) as m:
            assert m.rollout is not None
            who = await _who(m.store, token)
            _say(await m.rollout.promote(name, version, target, who, signed_as, note))

    run_async(main())


@canary_app.command("start")
def canary_start(
    name: str,
    version: int,
    share: Annotated[float, typer.Option(help="Share of new runs to the candidate.")] = 0.10,
    min_runs: Annotated[int, typer.Option(help="Settled runs before any decision.")] = 30,
    alpha: Annotated[float, typer.Option(help="False-rollback chance, whole canary.")] = 0.05,
    promote_after: Annotated[
        int, typer.Option(help="Promote by itself after this many clean runs (0: by a person).")
    ] = 0,
    pause_in_flight: Annotated[
        bool, typer.Option(help="On rollback, pause the candidate's unfinished runs.")
    ] = False,
    token: TokenOpt = None,
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
    bus: BusOpt = None,
) -> None:
    """Send a share of new runs to a staging version signed off for production."""
    from maestro_helix.core.rollout import CanaryConfig

    cfg = CanaryConfig(share, min_runs, alpha, promote_after=promote_after,
                       pause_in_flight=pause_in_flight)  # fmt: skip

    async def main() -> None:
        async with _rollout_system(db, gates, policy, app_spec, bus) as m:
            assert m.rollout is not None
            who = await _who(m.store, token)
            _say(await m.rollout.start_canary(name, version, cfg, who))

    run_async(main())


@canary_app.command("status")
def canary_status(
    name: str,
    evaluate: Annotated[
        bool,
        typer.Option(
            help="Evaluate now (the default): record the evaluation and any rollback or "
            "promotion it decides, published like every decision. --no-evaluate only shows "
            "the last evaluation."
        ),
    ] = True,
    db: DbOpt = "maestro.db",
    as_json: JsonOpt = False,
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
    bus: BusOpt = None,
) -> None:
    """Evaluate the canary now (unless --no-evaluate) and show it: share, runs, bad-run rates
    with their bounds, the decision and why. An evaluation may roll the canary back or
    promote it: recorded, audited and its events published (--bus) as housekeeping's are."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            v: StageView = await store.stage_view(name)
        if evaluate:
            async with _rollout_system(db, gates, policy, app_spec, bus) as m:
                assert m.rollout is not None
                await m.rollout.evaluate(name)
                v = await m.store.stage_view(name)
        if as_json:
            from maestro_helix.ops.canary import canary_json

            print_json({"name": name, "canary": canary_json(v.canary)})
            return
        _print_canary(v.canary)

    run_async(main())


@canary_app.command("abort")
def canary_abort(
    name: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    token: TokenOpt = None,
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
    bus: BusOpt = None,
) -> None:
    """Stop the canary by hand: all new runs go to the stable version at once (audited, its
    event published with --bus)."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            await store.stage_view(name)
        async with _rollout_system(db, gates, policy, app_spec, bus) as m:
            assert m.rollout is not None
            who = await _who(m.store, token)
            _say(await m.rollout.abort(name, who, reason))

    run_async(main())


def _rollout_system(
    db: str, gates: Any, policy: Any, app_spec: str | None, bus: str | None
) -> AbstractAsyncContextManager[Maestro]:
    """The system a rollout decision is made in: the policy's rules, events published on the
    bus, metrics; nothing dispatched or resumed."""
    return open_system(db, load_app(app_spec), gates, policy, bus=bus, dispatch=False, resume=False)


def register_rollout(workflows: typer.Typer) -> None:
    """Add the rollout commands to ``maestro workflows``."""
    workflows.command("stage")(stage_cmd)
    workflows.command("promote")(promote_cmd)
    workflows.add_typer(canary_app, name="canary")
