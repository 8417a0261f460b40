"""CLV of any transaction log, evaluated on a holdout: what ``segml clv fit`` runs.

:func:`clv_holdout` checks the log, splits it at the calibration end, fits the purchase model and
Gamma-Gamma on the calibration period, predicts the holdout and scores the predictions; when
the log reaches back far enough it also trains the supervised model out of time and scores it on
the same customers and holdout. Every model is scored beside the naive baselines
(:func:`~segml.clv.holdout.naive_baselines`) and gets a verdict: whether it beats the best of
them on MAE, RMSE and Spearman (:func:`~segml.clv.evaluate.naive_comparison`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segml.clv.comparison import SupervisedComparison, compare_supervised
from segml.clv.evaluate import (
    MODEL_NAMES,
    NAIVE_BASELINES,
    NaiveComparison,
    PurchaseMetrics,
    ValueMetrics,
    naive_comparison,
    purchase_metrics,
    value_metrics,
)
from segml.clv.holdout import CalibrationHoldout, calibration_holdout, last_window, naive_baselines
from segml.clv.logfeatures import log_features, log_window_spend
from segml.clv.model import ClvModel
from segml.clv.plots import check_figures_dir, save_figures
from segml.clv.purchase import PurchaseKind
from segml.clv.value import TimeUnit

__all__ = ["ClvHoldoutResult", "clv_holdout"]

#: Fewest customers with history at the training cut for the supervised comparison.
MIN_SUPERVISED_CUSTOMERS = 50


@dataclass(frozen=True)
class ClvHoldoutResult:
    """Everything :func:`clv_holdout` produced.

    Attributes
    ----------
    split : CalibrationHoldout
        The calibration summary and holdout actuals.
    model : ClvModel
        Fitted purchase and spend models.
    predictions : DataFrame
        Per customer: the split's columns, the model's predictions over the holdout
        (``expected_purchases``, ``expected_value`` undiscounted), ``clv`` (discounted, one
        year from the calibration end) and, when run, ``supervised_value``. ``expected_spend``,
        ``expected_value`` and ``clv`` are NaN where Gamma-Gamma's expected spend does not
        exist (``q <= 1`` and ``p x + q <= 1``).
    purchases, value : PurchaseMetrics, ValueMetrics
        Holdout metrics of the probabilistic model; ``value`` leaves out (and counts) the
        customers without an expected value.
    supervised : SupervisedComparison or None
        The supervised comparison, or None with ``supervised_skipped`` saying why.
    supervised_skipped : str or None
    annual_discount_rate : float
    figures : tuple of str
        PNG files written.
    naive : DataFrame
        Per customer, the naive forecasts (:func:`~segml.clv.holdout.naive_baselines`).
    baselines : dict
        ``{"purchases": {key: PurchaseMetrics}, "value": {key: ValueMetrics}}`` per naive
        baseline, on every customer.
    verdicts : dict of str to NaiveComparison
        Per model (purchase model kind, ``probabilistic``, supervised objectives): against the
        best naive on MAE, RMSE and Spearman, on the customers the model predicts.
    """

    split: CalibrationHoldout
    model: ClvModel
    predictions: pd.DataFrame
    purchases: PurchaseMetrics
    value: ValueMetrics
    supervised: SupervisedComparison | None
    supervised_skipped: str | None
    annual_discount_rate: float
    figures: tuple[str, ...]
    naive: pd.DataFrame = field(default_factory=pd.DataFrame)
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    verdicts: dict[str, NaiveComparison] = field(default_factory=dict)

    def _baselines_dict(self) -> dict[str, Any]:
        split = self.split
        start, end = last_window(split)
        unit, period = split.unit.name, "week" if split.unit.freq == "W" else "day"
        return {
            "definitions": {
                "naive_calibration_rate": (
                    f"frequency / T × {split.holdout_length:g} {unit}s: repeat purchases per "
                    f"{unit} from the first purchase to the calibration end, times the holdout "
                    "length (0 where T = 0); value: also × monetary_value (mean repeat "
                    "purchase), i.e. repeat spend per unit of time × holdout length"
                ),
                "naive_last_window": (
                    f"purchase {period}s and spend from {start} to {end}: the "
                    f"{(end - start).days + 1} days up to the calibration end, the holdout's "
                    "length"
                ),
            },
            "names": dict(NAIVE_BASELINES),
            "last_window": {
                "start": str(start),
                "end": str(end),
                "before_log_start": start < split.first_date,
            },
            **{
                target: {k: v.to_dict() for k, v in metrics.items()}
                for target, metrics in self.baselines.items()
            },
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``segml clv fit --json`` prints."""
        m, split = self.model, self.split
        clv = self.predictions["clv"]
        undefined = int(self.predictions["expected_spend"].isna().sum())
        return {
            "model": m.kind,
            "params": m.params(),
            "log_likelihood": {
                "purchase": m.purchase_.log_likelihood_,
                "spend": m.spend_.log_likelihood_,
            },
            "time_unit": split.unit.to_dict(),
            "customers": len(split.summary),
            "repeat_buyers": int((split.summary["frequency"] > 0).sum()),
            "holdout": {
                "length": split.holdout_length,
                "unit": split.unit.name,
                "purchases": self.purchases.to_dict(),
                "value": self.value.to_dict(),
                "baselines": self._baselines_dict(),
                "verdicts": {k: v.to_dict() for k, v in self.verdicts.items()},
            },
            "excluded": {
                "spend_model": m.spend_.exclusions_.to_dict(),
                "undefined_spend": {
                    "customers": undefined,
                    "reason": (
                        f"Gamma-Gamma q = {m.spend_.params_['q']:.3g} <= 1: no expected spend "
                        f"where p·x + q <= 1 (x <= {m.spend_.max_undefined_frequency} repeat "
                        "purchases); expected_spend, expected_value and clv are NaN (empty) for "
                        "them and they are left out of the value metrics and the CLV totals"
                    )
                    if undefined
                    else None,
                },
                "new_in_holdout": split.new_in_holdout,
                "after_observation_end": split.after_observation_end,
            },
            "convergence": {
                "purchase": m.purchase_.fit_report_.to_dict(),
                "spend": m.spend_.fit_report_.to_dict(),
            },
            "independence": m.spend_.independence_.to_dict(),
            "spend_population_mean": m.spend_.population_mean_,
            "clv": {
                "horizon_days": 365.25,
                "annual_discount_rate": self.annual_discount_rate,
                "total": float(clv.sum()),  # over the customers with a CLV
                "mean": float(clv.mean()),
                "customers": int(clv.notna().sum()),
                "left_out": int(clv.isna().sum()),
            },
            "supervised": (
                self.supervised.to_dict()
                if self.supervised is not None
                else {"skipped": self.supervised_skipped}
            ),
            "data": split.to_dict(),
            "figures": list(self.figures),
            "config": m.get_params(),
        }


def _supervised(
    log: pd.DataFrame, split: CalibrationHoldout, references: dict[str, np.ndarray], seed: int
) -> tuple[SupervisedComparison | None, str | None]:
    """Train at ``calibration end − holdout days``; score on the holdout beside ``references``."""
    days = (split.observation_end - split.calibration_end).days
    cut = split.calibration_end - dt.timedelta(days=days)
    if (cut - split.first_date).days < days:
        return None, (
            f"history too short: training features at {cut} (calibration end − {days} days) "
            f"need {days} days of history before them, the log starts on {split.first_date}"
        )
    train_X = log_features(log, cut)
    if len(train_X) < MIN_SUPERVISED_CUSTOMERS:
        return None, f"{len(train_X)} customers at {cut}; at least {MIN_SUPERVISED_CUSTOMERS} needed"  # fmt: skip
    train_y = log_window_spend(
        log, cut + dt.timedelta(days=1), split.calibration_end, train_X.index
    )
    if (train_y > 0).sum() < 10:
        return None, f"only {int((train_y > 0).sum())} customers spent in the training window"
    test_X = log_features(log, split.calibration_end).reindex(split.summary.index)
    objectives = ("tweedie", "hurdle") if (train_y == 0).sum() >= 10 else ("tweedie",)
    cmp = compare_supervised(
        train_X, train_y, test_X, split.summary["holdout_spend"], target="holdout_spend",
        train_as_of=cut, predict_as_of=split.calibration_end, objectives=objectives,
        references=references, seed=seed,
    )  # fmt: skip
    return cmp, None


def clv_holdout(
    log: pd.DataFrame,
    calibration_end: Any,
    observation_end: Any = None,
    *,
    freq: str = "D",
    freq_multiplier: float = 1.0,
    model: PurchaseKind = "bgnbd",
    penalizer: float = 0.0,
    annual_discount_rate: float = 0.1,
    supervised: bool = True,
    seed: int = 0,
    figures_dir: str | Path | None = None,
    source: str = "transactions",
) -> ClvHoldoutResult:
    """Fit and evaluate CLV on a transaction log.

    Parameters
    ----------
    log : DataFrame
        ``customer_id, timestamp, amount`` (:func:`segml.clv.logcheck.check_log`).
    calibration_end, observation_end : date-like
        Last days of calibration and holdout (default: the log's last day).
    freq, freq_multiplier : str, float
        Purchases are counted per ``freq`` period ("D" or "W"); time is measured in
        ``freq_multiplier`` periods (CDNOW's literature: "D" and 7, i.e. weeks).
    model : {"bgnbd", "pareto", "mbgnbd"}
        Purchase model.
    penalizer : float
        First penalizer of both fits (retries raise it).
    annual_discount_rate : float
        For the one-year ``clv`` column.
    supervised : bool
        Run the supervised comparison when the history allows.
    seed : int
        Seed of the supervised models.
    figures_dir : path, optional
        Where to write the PNG figures (checked before the fit).
    source : str
        Name of the log in messages.

    Raises
    ------
    ValueError
        Bad dates or figures folder, a log the models cannot be fitted on (see
        :func:`~segml.clv.holdout.calibration_holdout` and :class:`~segml.clv.model.ClvModel`).
    """
    unit = TimeUnit(freq, float(freq_multiplier))
    if figures_dir is not None:  # before the work, not after it
        check_figures_dir(figures_dir, "figures_dir")
    split = calibration_holdout(log, calibration_end, observation_end, unit, source)
    rfm = split.summary
    clv_model = ClvModel(model, freq, freq_multiplier, penalizer).fit(rfm, source)
    hold = clv_model.predict(rfm, split.holdout_length, annual_rate=0.0)
    year = clv_model.predict(rfm, unit.from_days(365.25), annual_rate=annual_discount_rate)
    pred = rfm.join(hold[["p_alive", "expected_purchases", "expected_spend", "expected_value"]])
    pred["clv"] = year["clv"]
    purchases = purchase_metrics(rfm["holdout_purchases"], hold["expected_purchases"])
    # customers without an expected spend (Gamma-Gamma, q <= 1) are left out and counted
    value = value_metrics(rfm["holdout_spend"], hold["expected_value"], leave_out_undefined=True)
    naive = naive_baselines(log, split)
    value_refs = {"probabilistic": hold["expected_value"].to_numpy()}
    value_refs |= {k: naive[f"spend_{k}"].to_numpy() for k in NAIVE_BASELINES}
    cmp, skipped = None, "not requested"
    if supervised:  # the same purchases as the probabilistic model: refund periods left out
        purchases_log = log[split.purchase_rows] if split.purchase_rows is not None else log
        cmp, skipped = _supervised(purchases_log, split, value_refs, seed)
    baselines, verdicts = _against_naive(split, naive, hold, cmp, model)
    if cmp is not None:
        pred["supervised_value"] = cmp.predictions[cmp.primary]
    figures: list[Path] = []
    if figures_dir is not None:
        values = {"probabilistic": hold["expected_value"].to_numpy()}
        if cmp is not None:
            values[f"supervised ({cmp.primary})"] = cmp.predictions[cmp.primary]
        figures = save_figures(
            figures_dir, clv_model.purchase_, rfm, rfm["holdout_purchases"].to_numpy(),
            hold["expected_purchases"].to_numpy(), rfm["holdout_spend"].to_numpy(), values,
        )  # fmt: skip
    return ClvHoldoutResult(
        split=split,
        model=clv_model,
        predictions=pred,
        purchases=purchases,
        value=value,
        supervised=cmp,
        supervised_skipped=skipped,
        annual_discount_rate=annual_discount_rate,
        figures=tuple(str(p) for p in figures),
        naive=naive,
        baselines=baselines,
        verdicts=verdicts,
    )


def _against_naive(
    split: CalibrationHoldout,
    naive: pd.DataFrame,
    hold: pd.DataFrame,
    cmp: SupervisedComparison | None,
    kind: str,
) -> tuple[dict[str, dict[str, Any]], dict[str, NaiveComparison]]:
    """The naive baselines' holdout metrics and every model's verdict against the best of them.

    Returns ``({"purchases": {key: PurchaseMetrics}, "value": {key: ValueMetrics}}, verdicts)``;
    verdict keys: the purchase model ``kind``, ``probabilistic`` and the supervised objectives.
    """
    s = split.summary
    bought, spent = s["holdout_purchases"].to_numpy(), s["holdout_spend"].to_numpy()
    refs = {t: {k: naive[f"{t}_{k}"].to_numpy() for k in NAIVE_BASELINES} for t in ("purchases", "spend")}  # fmt: skip
    baselines: dict[str, dict[str, Any]] = {
        "purchases": {k: purchase_metrics(bought, v) for k, v in refs["purchases"].items()},
        "value": {k: value_metrics(spent, v) for k, v in refs["spend"].items()},
    }
    name = MODEL_NAMES.get(kind, kind)
    verdicts = {
        kind: naive_comparison(name, "purchases", bought, hold["expected_purchases"], refs["purchases"]),
        "probabilistic": naive_comparison(
            f"{name} + Gamma-Gamma", "spend", spent, hold["expected_value"], refs["spend"]
        ),
    }  # fmt: skip
    for obj, pred in (cmp.predictions if cmp is not None else {}).items():
        verdicts[obj] = naive_comparison(MODEL_NAMES.get(obj, obj), "spend", spent, pred, refs["spend"])  # fmt: skip
    return baselines, verdicts
