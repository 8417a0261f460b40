"""Modelling stages of ``segml run`` after the features: tiers, segments, corporate grades.

Each stage is a pure function from the feature table (and configuration) to a typed result
holding the tables to write and the metrics to log; :mod:`segml.pipeline` tracks and writes.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from segml.data import BankData
from segml.economics import BankEconomics
from segml.features.spec import add_months
from segml.grades import DEFAULT_SCORECARD, GRADES, compare_scorecard_model, grade_corporates
from segml.segments import (
    compare_segmentations,
    customer_population,
    demographic_segments,
    segment_customers,
)
from segml.tiers import (
    BUILTIN_POLICIES,
    TierPolicy,
    TierRule,
    ValueMeasure,
    assign_tiers,
    check_value_measure,
    choose_value_measure,
    concentration,
    tier_migration,
    tier_table,
)
from segml.tiers.measure import check_metrics


@dataclass
class StageResult:
    """Tables to write (name -> DataFrame), JSON documents, metrics and models of one stage."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Tables the stage already wrote (name -> Parquet file in a scratch folder), moved into
    #: the run's outputs with the others: large tables need not stay in memory until then.
    files: dict[str, Path] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    #: Fitted models later stages use (e.g. the explanations); kept in memory, not written.
    models: dict[str, Any] = field(default_factory=dict)


def active(features: pd.DataFrame) -> pd.DataFrame:
    """Customers whose relationship is open at the as-of date (the tiered population)."""
    return features[features["is_active"] == 1].reset_index(drop=True)


def tier_policy(name: str) -> TierPolicy:
    """A built-in policy by name (``pyramid``, ``abc``, ``customer_pyramid``)."""
    if name not in BUILTIN_POLICIES:
        raise ValueError(f"unknown tier policy {name!r}; choose from {sorted(BUILTIN_POLICIES)}")
    return BUILTIN_POLICIES[name]


def value_measure(
    kind: tuple[str, str],
    columns: Iterable[str],
    requested: str,
    economics: BankEconomics,
    results: dict[str, StageResult] | None = None,
) -> ValueMeasure:
    """What the tiers rank for ``tiers.value = requested``, and why
    (:func:`~segml.tiers.choose_value_measure` with the data's ``kind`` and how it is known —
    :func:`segml.economics.data_kind` —, the resolved economics and the models' validation
    verdicts in ``results``: :func:`measure_validation`)."""
    kind, source = kind
    econ = economics.for_data(kind)
    return choose_value_measure(requested, columns, kind, source, econ.kind, econ.purchase_margin,
                                measure_validation(results or {}))  # fmt: skip


def measure_validation(results: dict[str, StageResult]) -> dict[str, dict[str, Any]]:
    """Each value model's verdict against the best naive forecast, before the as-of date.

    ``clv``: the CLV stage's backtest (``clv_evaluation.json`` ``validation``: the purchase
    and spend models fitted one horizon earlier, scored on the window up to the as-of date
    beside the naive forecasts). ``value_score``: the value model's validation customers,
    the model against "next year's profit = this year's" (``value_metrics.json``). Each
    metric carries the verdict and the bootstrap interval of the difference
    (:func:`segml.clv.evaluate.naive_comparison`).
    """
    out: dict[str, dict[str, Any]] = {}
    clv = results.get("clv")
    backtest = (clv.documents.get("clv_evaluation.json") or {}).get("validation") if clv else None
    if backtest and backtest.get("spend"):
        out["clv"] = {"model": backtest["spend"]["model"], "metrics": backtest["spend"]["metrics"],
                      "window": f"fitted at {backtest['as_of']}, scored on the next {backtest['days']:.0f} days",  # fmt: skip
                      "naive_columns": backtest["naive_columns"]}  # fmt: skip
    value = results.get("value")
    doc = value.documents.get("value_metrics.json") if value else None
    naive = (doc or {}).get("validation_naive_profit_12m")
    if doc and naive:
        out["value_score"] = {"model": "the value model", "metrics": naive["metrics"],
                              "window": f"{doc['n_train']:,} customers at {doc['train_as_of']}, a validation share",  # fmt: skip
                              "naive_columns": {"naive_profit_12m": "profit_12m"}}  # fmt: skip
    return out


def tiers_stage(
    features: pd.DataFrame,
    policy: TierPolicy,
    rules: tuple[TierRule, ...],
    value_col: str,
    earlier: pd.DataFrame | None = None,
    earlier_as_of: dt.date | None = None,
    churn_col: str | None = None,
    measure: ValueMeasure | None = None,
    labels: pd.DataFrame | None = None,
    value_check: str = "fail",
) -> StageResult:
    """Value tiers of the active customers, their concentration and (optionally) migration.

    Parameters
    ----------
    features : DataFrame
        Feature table at the as-of date.
    policy, rules, value_col
        How value maps to tiers and which overrides apply.
    earlier : DataFrame, optional
        Feature table at an earlier as-of date, for the migration matrix and PSI.
    earlier_as_of : date, optional
        That date (for the record).
    churn_col : str, optional
        Churn probability column: the tiers then carry ``churn_risk``, ``high_churn_risk``
        and the playbook's ``retention_action`` where the risk is high.
    measure : ValueMeasure, optional
        What ``value_col`` is and why: the tiers are then checked against observed behaviour
        (:func:`~segml.tiers.check_value_measure`, with ``labels`` when given) before anything
        else, and ``value_measure.json`` records the measure and the check's figures.
    labels : DataFrame, optional
        Labels after the as-of date (the holdout value of the check).
    value_check : {"fail", "warn"}
        ``tiers.value_check``: a failed check raises
        :class:`~segml.tiers.ValueMeasureError`, or leaves its message in the document.
    """
    pop = active(features)
    tiers = assign_tiers(pop, policy, rules, value_col=value_col, churn_col=churn_col)
    res = StageResult()
    if measure is not None:
        doc = check_value_measure(pop, tiers, policy, measure, labels, value_check)
        res.documents["value_measure.json"] = doc
        res.metrics.update(check_metrics(doc))
    table = tier_table(tiers)
    conc = concentration(tiers["value"])
    out = tiers.copy()
    out["reasons"] = out["reasons"].map(lambda r: ";".join(r))
    for c in ("tier", "tier_by_value"):
        out[c] = out[c].astype(str)
    res.tables["tiers"] = out
    res.tables["tier_table"] = table
    res.documents["tier_policy.json"] = policy.to_dict()
    res.documents["tier_rules.json"] = [r.to_dict() for r in rules]
    res.documents["concentration.json"] = conc.to_dict()
    res.metrics.update({f"concentration.{k}": float(v) for k, v in conc.to_dict().items()})
    for t, v, p in zip(
        table.tier.astype(str), table.value_share, table.positive_value_share, strict=True
    ):
        res.metrics[f"value_share.{t}"] = float(v)
        res.metrics[f"positive_value_share.{t}"] = float(p)
    res.metrics["overridden"] = float((tiers["tier"] != tiers["tier_by_value"]).sum())
    if churn_col:
        res.metrics["retention_actions"] = float(tiers["high_churn_risk"].sum())
    if earlier is not None:
        before = assign_tiers(active(earlier), policy, rules, value_col=value_col)
        _add_migration(res, before, tiers, policy, earlier_as_of)
    return res


def _add_migration(
    res: StageResult,
    before: pd.DataFrame,
    tiers: pd.DataFrame,
    policy: TierPolicy,
    earlier_as_of: dt.date | None,
) -> None:
    """The migration matrix and PSI from the tiers ``before`` (at ``earlier_as_of``)."""
    mig = tier_migration(before, tiers, order=list(policy.labels))
    res.tables["tier_migration_counts"] = mig.counts.reset_index()
    res.documents["tier_migration.json"] = {
        "from": str(earlier_as_of),
        **{k: (v if isinstance(v, str) else float(v)) for k, v in mig.summary().items()},
    }
    res.metrics.update(
        {f"migration.{k}": float(v) for k, v in mig.summary().items() if not isinstance(v, str)}
    )


class GradesWarning(UserWarning):
    """The grades stage left something out (the learned-model comparison) and says why."""


def grades_stage(
    bank: BankData,
    features: pd.DataFrame,
    as_of: dt.date,
    compare_model: bool,
    history_start: dt.date | None,
) -> StageResult:
    """Corporate grades by the default scorecard, and the out-of-time comparison with xgboost.

    The comparison trains on the two years before ``as_of`` and evaluates at ``as_of``; it
    runs only when ``compare_model`` is set and the history reaches back far enough.
    """
    res = StageResult()
    grades = grade_corporates(features, DEFAULT_SCORECARD)
    res.tables["grades"] = grades
    res.documents["scorecard.json"] = json.loads(DEFAULT_SCORECARD.to_json())
    shares = grades["grade"].astype(str).value_counts(normalize=True)
    res.metrics.update({f"grade_share.{g}": float(shares.get(g, 0.0)) for g, _ in GRADES})
    res.metrics["graded"] = float(len(grades))
    train = [add_months(as_of + dt.timedelta(days=1), -m) - dt.timedelta(days=1) for m in (24, 12)]
    if compare_model and history_start is not None and history_start <= add_months(train[0], -12):
        try:
            cmp = compare_scorecard_model(bank, train, as_of, DEFAULT_SCORECARD, n_boot=200)
        except ValueError as exc:  # e.g. no corporate defaults to learn from: no comparison
            res.documents["grading_comparison.json"] = {"skipped": str(exc)}
            warnings.warn(f"no scorecard-vs-model comparison: {exc}", GradesWarning, stacklevel=2)
            return res
        doc = cmp.to_dict()
        res.documents["grading_comparison.json"] = doc
        res.metrics.update(
            {k: float(v) for k, v in doc.items() if isinstance(v, int | float) and v is not None}
        )
    return res


def segments_stage(
    features: pd.DataFrame, k: int | str, seed: int, fit_rows: int | None = None
) -> StageResult:
    """Behavioural segments of the active customers, profiled, named, and compared with the
    demographic (age band × income band × region) baseline on how well each separates value.
    ``fit_rows``: the segment models of each customer type are fitted on a seeded sample of
    this many customers when there are more; every customer is assigned.
    """
    res = StageResult()
    seg = segment_customers(features, k, population="active", seed=seed, fit_size=fit_rows)
    pop = customer_population(features, "active")
    rows = seg.assignments.merge(pop, on="customer_id", how="left", validate="one_to_one")
    cmp = compare_segmentations(
        rows,
        {
            "behavioural": rows["segment"].to_numpy(),
            "demographic": demographic_segments(rows),
        },
        value_col="profit_12m" if "profit_12m" in rows else None,
    )
    res.tables["segments"] = seg.assignments
    res.tables["segment_profiles"] = seg.profiles.reset_index(drop=True)
    res.tables["segment_scores"] = seg.scores.reset_index()
    res.tables["segment_comparison"] = cmp.reset_index()
    res.documents["segments.json"] = {
        "k": seg.k,
        "method": seg.method,
        "names": {str(i): n for i, n in seg.names.items()},
        "excluded": seg.excluded,
    }
    res.metrics["k"] = float(seg.k)
    for name, row in cmp.iterrows():
        for col, v in row.items():
            if isinstance(v, int | float) and pd.notna(v):
                res.metrics[f"{name}.{col}"] = float(v)
    return res
