"""A learned alternative to the scorecard: xgboost on the same inputs, and an honest comparison.

The target is a credit-event proxy observed after the as-of date *t*
(:func:`credit_target`): a corporate statement that became known in the window after *t*
reporting 90+ days past due or a credit event.
:func:`segml.grades.comparison.compare_scorecard_model` trains the model at an earlier as-of
date, whose target window closes by the later evaluation date, and compares it with the
scorecard there (ROC AUC; rank correlation with a true PD when the ground truth is supplied,
for evaluation only).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from segml.boosters import estimator_params
from segml.data import BankData, load_bank
from segml.features.labels import label_window
from segml.features.spec import date_lit
from segml.grades.scorecard import DEFAULT_SCORECARD, Scorecard
from segml.grades.scoring import corporate_rows

#: Small, deterministic xgboost defaults (single thread, fixed seed).
DEFAULT_MODEL_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "max_depth": 3,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 1.0,
    "reg_lambda": 1.0,
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "random_state": 0,
    "n_jobs": None,  # every core (the model does not depend on it)
}

_KNOWN = (
    "COALESCE(report_date, CAST(make_date(CAST(fiscal_year AS INT), 12, 31) "
    "+ INTERVAL 120 DAY AS DATE))"
)


def _as_date(value: dt.date | str) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])


def _bank(bank: BankData | str | os.PathLike[str]) -> BankData:
    return bank if isinstance(bank, BankData) else load_bank(bank)


def credit_target(
    bank: BankData | str | os.PathLike[str],
    as_of: dt.date | str,
    horizon_months: int = 12,
    dpd_threshold: int = 90,
) -> pd.DataFrame:
    """A credit-event (default proxy) target from statements that became known after ``as_of``.

    Parameters
    ----------
    bank : BankData or path
        The bank (a folder is loaded and validated).
    as_of : date
        The feature date *t*; the window is the ``horizon_months`` after it.
    horizon_months : int
        Length of the window.
    dpd_threshold : int
        Days past due that count as a credit event (90: the Basel default definition).

    Returns
    -------
    pandas.DataFrame
        One row per corporate client with at least one statement known in the window
        (``report_date``, or fiscal year end + 120 days without one, in ``(t, t + horizon]``),
        ordered by ``customer_id``: ``target`` (1 if any such statement reports
        ``days_past_due ≥ dpd_threshold`` or ``credit_events > 0``), ``n_statements``,
        ``worst_dpd``, ``credit_events``. Clients without a statement in the window (left
        the bank, or not reporting) have no row: their outcome is unknown.

    Raises
    ------
    ValueError
        If the bank has no ``corporate_financials`` table or its data end before the window.

    Notes
    -----
    The window uses only what became known after *t*, so it never overlaps the features at
    *t* (which use statements known by *t*). The statement describes the fiscal year that
    ends around *t*: the event may have happened shortly before *t* but was not known then.
    """
    b = _bank(bank)
    if "corporate_financials" not in b.tables:
        raise ValueError(f"{b.folder} has no corporate_financials table: no credit target")
    t = _as_date(as_of)
    start, end = label_window(t, horizon_months)
    last = b.last_transaction_date()
    if last is None or last < end:
        raise ValueError(
            f"the target window {start} … {end} runs past the data, which end on "
            f"{last or 'no transaction'}"
        )
    sql = f"""SELECT customer_id, COUNT(*) AS n_statements,
            MAX(days_past_due) AS worst_dpd,
            CAST(SUM(COALESCE(credit_events, 0)) AS BIGINT) AS credit_events
        FROM (SELECT *, {_KNOWN} AS known_date FROM corporate_financials) f
        WHERE known_date > {date_lit(t)} AND known_date <= {date_lit(end)}
        GROUP BY customer_id ORDER BY customer_id"""
    df = b.con.sql(sql).df()
    df["target"] = ((df["worst_dpd"] >= dpd_threshold) | (df["credit_events"] > 0)).astype(np.int64)
    return df[["customer_id", "target", "n_statements", "worst_dpd", "credit_events"]]


def _rating_order(scorecard: Scorecard) -> dict[str, int]:
    """Rating codes ranked best (0) to worst by their scorecard points."""
    for f in scorecard.factors:
        if f.kind == "categorical" and f.column == "fin_credit_rating":
            ranked = sorted(f.categories, key=lambda kv: -kv[1])
            return {code: i for i, (code, _) in enumerate(ranked)}
    return {}


def model_matrix(
    features: pd.DataFrame | pa.Table,
    scorecard: Scorecard = DEFAULT_SCORECARD,
    industries: tuple[str, ...] | None = None,
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The scorecard's inputs as a numeric matrix for the corporate rows.

    Numeric inputs are kept as they are (missing stays NaN: xgboost learns where to send
    it); the credit rating becomes its rank (0 = best); the industry becomes one 0/1 column
    per industry in ``industries`` (default: those present, sorted).

    Returns
    -------
    (pandas.DataFrame, tuple of str)
        The matrix indexed by ``customer_id``, and the industries used.
    """
    df = corporate_rows(features)
    order = _rating_order(scorecard)
    cols: dict[str, np.ndarray] = {}
    for c in scorecard.input_columns:
        if c == "industry":
            continue
        if c == "fin_credit_rating":
            cols["rating_rank"] = np.array(
                [order.get(v, np.nan) if isinstance(v, str) else np.nan for v in df[c]],
                dtype=float,
            )
        else:
            cols[c] = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if "industry" in scorecard.input_columns:
        ind = df["industry"].astype(object)
        if industries is None:
            industries = tuple(sorted({v for v in ind if isinstance(v, str)}))
        for name in industries:
            cols[f"industry={name}"] = (ind == name).to_numpy(dtype=float)
    x = pd.DataFrame(cols, index=pd.Index(df["customer_id"].to_numpy(), name="customer_id"))
    return x, tuple(industries or ())


@dataclass(frozen=True)
class CreditModel:
    """An xgboost classifier of the credit target on the scorecard's inputs."""

    model: Any
    columns: tuple[str, ...]
    industries: tuple[str, ...]
    scorecard: Scorecard

    def predict(self, features: pd.DataFrame | pa.Table) -> pd.Series:
        """Predicted probability of a credit event for each corporate row (by customer_id)."""
        x, _ = model_matrix(features, self.scorecard, self.industries)
        p = self.model.predict_proba(x[list(self.columns)].to_numpy())[:, 1]
        return pd.Series(p, index=x.index, name="pd_model")


def fit_credit_model(
    features: pd.DataFrame | pa.Table,
    target: pd.DataFrame | None = None,
    scorecard: Scorecard = DEFAULT_SCORECARD,
    params: dict[str, Any] | None = None,
) -> CreditModel:
    """Fit xgboost on the scorecard's inputs to a 0/1 target.

    Parameters
    ----------
    features : pandas.DataFrame or pyarrow.Table
        The feature table at the training as-of date (or several dates' rows stacked, each
        with its own ``target`` column).
    target : pandas.DataFrame, optional
        ``customer_id`` and ``target`` (e.g. :func:`credit_target` at the same date), joined
        to ``features`` by ``customer_id``; without it ``features`` must hold ``target``.
        Only corporate rows with a target are used.
    scorecard : Scorecard
        Defines the inputs.
    params : dict, optional
        Overrides of :data:`DEFAULT_MODEL_PARAMS`.

    Raises
    ------
    ValueError
        If there is no target, or it has a single class among the training rows.
    """
    import xgboost as xgb

    df = corporate_rows(features)
    if target is not None:
        df = df.drop(columns="target", errors="ignore").merge(
            target[["customer_id", "target"]], on="customer_id", how="inner"
        )
    elif "target" not in df.columns:
        raise ValueError("pass target, or features with a 'target' column")
    df = df.loc[df["target"].notna()].reset_index(drop=True)
    y = df["target"].astype(int)
    if y.nunique() < 2:
        raise ValueError(f"the training target has a single class ({len(y)} rows)")
    x, industries = model_matrix(df, scorecard)
    model = xgb.XGBClassifier(**estimator_params({**DEFAULT_MODEL_PARAMS, **(params or {})}))
    model.fit(x.to_numpy(), y.to_numpy())
    return CreditModel(model, tuple(x.columns), industries, scorecard)


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for 0/1 ``y`` (ties count half; NaN with a single class)."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(np.asarray(score, dtype=float))
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
