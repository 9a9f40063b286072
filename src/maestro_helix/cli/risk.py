"""``maestro risk train | evaluate | show | activate``: the PredictiveRiskManager's models.

Models are versioned rows of the store (JSON trees, metrics, SHA-256, one active); every process
takes up the active one at its next housekeeping tick. Training needs the ``train`` extra
(scikit-learn); predicting does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from maestro_helix.cli.common import (
    DbOpt,
    JsonOpt,
    TokenOpt,
    open_store,
    out,
    print_json,
    run_async,
)
from maestro_helix.core.clock import SystemClock, iso
from maestro_helix.core.ports import Store

if TYPE_CHECKING:
    from maestro_helix.ops.risk_model import Example

risk_app = typer.Typer(
    help="Risk prediction models: train on recorded history, evaluate, show, activate.",
    no_args_is_help=True,
)

VersionOpt = Annotated[
    int | None, typer.Option("--version", "-v", help="A model version (default: the active one).")
]


async def _who(store: Store, token: str | None) -> str | None:
    if token is None:
        return None
    from maestro_helix.governance.identity import authenticate

    return (await authenticate(store, token)).operator_id


def _fmt(x: Any) -> str:
    return "—" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def _print_metrics(title: str, m: dict[str, Any]) -> None:
    out.print(
        f"{title}: {m['n']} attempts, {m['positives']} not passed (base rate "
        f"{_fmt(m['base_rate'])}) · ROC AUC {_fmt(m['roc_auc'])} · Brier {_fmt(m['brier'])}"
    )
    t = Table("predicted", "n", "mean predicted", "observed")
    for b in m["calibration"]:
        t.add_row(b["bin"], str(b["n"]), f"{b['predicted']:.3f}", f"{b['observed']:.3f}")
    out.print(t)


@risk_app.command("train")
def risk_train(
    db: DbOpt = "maestro.db",
    no_activate: Annotated[
        bool, typer.Option("--no-activate", help="Store the model without making it active.")
    ] = False,
    holdout: Annotated[
        float, typer.Option(min=0.05, max=0.5, help="Newest share held out for the metrics.")
    ] = 0.25,
    trees: Annotated[int, typer.Option(min=1, max=1000, help="Boosted trees.")] = 100,
    depth: Annotated[int, typer.Option(min=1, max=6, help="Depth of each tree.")] = 3,
    min_examples: Annotated[
        int, typer.Option(min=10, help="Refuse to train on fewer recorded attempts.")
    ] = 50,
    seed: int = 0,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Train a model on every recorded attempt (time-ordered held-out split) and store it."""
    from maestro_helix.ops.risk_model import TrainSettings, train_and_store

    settings = TrainSettings(trees, depth, 0.1, holdout, min_examples, seed)

    async def main() -> Any:
        async with open_store(db, must_exist=True) as store:
            by = await _who(store, token)
            ts = iso(SystemClock().now())
            return await train_and_store(
                store, ts=ts, by=by, activate=not no_activate, settings=settings
            )

    stored = run_async(main())
    if json_out:
        print_json({"version": stored.version, "sha256": stored.sha256, **stored.metrics})
        return
    state = "active" if stored.active else "not active"
    out.print(f"risk model version {stored.version} stored ({state}) · sha256 {stored.sha256}")
    _print_metrics("held out (newest)", stored.metrics["held_out"])


@risk_app.command("evaluate")
def risk_evaluate(
    db: DbOpt = "maestro.db",
    version: VersionOpt = None,
    last: Annotated[
        int, typer.Option(min=10, help="Evaluate on the newest N recorded attempts.")
    ] = 1000,
    min_auc: Annotated[
        float | None,
        typer.Option(help="Exit 1 when the ROC AUC of the predictions falls below this."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Compare the model's predictions with what happened on recent history."""
    from maestro_helix.helix.predict import RiskModel
    from maestro_helix.ops.risk_model import evaluate, load_examples

    async def main() -> dict[str, Any]:
        async with open_store(db, must_exist=True) as store:
            stored = await store.risk_model(version)
            examples = await load_examples(store)
        model = RiskModel(stored.model)
        held = stored.model.get("trained_on", {}).get("held_out_from_seq")
        result = evaluate(model, examples[-last:])
        result["since_training"] = sum(1 for x in examples[-last:] if x.seq > (held or 0))
        return result

    result = run_async(main())
    if json_out:
        print_json(result)
    else:
        out.print(f"risk model version {result['model_version']} on the newest attempts")
        _print_metrics("re-scored", result["rescored"])
        if "as_predicted" in result:
            _print_metrics("as predicted at run time", result["as_predicted"])
    if min_auc is not None:
        live = result.get("as_predicted") or result["rescored"]
        auc = live["roc_auc"]
        if auc is None or auc < min_auc:
            out.print(f"[red]ROC AUC {_fmt(auc)} is below {min_auc}[/red]")
            raise typer.Exit(1)


@risk_app.command("show")
def risk_show(
    db: DbOpt = "maestro.db", version: VersionOpt = None, json_out: JsonOpt = False
) -> None:
    """Every stored model (version, when, active, held-out metrics, hash), or one in full."""

    async def main() -> list[Any]:
        async with open_store(db, must_exist=True) as store:
            if version is not None:
                return [await store.risk_model(version)]
            return list(await store.risk_models())

    models = run_async(main())
    if json_out:
        print_json(
            [
                {
                    "version": m.version,
                    "created_at": m.created_at,
                    "created_by": m.created_by,
                    "active": m.active,
                    "sha256": m.sha256,
                    "metrics": m.metrics,
                    **({"model": m.model} if version is not None else {}),
                }
                for m in models
            ]
        )
        return
    if not models:
        out.print("no risk models yet: `maestro risk train` trains one on recorded attempts")
        return
    t = Table("version", "created", "by", "active", "held-out AUC", "Brier", "n", "sha256")
    for m in models:
        h = m.metrics.get("held_out", {})
        t.add_row(
            str(m.version),
            m.created_at[:19],
            m.created_by or "—",
            "yes" if m.active else "",
            _fmt(h.get("roc_auc")),
            _fmt(h.get("brier")),
            str(h.get("n", "")),
            m.sha256[:16],
        )
    out.print(t)


@risk_app.command("activate")
def risk_activate(
    version: Annotated[int, typer.Argument(help="The model version to make active.")],
    db: DbOpt = "maestro.db",
    token: TokenOpt = None,
) -> None:
    """Make a stored model version the active one (e.g. roll back); audited."""
    from maestro_helix.helix.predict import ModelError, RiskModel

    async def main() -> int:
        async with open_store(db, must_exist=True) as store:
            stored = await store.risk_model(version)
            try:
                RiskModel(stored.model)
            except ModelError as e:
                raise ModelError(f"model version {version} refused: {e}") from None
            by = await _who(store, token)
            done = await store.activate_risk_model(version, ts=iso(SystemClock().now()), by=by)
            return int(done.version)

    v = run_async(main())
    out.print(f"risk model version {v} is active; processes take it up at their next tick")


def examples_line(examples: Sequence[Example], db: str) -> str:
    """One line for a batch's summary: predicted against actual (attempts the gate did not
    pass) and what the prediction did, for a batch's recorded attempts
    (``ops.risk_model.example_from_entry`` of its ``step.prediction`` entries)."""
    from maestro_helix.helix.predict import roc_auc

    if not examples:
        return ""
    actual = sum(x.label for x in examples) / len(examples)
    scored = [x for x in examples if x.predicted is not None]
    if not scored:
        return (
            f"risk prediction: no active model; {len(examples)} attempts recorded "
            f"({actual:.1%} not passed) · `maestro risk train --db {db}` learns from them"
        )
    predicted = sum(float(x.predicted or 0.0) for x in scored) / len(scored)
    observed = sum(x.label for x in scored) / len(scored)
    auc = roc_auc([x.label for x in scored], [float(x.predicted or 0.0) for x in scored])
    return (
        f"risk prediction (model v{scored[-1].model_version}): predicted {predicted:.1%} of "
        f"attempts not passing, actual {observed:.1%} · ROC AUC {_fmt(auc)} on this batch"
    )
