"""The scorecard against the learned model (:mod:`segml.grades.learned`), out of time.

:func:`compare_scorecard_model` trains the model at earlier as-of dates, whose target windows
close by the later evaluation date, and compares it with the scorecard there: ROC AUC with a
paired bootstrap interval of the difference, and rank correlation with a true PD when the
ground truth is supplied (for evaluation only).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segml.data import BankData
from segml.features.labels import label_window
from segml.features.snapshots import Snapshots
from segml.grades.learned import _as_date, _bank, credit_target, fit_credit_model, roc_auc
from segml.grades.scorecard import DEFAULT_SCORECARD, Scorecard
from segml.grades.scoring import corporate_rows, grade_corporates


@dataclass(frozen=True)
class GradingComparison:
    """Scorecard vs learned model on held-out data (see :func:`compare_scorecard_model`).

    AUCs are for the credit target at ``eval_as_of`` (the scorecard ranks by
    ``-score_total``; the rating baseline by its points). ``spearman_pd_*`` are rank
    correlations with the true PD over all graded corporates at ``eval_as_of``: negative is
    right for the scorecard (high score = low risk), positive for the model (a probability).
    ``auc_diff_ci`` is a paired bootstrap 95% interval of ``auc_model - auc_scorecard``;
    ``auc_true_pd`` is the AUC of the true PD itself, the ceiling any score can reach on this
    noisy target.
    """

    scorecard: str
    target: str
    split: str
    train_as_of: str
    eval_as_of: str
    n_train: int
    n_train_events: int
    n_eval: int
    n_eval_events: int
    auc_scorecard: float
    auc_model: float
    auc_rating: float
    auc_scorecard_train: float
    auc_diff_ci: tuple[float, float]
    auc_true_pd: float | None = None
    n_pd: int = 0
    spearman_pd_scorecard: float | None = None
    spearman_pd_model: float | None = None
    grade_counts: dict[str, int] = field(default_factory=dict)
    events_by_grade: dict[str, tuple[int, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return asdict(self)


def _read_truth(truth: pd.DataFrame | str | os.PathLike[str]) -> pd.Series:
    df = truth if isinstance(truth, pd.DataFrame) else pd.read_parquet(Path(truth))
    return df.set_index(df["customer_id"].astype(str))["pd"].astype(float)


def compare_scorecard_model(
    bank: BankData | Snapshots | str | os.PathLike[str],
    train_as_of: dt.date | str | Sequence[dt.date | str],
    eval_as_of: dt.date | str,
    scorecard: Scorecard = DEFAULT_SCORECARD,
    truth: pd.DataFrame | str | os.PathLike[str] | None = None,
    params: dict[str, Any] | None = None,
    horizon_months: int = 12,
    holdout_share: float = 0.0,
    seed: int = 0,
    n_boot: int = 500,
) -> GradingComparison:
    """Compare the scorecard with xgboost out of time (and optionally out of sample).

    Parameters
    ----------
    bank : BankData, Snapshots or path
        The bank; a :class:`~segml.features.snapshots.Snapshots` brings its feature
        configuration and the tables it already built.
    train_as_of : date or sequence of dates
        The model is fitted on features at each of these dates and the target in the window
        after it (several dates stack their rows); every window must close by
        ``eval_as_of``.
    eval_as_of : date
        Scorecard and model are evaluated on features at this date and the target in the
        window after it.
    scorecard : Scorecard
        The scorecard (and the model's inputs).
    truth : DataFrame or path, optional
        Ground truth with ``customer_id`` and ``pd`` (evaluation only).
    params : dict, optional
        xgboost overrides of :data:`DEFAULT_MODEL_PARAMS`.
    horizon_months : int
        Target window length.
    holdout_share : float
        If > 0, this share of customers (drawn with ``seed``) is evaluated and the rest
        trained on, so no client is in both.
    seed : int
        Seeds the customer split and the bootstrap.
    n_boot : int
        Bootstrap resamples for ``auc_diff_ci``.

    Raises
    ------
    ValueError
        If a training window does not close by ``eval_as_of``.
    """
    snaps = bank if isinstance(bank, Snapshots) else Snapshots(_bank(bank))
    t0s, t1 = _check_dates(train_as_of, eval_as_of, horizon_months)
    f0, f1, y1, split = _train_and_eval_rows(snaps, t0s, t1, horizon_months, holdout_share, seed)
    y0 = f0[["customer_id", "target"]]
    model = fit_credit_model(f0, None, scorecard, params)

    g1 = grade_corporates(f1, scorecard)
    g1["pd_model"] = model.predict(f1).to_numpy()
    ev = g1.merge(y1[["customer_id", "target"]], on="customer_id", how="inner")
    y = ev["target"].to_numpy(dtype=int)
    g0 = grade_corporates(f0, scorecard)
    g0["target"] = y0["target"].to_numpy()
    rating_pts = ev["pts_rating"].to_numpy() if "pts_rating" in ev else np.zeros(len(ev))

    risk_sc, risk_m = -ev["score_total"].to_numpy(), ev["pd_model"].to_numpy()
    n_pd, rho_sc, rho_m, auc_pd = _against_truth(truth, g1, ev, y)
    grades = scorecard.grade_names
    counts = g1["grade"].value_counts()
    by_grade = ev.groupby("grade")["target"].agg(["size", "sum"])
    return GradingComparison(
        scorecard=f"{scorecard.name} v{scorecard.version} ({scorecard.digest()})",
        target=(
            f"statement known in the {horizon_months} months after the as-of date reports "
            "days past due >= 90 or a credit event"
        ),
        split=split,
        train_as_of=", ".join(map(str, t0s)),
        eval_as_of=str(t1),
        n_train=len(y0),
        n_train_events=int(y0["target"].sum()),
        n_eval=len(ev),
        n_eval_events=int(y.sum()),
        auc_scorecard=roc_auc(y, risk_sc),
        auc_model=roc_auc(y, risk_m),
        auc_rating=roc_auc(y, -rating_pts),
        auc_scorecard_train=roc_auc(
            g0["target"].to_numpy(dtype=int), -g0["score_total"].to_numpy()
        ),
        auc_diff_ci=_auc_diff_ci(y, risk_m, risk_sc, seed, n_boot),
        auc_true_pd=auc_pd,
        n_pd=n_pd,
        spearman_pd_scorecard=rho_sc,
        spearman_pd_model=rho_m,
        grade_counts={g: int(counts.get(g, 0)) for g in grades},
        events_by_grade={
            g: (int(by_grade.loc[g, "size"]), int(by_grade.loc[g, "sum"]))
            for g in grades
            if g in by_grade.index
        },
    )


def _check_dates(
    train_as_of: dt.date | str | Sequence[dt.date | str],
    eval_as_of: dt.date | str,
    horizon_months: int,
) -> tuple[list[dt.date], dt.date]:
    """The sorted training dates and the evaluation date; ValueError if a window is too late."""
    dates = [train_as_of] if isinstance(train_as_of, dt.date | str) else list(train_as_of)
    t0s, t1 = sorted(_as_date(d) for d in dates), _as_date(eval_as_of)
    if not t0s:
        raise ValueError("train_as_of is empty")
    for t0 in t0s:
        _, train_end = label_window(t0, horizon_months)
        if train_end > t1:
            raise ValueError(
                f"the training target window after {t0} ends {train_end}, after the "
                f"evaluation date {t1}: the model would use outcomes not yet known there"
            )
    return t0s, t1


def _train_and_eval_rows(
    snaps: Snapshots,
    t0s: list[dt.date],
    t1: dt.date,
    horizon_months: int,
    holdout_share: float,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """Corporate training rows (with ``target``), evaluation rows, their target, the split."""
    f1 = corporate_rows(snaps.features(t1))
    y1 = credit_target(snaps.bank, t1, horizon_months)
    train = []
    for t0 in t0s:
        f = corporate_rows(snaps.features(t0))
        y = credit_target(snaps.bank, t0, horizon_months)
        train.append(f.merge(y[["customer_id", "target"]], on="customer_id", how="inner"))
    f0 = pd.concat(train, ignore_index=True)
    split = f"out of time: train {', '.join(map(str, t0s))}, evaluate {t1}"
    if holdout_share > 0:
        ids = np.array(sorted(set(f0["customer_id"]) | set(f1["customer_id"])), dtype=object)
        held = set(ids[np.random.default_rng(seed).random(len(ids)) < holdout_share])
        f0 = f0.loc[~f0["customer_id"].isin(held)]
        f1 = f1.loc[f1["customer_id"].isin(held)]
        split += f"; {holdout_share:.0%} of customers held out of training"
    return f0, f1, y1, split


def _auc_diff_ci(
    y: np.ndarray, risk_m: np.ndarray, risk_sc: np.ndarray, seed: int, n_boot: int
) -> tuple[float, float]:
    """Paired bootstrap 95% interval of the model's AUC minus the scorecard's."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            diffs.append(roc_auc(y[i], risk_m[i]) - roc_auc(y[i], risk_sc[i]))
    if not diffs:
        return (float("nan"), float("nan"))
    return (float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5)))


def _against_truth(
    truth: pd.DataFrame | str | os.PathLike[str] | None,
    g1: pd.DataFrame,
    ev: pd.DataFrame,
    y: np.ndarray,
) -> tuple[int, float | None, float | None, float | None]:
    """Graded rows with a true PD, both scores' Spearman with it, and the true PD's own AUC."""
    if truth is None:
        return 0, None, None, None
    from scipy.stats import spearmanr

    true_pd = _read_truth(truth)
    pd_true = true_pd.reindex(g1["customer_id"].astype(str)).to_numpy()
    ok = ~np.isnan(pd_true)
    rho_sc = float(spearmanr(g1["score_total"].to_numpy()[ok], pd_true[ok]).statistic)
    rho_m = float(spearmanr(g1["pd_model"].to_numpy()[ok], pd_true[ok]).statistic)
    ev_pd = true_pd.reindex(ev["customer_id"].astype(str)).to_numpy()
    auc_pd = roc_auc(y[~np.isnan(ev_pd)], ev_pd[~np.isnan(ev_pd)])
    return int(ok.sum()), rho_sc, rho_m, auc_pd
