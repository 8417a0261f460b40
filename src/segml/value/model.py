"""The value score model that tiers customers: accounting lines plus an xgboost correction.

``score = Σ coefficient × accounting line + trees(features)``

* The **baseline** is current annual profit written as its accounting lines (net interest and
  AUM income + fees − expected credit loss − account, channel and service costs;
  :data:`ACCOUNTING_LINES`): exact and linear, so each line's contribution is
  ``coefficient × (value − portfolio mean)``.
* The **trees** (xgboost via :class:`~segml.clv.supervised.SupervisedCLV`, least absolute
  deviations by default: profit is extremely heavy-tailed) learn the expected change of profit
  over the next year from every non-demographic feature, trained out of time. TreeSHAP splits
  them exactly.

So base value + Σ contributions = the score the tier policy ranks. Monotone constraints keep the
business meaning: by default more deposit or investment balance never lowers the score
(:data:`DEFAULT_MONOTONE`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from segml.boosters import configure, dmatrix, numbers
from segml.clv.supervised import SupervisedCLV
from segml.columns import DEMOGRAPHIC
from segml.explain.result import VALUE_OUTPUT, ModelExplanation, build, concat
from segml.explain.treeshap import ADDITIVITY_TOLERANCE, batch_contributions, check_additivity
from segml.jsonio import JsonModel
from segml.tableinput import TableInput, check_fitted

__all__ = ["ACCOUNTING_LINES", "DEFAULT_MONOTONE", "ValueScoreModel"]

#: Current annual profit = Σ coefficient × line (see ``profit_12m`` in docs/features.md).
ACCOUNTING_LINES: dict[str, float] = {
    "nii_12m": 1.0,
    "fee_income_12m": 1.0,
    "ecl_12m": -1.0,
    "account_cost_12m": -1.0,
    "channel_cost_12m": -1.0,
    "service_cost_12m": -1.0,
}

#: More deposit or investment balance never lowers the value score.
DEFAULT_MONOTONE: dict[str, int] = {
    f"bal_{family}_{kind}": 1
    for family in ("deposit", "investment")
    for kind in ("last", "avg_3m", "avg_12m", "peak_12m")
} | {"aum_last": 1}

MODEL_FORMAT = "segml.explain.ValueScoreModel/1"


class ValueScoreModel(TableInput, JsonModel, BaseEstimator):
    """Next-year customer value: a linear accounting baseline plus boosted trees.

    Parameters
    ----------
    baseline : dict of str to float, optional
        Linear terms ``column → coefficient`` (default :data:`ACCOUNTING_LINES`); ``{}`` for
        none (the trees then model the value itself). Missing values count as 0.
    objective : {"absoluteerror", "squarederror"}
        The trees' loss on ``y − baseline``.
    max_depth, n_estimators, learning_rate, min_child_weight, subsample, colsample_bytree
        xgboost's; ``n_estimators`` is an upper bound (early stopping chooses the rounds).
    monotone : dict of str to int, optional
        Monotone constraints of the trees (default :data:`DEFAULT_MONOTONE`).
    exclude : tuple of str
        Columns never used (default: demographic columns).
    seed, n_jobs : int
    device : {"cpu", "cuda"}, optional
        Where xgboost trains and computes TreeSHAP; None follows :func:`segml.compute.device_default`
        (the run's ``compute.device``), else the CPU.

    Attributes
    ----------
    trees_ : SupervisedCLV
        The fitted trees.
    baseline_means_ : dict of str to float
        Training mean of each baseline column (the reference of their contributions).
    feature_names_ : list of str
        Columns explained: the trees' features plus baseline columns they do not use.
    n_features_in_ : int
        The number of input columns (an array's are named ``x0 … x{n-1}``).
    feature_names_in_ : ndarray of str
        The input columns, when ``fit`` got a DataFrame with text column names.
    """

    JSON_INDENT = None

    def __init__(
        self,
        baseline: dict[str, float] | None = None,
        objective: str = "absoluteerror",
        max_depth: int = 4,
        n_estimators: int = 300,
        learning_rate: float = 0.1,
        min_child_weight: float = 5.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        monotone: dict[str, int] | None = None,
        exclude: tuple[str, ...] = DEMOGRAPHIC,
        seed: int = 0,
        n_jobs: int | None = None,
        device: str | None = None,
    ) -> None:
        self.baseline = baseline
        self.objective = objective
        self.max_depth = max_depth
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.monotone = monotone
        self.exclude = exclude
        self.seed = seed
        self.n_jobs = n_jobs
        self.device = device

    # ------------------------------------------------------------------ pieces
    @property
    def _terms(self) -> dict[str, float]:
        return dict(ACCOUNTING_LINES if self.baseline is None else self.baseline)

    def _lines(self, X: pd.DataFrame) -> np.ndarray:
        """The baseline columns of ``X`` as floats, one column per term (missing: 0)."""
        terms = self._terms
        missing = [c for c in terms if c not in X.columns]
        if missing:
            raise ValueError(
                f"the feature table lacks the value baseline column(s) {missing}; pass "
                "baseline={} to model the value without them"
            )
        lines = numbers(X, list(terms))
        return np.where(np.isnan(lines), 0.0, lines)

    def _linear(self, X: pd.DataFrame, lines: np.ndarray | None = None) -> np.ndarray:
        lines = self._lines(X) if lines is None else lines
        out = np.zeros(len(X))
        for j, coef in enumerate(self._terms.values()):
            out += coef * lines[:, j]
        return out

    def _trees(self) -> SupervisedCLV:
        if self.objective not in ("absoluteerror", "squarederror"):
            raise ValueError(f"objective must be 'absoluteerror' or 'squarederror', got {self.objective!r}")  # fmt: skip
        return SupervisedCLV(
            objective=self.objective,  # type: ignore[arg-type]
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            min_child_weight=self.min_child_weight,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            exclude=tuple(self.exclude),
            seed=self.seed,
            n_jobs=self.n_jobs,
            monotone=DEFAULT_MONOTONE if self.monotone is None else dict(self.monotone),
            device=self.device,
        )

    # ------------------------------------------------------------------ estimator
    def fit(self, X: Any, y: Any) -> ValueScoreModel:
        """Fit on features ``X`` (one row per customer) and next-year values ``y`` (CNY).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The features (an array's columns are named ``x0 … x{n-1}``).
        y : array-like of shape (n_samples,)
            Next-year values.

        Returns
        -------
        ValueScoreModel
            The fitted model.

        Raises
        ------
        ValueError
            Baseline columns missing, misaligned or non-finite ``y``, too few rows.
        """
        X = self._fit_table(X)
        target = np.asarray(y, dtype=float)
        lin = self._linear(X)
        self.trees_ = self._trees().fit(X, target - lin)
        self.baseline_means_ = {
            c: float(pd.to_numeric(X[c], errors="coerce").fillna(0.0).mean()) for c in self._terms
        }
        extra = [c for c in self._terms if c not in self.trees_.feature_names_]
        self.feature_names_ = list(self.trees_.feature_names_) + extra
        self.n_train_ = len(target)
        return self

    def _check(self) -> None:
        check_fitted(self, "trees_", "this ValueScoreModel is not fitted yet: call fit() or load()")  # fmt: skip

    def predict(self, X: Any) -> np.ndarray:
        """The value score (CNY/year) of each row of ``X`` (a DataFrame or an array-like)."""
        self._check()
        X = self._table(X)
        return self._linear(X) + self.trees_.predict(X)

    @property
    def booster(self) -> Any:
        """The xgboost booster of the trees."""
        self._check()
        return self.trees_.boosters_["value"]

    # ------------------------------------------------------------------ explanation
    def iter_explain(
        self,
        X: pd.DataFrame,
        *,
        batch_size: int = 100_000,
        tolerance: float = ADDITIVITY_TOLERANCE,
        id_col: str = "customer_id",
        n_jobs: int | None = None,
    ) -> Iterator[ModelExplanation]:
        """Exact explanations of the score, one :class:`ModelExplanation` per batch of rows.

        Only one batch is encoded and explained at a time, so memory is O(batch_size ×
        features) beyond ``X`` itself. ``n_jobs``: TreeSHAP threads, on a private copy of the
        booster (default: as configured when the model was fitted or loaded: every core, one
        for a few rows). Nothing shared is changed, so many threads may explain at once.

        Raises
        ------
        segml.explain.AdditivityError
            When base value + contributions differ from the score.
        """
        self._check()
        X = self._table(X)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        trees, names, terms = self.trees_, self.feature_names_, self._terms
        n_tree = len(trees.feature_names_)
        where = [names.index(c) for c in terms]
        means = np.array([self.baseline_means_[c] for c in terms])
        mean_term = sum(coef * self.baseline_means_[c] for c, coef in terms.items())
        ids = X[id_col].to_numpy() if id_col in X.columns else np.arange(len(X))
        types = trees.feature_types()
        own = None if n_jobs is None else configure(self.booster.copy(), n_jobs)
        for start in range(0, len(X), batch_size):
            rows = slice(start, min(start + batch_size, len(X)))
            part = X.iloc[rows]
            data = trees.feature_array(part)
            booster = own if own is not None else trees.shared()
            contrib, margin, _ = batch_contributions(
                booster, dmatrix(data, trees.feature_names_, types), tolerance=tolerance,
                what="value trees", data=data,
            )  # fmt: skip
            values = np.zeros((len(contrib), len(names)))
            values[:, :n_tree] = contrib[:, :-1]
            lines = self._lines(part)
            for j, coef in enumerate(terms.values()):
                values[:, where[j]] += coef * (lines[:, j] - means[j])
            score = self._linear(part, lines) + margin
            base = float(contrib[0, -1]) + mean_term if len(contrib) else mean_term
            rep = check_additivity(base, values, score, tolerance, "value score")
            if len(names) > n_tree:
                data = np.column_stack([data, numbers(part, names[n_tree:])])
            yield build(values, base, score, data, names, ids[rows], VALUE_OUTPUT, rep)

    def explain(self, X: pd.DataFrame, **kwargs: Any) -> ModelExplanation:
        """All rows of ``X`` explained at once (see :meth:`iter_explain` for large tables)."""
        return concat(self.iter_explain(X, **kwargs), rows=len(X))

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Parameters and, when fitted, the trees and baseline means."""
        params = self.get_params()
        params["exclude"] = list(self.exclude)
        out: dict[str, Any] = {"format": MODEL_FORMAT, "params": params}
        if hasattr(self, "trees_"):
            out |= {
                "trees": self.trees_.to_dict(),
                "baseline_means": self.baseline_means_,
                "feature_names": self.feature_names_,
                "n_train": self.n_train_,
            }
            if hasattr(self, "n_features_in_") and not hasattr(self, "feature_names_in_"):
                out["n_features_in"] = self.n_features_in_  # fitted on an array: by position
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ValueScoreModel:
        """Rebuild a model written by :meth:`to_dict`."""
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a saved ValueScoreModel (format {doc.get('format')!r})")
        params = dict(doc["params"])
        params["exclude"] = tuple(params["exclude"])
        model = cls(**params)
        if "trees" in doc:
            model.trees_ = SupervisedCLV.from_dict(doc["trees"])
            model.baseline_means_ = {k: float(v) for k, v in doc["baseline_means"].items()}
            model.feature_names_ = list(doc["feature_names"])
            model.n_train_ = int(doc["n_train"])
            if "n_features_in" in doc:
                model.n_features_in_ = int(doc["n_features_in"])
        return model
