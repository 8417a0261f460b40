"""``ChurnModel``: gradient-boosted trees with early stopping and held-out calibration.

The estimator follows the scikit-learn contract (``fit``/``predict_proba``/``predict``,
parameters in ``__init__``, fitted attributes ending in ``_``) on a pandas DataFrame of any
columns, which :class:`~segml.churn.tabular.TabularEncoder` encodes (categoricals natively), or
on any 2-D array-like, whose columns are read by position as ``x0 … x{n-1}``
(:mod:`segml.tableinput`). The labels are 0/1.

The smallest leaf is set in rows relative to the data, not in xgboost's hessian units:
``min_child_share`` (default 4%) of the rarer class's training rows, converted to
``min_child_weight`` with the training base rate ``p`` as ``rows · p(1 − p)`` — xgboost starts
from the class mean, so every row first weighs ``p(1 − p)``. A fixed ``min_child_weight`` of 5
needs about ``5 / (p(1 − p))`` rows per leaf (55 at 10% churn, 505 at 1%): a table with fewer
minority rows than that can never grow a split, and the model predicts a constant.

``fit(X, y, X_val, y_val)`` trains xgboost on ``X`` and stops adding trees when the log loss
on the validation rows has not improved for ``early_stopping_rounds``; the calibration map
(:mod:`segml.churn.calibration`) is then fitted on the same validation rows — never on the
training rows, whose scores are optimistically extreme. Without validation rows a stratified
``validation_fraction`` of ``X`` is held out for both.

:meth:`ChurnModel.save` writes a folder with the xgboost model in its native format
(``model.ubj``) and everything else as JSON (``config.json``: parameters, encoder state,
calibration, best iteration); :meth:`ChurnModel.load` gives identical predictions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from segml.boosters import SharedBooster, dmatrix, frame_array, frame_dmatrix, train, tree_params
from segml.churn.calibration import Calibrator, fit_calibrator
from segml.churn.tabular import TabularEncoder
from segml.churn.target import check_labels
from segml.compute import leaf_weight
from segml.tableinput import TableInput

__all__ = ["CONFIG_FILE", "MODEL_FILE", "ChurnModel"]

MODEL_FILE = "model.ubj"
CONFIG_FILE = "config.json"
FORMAT = "segml.churn.ChurnModel/1"


class ChurnModel(TableInput, ClassifierMixin, BaseEstimator):
    """xgboost churn classifier with early stopping and calibration on validation rows.

    Parameters
    ----------
    learning_rate, max_depth, subsample, colsample_bytree, reg_lambda, reg_alpha, gamma, max_bin
        xgboost tree parameters (defaults tuned for customer tables of 10³–10⁶ rows).
    min_child_weight : float, optional
        xgboost's own ``min_child_weight`` (the least hessian sum in a leaf). None (the
        default) derives it from ``min_child_share``; a number is passed to xgboost as it is
        and ``min_child_share`` is ignored.
    n_estimators : int, default 3000
        Most trees; early stopping usually ends far sooner.
    early_stopping_rounds : int, default 100
        Rounds without improvement of the validation log loss before stopping.
    calibration : {"auto", "platt", "isotonic"}, default "auto"
        Calibration map fitted on the validation rows (see :mod:`segml.churn.calibration`).
    validation_fraction : float, default 0.2
        Share of ``X`` held out (stratified) when ``fit`` gets no validation rows.
    monotone : dict of str to int, optional
        Monotone constraints by column (+1 increasing, -1 decreasing risk).
    exclude : sequence of str, default ()
        Columns never used.
    max_categories : int, default 32
        Text columns with more distinct values are frequency + target encoded.
    random_state : int, default 0
        Seeds row/column sampling, the validation split and the encoder's folds.
    n_jobs : int, optional
        xgboost threads (default: every core; the model does not depend on it).
    device : {"cpu", "cuda"}, optional
        Where xgboost trains and predicts; None follows :func:`segml.compute.device_default`
        (the run's ``compute.device``), else the CPU.
    min_child_share : float, default 0.04
        The smallest leaf, as a share of the rarer class's training rows (in [0, 1]). It is
        given to xgboost as ``min_child_weight = share · n_rarer · p(1 − p)``, ``p`` being the
        training base rate. It scales with the table and its class balance: a leaf holding
        every row of the rarer class is always allowed. On the 20,000-customer synthetic bank
        (13,891 training rows, 10% churn) 0.04 is 55 rows, ``min_child_weight`` 4.99.

    Attributes
    ----------
    encoder_ : TabularEncoder
        Column roles and encodings learned from the training rows (``encoder_.report_``).
    booster_ : xgboost.Booster
        The trees.
    best_iteration_ : int
        Index of the last tree used (early stopping's best round).
    calibrator_ : Calibrator
        The calibration map and why it was chosen.
    classes_ : ndarray
        ``[0, 1]``.
    feature_names_in_ : ndarray of str
        Input columns seen in ``fit`` (only when ``X`` was a DataFrame with text column
        names; an array's columns are ``x0 … x{n-1}``, read by position).
    n_features_in_ : int
        The number of input columns.
    fit_info_ : dict
        Rows and positives of the training and validation parts, how validation was made,
        the smallest leaf (``min_child_rows`` and the ``min_child_weight`` given to xgboost),
        the validation log loss at the best iteration.
    """

    def __init__(
        self,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        min_child_weight: float | None = None,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        gamma: float = 0.0,
        max_bin: int = 256,
        n_estimators: int = 3000,
        early_stopping_rounds: int = 100,
        calibration: str = "auto",
        validation_fraction: float = 0.2,
        monotone: dict[str, int] | None = None,
        exclude: tuple[str, ...] | list[str] = (),
        max_categories: int = 32,
        random_state: int = 0,
        n_jobs: int | None = None,
        device: str | None = None,
        min_child_share: float = 0.04,
    ) -> None:
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.gamma = gamma
        self.max_bin = max_bin
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.validation_fraction = validation_fraction
        self.monotone = monotone
        self.exclude = exclude
        self.max_categories = max_categories
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.device = device
        self.min_child_share = min_child_share

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: binary labels (0/1) only, missing values are data."""
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------ helpers
    def _min_child(self, y: np.ndarray) -> tuple[float, float | None]:
        """xgboost's ``min_child_weight`` for training labels ``y``, and the leaf size in rows.

        The rows are None when ``min_child_weight`` was given in hessian units.
        """
        if self.min_child_weight is not None:
            if not self.min_child_weight >= 0:
                raise ValueError(f"min_child_weight must be >= 0, got {self.min_child_weight}")
            return float(self.min_child_weight), None
        if not 0 <= self.min_child_share <= 1:
            raise ValueError(f"min_child_share must be in [0, 1], got {self.min_child_share}")
        return leaf_weight(y, self.min_child_share)

    def _xgb_params(self, columns: list[str], min_child_weight: float) -> dict[str, Any]:
        signs = None
        if self.monotone:
            unknown = sorted(set(self.monotone) - set(columns))
            if unknown:
                raise ValueError(f"monotone names column(s) the model does not use: {unknown}")
            signs = [int(np.sign(self.monotone.get(c, 0))) for c in columns]
        return tree_params(
            "binary:logistic",
            seed=self.random_state,
            n_jobs=self.n_jobs,
            device=self.device,
            monotone=signs,
            eval_metric="logloss",
            eta=self.learning_rate,
            max_depth=self.max_depth,
            min_child_weight=min_child_weight,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            alpha=self.reg_alpha,
            gamma=self.gamma,
            max_bin=self.max_bin,
            max_cat_to_onehot=4,
            **{"lambda": self.reg_lambda},
        )

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: Any,
        y: Any,
        X_val: Any = None,
        y_val: Any = None,
    ) -> ChurnModel:
        """Fit the trees on ``X``, early-stop and calibrate on ``X_val`` (or a held-out share).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Training rows (any columns; see :class:`~segml.churn.tabular.TabularEncoder`); an
            array's columns are read by position, as ``x0 … x{n-1}``.
        y : array of 0/1
            Their labels.
        X_val, y_val : DataFrame (or array-like, as ``X``) and array, optional
            Validation rows, e.g. a later snapshot (out of time). Both or neither.

        Returns
        -------
        ChurnModel
            The fitted model.

        Raises
        ------
        ValueError
            When labels are not 0/1, lengths differ, a part has a single class, no column is
            usable (the message lists why each was dropped), or ``min_child_share`` is outside
            [0, 1].
        """
        X = self._fit_table(X)
        y = check_labels(y, "y")
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither")
        how = "given"
        if X_val is None:
            if not 0 < self.validation_fraction < 1:
                raise ValueError(
                    f"validation_fraction must be in (0, 1), got {self.validation_fraction}"
                )
            idx = np.arange(len(y))
            tr, va = train_test_split(
                idx,
                test_size=self.validation_fraction,
                stratify=y if min(y.sum(), len(y) - y.sum()) >= 2 else None,
                random_state=self.random_state,
            )
            X, X_val, y, y_val = X.iloc[tr], X.iloc[va], y[tr], y[va]
            how = f"stratified random {self.validation_fraction:.0%} of the rows"
        else:
            X_val = self._table(X_val)
            y_val = check_labels(y_val, "y_val")
            if len(y_val) != len(X_val):
                raise ValueError(f"X_val has {len(X_val)} rows but y_val has {len(y_val)}")
        for part, lab in (("training", y), ("validation", y_val)):
            if lab.sum() in (0, len(lab)):
                raise ValueError(
                    f"the {part} rows have a single class ({int(lab.sum())} positive of "
                    f"{len(lab)}): cannot fit"
                )
        min_child_weight, min_child_rows = self._min_child(y)
        self.encoder_ = TabularEncoder(
            exclude=tuple(self.exclude),
            max_categories=self.max_categories,
            random_state=self.random_state,
        )
        xt = self.encoder_.fit_transform(X, y)
        if not self.encoder_.columns_:
            why = "; ".join(f"{c}: {r}" for c, r in self.encoder_.dropped().items())
            raise ValueError(f"no usable column ({why})")
        xv = self.encoder_.transform(X_val)
        evals: dict[str, Any] = {}
        self.booster_ = train(
            self._xgb_params(list(xt.columns), min_child_weight),
            frame_dmatrix(xt, y),
            self.n_estimators,
            valid=frame_dmatrix(xv, y_val),
            early_stopping_rounds=self.early_stopping_rounds,
            evals_result=evals,
        )
        self.best_iteration_ = int(self.booster_.best_iteration)
        self._shared()  # the thread counts are set now, never while predicting
        raw_val = self._raw(xv)
        self.calibrator_: Calibrator = fit_calibrator(
            raw_val, y_val, self.calibration, seed=self.random_state
        )
        curve = evals["validation"]["logloss"]
        self.classes_ = np.array([0, 1])
        self.fit_info_ = {
            "n_train": len(y),
            "train_positives": int(y.sum()),
            "n_validation": len(y_val),
            "validation_positives": int(y_val.sum()),
            "validation": how,
            "min_child_rows": min_child_rows,
            "min_child_weight": min_child_weight,
            "best_iteration": self.best_iteration_,
            "trees_grown": len(curve),
            "validation_logloss": float(curve[self.best_iteration_]),
        }
        return self

    # ------------------------------------------------------------------ prediction
    def _shared(self) -> SharedBooster:
        return SharedBooster.of(self, self.booster_, self.n_jobs, names=self.encoder_.columns_)

    def _raw(self, encoded: pd.DataFrame) -> np.ndarray:
        names = list(self.encoder_.columns_)  # the booster's order (its names are not re-checked)
        return self._raw_values(*frame_array(encoded[names]), names)

    def _raw_values(self, values: np.ndarray, types: list[str], names: list[str]) -> np.ndarray:
        d = dmatrix(values, names, types)
        return self._shared().predict(d, iteration_range=(0, self.best_iteration_ + 1))

    def predict_raw(self, X: Any) -> np.ndarray:
        """Uncalibrated probabilities (the trees' output)."""
        check_is_fitted(self, "booster_")
        X = self._table(X)
        return self._raw_values(*self.encoder_.transform_array(X), list(self.encoder_.columns_))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, shape ``(n, 2)``: column 1 is the churn probability."""
        raw = self.predict_raw(X)  # first: an unfitted model raises NotFittedError
        p = self.calibrator_.transform(raw)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """1 where the calibrated churn probability is at least 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def feature_importance(self) -> pd.DataFrame:
        """Total gain of each encoded column, largest first (columns never split on: 0)."""
        check_is_fitted(self, "booster_")
        gain = self.booster_.get_score(importance_type="total_gain")
        cols = self.encoder_.columns_
        out = pd.DataFrame({"column": cols, "gain": [float(gain.get(c, 0.0)) for c in cols]})
        out["share"] = out["gain"] / max(out["gain"].sum(), 1e-300)
        return out.sort_values("gain", ascending=False, kind="stable").reset_index(drop=True)

    # ------------------------------------------------------------------ persistence
    def config(self) -> dict[str, Any]:
        """Parameters and fitted state (all but the trees) as plain JSON values."""
        check_is_fitted(self, "booster_")
        import xgboost as xgb

        params = self.get_params()
        params["exclude"] = list(self.exclude)
        return {
            "format": FORMAT,
            "xgboost_version": xgb.__version__,
            "params": params,
            "best_iteration": self.best_iteration_,
            "fit_info": self.fit_info_,
            "calibration": self.calibrator_.to_dict(),
            "encoder": self.encoder_.to_dict(),
        } | ({} if hasattr(self, "feature_names_in_") else {"n_features_in": self.n_features_in_})

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``model.ubj`` (xgboost native) and ``config.json`` into folder ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        # written by Python, not xgboost: a full disk is an OSError naming its cause (ENOSPC)
        (folder / MODEL_FILE).write_bytes(bytes(self.booster_.save_raw(raw_format="ubj")))
        text = json.dumps(self.config(), indent=2, allow_nan=True)
        (folder / CONFIG_FILE).write_text(text, encoding="utf-8")
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ChurnModel:
        """Read a folder written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            Naming the missing file.
        ValueError
            If ``config.json`` is not a saved ChurnModel.
        """
        import xgboost as xgb

        folder = Path(path)
        for name in (CONFIG_FILE, MODEL_FILE):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name} not found: not a saved ChurnModel")
        cfg = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        if cfg.get("format") != FORMAT:
            raise ValueError(f"{folder / CONFIG_FILE} is not a {FORMAT} config")
        params = dict(cfg["params"])
        params["exclude"] = tuple(params.get("exclude", ()))
        model = cls(**params)
        model.booster_ = xgb.Booster()
        model.booster_.load_model(str(folder / MODEL_FILE))
        model.best_iteration_ = int(cfg["best_iteration"])
        model.calibrator_ = Calibrator.from_dict(cfg["calibration"])
        model.encoder_ = TabularEncoder.from_dict(cfg["encoder"])
        model.fit_info_ = dict(cfg["fit_info"])
        model.classes_ = np.array([0, 1])
        if "n_features_in" in cfg:  # fitted on an array: columns by position
            model.n_features_in_ = int(cfg["n_features_in"])
        else:
            model.feature_names_in_ = model.encoder_.feature_names_in_
            model.n_features_in_ = len(model.feature_names_in_)
        model._shared()
        return model
