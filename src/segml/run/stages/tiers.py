"""The tiers step of ``segml run``: what the tiers rank and why, the tiers, their concentration
and migration, and who the retention playbooks flag (``retention.json``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import pandas as pd

from segml.economics import BankEconomics
from segml.features.build import active
from segml.run.stages.base import StageResult
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
from segml.tiers.retention import retention_summary

__all__ = ["measure_validation", "tier_policy", "tiers_stage", "value_measure"]


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
        Churn probability column: the playbooks' retention capacities are sized on the tiered
        customers (the cuts are in the tiers' ``attrs["tier_playbooks"]``, which the exported
        model carries), the tiers carry ``churn_risk``, ``high_churn_risk`` (flagged for
        retention) and the playbook's ``retention_action`` where flagged, and
        ``retention.json`` records the rule and the numbers per tier
        (:func:`~segml.tiers.retention.retention_summary`).
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
    out.attrs.update(tiers.attrs)  # the calibrated playbooks: what the exported model carries
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
        _add_retention(res, tiers)
    if earlier is not None:
        before = assign_tiers(active(earlier), policy, rules, value_col=value_col)
        _add_migration(res, before, tiers, policy, earlier_as_of)
    return res


def _add_retention(res: StageResult, tiers: pd.DataFrame) -> None:
    """``retention.json`` and the retention metrics (flagged, and share of the expected loss
    covered, per tier)."""
    doc = retention_summary(tiers)
    res.documents["retention.json"] = {
        **doc,
        "playbooks": json.loads(tiers.attrs["tier_playbooks"]),
    }
    res.metrics["retention_actions"] = float(doc["flagged"])
    for row in doc["tiers"]:
        res.metrics[f"retention_flagged.{row['tier']}"] = float(row["flagged"])
        if row["covered_share"] is not None:
            res.metrics[f"retention_covered.{row['tier']}"] = float(row["covered_share"])


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
