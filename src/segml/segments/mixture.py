"""A latent-class mixture for mixed customer data: Gaussian and Bernoulli columns, gaps allowed.

Customer tables mix continuous measures (balances, counts, shares) with 0/1 flags (products
held, one-hot categories, missing indicators). A Gaussian mixture treats a flag as a continuous
value with a point mass, which lets components collapse onto exact values; k-means weighs every
column by its spread. :class:`MixedMixture` models each column with its own family inside each
component (local independence, as in latent class analysis):

* continuous columns: a normal distribution with its own mean and variance per component;
* binary columns (only 0 and one other value): a Bernoulli probability per component;
* missing entries (NaN) are left out of the likelihood, so a share that is undefined for a
  customer without transactions does not pretend to be the median.

It is fitted by expectation-maximisation from several k-means starts and keeps the start with
the highest likelihood.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_is_fitted, validate_data

LOG_2PI = float(np.log(2 * np.pi))
#: Rows of the k-means fit that starts each EM run (all rows are then assigned).
INIT_ROWS = 4000


def binary_columns(X: np.ndarray) -> np.ndarray:
    """Boolean mask of the columns whose non-missing values are 0 and at most one other value."""
    out = np.zeros(X.shape[1], dtype=bool)
    for j in range(X.shape[1]):
        values = np.unique(X[~np.isnan(X[:, j]), j])
        out[j] = len(values) <= 2 and (len(values) < 2 or values[0] == 0)
    return out


class MixedMixture(ClusterMixin, BaseEstimator):
    """Mixture of products of normal and Bernoulli distributions, fitted by EM.

    Parameters
    ----------
    n_components : int, default 8
        Number of mixture components (segments).
    n_init : int, default 4
        Number of k-means starts; the fit with the highest likelihood is kept.
    max_iter : int, default 300
        EM iterations per start.
    tol : float, default 1e-5
        Stop when the mean log-likelihood per row improves by less than this.
    var_floor : float, default 1e-2
        Lower bound on every component variance (the columns are expected to be standardised).
    prob_floor : float, default 1e-3
        Bernoulli probabilities are kept within ``[prob_floor, 1 - prob_floor]``.
    random_state : int or None, default 0
        Seed of the k-means starts.

    Attributes
    ----------
    n_features_in_ : int
        Number of input columns.
    binary_ : ndarray of bool
        Which columns are modelled as Bernoulli.
    weights_ : ndarray of shape (n_components,)
        Mixing proportions.
    means_, variances_ : ndarray of shape (n_components, n_continuous)
        Normal parameters of the continuous columns.
    probs_ : ndarray of shape (n_components, n_binary)
        Probability that each binary column is non-zero.
    lower_bound_ : float
        Mean log-likelihood per row of the kept fit.
    converged_ : bool
        Whether the kept fit converged before ``max_iter``.
    n_iter_ : int
        EM iterations of the kept fit.
    labels_ : ndarray of shape (n_rows,)
        Most likely component of each training row.
    """

    def __init__(
        self,
        n_components: int = 8,
        n_init: int = 4,
        max_iter: int = 300,
        tol: float = 1e-5,
        var_floor: float = 1e-2,
        prob_floor: float = 1e-3,
        random_state: int | None = 0,
    ) -> None:
        self.n_components = n_components
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.var_floor = var_floor
        self.prob_floor = prob_floor
        self.random_state = random_state

    # ------------------------------------------------------------------ internals
    def _split(self, X: np.ndarray) -> np.ndarray:
        """The design of the likelihood: ``[MC, C, C², B, MB]`` side by side, where ``C`` holds
        the continuous values (0 where missing), ``B`` the binary ones as 0/1 and ``MC``, ``MB``
        mark the observed entries. One matrix product with it gives every sufficient statistic
        (M-step) and every row's log-likelihood (E-step)."""
        C = X[:, ~self.binary_]
        B = X[:, self.binary_]
        mc, mb = ~np.isnan(C), ~np.isnan(B)
        C = np.where(mc, C, 0.0)
        return np.hstack([mc, C, C * C, np.where(mb, B != 0, 0.0), mb], dtype=float)

    def _log_joint(self, P: np.ndarray) -> np.ndarray:
        inv = 1.0 / self.variances_
        log_q = np.log1p(-self.probs_)
        W = np.vstack([
            -0.5 * (np.log(self.variances_) + LOG_2PI + self.means_**2 * inv).T,
            (self.means_ * inv).T,
            -0.5 * inv.T,
            (np.log(self.probs_) - log_q).T,
            log_q.T,
        ])  # fmt: skip
        return P @ W + np.log(self.weights_)

    def _m_step(self, P: np.ndarray, R: np.ndarray) -> None:
        c = int((~self.binary_).sum())
        S = R.T @ P  # (k, 3c + 2b): every weighted sum at once
        MC, C, C2, B, MB = np.split(S, [c, 2 * c, 3 * c, 3 * c + (S.shape[1] - 3 * c) // 2], axis=1)
        self.weights_ = np.maximum(R.mean(axis=0), 1e-12)
        nc = MC + 1e-10
        self.means_ = C / nc
        self.variances_ = np.maximum(C2 / nc - self.means_**2, self.var_floor)
        self.probs_ = np.clip(B / (MB + 1e-10), self.prob_floor, 1 - self.prob_floor)

    @staticmethod
    def _posterior(lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's log-likelihood and its component posteriors from the log joint (one
        ``exp`` of the matrix: the log-sum-exp and the posteriors share it)."""
        top = lp.max(axis=1, keepdims=True)
        E = np.subtract(lp, top, out=lp)  # lp is the caller's fresh array: reused in place
        np.exp(E, out=E)
        total = E.sum(axis=1, keepdims=True)
        ll = (top + np.log(total))[:, 0]
        return ll, np.divide(E, total, out=E)

    def _check(self, X: Any, fitting: bool = False) -> np.ndarray:
        return validate_data(self, X, reset=fitting, dtype=float, ensure_all_finite="allow-nan")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------------ sklearn API
    def fit(self, X: Any, y: Any = None) -> MixedMixture:
        """Fit the mixture by EM from ``n_init`` k-means starts.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_columns)
            Standardised continuous columns and 0/1 columns; NaN marks a missing entry.
        y : ignored

        Returns
        -------
        MixedMixture
            The fitted estimator.
        """
        X = self._check(X, fitting=True)
        n = X.shape[0]
        if n < self.n_components:
            raise ValueError(f"{n} rows cannot make {self.n_components} components")
        self.binary_ = binary_columns(X)
        parts = self._split(X)
        start = np.nan_to_num(X, nan=0.0)
        rng = np.random.default_rng(self.random_state)
        best: tuple[float, dict[str, Any]] | None = None
        for _ in range(max(1, self.n_init)):
            seed = int(rng.integers(2**31 - 1))
            rows = rng.choice(n, size=min(n, INIT_ROWS), replace=False)
            km = KMeans(self.n_components, n_init=1, max_iter=50, random_state=seed)
            labels = km.fit(start[rows]).predict(start)
            R = np.eye(self.n_components)[labels]
            previous, converged, it = -np.inf, False, 0
            while it < self.max_iter:
                it += 1
                self._m_step(parts, R)
                ll, R = self._posterior(self._log_joint(parts))
                bound = float(ll.mean())
                if bound - previous < self.tol:
                    converged = True
                    break
                previous = bound
            if best is None or bound > best[0]:
                state = {
                    "weights_": self.weights_,
                    "means_": self.means_,
                    "variances_": self.variances_,
                    "probs_": self.probs_,
                    "converged_": converged,
                    "n_iter_": it,
                }
                best = (bound, state)
        assert best is not None
        self.lower_bound_ = best[0]
        for key, value in best[1].items():
            setattr(self, key, value)
        self.labels_ = self._log_joint(parts).argmax(axis=1)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each component for each row."""
        check_is_fitted(self, "weights_")
        return self._posterior(self._log_joint(self._split(self._check(X))))[1]

    def predict(self, X: Any) -> np.ndarray:
        """Most likely component of each row."""
        check_is_fitted(self, "weights_")
        return self._log_joint(self._split(self._check(X))).argmax(axis=1)

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of each row."""
        check_is_fitted(self, "weights_")
        return self._posterior(self._log_joint(self._split(self._check(X))))[0]

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood per row."""
        return float(self.score_samples(X).mean())

    def n_parameters(self) -> int:
        """Free parameters: weights, a mean and variance per continuous column, a probability per
        binary column, for each component."""
        check_is_fitted(self, "weights_")
        n_cont = int((~self.binary_).sum())
        n_bin = int(self.binary_.sum())
        return self.n_components - 1 + self.n_components * (2 * n_cont + n_bin)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on ``X`` (lower is better)."""
        X = self._check(X)
        return -2 * self.score(X) * X.shape[0] + self.n_parameters() * np.log(X.shape[0])

    def aic(self, X: Any) -> float:
        """Akaike information criterion on ``X`` (lower is better)."""
        X = self._check(X)
        return -2 * self.score(X) * X.shape[0] + 2 * self.n_parameters()
