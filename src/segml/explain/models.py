"""Explanations of the other models a tier decision uses: churn risk, segments, corporate grades.

* **Churn** (:func:`explain_churn`): TreeSHAP of the :class:`~segml.churn.model.ChurnModel`'s
  trees in log-odds (their raw output). Encoded columns (a text column's frequency and target
  encodings) are summed back onto the column they came from, which keeps the sum exact. The
  calibrated probability the retention rule compares with the playbook threshold is a monotone
  map of that log-odds, so the drivers of the log-odds are the drivers of the risk.
* **Segments** (:func:`fit_segment_surrogate`, :func:`explain_segments`): clustering has no
  additive score, so a surrogate learns the cluster labels from the behavioural features: one
  xgboost classifier per segment (one against the rest), the predicted segment being the one
  with the highest log-odds. Its fidelity (agreement with the clusters on held-out customers)
  says how far its explanations can be trusted. Each customer is explained by the log-odds of
  the customer's own segment — one model per customer, not one per segment, so explaining costs
  the same whatever the number of segments.
* **Grades** (:func:`explain_grades`): the scorecard is additive already; each dimension's
  contribution is weight × (sub-score − portfolio mean sub-score).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from segml.boosters import (
    SharedBooster,
    coded_array,
    dmatrix,
    frame_dmatrix,
    train,
    tree_params,
)
from segml.churn.model import ChurnModel
from segml.columns import is_numeric
from segml.explain.result import (
    CHURN_OUTPUT,
    GRADE_OUTPUT,
    ModelExplanation,
    OutputSpec,
    build,
    numeric_data,
)
from segml.explain.treeshap import (
    ADDITIVITY_TOLERANCE,
    batch_contributions,
    check_additivity,
    iter_contributions,
)
from segml.grades.scorecard import Scorecard

__all__ = [
    "SegmentSurrogate",
    "explain_churn",
    "explain_grades",
    "explain_segments",
    "fit_segment_surrogate",
    "source_column",
]

_ENCODED = ("__freq", "__target")


def source_column(encoded: str) -> str:
    """The input column an encoded column came from (``city__freq`` → ``city``)."""
    for suffix in _ENCODED:
        if encoded.endswith(suffix):
            return encoded[: -len(suffix)]
    return encoded


def _fold(values: np.ndarray, columns: list[str]) -> tuple[np.ndarray, list[str]]:
    """Sum contribution columns that share a source column."""
    sources: list[str] = []
    for c in map(source_column, columns):
        if c not in sources:
            sources.append(c)
    index = {s: i for i, s in enumerate(sources)}
    out = np.zeros((values.shape[0], len(sources)))
    for j, c in enumerate(columns):
        out[:, index[source_column(c)]] += values[:, j]
    return out, sources


def _ids(X: pd.DataFrame, id_col: str) -> np.ndarray:
    return X[id_col].to_numpy() if id_col in X.columns else np.arange(len(X))


def _data(X: pd.DataFrame, names: list[str]) -> np.ndarray:
    """``numeric_data`` of ``X[names]`` with its text columns as categories, filled column by
    column (no copy of the table on the way: at 1M customers it would be ~0.5 GB twice)."""
    out = np.empty((len(X), len(names)))
    for j, c in enumerate(names):
        s = X[c]
        out[:, j] = numeric_data(pd.DataFrame({c: s if is_numeric(s) else s.astype("category")}))[:, 0]  # fmt: skip
    return out


def explain_churn(
    model: ChurnModel,
    X: pd.DataFrame,
    *,
    batch_size: int = 100_000,
    tolerance: float = ADDITIVITY_TOLERANCE,
    id_col: str = "customer_id",
) -> ModelExplanation:
    """Exact contributions to the churn model's log-odds for every row of ``X``.

    Raises
    ------
    segml.explain.AdditivityError
        When the contributions do not add up to the log-odds.
    """
    encoder = model.encoder_
    columns = list(encoder.columns_)
    values, score, names, base, rep = np.empty((0, 0)), np.empty(len(X)), [], 0.0, None
    for rows, contrib, margin, r in iter_contributions(
        model.booster_,
        X,
        transform=encoder.transform,
        batch_size=batch_size,
        iteration_range=(0, model.best_iteration_ + 1),
        tolerance=tolerance,
        what="churn model",
    ):
        folded, names = _fold(contrib[:, :-1], columns)  # batch by batch: never all at once
        if rep is None:
            values, base = np.empty((len(X), folded.shape[1])), float(contrib[0, -1])
        values[rows], score[rows] = folded, margin
        rep = r if rep is None else rep.merge(r)
    if rep is None:
        raise ValueError("no rows to explain")
    return build(values, base, score, _data(X, names), names, _ids(X, id_col), CHURN_OUTPUT, rep)  # fmt: skip


# ----------------------------------------------------------------------------- segments
@dataclass
class SegmentSurrogate:
    """An xgboost classifier that imitates a segmentation, and how faithfully.

    Attributes
    ----------
    boosters : list of xgboost.Booster
        One binary classifier per segment (that segment against the rest), in segment order.
    segments : list of str
        Segment labels in class order.
    feature_names : list of str
    categories : dict of str to list of str
        Categories of the categorical features.
    fidelity : float
        Share of held-out customers whose predicted segment is their cluster.
    fidelity_train : float
        The same on the customers it was fitted on.
    n_fit, n_holdout : int
    """

    boosters: list[xgb.Booster]
    segments: list[str]
    feature_names: list[str]
    categories: dict[str, list[str]]
    fidelity: float
    fidelity_train: float
    n_fit: int
    n_holdout: int

    def matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        """The surrogate's input columns of ``X`` (categoricals with the fitted categories)."""
        missing = [c for c in self.feature_names if c not in X.columns]
        if missing:
            raise ValueError(f"the table lacks the surrogate's column(s) {missing}")
        cols: dict[str, Any] = {}
        for c in self.feature_names:
            if c in self.categories:
                cols[c] = pd.Categorical(X[c].astype("string"), categories=self.categories[c])
            else:
                cols[c] = pd.to_numeric(X[c], errors="coerce").astype(float).to_numpy()
        return pd.DataFrame(cols, index=X.index)

    def __post_init__(self) -> None:
        self.share()

    def share(self) -> None:
        """Configure the boosters for prediction from many threads, once (fit, load)."""
        for i, b in enumerate(self.boosters):
            SharedBooster.of(self, b, None, str(i), self.feature_names)

    def array(self, X: pd.DataFrame) -> np.ndarray:
        """:meth:`matrix` as a float array (categoricals as codes, unknown or missing: NaN)."""
        lacks = "the table lacks the surrogate's column(s)"
        return coded_array(X, self.feature_names, self.categories, lacks)

    def margins(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of each segment (columns in :attr:`segments` order) for each row."""
        types = ["c" if c in self.categories else "q" for c in self.feature_names]
        d = dmatrix(self.array(X), self.feature_names, types)
        shared = [SharedBooster.of(self, b, None, str(i), self.feature_names) for i, b in enumerate(self.boosters)]  # fmt: skip
        return np.column_stack([s.predict(d, output_margin=True) for s in shared])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted segment label of each row (the highest log-odds)."""
        return np.asarray(self.segments, dtype=object)[self.margins(X).argmax(axis=1)]

    def summary(self) -> dict[str, Any]:
        """Fidelity and sizes, as plain values."""
        return {
            "segments": self.segments,
            "features": self.feature_names,
            "fidelity": self.fidelity,
            "fidelity_train": self.fidelity_train,
            "n_fit": self.n_fit,
            "n_holdout": self.n_holdout,
        }


def fit_segment_surrogate(
    X: pd.DataFrame,
    segments: np.ndarray | pd.Series,
    columns: list[str],
    *,
    holdout_share: float = 0.25,
    max_depth: int = 3,
    n_estimators: int = 100,
    seed: int = 0,
    n_jobs: int | None = None,
) -> SegmentSurrogate:
    """Fit a surrogate classifier of the segment labels and measure its fidelity.

    Parameters
    ----------
    X : DataFrame
        The segmented customers' features.
    segments : array-like
        Their segment labels.
    columns : list of str
        Features to explain with (e.g. those the segmentation used).
    holdout_share : float
        Seeded share of customers kept out of fitting to measure fidelity.
    """
    labels = pd.Series(np.asarray(segments)).astype(str).to_numpy()
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError(f"a surrogate needs at least 2 segments, got {classes}")
    cols = [c for c in columns if c in X.columns]
    if not cols:
        raise ValueError(f"none of the surrogate columns {columns[:5]}… is in the table")
    cats = {c: sorted(map(str, X[c].dropna().unique())) for c in cols if not is_numeric(X[c])}
    sur = SegmentSurrogate([], classes, cols, cats, np.nan, np.nan, 0, 0)
    M = sur.matrix(X)
    y = np.searchsorted(classes, labels)
    rng = np.random.default_rng(seed)
    hold = np.zeros(len(y), dtype=bool)
    hold[rng.choice(len(y), size=int(round(holdout_share * len(y))), replace=False)] = True
    params = tree_params(
        "binary:logistic", seed=seed, n_jobs=n_jobs, max_depth=max_depth, eta=0.2, subsample=0.8,
        colsample_bytree=0.8, min_child_weight=2.0, max_cat_to_onehot=8,
    )  # fmt: skip
    for c in range(len(classes)):
        d = frame_dmatrix(M[~hold], (y[~hold] == c).astype(float))
        sur.boosters.append(train(params, d, n_estimators))
    sur.share()
    pred = sur.margins(X).argmax(axis=1)
    sur.fidelity = float(np.mean(pred[hold] == y[hold])) if hold.any() else np.nan
    sur.fidelity_train = float(np.mean(pred[~hold] == y[~hold]))
    sur.n_fit, sur.n_holdout = int((~hold).sum()), int(hold.sum())
    return sur


def explain_segments(
    surrogate: SegmentSurrogate,
    X: pd.DataFrame,
    segments: np.ndarray | pd.Series,
    *,
    tolerance: float = ADDITIVITY_TOLERANCE,
    id_col: str = "customer_id",
) -> ModelExplanation:
    """Each customer's contributions to the surrogate's log-odds of the customer's own segment."""
    labels = pd.Series(np.asarray(segments)).astype(str).to_numpy()
    unknown = sorted(set(labels) - set(surrogate.segments))
    if unknown:
        raise ValueError(f"segments {unknown} were not seen by the surrogate")
    cls = np.searchsorted(surrogate.segments, labels)
    M = surrogate.matrix(X)
    own = np.zeros((len(labels), len(surrogate.feature_names) + 1))
    score = np.zeros(len(labels))
    rep = None
    for c, booster in enumerate(surrogate.boosters):
        rows = np.flatnonzero(cls == c)
        if not len(rows):
            continue
        contrib, margin, r = batch_contributions(
            booster, M.iloc[rows], tolerance=tolerance, what="segment surrogate"
        )
        own[rows], score[rows] = contrib, margin
        rep = r if rep is None else rep.merge(r)
    assert rep is not None
    # base values differ by class; report each customer against its own segment's base
    exp = build(own[:, :-1], 0.0, score, _data(X, surrogate.feature_names),
                surrogate.feature_names, _ids(X, id_col),
                OutputSpec("segment_margin", "segment log-odds", "log-odds"), rep)  # fmt: skip
    exp.base_values = own[:, -1]
    return exp


# ----------------------------------------------------------------------------- grades
def explain_grades(grades: pd.DataFrame, scorecard: Scorecard) -> ModelExplanation:
    """Dimension contributions to each corporate client's total grade score.

    ``contribution_d = weight_d × (score_d − mean score_d)``; base value = Σ weight_d × mean
    score_d, so base + Σ contributions = ``score_total`` (checked).

    Parameters
    ----------
    grades : DataFrame
        :func:`segml.grades.grade_corporates` output.
    scorecard : Scorecard
        The scorecard that graded them.
    """
    dims = list(scorecard.dimensions)
    names = [d.name for d in dims]
    cols = [f"score_{n}" for n in names]
    missing = [c for c in (*cols, "score_total") if c not in grades.columns]
    if missing:
        raise ValueError(f"the grade table lacks column(s) {missing}")
    sub = grades[cols].to_numpy(dtype=float)
    w = np.array([d.weight for d in dims])
    mean = sub.mean(axis=0) if len(sub) else np.zeros(len(dims))
    values = (sub - mean) * w
    base = float((w * mean).sum())
    score = grades["score_total"].to_numpy(dtype=float)
    rep = check_additivity(base, values, score, ADDITIVITY_TOLERANCE, "grade scorecard")
    labels = [d.label for d in dims]
    spec = GRADE_OUTPUT
    return build(values, base, score, sub, labels, grades["customer_id"].to_numpy(), spec, rep)
