"""Evaluation against the synthetic bank's ground truth (evaluation only: never in the pipeline).

The generator knows each active customer's true probability of closing the relationship in
the 12 months after the as-of date (``ground_truth.parquet``: ``churn_probability``,
``churned``, ``hazard_monthly``). :func:`bayes_reference` puts the model's AUC next to the
*Bayes-optimal* AUC — that of the true probability against the realised label on the same
customers, the best any score can do. :func:`feature_ceiling` measures how much of that the
features can reach at all: a model fitted to the *true* log hazard (not the noisy label) on
the features, cross-fitted, scored by AUC against the label. :func:`segml.run.evaluate.evaluate_synthetic` runs
the churn stage on a synthetic bank folder and returns both.

The ground-truth label is closure (all accounts closed in the window): compare models trained
with ``definition="closure"`` only.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segml.boosters import estimator_params
from segml.churn.metrics import classification_metrics

__all__ = ["BayesReference", "bayes_reference", "feature_ceiling"]


@dataclass(frozen=True)
class BayesReference:
    """Model vs the Bayes-optimal score on the same customers.

    Attributes
    ----------
    n, positives : int
        Customers compared (active at the as-of date, scored) and churners among them.
    auc_bayes, pr_auc_bayes, brier_bayes : float
        Metrics of the true churn probability.
    auc_model, pr_auc_model, brier_model, lift_top10_model, lift_top10_bayes : float
        The model's, and the top-decile lifts.
    auc_gap : float
        ``auc_bayes − auc_model``.
    within_target : bool
        ``auc_gap <= target_gap``.
    target_gap : float
        The target.
    auc_baseline : float or None
        AUC of ``1 − p_alive`` when ``scored`` has ``p_alive``.
    """

    n: int
    positives: int
    auc_bayes: float
    auc_model: float
    auc_gap: float
    within_target: bool
    target_gap: float
    pr_auc_bayes: float
    pr_auc_model: float
    brier_bayes: float
    brier_model: float
    lift_top10_bayes: float
    lift_top10_model: float
    auc_baseline: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return asdict(self)


def _truth(truth: pd.DataFrame | str | os.PathLike[str]) -> pd.DataFrame:
    df = truth if isinstance(truth, pd.DataFrame) else pd.read_parquet(Path(truth))
    need = ("customer_id", "churn_probability", "churned")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"the ground truth lacks column(s) {missing}")
    return df


def bayes_reference(
    truth: pd.DataFrame | str | os.PathLike[str],
    scored: pd.DataFrame,
    target_gap: float = 0.02,
) -> BayesReference:
    """Compare a model's scores with the true churn probabilities on the same customers.

    Parameters
    ----------
    truth : DataFrame or path
        ``ground_truth.parquet`` (or its frame): ``customer_id``, ``churn_probability``,
        ``churned`` (missing for customers not active at the as-of date).
    scored : DataFrame
        ``customer_id`` and ``churn_probability`` (e.g. the stage's ``churn_scores``), and
        optionally ``p_alive``.
    target_gap : float
        Largest acceptable ``auc_bayes − auc_model``.

    Raises
    ------
    ValueError
        If a column is missing or no scored customer has a true label.
    """
    t = _truth(truth)
    for c in ("customer_id", "churn_probability"):
        if c not in scored.columns:
            raise ValueError(f"the scored table lacks column {c!r}")
    t = t.loc[t["churned"].notna(), ["customer_id", "churn_probability", "churned"]]
    m = scored.merge(t, on="customer_id", how="inner", suffixes=("", "_true"))
    if m.empty:
        raise ValueError("no scored customer has a ground-truth label")
    y = m["churned"].astype(bool).to_numpy(dtype=int)
    true_p = m["churn_probability_true"].to_numpy(dtype=float)
    model_p = m["churn_probability"].to_numpy(dtype=float)
    b, s = classification_metrics(y, true_p), classification_metrics(y, model_p)
    base = None
    if "p_alive" in m.columns:
        pa = m["p_alive"].to_numpy(dtype=float)
        score = np.where(np.isfinite(pa), 1.0 - pa, np.nanmedian(1.0 - pa))
        base = classification_metrics(y, score)["roc_auc"]
    gap = b["roc_auc"] - s["roc_auc"]
    return BayesReference(
        n=len(m),
        positives=int(y.sum()),
        auc_bayes=b["roc_auc"],
        auc_model=s["roc_auc"],
        auc_gap=gap,
        within_target=bool(gap <= target_gap),
        target_gap=target_gap,
        pr_auc_bayes=b["pr_auc"],
        pr_auc_model=s["pr_auc"],
        brier_bayes=b["brier"],
        brier_model=s["brier"],
        lift_top10_bayes=b["lift_top10"],
        lift_top10_model=s["lift_top10"],
        auc_baseline=base,
    )


def feature_ceiling(
    features: pd.DataFrame,
    truth: pd.DataFrame | str | os.PathLike[str],
    exclude: tuple[str, ...] = ("customer_id", "is_active"),
    folds: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """How well the features can rank churners if the true hazard were the training target.

    An xgboost regressor of ``log(hazard_monthly)`` on the features of the active customers,
    fitted fold by fold, predicts each customer out of fold; its AUC against the realised
    label is the ceiling of any model of these features, however many labels it had.

    Returns
    -------
    dict
        ``n``, ``r2_log_hazard`` (out-of-fold R² of the log hazard), ``auc_ceiling`` and
        ``auc_bayes`` on the same customers.
    """
    import xgboost as xgb
    from sklearn.model_selection import KFold

    from segml.churn.tabular import TabularEncoder

    t = _truth(truth)
    if "hazard_monthly" not in t.columns:
        raise ValueError("the ground truth lacks column 'hazard_monthly'")
    t = t.loc[t["churned"].notna()]
    m = features.merge(
        t[["customer_id", "hazard_monthly", "churned", "churn_probability"]], on="customer_id"
    )
    target = np.log(m["hazard_monthly"].to_numpy(dtype=float))
    y = m["churned"].astype(bool).to_numpy(dtype=int)
    drop = [c for c in (*exclude, "hazard_monthly", "churned", "churn_probability") if c in m]
    x = TabularEncoder().fit(m.drop(columns=drop)).transform(m.drop(columns=drop))
    oof = np.zeros(len(m))
    for fit_idx, test_idx in KFold(folds, shuffle=True, random_state=seed).split(x):
        reg = xgb.XGBRegressor(
            **estimator_params(
                {"n_estimators": 600, "learning_rate": 0.03, "max_depth": 4, "subsample": 0.8,
                 "colsample_bytree": 0.8, "enable_categorical": True, "random_state": seed}
            )
        )  # fmt: skip
        reg.fit(x.iloc[fit_idx], target[fit_idx])
        oof[test_idx] = reg.predict(x.iloc[test_idx])
    r2 = 1.0 - np.mean((target - oof) ** 2) / np.var(target)
    return {
        "n": float(len(m)),
        "r2_log_hazard": float(r2),
        "auc_ceiling": classification_metrics(y, oof)["roc_auc"],
        "auc_bayes": classification_metrics(y, m["churn_probability"].to_numpy())["roc_auc"],
    }
