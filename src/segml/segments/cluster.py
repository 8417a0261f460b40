"""Clustering with the number of segments chosen from the data.

:class:`AutoKCluster` fits k-means, a Gaussian mixture or a :class:`MixedMixture` for every
candidate k and reports, per k, the silhouette (on a sample), the BIC (mixtures), the inertia
(k-means) and the bootstrap stability: the mean adjusted Rand index between the clusterings of
``n_bootstrap`` resamples, each predicted on the same common points. :func:`select_k` documents
the rule; :func:`make_segmenter` chains it after :class:`CustomerPreprocessor`.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data

from segml.compute import sample_rows, thread_map
from segml.progress import note, step, track
from segml.segments.kselect import KRules, select_k, select_k_lazily
from segml.segments.mixture import MixedMixture
from segml.segments.preprocess import CustomerPreprocessor

Method = Literal["kmeans", "gmm", "mixed"]
METHODS: tuple[str, ...] = ("kmeans", "gmm", "mixed")


def base_estimator(method: str, k: int, seed: int, n_init: int, covariance_type: str) -> Any:
    """An unfitted k-means, Gaussian mixture or mixed mixture with ``k`` segments."""
    if method == "kmeans":
        return KMeans(k, n_init=n_init, random_state=seed)
    if method == "gmm":
        return GaussianMixture(
            k, covariance_type=covariance_type, n_init=n_init, reg_covar=1e-3, random_state=seed
        )
    if method == "mixed":
        return MixedMixture(k, n_init=n_init, random_state=seed)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


class AutoKCluster(ClusterMixin, BaseEstimator):
    """k-means, Gaussian or mixed mixture with k chosen by stability, silhouette and BIC.

    Parameters
    ----------
    method : {"kmeans", "gmm", "mixed"}, default "mixed"
        The clustering model.
    k : "auto" or int, default "auto"
        Number of segments, or ``"auto"`` to choose it over ``k_range`` with :func:`select_k`.
    k_range : tuple of int, default (2, 10)
        Smallest and largest candidate k (inclusive).
    n_bootstrap : int, default 4
        Resamples per candidate for the stability score (0 skips it).
    sample_size : int, default 4000
        Rows used for the silhouette, for each resample and as the common points.
    min_stability : float, default 0.75
        Stability a candidate needs to be eligible (see :func:`select_k`).
    n_init : int, default 4
        Starts per fit.
    covariance_type : str, default "diag"
        Covariance of the Gaussian mixture.
    random_state : int, default 0
        Seed: the same seed and data give the same segments.
    fit_size : int, optional
        Fit every candidate on a seeded sample of this many rows when there are more (the
        scores, BIC included, are then those of the sample); the chosen model assigns every
        row. None: fit on all rows.
    k_rule : {"elbow", "bic"}, default "elbow"
        How a mixture chooses among the stable k (see :func:`select_k`).
    all_stability : bool, default False
        Compute the bootstrap stability of every candidate. By default only the candidates
        the rule has to look at are measured (:func:`segml.segments.kselect.select_k_lazily`:
        the same choice, a fraction of the refits); the others keep NaN in ``scores_``.

    Attributes
    ----------
    k_ : int
        Chosen number of segments.
    scores_ : DataFrame
        Per candidate k: ``k``, ``silhouette``, ``bic``, ``inertia``, ``stability``,
        ``stability_std`` (NaN where not measured) and ``selected``.
    estimator_ : estimator
        The model fitted with ``k_`` segments (on all rows, or on the ``fit_size`` sample).
    fit_rows_ : int
        Rows the candidates were fitted on.
    labels_ : ndarray of int
        Segment of each training row; segments are numbered by size, 0 the largest.
    relabel_ : ndarray of int
        Map from the model's component number to the segment number.
    n_features_in_ : int
        Number of input columns.
    """

    def __init__(
        self,
        method: Method = "mixed",
        k: int | Literal["auto"] = "auto",
        k_range: tuple[int, int] = (2, 10),
        n_bootstrap: int = 4,
        sample_size: int = 4000,
        min_stability: float = 0.75,
        n_init: int = 4,
        covariance_type: str = "diag",
        random_state: int = 0,
        fit_size: int | None = None,
        k_rule: KRules = "elbow",
        all_stability: bool = False,
    ) -> None:
        self.method = method
        self.k = k
        self.k_range = k_range
        self.n_bootstrap = n_bootstrap
        self.sample_size = sample_size
        self.min_stability = min_stability
        self.n_init = n_init
        self.covariance_type = covariance_type
        self.random_state = random_state
        self.fit_size = fit_size
        self.k_rule = k_rule
        self.all_stability = all_stability

    def _candidates(self, n: int) -> list[int]:
        if self.k != "auto":
            if not isinstance(self.k, int | np.integer) or not 1 <= self.k <= n:
                raise ValueError(f"k must be 'auto' or an integer from 1 to {n}, got {self.k!r}")
            return [int(self.k)]
        lo, hi = int(self.k_range[0]), int(self.k_range[1])
        if lo < 2 or hi < lo:
            raise ValueError(f"k_range must be (lo, hi) with 2 <= lo <= hi, got {self.k_range}")
        ks = [k for k in range(lo, hi + 1) if k < n]
        if not ks:
            raise ValueError(f"{n} rows are too few for k in {self.k_range}")
        return ks

    def _make(self, k: int, seed: int) -> Any:
        return base_estimator(self.method, k, seed, self.n_init, self.covariance_type)

    def _stability(self, X: np.ndarray, k: int, common: np.ndarray) -> tuple[float, float]:
        rng = np.random.default_rng([self.random_state, k])
        m = min(len(X), self.sample_size)
        draws = [rng.choice(len(X), size=m, replace=True) for _ in range(self.n_bootstrap)]

        def refit(b: int) -> np.ndarray:
            model = self._make(k, seed=self.random_state + 1000 * (b + 1)).fit(X[draws[b]])
            return model.predict(X[common])

        predictions = list(thread_map(refit, range(self.n_bootstrap)))
        aris = [adjusted_rand_score(a, b) for a, b in combinations(predictions, 2)]
        return float(np.mean(aris)), float(np.std(aris))

    def _score(
        self, X: np.ndarray, k: int, common: np.ndarray, dense: np.ndarray, fitted: dict
    ) -> dict[str, Any]:
        """Fit candidate ``k`` (kept in ``fitted``) and score it, stability aside."""
        model = self._make(k, self.random_state).fit(X)
        labels = model.predict(X)
        fitted[k] = (model, labels)
        n_labels = len(np.unique(labels[common]))
        sil = (
            float(silhouette_score(dense, labels[common])) if 1 < n_labels < len(common) else np.nan
        )
        return {
            "k": k,
            "silhouette": sil,
            "bic": float(model.bic(X)) if hasattr(model, "bic") else np.nan,
            "inertia": float(getattr(model, "inertia_", np.nan)),
        }

    def _choose(self, X: np.ndarray, scores: pd.DataFrame, common: np.ndarray) -> int:
        """Measure the stability the choice needs (every candidate's with ``all_stability``; a
        given k's always), record it in ``scores`` and return the chosen k."""
        measurable = self.n_bootstrap >= 2

        def stability(k: int) -> tuple[float, float]:
            if not measurable or k <= 1:
                return (np.nan, np.nan)
            with step("stability", f"k={k}, {self.n_bootstrap} resamples"):
                return self._stability(X, k, common)

        if len(scores) == 1:  # a given k: its stability is the one quality check it gets
            k = int(scores["k"].iloc[0])
            measured = {k: stability(k)}
        elif self.all_stability:
            measured = {int(k): stability(int(k)) for k in scores["k"]}
            full = scores.assign(stability=[measured[int(k)][0] for k in scores["k"]])
            k = select_k(full, self.method, self.min_stability, self.k_rule)
        else:
            k, measured = select_k_lazily(
                scores, self.method, self.min_stability, stability, self.k_rule
            )
        none = (np.nan, np.nan)
        scores["stability"] = [measured.get(int(c), none)[0] for c in scores["k"]]
        scores["stability_std"] = [measured.get(int(c), none)[1] for c in scores["k"]]
        return k

    def fit(self, X: Any, y: Any = None) -> AutoKCluster:
        """Fit every candidate k, score it and keep the chosen one.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Encoded customers (e.g. from :class:`CustomerPreprocessor`); NaN is allowed only
            for ``method="mixed"``.
        y : ignored

        Returns
        -------
        AutoKCluster
            The fitted estimator.
        """
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        X = validate_data(
            self, X, dtype=float, ensure_all_finite=self._finite(), ensure_min_samples=2
        )
        full = X
        keep = sample_rows(len(X), self.fit_size, self.random_state)
        if keep is not None:
            X = X[keep]
        self.fit_rows_ = len(X)
        rng = np.random.default_rng(self.random_state)
        common = np.sort(rng.choice(len(X), size=min(len(X), self.sample_size), replace=False))
        dense = np.nan_to_num(X[common], nan=0.0)
        fitted: dict[int, Any] = {}
        ks = self._candidates(len(X))
        with step("fitting", _fit_detail(ks, len(X))):  # the candidates side by side
            fits = thread_map(lambda k: self._score(X, k, common, dense, fitted), ks)
            rows = []
            for i, row in enumerate(track(fits, "segment models (k)", total=len(ks)), 1):
                rows.append(row)
                if len(ks) > 1:
                    note(f"k={row['k']} fitted ({i}/{len(ks)} of k={ks[0]}..{ks[-1]})")
        scores = pd.DataFrame(rows)
        self.k_ = self._choose(X, scores, common)
        scores["selected"] = scores["k"] == self.k_
        self.scores_ = scores
        self.estimator_, raw = fitted[self.k_]
        if keep is not None:  # the chosen model assigns every row
            raw = self.estimator_.predict(full)
        sizes = np.bincount(raw, minlength=self.k_)
        order = np.lexsort((np.arange(self.k_), -sizes))
        self.relabel_ = np.empty(self.k_, dtype=int)
        self.relabel_[order] = np.arange(self.k_)
        self.labels_ = self.relabel_[raw]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Segment of each row (numbered as in ``labels_``)."""
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, reset=False, dtype=float, ensure_all_finite=self._finite())
        return self.relabel_[self.estimator_.predict(X)]

    def _finite(self) -> bool | str:
        return "allow-nan" if self.method == "mixed" else True

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.method == "mixed"
        return tags


def _fit_detail(ks: list[int], n_rows: int) -> str:
    """What the fitting step says: ``k=2..10, 9 candidates, 9,000 rows``."""
    if len(ks) == 1:
        return f"k={ks[0]}, {n_rows:,} rows"
    return f"k={ks[0]}..{ks[-1]}, {len(ks)} candidates, {n_rows:,} rows"


def make_segmenter(
    method: Method = "mixed",
    k: int | Literal["auto"] = "auto",
    exclude: tuple[str, ...] | list[str] = (),
    random_state: int = 0,
    preprocess: dict[str, Any] | None = None,
    **cluster: Any,
) -> Pipeline:
    """A pipeline ``CustomerPreprocessor -> AutoKCluster`` set up for ``method``.

    For ``method="mixed"`` the preprocessor leaves missing values as NaN and splits
    zero-inflated columns into a non-zero flag and the non-zero values (``impute=False``,
    ``zero_share=0.2``); for k-means and the Gaussian mixture it imputes.

    Parameters
    ----------
    method : {"kmeans", "gmm", "mixed"}, default "mixed"
    k : "auto" or int, default "auto"
    exclude : sequence of str
        Columns never used.
    random_state : int, default 0
    preprocess : dict, optional
        Further :class:`CustomerPreprocessor` parameters (override the defaults above).
    **cluster
        Further :class:`AutoKCluster` parameters (``k_range``, ``n_bootstrap`` ...).

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``"prep"`` and ``"cluster"``; ``fit_predict`` gives the segments.
    """
    options: dict[str, Any] = (
        {"impute": False, "zero_share": 0.2} if method == "mixed" else {"impute": True}
    )
    options.update(preprocess or {})
    prep = CustomerPreprocessor(exclude=tuple(exclude), **options)
    model = AutoKCluster(method=method, k=k, random_state=random_state, **cluster)
    return Pipeline([("prep", prep), ("cluster", clone(model))])
