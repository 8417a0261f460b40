"""Supervised CLV: xgboost predicting the value of the next window from point-in-time features.

Out of time, never on the holdout: features at ``t0 = t − h`` and the value of ``(t0, t]`` train
the model; it then predicts from the features at ``t`` the value of ``(t, t + h]``, which is the
holdout. :class:`SupervisedCLV` offers three objectives:

* ``"tweedie"`` — one model with a Tweedie deviance (log link, compound Poisson-Gamma): many
  exact zeros and a long right tail, as customer spend has;
* ``"hurdle"`` — P(value > 0) (logistic) times E[value | value > 0] (Gamma deviance, log link;
  the amount is capped at the largest positive value of the training window, ``amount_cap_``:
  a log link extrapolates exponentially, and uncapped it predicted a total spend 8,600 times
  the actual one on the demo bank);
* ``"squarederror"``, ``"absoluteerror"`` — least squares or least absolute deviations (the
  median), which accept negative targets (profit).

``baseline`` names a feature column to start from (e.g. the current annual profit): the model
then learns corrections to it (target minus baseline), which helps when the value persists.

Categorical columns are passed to xgboost as categories (fixed at fit); demographic columns are
left out by default, as elsewhere in segml.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.base import BaseEstimator

from segml.boosters import (
    SharedBooster,
    booster_from_json,
    booster_to_json,
    coded_array,
    dmatrix,
    frame_dmatrix,
    train,
    tree_params,
)
from segml.columns import DEMOGRAPHIC, is_numeric
from segml.jsonio import JsonModel
from segml.tableinput import TableInput, check_fitted

__all__ = ["OBJECTIVES", "SupervisedCLV"]

Objective = Literal["tweedie", "hurdle", "squarederror", "absoluteerror"]
OBJECTIVES: tuple[str, ...] = ("tweedie", "hurdle", "squarederror", "absoluteerror")
_XGB = {"squarederror": "reg:squarederror", "absoluteerror": "reg:absoluteerror",
        "tweedie": "reg:tweedie"}  # fmt: skip
MODEL_FORMAT = "segml.clv.SupervisedCLV/1"
_NON_FEATURES = ("customer_id",)


class SupervisedCLV(TableInput, JsonModel, BaseEstimator):
    """Gradient-boosted model of next-window customer value.

    Parameters
    ----------
    objective : {"tweedie", "hurdle", "squarederror", "absoluteerror"}
        See the module docstring.
    baseline : str, optional
        Feature column the prediction starts from (``squarederror``/``absoluteerror`` only);
        missing values count as 0.
    tweedie_variance_power : float
        Tweedie power in (1, 2).
    n_estimators : int
        Upper bound on boosting rounds; the number used is chosen by early stopping on a
        seeded ``validation_share`` of the training rows, then the model is refitted on all.
    learning_rate, max_depth, min_child_weight, subsample, colsample_bytree : float, int
        xgboost's.
    validation_share : float
        Share of training rows held out to choose the number of rounds.
    exclude : tuple of str
        Columns never used (default: the demographic columns).
    seed : int
        Seed of the split and of xgboost (same seed, same model).
    n_jobs : int, optional
        xgboost threads (default: every core; the model does not depend on it).
    monotone : dict of str to int, optional
        Monotone constraints by numeric feature column (+1: the prediction never falls when
        the column rises, -1: never rises); columns absent from the features are ignored.
    device : {"cpu", "cuda"}, optional
        Where xgboost trains and predicts; None follows :func:`segml.compute.device_default`
        (the run's ``compute.device``), else the CPU.

    Attributes
    ----------
    feature_names_ : list of str
    categories_ : dict of str to list
        Categories of each categorical column.
    n_rounds_ : dict of str to int
        Rounds chosen per booster (``"value"``, or ``"positive"`` and ``"amount"``).
    boosters_ : dict of str to xgboost.Booster
    amount_cap_ : float
        Hurdle only: the largest positive training value; predicted amounts are capped at it.
    n_features_in_ : int
        The number of input columns (an array's are named ``x0 … x{n-1}``).
    feature_names_in_ : ndarray of str
        The input columns, when ``fit`` got a DataFrame with text column names.
    """

    JSON_INDENT = None  # boosters: one compact line

    def __init__(
        self,
        objective: Objective = "tweedie",
        baseline: str | None = None,
        tweedie_variance_power: float = 1.5,
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        min_child_weight: float = 5.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        validation_share: float = 0.2,
        exclude: tuple[str, ...] = DEMOGRAPHIC,
        seed: int = 0,
        n_jobs: int | None = None,
        monotone: dict[str, int] | None = None,
        device: str | None = None,
    ) -> None:
        self.objective = objective
        self.baseline = baseline
        self.tweedie_variance_power = tweedie_variance_power
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.validation_share = validation_share
        self.exclude = exclude
        self.seed = seed
        self.n_jobs = n_jobs
        self.monotone = monotone
        self.device = device

    # --- features ------------------------------------------------------------------------

    def _matrix(self, X: pd.DataFrame, fitting: bool) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise ValueError(f"supervised CLV features must be a DataFrame, got {type(X).__name__}")
        if fitting:
            drop = set(self.exclude) | set(_NON_FEATURES)
            self.feature_names_ = [str(c) for c in X.columns if c not in drop]
            self.categories_ = {}
            for c in self.feature_names_:
                s = X[c]
                if not is_numeric(s) and s.notna().any():  # all missing: a numeric NaN column
                    self.categories_[c] = sorted(map(str, s.dropna().unique()))
            if not self.feature_names_:
                raise ValueError("supervised CLV: no feature columns left")
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise ValueError(f"supervised CLV features lack column(s) {missing}")
        cols = {}
        for c in self.feature_names_:
            s = X[c]
            if c in self.categories_:
                text = s.astype("string")
                known = text.isin(self.categories_[c]).fillna(False).to_numpy(dtype=bool)
                values = text.astype(object).where(known, None)  # unseen categories: missing
                cols[c] = values.astype(pd.CategoricalDtype(self.categories_[c]))
            else:
                cols[c] = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
        return pd.DataFrame(cols, index=X.index)

    def feature_array(self, X: pd.DataFrame) -> np.ndarray:
        """The features of ``X`` as the float array the boosters read: the values of
        :meth:`_matrix`, categoricals as their codes (unseen or missing: NaN)."""
        lacks = "supervised CLV features lack column(s)"
        return coded_array(X, self.feature_names_, self.categories_, lacks)

    def feature_types(self) -> list[str]:
        """xgboost's type of each feature: ``"c"`` categorical, ``"q"`` numeric."""
        return ["c" if c in self.categories_ else "q" for c in self.feature_names_]

    def dmatrix(self, X: pd.DataFrame) -> xgb.DMatrix:
        """The boosters' DMatrix of ``X`` (see :func:`segml.boosters.dmatrix`)."""
        return dmatrix(self.feature_array(X), self.feature_names_, self.feature_types())

    def shared(self, name: str = "value") -> SharedBooster:
        """Booster ``name`` configured for prediction from many threads (made at fit / load)."""
        return SharedBooster.of(self, self.boosters_[name], self.n_jobs, name, self.feature_names_)

    def _share(self) -> None:
        """Configure every booster for prediction from many threads, once (fit, load)."""
        for name in self.boosters_:
            self.shared(name)

    def _params(self, objective: str) -> dict[str, Any]:
        signs = self.monotone_signs()
        return tree_params(
            objective,
            seed=self.seed,
            n_jobs=self.n_jobs,
            device=self.device,
            monotone=signs if any(signs) else None,
            eta=self.learning_rate,
            max_depth=self.max_depth,
            min_child_weight=self.min_child_weight,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            max_cat_to_onehot=8,
            base_score=0.0 if self.baseline else None,
            tweedie_variance_power=self.tweedie_variance_power
            if objective == "reg:tweedie"
            else None,
        )

    def monotone_signs(self) -> list[int]:
        """The monotone constraint of each feature column (0 where none), in feature order."""
        wanted = self.monotone or {}
        cats = getattr(self, "categories_", {})
        return [0 if c in cats else int(np.sign(wanted.get(c, 0))) for c in self.feature_names_]

    def _train(self, M: pd.DataFrame, y: np.ndarray, objective: str, name: str) -> xgb.Booster:
        rng = np.random.default_rng(self.seed)
        n = len(y)
        val = np.zeros(n, dtype=bool)
        n_val = int(round(self.validation_share * n))
        if n_val >= 10 and n - n_val >= 10:
            val[rng.choice(n, size=n_val, replace=False)] = True
        params = self._params(objective)
        rounds = self.n_estimators
        if val.any():
            probe = train(
                params, frame_dmatrix(M[~val], y[~val]), self.n_estimators,
                valid=frame_dmatrix(M[val], y[val]), early_stopping_rounds=30,
            )  # fmt: skip
            rounds = int(probe.best_iteration) + 1
        self.n_rounds_[name] = rounds
        return train(params, frame_dmatrix(M, y), rounds)

    # --- estimator -------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> SupervisedCLV:
        """Fit on features ``X`` (one row per customer) and next-window values ``y``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The features (an array's columns are named ``x0 … x{n-1}``).
        y : array-like of shape (n_samples,)
            The values of the next window.

        Returns
        -------
        SupervisedCLV
            The fitted model.

        Raises
        ------
        ValueError
            Unknown objective, misaligned or non-finite ``y``, negative ``y`` for the Tweedie and
            hurdle objectives (use ``"squarederror"``), fewer than 20 rows, a baseline column
            missing or with a log-link objective.
        """
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        X = self._fit_table(X)
        if self.baseline is not None:
            if self.objective in ("tweedie", "hurdle"):
                raise ValueError(f"a baseline needs an additive objective, not {self.objective!r}")
            if self.baseline not in X.columns:
                raise ValueError(f"supervised CLV features lack the baseline column {self.baseline!r}")  # fmt: skip
        target = np.asarray(y, dtype=float)
        if target.shape != (len(X),):
            raise ValueError(f"supervised CLV: {len(X)} feature rows but target shape {target.shape}")  # fmt: skip
        if not np.isfinite(target).all():
            raise ValueError(f"supervised CLV: {int((~np.isfinite(target)).sum())} non-finite targets")  # fmt: skip
        if len(target) < 20:
            raise ValueError(f"supervised CLV: {len(target)} training rows; at least 20 needed")
        if self.objective in ("tweedie", "hurdle") and (target < 0).any():
            raise ValueError(
                f"supervised CLV objective {self.objective!r} needs targets >= 0; "
                f"{int((target < 0).sum()):,} are negative (min {target.min():g}): use 'squarederror' or 'absoluteerror'"
            )
        M = self._matrix(X, fitting=True)
        target = target - self._base(X)
        self.n_rounds_: dict[str, int] = {}
        self.__dict__.pop("amount_cap_", None)  # a refit with another objective has none
        if self.objective == "hurdle":
            pos = target > 0
            if pos.sum() < 10 or (~pos).sum() < 10:
                raise ValueError(
                    f"supervised CLV hurdle: {int(pos.sum())} positive and {int((~pos).sum())} "
                    "zero targets; each part needs at least 10 (use 'tweedie')"
                )
            self.boosters_ = {
                "positive": self._train(M, pos.astype(float), "binary:logistic", "positive"),
                "amount": self._train(M[pos], target[pos], "reg:gamma", "amount"),
            }
            self.amount_cap_ = float(target[pos].max())
        else:
            self.boosters_ = {"value": self._train(M, target, _XGB[self.objective], "value")}
        self.n_train_ = len(target)
        self._share()
        return self

    def same_encoding(self, other: SupervisedCLV) -> bool:
        """Whether ``other`` reads a table as this model does (same features and categories),
        so that one :meth:`dmatrix` of the table serves both."""
        return self.feature_names_ == other.feature_names_ and self.categories_ == other.categories_  # fmt: skip

    def predict(self, X: Any, *, dmatrix: xgb.DMatrix | None = None) -> np.ndarray:
        """Expected next-window value of each row of ``X`` (a DataFrame or an array-like).

        ``dmatrix``: :meth:`dmatrix` of ``X`` made by this model or one of the
        :meth:`same_encoding` (a table predicted by several models is encoded once).
        """
        check_fitted(self, "boosters_", "this SupervisedCLV is not fitted yet: call fit() or load()")  # fmt: skip
        X = self._table(X)
        d = self.dmatrix(X) if dmatrix is None else dmatrix
        if self.objective == "hurdle":
            amount = self.shared("amount").predict(d).astype(float)
            cap = getattr(self, "amount_cap_", None)  # models saved before the cap have none
            if cap is not None:
                amount = np.minimum(amount, cap)
            return self.shared("positive").predict(d) * amount
        return self.shared().predict(d).astype(float) + self._base(X)

    def _base(self, X: pd.DataFrame) -> np.ndarray | float:
        if self.baseline is None:
            return 0.0
        if self.baseline not in X.columns:
            raise ValueError(f"supervised CLV features lack the baseline column {self.baseline!r}")
        return pd.to_numeric(X[self.baseline], errors="coerce").fillna(0.0).to_numpy(dtype=float)

    # --- persistence -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Configuration, features and (when fitted) the boosters as xgboost JSON."""
        config = self.get_params()
        config["exclude"] = list(config["exclude"])
        config["monotone"] = None if self.monotone is None else dict(self.monotone)
        out: dict[str, Any] = {"format": MODEL_FORMAT, "config": config}
        if hasattr(self, "boosters_"):
            out |= {
                "feature_names": self.feature_names_,
                "categories": self.categories_,
                "n_rounds": self.n_rounds_,
                "n_train": self.n_train_,
                "boosters": {k: booster_to_json(b) for k, b in self.boosters_.items()},
            }
            if hasattr(self, "amount_cap_"):
                out["amount_cap"] = self.amount_cap_
            if hasattr(self, "n_features_in_") and not hasattr(self, "feature_names_in_"):
                # fitted on an array: its columns are read by position
                out["n_features_in"] = self.n_features_in_
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> SupervisedCLV:
        """Rebuild a model written by :meth:`to_dict`."""
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a saved SupervisedCLV (format {doc.get('format')!r})")
        config = dict(doc["config"])
        config["exclude"] = tuple(config["exclude"])
        model = cls(**config)
        if "boosters" in doc:
            model.feature_names_ = list(doc["feature_names"])
            model.categories_ = {k: list(v) for k, v in doc["categories"].items()}
            model.n_rounds_ = dict(doc["n_rounds"])
            model.n_train_ = int(doc["n_train"])
            model.boosters_ = {k: booster_from_json(raw) for k, raw in doc["boosters"].items()}
            if "n_features_in" in doc:
                model.n_features_in_ = int(doc["n_features_in"])
            if "amount_cap" in doc:
                model.amount_cap_ = float(doc["amount_cap"])
            model._share()
        return model
