"""Any customer snapshot table -> an xgboost-ready frame, column by column, with a report.

:class:`TabularEncoder` (a scikit-learn transformer) decides per column:

* **dropped** (with the reason): id-like (a name such as ``*_id`` or one distinct value per
  row), constant, all missing, date/time (typed, or text that reads as dates), or asked by the
  caller;
* **numeric**: numbers as they are (missing, and infinite values, stay missing: xgboost
  learns where to send them);
* **numeric_text**: text holding numbers (``" 12.5"``, ``"3,659.52"``, blanks for missing) is
  parsed when at least 95% of its non-blank values are numbers (:mod:`segml.textcols`), and
  then judged as those numbers: mostly distinct values with decimals are amounts, kept;
  distinct whole numbers (``"000123"``) are identifiers, dropped;
* **boolean**: booleans and two-valued 0/1 columns as 0/1;
* **categorical**: text (or any other type) with at most ``max_categories`` distinct values,
  given to xgboost as a native categorical (unseen or missing values are missing);
* **high-cardinality**: text with more distinct values, replaced by two numbers: its
  frequency share and a smoothed target mean (m-estimate towards the prior). The target mean
  of a training row comes from the other folds (``fit_transform`` cross-fits over 5 folds), so
  a row never sees its own label; other rows get the mean over all training rows.

:func:`binary_target` (:mod:`segml.churn.target`) turns a target column into 0/1 (``positive``
names the positive class).

Like every segml model of a customer table, the encoder also takes a 2-D array-like: its
columns are read as ``x0 … x{n-1}`` (:mod:`segml.tableinput`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from segml.boosters import is_number_kind, numbers, positions
from segml.churn.target import POSITIVE_WORDS, binary_target, category_key, category_keys
from segml.columns import is_binary, is_numeric, unusable_reason
from segml.tableinput import TableInput
from segml.textcols import id_like, numeric_text, parse_numbers

__all__ = ["POSITIVE_WORDS", "TabularEncoder", "binary_target"]


class TabularEncoder(TableInput, TransformerMixin, BaseEstimator):
    """Encode a customer table for xgboost and report what happened to every column.

    Parameters
    ----------
    exclude : sequence of str, default ()
        Columns never used ("dropped by the caller").
    max_categories : int, default 32
        Text columns with at most this many distinct values are native categoricals; more
        distinct values make a column high-cardinality (frequency + target encoding).
    id_unique_share : float, default 0.99
        A text or integer column (over 20 rows) with at least this share of distinct values
        is an identifier and is dropped.
    smoothing : float, default 20.0
        m-estimate weight of the prior in the target mean of a category.
    n_folds : int, default 5
        Folds of the cross-fitted target encoding of training rows.
    random_state : int, default 0
        Seeds the cross-fitting folds.

    Attributes
    ----------
    report_ : list of dict
        One entry per input column: ``column``, ``role`` (numeric, numeric_text, boolean,
        categorical, high_cardinality, dropped) and ``detail``.
    columns_ : list of str
        Output columns, in order.
    categories_ : dict of str to list of str
        Categories of each categorical column (xgboost's category codes follow this order).
    encodings_ : dict of str to dict
        Per high-cardinality column: ``prior``, ``frequency`` and ``target`` maps.
    """

    def __init__(
        self,
        exclude: Iterable[str] = (),
        max_categories: int = 32,
        id_unique_share: float = 0.99,
        smoothing: float = 20.0,
        n_folds: int = 5,
        random_state: int = 0,
    ) -> None:
        self.exclude = exclude
        self.max_categories = max_categories
        self.id_unique_share = id_unique_share
        self.smoothing = smoothing
        self.n_folds = n_folds
        self.random_state = random_state

    # ------------------------------------------------------------------ classification
    def _role(self, s: pd.Series, name: str, n: int) -> tuple[str, str]:
        nonnull = s.dropna()
        n_unique = int(nonnull.nunique())
        if name in {str(c) for c in self.exclude}:
            return "dropped", "dropped by the caller"
        if (why := unusable_reason(s, name, constant_first=True)) is not None:
            return "dropped", why
        numeric = is_numeric(s)
        # Numbers written as text are judged as the numbers they hold, before the id-like check
        # below: amounts such as "3,659.52" are nearly all distinct, as an identifier is.
        parsed = None if numeric else numeric_text(s)
        if parsed is not None and parsed.nunique() > 2:
            ids = id_like(parsed, n, self.id_unique_share, from_text=True)
            if ids is not None:
                return "dropped", ids
            bad = int(parsed.isna().sum() - s.isna().sum())
            return "numeric_text", f"text holding numbers ({bad:,} blank or unreadable: missing)"
        ids = id_like(s, n, self.id_unique_share)
        if ids is not None:
            return "dropped", ids
        if is_binary(s):
            return "boolean", "0/1"
        if numeric:
            n_inf = int(np.isinf(pd.to_numeric(nonnull, errors="coerce").astype(float)).sum())
            inf = f"; {n_inf:,} infinite values treated as missing" if n_inf else ""
            return "numeric", f"{n_unique:,} distinct values{inf}"
        if n_unique <= self.max_categories:
            return "categorical", f"{n_unique} categories (xgboost native categorical)"
        return "high_cardinality", (
            f"{n_unique:,} distinct values: frequency share + cross-fitted target mean"
        )

    # ------------------------------------------------------------------ fitting
    def _target_map(self, keys: pd.Series, y: np.ndarray, prior: float) -> dict[str, float]:
        g = pd.DataFrame({"k": keys.to_numpy(), "y": y}).dropna().groupby("k")["y"]
        s, c = g.sum(), g.count()
        te = (s + self.smoothing * prior) / (c + self.smoothing)
        return {str(k): float(v) for k, v in te.items()}

    def fit(self, X: Any, y: np.ndarray | None = None) -> TabularEncoder:
        """Learn roles, categories and encodings from the training rows ``X`` (labels ``y``).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The training rows (an array's columns are named ``x0 … x{n-1}``).
        y : array of 0/1, optional
            Their labels (needed to encode high-cardinality text).

        Returns
        -------
        TabularEncoder
            The fitted encoder.
        """
        self._fit(X, y)
        return self

    def _fit(self, X: Any, y: np.ndarray | None) -> pd.DataFrame:
        X = self._fit_table(X)
        y = None if y is None else np.asarray(y)
        if y is not None and len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        n = len(X)
        self.report_: list[dict[str, str]] = []
        self.roles_: dict[str, str] = {}
        self.categories_: dict[str, list[str]] = {}
        self.encodings_: dict[str, dict[str, Any]] = {}
        self.columns_: list[str] = []
        for col in X.columns:
            name, s = str(col), X[col]
            role, detail = self._role(s, name, n)
            if role == "high_cardinality" and y is None:
                role, detail = "dropped", "high-cardinality text and no labels to encode it"
            self.report_.append({"column": name, "role": role, "detail": detail})
            self.roles_[name] = role
            if role == "dropped":
                continue
            if role == "categorical":
                keys = category_keys(s).dropna()
                self.categories_[name] = sorted(keys.unique().tolist())
                self.columns_.append(name)
            elif role == "high_cardinality":
                keys = category_keys(s)
                yy = np.asarray(y, dtype=float)
                prior = float(yy.mean())
                freq = keys.value_counts(normalize=True)
                self.encodings_[name] = {
                    "prior": prior,
                    "frequency": {str(k): float(v) for k, v in freq.items()},
                    "target": self._target_map(keys, yy, prior),
                }
                self.columns_ += [f"{name}__freq", f"{name}__target"]
            else:
                self.columns_.append(name)
        return X

    def fit_transform(self, X: Any, y: np.ndarray | None = None, **_: Any) -> pd.DataFrame:
        """Fit, then encode ``X`` with cross-fitted target means for its own rows."""
        X = self._fit(X, y)
        out = self._transform(X)
        if not self.encodings_:
            return out
        yy = np.asarray(y, dtype=float)
        k = min(self.n_folds, int(min(yy.sum(), len(yy) - yy.sum())))
        if k < 2:
            return out
        folds = StratifiedKFold(k, shuffle=True, random_state=self.random_state)
        for name, enc in self.encodings_.items():
            keys = category_keys(X[name])
            col = np.full(len(X), enc["prior"])
            for fit_idx, oof_idx in folds.split(np.zeros(len(yy)), yy):
                prior = float(yy[fit_idx].mean())
                m = self._target_map(keys.iloc[fit_idx], yy[fit_idx], prior)
                col[oof_idx] = keys.iloc[oof_idx].map(m).fillna(prior).to_numpy(dtype=float)
            out[f"{name}__target"] = col
        return out

    # ------------------------------------------------------------------ transform
    def transform(self, X: Any) -> pd.DataFrame:
        """Encode ``X`` (the columns seen in ``fit``; extra columns are ignored).

        Raises
        ------
        ValueError
            Naming the columns ``fit`` used that ``X`` lacks.
        """
        check_is_fitted(self, "roles_")
        return self._transform(self._table(X))

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        used = self._used(X)
        out: dict[str, Any] = {}
        for name in used:
            out.update(self._encode(name, X[name]))
        frame = pd.DataFrame(out, index=X.index)
        return frame[self.columns_] if self.columns_ else frame

    def transform_array(self, X: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """:meth:`transform`'s values as one float array, in :attr:`columns_` order, and
        xgboost's feature types (``"c"``: a categorical, as its code; missing: NaN).

        The same numbers without a pandas column per feature (the fast path of predictions).
        """
        check_is_fitted(self, "roles_")
        X = self._table(X)
        used = self._used(X)
        pos = {c: j for j, c in enumerate(self.columns_)}
        out = np.full((len(X), len(self.columns_)), np.nan)
        types = ["q"] * len(self.columns_)
        kinds = X.dtypes.to_numpy()[positions(X.columns, used)]
        is_num = dict(zip(used, map(pd.api.types.is_numeric_dtype, kinds), strict=True))
        num = [c for c in used if self.roles_[c] == "numeric"]
        flags = [c for c in used if self.roles_[c] == "boolean" and is_num[c]]  # float(x) is x
        if num:
            v = numbers(X, num)
            out[:, [pos[c] for c in num]] = np.where(np.isfinite(v), v, np.nan)
        if flags:
            out[:, [pos[c] for c in flags]] = numbers(X, flags)
        done = set(num) | set(flags)
        for name in (c for c in used if c not in done):
            if self.roles_[name] == "categorical":
                lookup = {c: float(i) for i, c in enumerate(self.categories_[name])}
                # each distinct value keyed once (not once per row); missing: code -1 -> NaN
                codes, uniques = pd.factorize(X[name], use_na_sentinel=True)
                mapped = np.array([lookup.get(category_key(v), np.nan) for v in uniques] + [np.nan])  # fmt: skip
                out[:, pos[name]] = mapped[codes]
                types[pos[name]] = "c"
            else:
                for col, v in self._encode(name, X[name]).items():
                    out[:, pos[col]] = np.asarray(v, dtype=float)
        return out, types

    def _used(self, X: pd.DataFrame) -> list[str]:
        check_is_fitted(self, "roles_")
        used = [c for c, r in self.roles_.items() if r != "dropped"]
        missing = [c for c in used if c not in X.columns]
        if missing:
            raise ValueError(f"the table lacks column(s) the model uses: {missing}")
        return used

    def _encode(self, name: str, s: pd.Series) -> dict[str, Any]:
        """The encoded column(s) of input column ``name``."""
        role = self.roles_[name]
        if role == "numeric":
            v = pd.to_numeric(s, errors="coerce").astype(float)
            return {name: v.where(np.isfinite(v))}
        if role == "numeric_text":
            v = parse_numbers(s)
            return {name: v.where(np.isfinite(v))}
        if role == "boolean":
            if is_number_kind(s.dtype):  # numbers and bools: float(x), missing NaN, at once
                return {name: pd.Series(s.to_numpy(dtype=float, na_value=np.nan), index=s.index)}
            v = s.astype(object).map(lambda x: np.nan if pd.isna(x) else float(x))
            return {name: v.astype(float)}
        if role == "categorical":
            cats = self.categories_[name]
            keys = category_keys(s)
            keys = keys.where(keys.isin(cats))  # unseen categories are missing
            return {name: pd.Categorical(keys, categories=cats)}
        enc = self.encodings_[name]
        keys = category_keys(s)
        return {
            f"{name}__freq": keys.map(enc["frequency"]).fillna(0.0).astype(float),
            f"{name}__target": keys.map(enc["target"]).fillna(enc["prior"]).astype(float),
        }

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Parameters and fitted state as plain JSON values."""
        check_is_fitted(self, "roles_")
        return {
            "params": {**self.get_params(), "exclude": [str(c) for c in self.exclude]},
            "feature_names_in": self._input_columns(),
            "report": self.report_,
            "roles": self.roles_,
            "categories": self.categories_,
            "encodings": self.encodings_,
            "columns": self.columns_,
        } | ({} if hasattr(self, "feature_names_in_") else {"n_features_in": self.n_features_in_})

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> TabularEncoder:
        """Rebuild a fitted encoder from :meth:`to_dict`."""
        enc = cls(**state["params"])
        enc.n_features_in_ = int(state.get("n_features_in", len(state["feature_names_in"])))
        if "n_features_in" not in state:  # fitted on a DataFrame with these column names
            enc.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
        enc.report_ = list(state["report"])
        enc.roles_ = dict(state["roles"])
        enc.categories_ = {k: list(v) for k, v in state["categories"].items()}
        enc.encodings_ = dict(state["encodings"])
        enc.columns_ = list(state["columns"])
        return enc

    def dropped(self) -> dict[str, str]:
        """Dropped columns and why."""
        check_is_fitted(self, "roles_")
        return {r["column"]: r["detail"] for r in self.report_ if r["role"] == "dropped"}
