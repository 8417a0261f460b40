"""Section 8 of the pack: the challenger (this run's model) against the current champion.

Metric deltas come from the two pipeline runs' metrics (``run.json``, else the champion run's
nested stage runs in MLflow). Tier changes: the champion model
(``models:/<name>@champion``) scores this run's tiered customers, and its tiers are compared
with this run's own scores (``scores.parquet``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from segml.report.context import ReportContext
from segml.report.figures import heatmap
from segml.report.fmt import num, pct, signed
from segml.report.html import Cell, Finding, Section, figure, figures, note, table
from segml.report.registry import CHAMPION, child_run_metrics, using_store

__all__ = ["HEADLINE", "champion_section", "metric_deltas", "tier_changes"]

#: (metric, label, True if higher is better / False if lower is better / None if neither)
HEADLINE: tuple[tuple[str, str, bool | None], ...] = (
    ("value.test.spearman", "value score: Spearman", True),
    ("value.test.mae", "value score: MAE (CNY)", False),
    ("value.test.tier_agreement", "value score: tier agreement", True),
    ("churn.test.roc_auc", "churn: ROC AUC", True),
    ("churn.test.pr_auc", "churn: PR AUC", True),
    ("churn.test.brier", "churn: Brier score", False),
    ("churn.test.ece", "churn: calibration error", False),
    ("churn.test.lift_top10", "churn: lift in the top 10%", True),
    ("clv.holdout.purchases.spearman", "CLV: purchases Spearman", True),
    ("clv.holdout.spend.probabilistic.spearman", "CLV: spend Spearman (BG/NBD + GG)", True),
    ("clv.holdout.spend.probabilistic.aggregate_error", "CLV: total spend error", None),
    ("clv.holdout.profit.absoluteerror.spearman", "CLV: profit Spearman", True),
    ("explain.segments.surrogate_fidelity", "segments: surrogate fidelity", True),
    ("grades.auc_scorecard", "grades: scorecard AUC", True),
    ("tiers.concentration.gini_positive", "tiers: Gini of positive value", None),
    ("customers.active_at_as_of", "customers tiered", None),
)


#: Differences within these count as "same": 0.005 on a score bounded by 1 (a rank correlation,
#: an AUC, a Brier score), 1 % of the champion's value for an amount or a lift.
TOLERANCE_BOUNDED, TOLERANCE_RELATIVE = 0.005, 0.01
_UNBOUNDED = ("mae", "lift")


def tolerance(key: str, champion: float) -> float:
    """The difference below which metric ``key`` counts as unchanged (:data:`TOLERANCE_BOUNDED`,
    :data:`TOLERANCE_RELATIVE`)."""
    if any(key.endswith(f".{u}") or f".{u}_" in key for u in _UNBOUNDED):
        return TOLERANCE_RELATIVE * abs(champion)
    return TOLERANCE_BOUNDED


def metric_deltas(current: dict[str, float], champion: dict[str, float]) -> list[dict[str, Any]]:
    """Headline metrics of both runs, the difference and whether the challenger is better
    (None: within :func:`tolerance`, or a metric with no better direction)."""
    rows = []
    for key, label, higher in HEADLINE:
        a, b = champion.get(key), current.get(key)
        if a is None and b is None:
            continue
        delta = None if a is None or b is None else float(b) - float(a)
        same = delta is None or higher is None or abs(delta) <= tolerance(key, float(a))  # type: ignore[arg-type]
        better = None if same else (delta > 0) == higher  # type: ignore[operator]
        rows.append(
            {
                "metric": label,
                "key": key,
                "champion": a,
                "challenger": b,
                "delta": delta,
                "better": better,
            }
        )
    return rows


def tier_changes(
    champion: pd.DataFrame, challenger: pd.DataFrame, labels: list[str]
) -> dict[str, Any]:
    """Compare two scorings of the same customers (``customer_id``, ``tier``).

    Returns
    -------
    dict
        ``compared``, ``changed``, ``higher`` (the challenger puts the customer in a more
        valuable tier), ``lower`` and ``matrix`` (champion tiers × challenger tiers).
    """
    m = champion[["customer_id", "tier"]].merge(
        challenger[["customer_id", "tier"]], on="customer_id", suffixes=("_champion", "_challenger")
    )
    rank = {t: i for i, t in enumerate(labels)}
    a = m["tier_champion"].astype(str).map(rank)
    b = m["tier_challenger"].astype(str).map(rank)
    matrix = pd.crosstab(
        pd.Categorical(m["tier_champion"].astype(str), labels),
        pd.Categorical(m["tier_challenger"].astype(str), labels),
        dropna=False,
    )
    matrix.index.name, matrix.columns.name = "champion", "challenger"
    return {
        "compared": len(m),
        "changed": int((a != b).sum()),
        "higher": int((b < a).sum()),
        "lower": int((b > a).sum()),
        "matrix": matrix,
    }


def _champion_scores(ctx: ReportContext, ids: pd.Series) -> pd.DataFrame:
    """The champion's scores of the customers in ``ids`` (those the run's model re-scored)."""
    import mlflow

    features = ctx.run.active_features()
    if features is None:
        raise FileNotFoundError("the run has no features.parquet")
    features = features[features["customer_id"].isin(ids)]
    reg = ctx.registry
    with using_store(reg.uri):
        model = mlflow.pyfunc.load_model(f"models:/{reg.name}@{CHAMPION}")
        return model.predict(features)


def _champion_metrics(ctx: ReportContext) -> tuple[dict[str, float], str]:
    if ctx.champion is not None:
        return ctx.champion.metrics, f"run.json of run {ctx.champion.short_id}"
    reg = ctx.registry
    if reg.champion_run_id:
        try:
            return child_run_metrics(
                reg.uri, reg.champion_run_id
            ), "the champion run's stages in MLflow"
        except Exception as exc:
            return {}, f"not available ({type(exc).__name__}: {exc})"
    return {}, "not available"


def champion_section(ctx: ReportContext) -> Section:
    """Metric deltas against the champion and how many customers change tier."""
    run, reg = ctx.run, ctx.registry
    sec = Section("champion", "Champion vs challenger")
    if reg.error or run.model is None or reg.champion_version is None or reg.champion_is_this:
        sec.reading.append(f"No comparison: {ctx.champion_note}.")
        sec.findings.append(Finding("note", f"no champion comparison: {ctx.champion_note}"))
        sec.data["champion"] = None
        return sec
    sec.reading.append(
        f"Champion: version {reg.champion_version} of {reg.name} (pipeline run "
        f"{(reg.champion_run_id or '?')[:12]}); challenger: this run's version {reg.version} "
        f"(aliases: {', '.join(reg.this_aliases) or 'none'})."
    )
    info: dict[str, Any] = {"version": reg.champion_version, "run_id": reg.champion_run_id}
    champ_metrics, source = _champion_metrics(ctx)
    if ctx.champion is not None:
        a, b = ctx.champion.run, run.run
        if (a.get("as_of"), a.get("data_dir")) != (b.get("as_of"), b.get("data_dir")):
            sec.reading.append(
                f"The champion was validated on other data or another as-of date "
                f"({a.get('as_of')}, {a.get('data_dir')}) than this run ({b.get('as_of')}, "
                f"{b.get('data_dir')}): read the metric differences with that in mind."
            )
    rows = metric_deltas(run.metrics, champ_metrics)
    _headline_reading(sec, rows)
    _tier_changes_reading(sec, ctx, info)
    sec.data["champion"] = info
    sec.blocks.append(_metrics_table(rows, reg.champion_version, reg.version))
    sec.blocks.append(
        note(
            f"Champion metrics from {source}. Better or worse only beyond a stated tolerance: "
            f"±{TOLERANCE_BOUNDED:g} on scores bounded by 1, ±{TOLERANCE_RELATIVE:.0%} of the "
            "champion's value for MAE and lift; within it, the same."
        )
    )
    return sec


def _headline_reading(sec: Section, rows: list[dict[str, Any]]) -> None:
    """Say how the headline metrics moved; flag those where the challenger is worse."""
    head = [
        r
        for r in rows
        if r["delta"] is not None
        and r["key"]
        in ("value.test.spearman", "churn.test.roc_auc", "clv.holdout.spend.probabilistic.spearman")
    ]
    if head:
        sec.reading.append(
            "Against the champion: "
            + "; ".join(
                f"{r['metric']} {num(r['champion'])} → {num(r['challenger'])} ({signed(r['delta'])})"
                for r in head
            )
            + "."
        )
    for r in head:
        if r["better"] is False:
            sec.attention(
                f"the challenger is worse than the champion on {r['metric']} ({signed(r['delta'])})"
            )


def _tier_changes_reading(sec: Section, ctx: ReportContext, info: dict[str, Any]) -> None:
    """Score this run's customers with the champion: how many change tier, and the heatmap."""
    run = ctx.run
    try:
        mine = run.table("scores")
        if mine is None:
            raise FileNotFoundError("the run has no scores.parquet")
        champ = _champion_scores(ctx, mine["customer_id"])
        ch = tier_changes(champ, mine, run.tier_labels)
        info.update({k: v for k, v in ch.items() if k != "matrix"})
        share = ch["changed"] / ch["compared"] if ch["compared"] else float("nan")
        sec.reading.append(
            f"Scored by the champion, {ch['changed']:,} of this run's {ch['compared']:,} tiered "
            f"customers re-scored at export ({pct(share, 1)}) would be in another tier: this run's model puts "
            f"{ch['higher']:,} of them higher and {ch['lower']:,} lower."
        )
        sec.findings.append(
            Finding(
                "attention" if share > 0.05 else "note",
                f"{pct(share, 1)} of customers change tier from the champion to the challenger",
            )
        )
        sec.blocks.append(
            figures(
                figure(
                    heatmap(
                        ch["matrix"],
                        "Tier by the champion and by the challenger",
                        "tier by the challenger (this run)",
                        "tier by the champion",
                    ),
                    "This run's customers tiered by both models (off-diagonal cells change tier)",
                )
            )
        )
    except Exception as exc:
        sec.reading.append(
            f"The champion model could not score this run's customers: {type(exc).__name__}: {exc}"
        )
        sec.attention("the champion model could not score this run's customers")


def _directed(key: str) -> bool:
    return any(k == key and higher is not None for k, _, higher in HEADLINE)


def _metrics_table(
    rows: list[dict[str, Any]], champion_version: str | None, version: str | None
) -> str:
    """The headline metrics of both models, their difference and which is better."""
    return table(
        [
            {
                **r,
                "better": Cell("better", "ok")
                if r["better"]
                else Cell("worse", "flag")
                if r["better"] is False
                else Cell(
                    "same" if r["delta"] is not None and _directed(r["key"]) else "–", "muted"
                ),
            }
            for r in rows
        ],
        [
            ("metric", "metric (test or holdout)"),
            ("champion", f"champion v{champion_version}"),
            ("challenger", f"challenger v{version}"),
            ("delta", "difference"),
            ("better", "challenger"),
        ],
        fmt={"delta": signed},
    )
