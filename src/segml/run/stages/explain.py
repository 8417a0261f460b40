"""Stage ``explain`` of ``segml run``: why each customer has its tier, exactly.

For every tiered customer the stage writes (``reason_codes.parquet``):

* the value score, its base value and thresholds (distance to the tier below and the next
  tier, and the drivers that lifted the customer over the threshold or hold it back);
* the top reason codes of the value score, measured against the typical customer of the
  customer's value tier (:mod:`segml.explain.reference`; the reference, per tier, is
  ``explanations.json``'s ``value.reason_reference`` and travels with the exported model), and
  the override rules that applied;
* the churn risk, whether it crossed the tier playbook's threshold, the retention action, and
  the churn model's top reason codes;
* for segmented customers, the segment and the surrogate's reasons; for corporate clients, the
  grade and the scorecard dimensions behind it;
* ``decision``: one sentence that combines them, as the rules did.

The full contributions are written too (``explanations_value.parquet``,
``explanations_churn.parquet``). Every explanation is checked for additivity; a failure raises
:class:`~segml.explain.treeshap.AdditivityError` and fails the run. So does a value
explanation whose score is not the score the tier policy ranked.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segml.churn.model import ChurnModel
from segml.compute import sample_frame
from segml.explain.models import (
    explain_churn,
    explain_grades,
    explain_segments,
    fit_segment_surrogate,
)
from segml.explain.plots import (
    plot_dependence,
    plot_global,
    plot_tier_drivers,
    plot_waterfalls,
    tier_driver_table,
)
from segml.explain.reasons import format_value, reason_codes
from segml.explain.reference import typical_customers
from segml.explain.result import ModelExplanation
from segml.explain.thresholds import threshold_report, tier_thresholds
from segml.explain.treeshap import check_additivity
from segml.features.build import active
from segml.grades.scorecard import Scorecard
from segml.progress import Laps
from segml.run.config import ExplainSection
from segml.run.stages.base import StageResult
from segml.segments.api import BEHAVIOURAL_COLUMNS
from segml.tiers.policy import TierPolicy
from segml.value.model import ValueScoreModel

__all__ = ["explain_stage"]


def _money(v: float) -> str:
    return format_value(v, "CNY/year")


def _decision(df: pd.DataFrame, policy: TierPolicy) -> list[str]:
    """One sentence per customer: value tier and thresholds, overrides, churn rule.

    Column by column as Python lists, not row tuples: a million rows of Arrow-backed text
    iterated as tuples took 16 s, these lists a few.
    """
    n = len(df)
    col = {c: df[c].tolist() for c in ("value_score", "tier_by_value", "threshold_below",
                                         "threshold_above", "gap_to_next", "tier", "override_reason")}  # fmt: skip
    action = df["retention_action"].tolist() if "retention_action" in df else [None] * n
    risk = df["churn_risk"].tolist() if "churn_risk" in df else [None] * n
    rows = zip(*col.values(), action, risk, strict=True)
    out = []
    for score, by_value, below, above, gap, tier, why, act, churn in rows:
        parts = [f"annual value {_money(score)} puts the customer in {by_value}"]
        if np.isfinite(below):
            parts[-1] += f" (threshold {_money(below)})"
        if np.isfinite(above):
            parts.append(f"{_money(gap)} short of the next tier")
        if tier != by_value:
            parts.append(f"rules moved it to {tier} ({why})")
        elif isinstance(why, str) and why:
            parts.append(f"flagged: {why}")
        if isinstance(act, str):
            parts.append(
                f"churn risk {churn:.0%} puts it among {tier}'s retention cases "
                f"(by expected loss): {act}"
            )
        out.append("; ".join(parts))
    return out


def _top(exp: ModelExplanation, raw: pd.DataFrame, k: int, prefix: str) -> pd.DataFrame:
    rc = reason_codes(exp, raw.reset_index(drop=True), k=k, prefix=prefix)
    keep = ["customer_id"] + [f"{prefix}_{j}" for j in range(1, k + 1) if f"{prefix}_{j}" in rc]
    return rc[keep]


def _join(table: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """``table.merge(other, on="customer_id", how="left")`` (``other`` one row per customer).

    When ``other`` holds the same customers in the same order (the explanations of ``pop``),
    its columns are added in place: a merge would copy the whole reason-code table, ~1 GB of
    text at 1M customers, for each model explained.
    """
    new = other.columns.drop("customer_id")
    ids = table["customer_id"].to_numpy()
    if (
        len(other) == len(table)
        and not new.isin(table.columns).any()
        and np.array_equal(other["customer_id"].to_numpy(), ids)
    ):
        for c in new:
            table[c] = other[c].set_axis(table.index)
        return table
    return table.merge(other, on="customer_id", how="left")


def _keep_table(
    res: StageResult, name: str, exp: ModelExplanation, tables_dir: Path | None
) -> None:
    if tables_dir is None:
        res.tables[name] = exp.frame()
        return
    tables_dir.mkdir(parents=True, exist_ok=True)
    path = tables_dir / f"{name}.parquet"
    exp.write_parquet(path)
    res.files[name] = path


def explain_stage(
    features: pd.DataFrame,
    tiers: pd.DataFrame,
    policy: TierPolicy,
    value_model: ValueScoreModel,
    section: ExplainSection,
    figures_dir: Path | None = None,
    *,
    churn_model: ChurnModel | None = None,
    segments: pd.DataFrame | None = None,
    grades: pd.DataFrame | None = None,
    scorecard: Scorecard | None = None,
    seed: int = 42,
    max_train_rows: int | None = None,
    tables_dir: Path | None = None,
) -> StageResult:
    """Explain every tiered customer's value score, churn risk, segment and grade.

    Parameters
    ----------
    features : DataFrame
        Feature table at the as-of date with the ``value_score`` column the tiers used.
    tiers : DataFrame
        The tiers stage's ``tiers`` table (active customers, same order as ``features``'
        active rows).
    policy : TierPolicy
    value_model : ValueScoreModel
        The model that produced ``value_score``.
    section : ExplainSection
    figures_dir : Path, optional
    churn_model : ChurnModel, optional
    segments : DataFrame, optional
        ``customer_id``, ``segment``, ``segment_name``.
    grades, scorecard : optional
        The corporate grades and their scorecard.
    seed : int
    max_train_rows : int, optional
        The segment surrogate is fitted on a seeded sample of this many segmented customers
        when there are more (None: all); it explains every one of them.
    tables_dir : Path, optional
        Write the per-customer contribution tables here as soon as they are computed
        (``StageResult.files``) rather than keep them in memory (``StageResult.tables``).

    Raises
    ------
    segml.explain.AdditivityError
        When an explanation does not add up, or the explained score is not the tiered one.
    """
    pop = active(features)
    if not pop["customer_id"].reset_index(drop=True).equals(tiers["customer_id"].reset_index(drop=True)):  # fmt: skip
        raise ValueError("the tiers table and the active customers of the features differ")
    k = section.top_k
    clock = Laps()
    exp = value_model.explain(pop, batch_size=section.batch_size, tolerance=section.tolerance)
    clock.lap("value_treeshap")
    check_additivity(0.0, exp.score[:, None], tiers["value"].to_numpy(dtype=float),
                     section.tolerance, "value score vs the score the tier policy ranked")  # fmt: skip
    res = StageResult()
    _keep_table(res, "explanations_value", exp, tables_dir)
    th = threshold_report(exp, policy)
    clock.lap("thresholds")
    value_tiers = th["tier_by_value"].to_numpy()
    ref = typical_customers(exp, pop, value_tiers, list(policy.labels))
    rc = reason_codes(exp, pop, k=k, reference=ref, tiers=value_tiers)
    res.models["reason_reference"] = ref  # the exported model scores with it (export step)
    clock.lap("value_reason_codes")
    table = pd.DataFrame(
        {
            "customer_id": pop["customer_id"].to_numpy(),
            "tier": tiers["tier"].astype(str).to_numpy(),
            "value_score": exp.score,
            "base_value": exp.base_value,
            "override_reason": tiers["reason"].fillna("").astype(str).to_numpy(),
        }
    )
    table = table.join(th.drop(columns="customer_id")).join(rc.drop(columns="customer_id"))
    docs: dict[str, Any] = {
        "value": {
            "base_value": exp.base_value,
            "additivity": exp.additivity.to_dict(),
            "output": exp.output.__dict__,
            "importance": exp.mean_abs().head(20).to_dict(),
            "thresholds": tier_thresholds(exp.score, policy).to_dict(orient="records"),
            "reason_reference": ref.to_dict(),
        }
    }
    res.metrics["value.additivity_max_error"] = exp.additivity.max_abs_error
    order = list(policy.labels)
    res.tables["tier_drivers"] = tier_driver_table(exp, value_tiers, order).reset_index(names="driver")  # fmt: skip
    if figures_dir is not None:
        _figures(exp, value_tiers, order, figures_dir, section.examples_per_tier)
    clock.lap("figures")
    del exp, th, rc  # ~1 GB at 1M customers: gone before the churn model's explanation is made
    if "churn_risk" in tiers.columns:
        for c in ("churn_risk", "high_churn_risk", "retention_action"):
            table[c] = tiers[c].to_numpy()
    if churn_model is not None:
        table = _churn(res, docs, table, churn_model, pop, section, tables_dir, figures_dir)
    clock.lap("churn")
    if segments is not None and section.surrogate and segments["segment"].nunique() > 1:
        table = _segments(res, docs, table, segments, pop, section, seed, max_train_rows)
    clock.lap("segments")
    if grades is not None and scorecard is not None and len(grades):
        table = _grades(docs, table, grades, scorecard, min(k, 3))
    table["decision"] = _decision(table, policy)
    res.tables["reason_codes"] = table
    res.documents["explanations.json"] = docs
    clock.lap("grades_and_decisions")
    res.metrics["explained"] = float(len(table))
    return res


def _churn(
    res: StageResult,
    docs: dict[str, Any],
    table: pd.DataFrame,
    churn_model: ChurnModel,
    pop: pd.DataFrame,
    section: ExplainSection,
    tables_dir: Path | None,
    figures_dir: Path | None,
) -> pd.DataFrame:
    """The churn model's contributions and reason codes, joined onto ``table``."""
    cexp = explain_churn(churn_model, pop, batch_size=section.batch_size,
                         tolerance=section.tolerance)  # fmt: skip
    _keep_table(res, "explanations_churn", cexp, tables_dir)
    docs["churn"] = {"base_value": cexp.base_value, "additivity": cexp.additivity.to_dict(),
                     "output": cexp.output.__dict__,
                     "importance": cexp.mean_abs().head(20).to_dict()}  # fmt: skip
    res.metrics["churn.additivity_max_error"] = cexp.additivity.max_abs_error
    if figures_dir is not None:
        figures_dir.mkdir(parents=True, exist_ok=True)
        plot_global(cexp, figures_dir)
    # the reason codes quote ``pop``, not the explanation's copy of the feature values: that
    # copy (~0.5 GB at 1M customers) goes before they are written
    contributions = replace(cexp, data=np.empty((len(cexp), 0)))
    del cexp
    return _join(table, _top(contributions, pop, section.top_k, "churn_reason"))


def _segments(
    res: StageResult,
    docs: dict[str, Any],
    table: pd.DataFrame,
    segments: pd.DataFrame,
    pop: pd.DataFrame,
    section: ExplainSection,
    seed: int,
    max_train_rows: int | None,
) -> pd.DataFrame:
    """Why each customer is in their segment (a surrogate tree's contributions), on ``table``."""
    used = [
        "customer_id",
        *(c for c in BEHAVIOURAL_COLUMNS if c in pop.columns),
    ]  # not a copy of pop
    seg_rows = segments.merge(pop[used], on="customer_id", how="left", validate="one_to_one")
    fit_rows = sample_frame(seg_rows, max_train_rows, seed)
    sur = fit_segment_surrogate(fit_rows, fit_rows["segment"].astype(str),
                                list(BEHAVIOURAL_COLUMNS), seed=seed)  # fmt: skip
    sexp = explain_segments(sur, seg_rows, seg_rows["segment"].astype(str),
                            tolerance=section.tolerance)  # fmt: skip
    seg_rc = _top(sexp, seg_rows, min(section.top_k, 3), "segment_reason")
    del sexp, seg_rows, fit_rows
    cols = ["customer_id", "segment"] + (["segment_name"] if "segment_name" in segments else [])
    table = _join(_join(table, segments[cols]), seg_rc)
    docs["segments"] = sur.summary()
    res.models["segment_surrogate"] = sur
    res.metrics["segments.surrogate_fidelity"] = sur.fidelity
    return table


def _grades(
    docs: dict[str, Any], table: pd.DataFrame, grades: pd.DataFrame, scorecard: Scorecard, k: int
) -> pd.DataFrame:
    """Each corporate client's grade and the scorecard lines behind it, on ``table``."""
    gexp = explain_grades(grades, scorecard)
    raw = pd.DataFrame(gexp.data, columns=gexp.feature_names)
    raw.insert(0, "customer_id", gexp.ids)
    g_rc = _top(gexp, raw, k, "grade_reason")
    table = table.merge(grades[["customer_id", "grade"]].astype({"grade": str}),
                        on="customer_id", how="left").merge(g_rc, on="customer_id", how="left")  # fmt: skip
    docs["grades"] = {"base_value": gexp.base_value, "additivity": gexp.additivity.to_dict()}
    return table


def _figures(
    exp: Any, value_tiers: np.ndarray, order: list[str], folder: Path, examples_per_tier: int
) -> None:
    """The value explanations' figures: global importance, tier drivers, dependence and
    (when asked) example waterfalls per tier."""
    folder.mkdir(parents=True, exist_ok=True)
    plot_global(exp, folder)
    plot_tier_drivers(exp, value_tiers, order, folder)
    plot_dependence(exp, folder)
    if examples_per_tier:
        plot_waterfalls(exp, value_tiers, order, folder, per_tier=examples_per_tier)
