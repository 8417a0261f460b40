"""Which value the tiers rank, and a guard that it agrees with what customers did.

:func:`choose_value_measure` turns ``tiers.value`` (``auto`` by default) into the column the
policy ranks and says why: the value model's score (next year's profit — a bank's economics on
a bank, the margin on purchases on a purchase log), else CLV on a purchase log, else current
annual profit. :func:`check_value_measure` then compares the measure with observed behaviour
before anyone acts on the tiers: its Spearman rank correlation with trailing revenue (and, for a
bank, trailing profit), with the holdout value when labels exist, and the observed value per
customer of the top and bottom tiers. A measure that fails raises :class:`ValueMeasureError`
(``tiers.value_check: fail``, the default) or comes back with a warning (``warn``). The
thresholds and the reasoning behind them are in docs/tiers.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from segml.tiers.policy import TierPolicy
from segml.tiers.validated import NAIVE_DESCRIPTIONS, beats_naive, by_validation, figures

__all__ = [
    "CHECK_MODES",
    "MIN_CUSTOMERS",
    "MIN_SPEARMAN",
    "ValueMeasure",
    "ValueMeasureError",
    "check_value_measure",
    "choose_value_measure",
]

#: The lowest Spearman correlation a value measure may have with each observed value.
MIN_SPEARMAN = 0.3
#: Fewer tiered customers than this: too few to judge a rank correlation; the check is skipped.
MIN_CUSTOMERS = 30
#: ``tiers.value_check``: fail the run, or go on with a warning.
CHECK_MODES: tuple[str, ...] = ("fail", "warn")


class ValueMeasureError(ValueError):
    """The value measure disagrees with observed behaviour: tiers on it would mislead."""


@dataclass(frozen=True)
class ValueMeasure:
    """The value the tiers rank, and why.

    Attributes
    ----------
    column : str
        The feature-table column the policy ranks.
    requested : str
        ``tiers.value`` as configured (``auto``, ``value_score``, a column …).
    basis : str
        ``bank_profit``, ``purchase_margin``, ``clv``, ``naive`` (a naive forecast, chosen
        because no model beat it in validation) or ``column`` (a column of the user's).
    noun : str
        What a tier's share is a share of ("profit", "purchase margin", "CLV", the column).
    description : str
        The measure in a phrase.
    reason : str
        Why it was chosen.
    data_kind, data_kind_source : str
        ``bank`` or ``purchase_log``, and how that was known (``dataset.json`` or inferred).
    economics : str
        The economics behind profit: ``bank`` or ``purchase_log``.
    warnings : tuple of str
        What the run should say about the choice (a fallback).
    validation : dict or None
        The model's verdict against the best naive forecast that the choice weighed
        (``candidate``, ``model``, ``window``, ``metrics`` as in
        :class:`segml.clv.evaluate.NaiveComparison`, ``beats``, ``naive_columns``).
    """

    column: str
    requested: str
    basis: str
    noun: str
    description: str
    reason: str
    data_kind: str
    data_kind_source: str
    economics: str
    warnings: tuple[str, ...] = field(default=())
    validation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``measure`` is the column)."""
        out = asdict(self)
        out["measure"] = out.pop("column")
        out["warnings"] = list(self.warnings)
        return out


def _describe(column: str, economics: str, margin: float) -> tuple[str, str, str]:
    """``(basis, noun, description)`` of a column under the run's economics."""
    if column in ("value_score", "profit_12m") and economics == "purchase_log":
        what = f"margin on purchases, {margin:.0%} of revenue"
        if column == "value_score":
            return "purchase_margin", "purchase margin", f"next year's {what}, by the value model"
        return "purchase_margin", "purchase margin", f"the last 12 months' {what}"
    if column == "value_score":
        return "bank_profit", "profit", "next year's profit by the value model, bank economics"
    if column == "profit_12m":
        return "bank_profit", "profit", "current annual profit, bank economics"
    if column == "clv":
        return "clv", "CLV", "predicted customer lifetime value of purchases, CLV stage"
    if column in NAIVE_DESCRIPTIONS:
        return "naive", "forecast purchases", NAIVE_DESCRIPTIONS[column]
    return "column", column, f"the column {column}"


def choose_value_measure(
    requested: str,
    columns: Iterable[str],
    data_kind: str,
    data_kind_source: str,
    economics: str,
    purchase_margin: float = 0.3,
    validation: dict[str, dict[str, Any]] | None = None,
) -> ValueMeasure:
    """The column the tiers rank for ``tiers.value = requested``, and why.

    ``auto`` takes the value model's ``value_score`` when it ran (next year's profit under the
    run's economics: a purchase log's is the margin on purchases), else ``clv`` for a purchase
    log, else ``profit_12m``. ``value_score`` without a value model falls back to
    ``profit_12m`` with a warning.

    Parameters
    ----------
    requested : str
        ``tiers.value``.
    columns : iterable of str
        Columns of the feature table (with the CLV and value predictions joined).
    data_kind, data_kind_source : str
        What the data are (``bank`` or ``purchase_log``) and how that is known.
    economics : str
        The run's resolved economics (``bank`` or ``purchase_log``).
    purchase_margin : float
        The margin of the purchase-log economics (for the description).
    validation : dict, optional
        Per model column (``value_score``, ``clv``), its verdict against the best naive
        forecast in validation, before the as-of date (``model``, ``window``, ``metrics``,
        ``naive_columns``: the column of each naive forecast). Under ``auto`` a model that
        does not beat the best naive on both MAE and Spearman gives way to that naive
        forecast (the one best on Spearman), and the reason and a warning say so — unless each
        metric it loses on loses by less than the noise (the metric's bootstrap interval of the
        difference, ``interval``/``significant``, holds 0): then it is kept, with a warning. A
        model named explicitly is kept, with a warning when it loses.

    Raises
    ------
    ValueMeasureError
        When ``requested`` names a column the feature table does not have.
    """
    cols, warnings = set(columns), []
    what = "a purchase log" if data_kind == "purchase_log" else "a bank"
    data = f"the data are {what} ({data_kind_source})"
    if requested == "auto":
        if "value_score" in cols:
            column, reason = "value_score", f"tiers.value: auto; {data} and the value model ran"
        elif data_kind == "purchase_log" and "clv" in cols:
            column, reason = "clv", f"tiers.value: auto; {data}, valued by its purchases, and no value model ran"  # fmt: skip
        else:
            column = "profit_12m"
            reason = f"tiers.value: auto; {data} and no value model{' or CLV' if data_kind == 'purchase_log' else ''} ran"  # fmt: skip
    elif requested == "value_score" and "value_score" not in cols:
        column, reason = "profit_12m", "tiers.value: value_score, but no value model ran"
        warnings.append("tiers: no value score model, tiering on profit_12m instead")
    elif requested not in cols:
        raise ValueMeasureError(
            f"tiers.value: {requested!r} is not a column of the feature table; use auto, "
            "value_score, profit_12m, clv (with the CLV stage) or a feature column"
        )
    else:
        column, reason = requested, f"tiers.value: {requested}, as configured"
    checked = (validation or {}).get(column)
    if requested == "auto":
        column, reason, more, record = by_validation(column, reason, checked, cols)
        warnings += more
    else:
        record = None if checked is None else {**checked, "candidate": column, "beats": beats_naive(checked)}  # fmt: skip
        if record is not None and record["beats"] is False:
            warnings.append(f"tiers: {checked['model']} does not beat the naive forecast in validation ({figures(checked)}); tiering on it as configured")  # fmt: skip
    basis, noun, description = _describe(column, economics, purchase_margin)
    return ValueMeasure(column, requested, basis, noun, description, reason, data_kind,
                        data_kind_source, economics, tuple(warnings), record)  # fmt: skip


# ----------------------------------------------------------------------------- the guard
def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN when either is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    rx, ry = rankdata(x[ok]), rankdata(y[ok])
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def observed_values(
    pop: pd.DataFrame, labels: pd.DataFrame | None, data_kind: str
) -> dict[str, tuple[str, np.ndarray]]:
    """What each tiered customer did, by name: ``{key: (what, values in pop's order)}``.

    A purchase log: purchases in the 365 days to the as-of date (``amount_365d``) and, with
    labels, in the label window (``holdout_spend``). A bank: revenue (spread income + fees,
    ``nii_12m + fee_income_12m``) and profit (``profit_12m``) of the last 12 complete months
    and, with 12-month labels, next year's profit (``holdout_profit``); a bank's transaction
    amounts are payments, not value, so they are not a reference.
    """
    refs: dict[str, tuple[str, np.ndarray]] = {}

    def col(frame: pd.DataFrame, name: str) -> np.ndarray:
        return pd.to_numeric(frame[name], errors="coerce").fillna(0.0).to_numpy(dtype=float)

    if data_kind == "purchase_log":
        if "amount_365d" in pop:
            refs["trailing_purchases"] = ("trailing 12-month purchases", col(pop, "amount_365d"))
        holdout = ("holdout_spend", "holdout_purchases", "holdout purchases (label window)")
    else:
        if {"nii_12m", "fee_income_12m"} <= set(pop.columns):
            income = col(pop, "nii_12m") + col(pop, "fee_income_12m")
            refs["trailing_revenue"] = ("trailing 12-month revenue (spread income + fees)", income)  # fmt: skip
        if "profit_12m" in pop:
            refs["trailing_profit"] = ("trailing 12-month profit", col(pop, "profit_12m"))
        holdout = ("holdout_profit", "holdout_profit", "holdout profit (next 12 months)")
    name, key, what = holdout
    if labels is not None and name in labels.columns:
        lab = pop[["customer_id"]].merge(labels[["customer_id", name]], on="customer_id", how="left")  # fmt: skip
        refs[key] = (what, col(lab, name))
    return refs


def _top_bottom(tiers: pd.Series, policy: TierPolicy) -> tuple[str | None, str | None]:
    """The most and the least valuable rank tiers that hold customers (the loss tier aside)."""
    held = set(tiers.astype(str))
    present = [t for t in policy.tiers if t in held]
    return (present[0], present[-1]) if len(present) > 1 else (None, None)


def _reference_check(
    value: np.ndarray, observed: np.ndarray, what: str, tiers: pd.Series, policy: TierPolicy
) -> tuple[dict[str, Any], list[str]]:
    """Figures and problems of one observed value."""
    rho = spearman(value, observed)
    by_tier = pd.Series(observed).groupby(tiers.astype(str).to_numpy())
    total = float(observed.sum())
    shares = {t: float(by_tier.sum().get(t, 0.0) / total) if total else None for t in policy.labels}  # fmt: skip
    held = by_tier.mean()
    means = {t: float(held[t]) if t in held.index else None for t in policy.labels}  # None: empty
    top, bottom = _top_bottom(tiers, policy)
    doc = {"what": what, "spearman": rho, "tier_share": shares, "tier_mean": means,
           "top_tier": top, "bottom_tier": bottom}  # fmt: skip
    problems = []
    if np.isfinite(rho) and rho < MIN_SPEARMAN:
        problems.append(f"Spearman {rho:.2f} with {what} (needs at least {MIN_SPEARMAN:.2f})")
    if top is not None and bottom is not None and not means[top] > means[bottom]:
        problems.append(
            f"per customer, the top tier {top} averages {means[top]:,.1f} of {what}, the "
            f"bottom tier {bottom} {means[bottom]:,.1f}"
        )
    return doc, problems


def _fixes(measure: ValueMeasure, columns: set[str]) -> str:
    """What to set instead, in one clause."""
    fixes = []
    if measure.data_kind == "purchase_log" and measure.economics == "bank":
        fixes.append("features.economics.kind: auto (a purchase log is then valued by the margin on its purchases)")  # fmt: skip
    if measure.requested != "auto":
        fixes.append("tiers.value: auto")
    fixes += [f"tiers.value: {c}" for c in ("value_score", "clv") if c in columns and c != measure.column]  # fmt: skip
    fixes.append("tiers.value_check: warn to tier on it anyway")
    return "; ".join(fixes)


def check_value_measure(
    pop: pd.DataFrame,
    tiers: pd.DataFrame,
    policy: TierPolicy,
    measure: ValueMeasure,
    labels: pd.DataFrame | None = None,
    mode: str = "fail",
) -> dict[str, Any]:
    """Check the value measure against observed behaviour before the tiers are used.

    Parameters
    ----------
    pop : DataFrame
        The tiered customers' features (with ``customer_id`` and ``measure.column``).
    tiers : DataFrame
        :func:`~segml.tiers.assign_tiers` of ``pop`` (same order): ``tier_by_value`` is used.
    policy : TierPolicy
    measure : ValueMeasure
    labels : DataFrame, optional
        Labels after the as-of date (``holdout_spend``, ``holdout_profit``).
    mode : {"fail", "warn"}
        ``tiers.value_check``.

    Returns
    -------
    dict
        ``measure.to_dict()`` plus ``check``: ``mode``, ``passed`` (None when skipped),
        ``min_spearman``, ``customers``, ``observed`` (per observed value: its Spearman with
        the measure, each tier's share and mean of it, the top and bottom tiers), ``problems``
        and ``message`` (the warning, when it failed under ``warn``).

    Raises
    ------
    ValueMeasureError
        When it fails under ``mode="fail"``: the message names the measure, the figures and
        the settings that fix it.
    """
    if mode not in CHECK_MODES:
        raise ValueError(f"tiers.value_check must be one of {CHECK_MODES}, got {mode!r}")
    value = pd.to_numeric(pop[measure.column], errors="coerce").to_numpy(dtype=float)
    check: dict[str, Any] = {"mode": mode, "min_spearman": MIN_SPEARMAN, "customers": len(pop),
                             "observed": {}, "problems": [], "passed": None, "message": None}  # fmt: skip
    refs = observed_values(pop, labels, measure.data_kind)
    if len(pop) < MIN_CUSTOMERS or not refs:
        check["skipped"] = f"{len(pop)} tiered customers" if refs else "no observed value to compare with"  # fmt: skip
        return {**measure.to_dict(), "check": check}
    for key, (what, observed) in refs.items():
        doc, problems = _reference_check(value, observed, what, tiers["tier_by_value"], policy)
        check["observed"][key] = doc
        check["problems"] += problems
    check["passed"] = not check["problems"]
    if not check["passed"]:
        what = "a purchase log" if measure.data_kind == "purchase_log" else "a bank"
        message = (
            f"value measure check failed: the tiers rank {measure.column} ({measure.description}; "
            f"{measure.reason}) on {what} ({measure.data_kind_source}), and it disagrees with "
            f"what customers did: {'; '.join(check['problems'])}. "
            f"Fix: {_fixes(measure, set(pop.columns))}"
        )
        if mode == "fail":
            raise ValueMeasureError(message)
        check["message"] = message
    return {**measure.to_dict(), "check": check}


def check_metrics(doc: dict[str, Any]) -> dict[str, float]:
    """The check's figures as flat metrics (``value_measure.spearman.trailing_purchases`` …)."""
    check = doc.get("check") or {}
    out: dict[str, float] = {}
    if check.get("passed") is not None:
        out["value_measure.passed"] = float(check["passed"])
    for key, ref in (check.get("observed") or {}).items():
        if ref.get("spearman") is not None and np.isfinite(ref["spearman"]):
            out[f"value_measure.spearman.{key}"] = float(ref["spearman"])
    return out
