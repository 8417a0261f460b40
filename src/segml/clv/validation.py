"""Which CLV forecast to trust, judged before the as-of date: the models against naive forecasts.

The holdout after the as-of date (when the data reach past it) scores the forecasts a run
makes, but nothing chosen at the as-of date may look at it. :func:`backtest` judges the
probabilistic model the way it will be used, one window earlier: fitted on the features at
``t0 = as_of − horizon``, its expected spend over ``(t0, as_of]`` is scored against what the
customers then spent, beside the naive forecasts made at ``t0``
(:data:`~segml.clv.evaluate.NAIVE_BASELINES`). The tier measure is then chosen by this
verdict (:func:`segml.tiers.choose_value_measure`): a model that does not beat the best naive
forecast on spend MAE *and* Spearman is not used to rank customers.

:func:`naive_forecasts` gives the naive forecasts at any date; the CLV table carries them at
the as-of date (:data:`NAIVE_COLUMNS`) so that the tiers can rank on one of them.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import numpy as np
import pandas as pd

from segml.clv.evaluate import MODEL_NAMES, NAIVE_BASELINES, calibration_rate, naive_comparison
from segml.clv.model import ClvModel
from segml.data import BankData
from segml.features.build import active
from segml.features.spec import FeatureConfig, in_list, ts_lit

__all__ = ["MIN_BACKTEST", "NAIVE_COLUMNS", "backtest", "naive_forecasts"]

#: Columns of the CLV table with each naive forecast of spend over the horizon, by baseline.
NAIVE_COLUMNS = {
    "naive_calibration_rate": "naive_spend_rate",
    "naive_last_window": "naive_spend_last_window",
}
#: Fewest customers with purchase history at ``t0`` for a backtest verdict.
MIN_BACKTEST = 30


def naive_forecasts(
    bank: BankData, pop: pd.DataFrame, as_of: dt.date, days: float, cfg: FeatureConfig
) -> pd.DataFrame:
    """Naive forecasts of each customer's purchase days and spend in the ``days`` after ``as_of``.

    Parameters
    ----------
    bank : BankData
        For the last window's transactions.
    pop : DataFrame
        Customers with the feature table's RFM columns at ``as_of`` (``customer_id``,
        ``frequency``, ``T``, ``monetary_value``).
    as_of : date
    days : float
        Length of the forecast window.
    cfg : FeatureConfig
        Which transaction kinds are not customer-initiated.

    Returns
    -------
    DataFrame
        Aligned with ``pop``: ``purchases_<key>`` and ``spend_<key>`` for each key of
        :data:`~segml.clv.evaluate.NAIVE_BASELINES`. ``naive_calibration_rate`` is the RFM rate
        (``frequency / T × days``, × the mean repeat-day amount for spend; 0 without history);
        ``naive_last_window`` the distinct days with customer-initiated transactions and their
        amount in the ``days`` days up to ``as_of`` — what the labels count, one window earlier.
    """
    out = pd.DataFrame(index=pop.index)
    x, t = pop["frequency"].to_numpy(dtype=float), pop["T"].to_numpy(dtype=float)
    out["purchases_naive_calibration_rate"] = calibration_rate(x, t, days)
    out["spend_naive_calibration_rate"] = calibration_rate(x, t, days, pop["monetary_value"])
    lo = ts_lit(as_of - dt.timedelta(days=int(days) - 1))
    hi = ts_lit(as_of + dt.timedelta(days=1))
    window = bank.con.sql(
        f"""SELECT customer_id, CAST(COUNT(DISTINCT CAST(timestamp AS DATE)) AS DOUBLE) AS days,
        CAST(SUM(amount) AS DOUBLE) AS spend FROM transactions
        WHERE timestamp >= {lo} AND timestamp < {hi} AND kind NOT IN {in_list(cfg.exclude_kinds)}
        GROUP BY customer_id"""
    ).df()
    got = pop[["customer_id"]].merge(window, on="customer_id", how="left", validate="one_to_one")
    out["purchases_naive_last_window"] = got["days"].fillna(0.0).to_numpy()
    out["spend_naive_last_window"] = got["spend"].fillna(0.0).to_numpy()
    return out


def backtest(
    bank: BankData,
    features: pd.DataFrame,
    labels: pd.DataFrame,
    t0: dt.date,
    days: float,
    model: str,
    cfg: FeatureConfig,
) -> dict[str, Any]:
    """The probabilistic model against the naive forecasts, one window before the as-of date.

    Parameters
    ----------
    bank : BankData
    features : DataFrame
        The feature table at ``t0`` (RFM columns, ``is_active``).
    labels : DataFrame
        Labels of the window after ``t0`` (``customer_id``, ``holdout_spend``).
    t0 : date
        The backtest's as-of date (``as_of − horizon``).
    days : float
        Length of the window after ``t0``.
    model : str
        Purchase model kind (``bgnbd``, ``pareto``, ``mbgnbd``).
    cfg : FeatureConfig

    Returns
    -------
    dict
        ``as_of``, ``days``, ``naive_columns`` (:data:`NAIVE_COLUMNS`), ``customers``,
        ``fit_warnings`` (the fit's warnings, not repeated to the user) and ``spend``: the
        :class:`~segml.clv.evaluate.NaiveComparison` of the model's expected spend (``verdict``
        its sentence), or ``skipped`` with the reason when there is too little to judge.
    """
    doc: dict[str, Any] = {"as_of": str(t0), "days": days, "naive_columns": dict(NAIVE_COLUMNS)}
    cols = ["customer_id", "frequency", "recency", "T", "monetary_value"]
    fit = features.loc[features["T"].notna(), cols]
    pop = active(features)
    pop = pop[pop["T"].notna()].reset_index(drop=True)
    doc["customers"] = len(pop)
    if len(pop) < MIN_BACKTEST or int((fit["frequency"] > 0).sum()) < MIN_BACKTEST:
        doc["skipped"] = f"{len(pop)} customers with purchase history at {t0}; at least {MIN_BACKTEST} with repeat purchases needed"  # fmt: skip
        return doc
    # the fit's own warnings (Gamma-Gamma's assumptions …) are recorded here, not repeated to
    # the user: the fit at the as-of date raises them for the model that is used
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            clv = ClvModel(model, "D", 1.0).fit(fit.set_index("customer_id"), f"features at {t0}")
            pred = clv.predict(pop[cols].set_index("customer_id"), days)["expected_value"]
        except (ValueError, RuntimeError) as exc:  # a fit that cannot be made is no verdict
            doc["skipped"] = f"the {model} fit at {t0} failed: {exc}"
            return doc
    doc["fit_warnings"] = sorted({str(w.message) for w in caught})
    pred = pred.to_numpy(dtype=float)
    actual = pop[["customer_id"]].merge(labels[["customer_id", "holdout_spend"]], on="customer_id", how="left")  # fmt: skip
    spent = actual["holdout_spend"].fillna(0.0).to_numpy(dtype=float)
    naive = naive_forecasts(bank, pop, t0, days, cfg)
    refs = {k: naive[f"spend_{k}"].to_numpy() for k in NAIVE_BASELINES}
    name = f"{MODEL_NAMES.get(model, model)} + Gamma-Gamma"
    if not np.isfinite(pred).any():
        doc["skipped"] = f"the {name} expected spend is undefined for every customer at {t0}"
        return doc
    doc["spend"] = naive_comparison(name, "spend", spent, pred, refs, intervals=True).to_dict()
    return doc
