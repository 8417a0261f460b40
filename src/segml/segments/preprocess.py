"""Turn any customer table into a numeric matrix fit for clustering.

:class:`CustomerPreprocessor` is a scikit-learn transformer that takes a DataFrame (or a
pyarrow Table) of any shape and decides, column by column, what to do with it:

* **excluded** (with a reason in ``excluded_``): id-like columns (a name such as ``*_id`` or
  values unique per row), constant or near-constant columns, all-missing columns, date/time
  columns, free text (too many distinct values), columns the caller names, and numeric columns
  that repeat another kept one (rank correlation above ``redundancy_threshold``);
* **numeric**: missing values imputed by the median with a 0/1 missing indicator (indicators with
  the same pattern are kept once), a heavy-tail transform (signed ``log1p`` by default when the
  column is skewed, or Yeo-Johnson / quantile), then standard scaling;
* **binary** (two values, booleans, 0/1 flags): kept as 0/1 times ``binary_weight``;
* **categorical**: one-hot, categories rarer than ``rare_share`` (or beyond
  ``max_categories``) grouped into ``"other"``, missing as its own category.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import PowerTransformer, QuantileTransformer
from sklearn.utils.validation import check_is_fitted

from segml.segments.columns import as_frame, classify_columns
from segml.tableinput import checked_array
from segml.textcols import parse_numbers

OTHER = "other"
MISSING = "missing"

Transform = Literal["auto", "signed_log1p", "yeo-johnson", "quantile", "none"]


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log1p(|x|)``: compresses heavy tails on both sides, keeps 0 at 0."""
    return np.sign(x) * np.log1p(np.abs(x))


class CustomerPreprocessor(TransformerMixin, BaseEstimator):
    """Clean, encode and scale a customer table for distance-based clustering.

    Parameters
    ----------
    exclude : sequence of str, default ()
        Columns never used (e.g. demographics kept apart for fairness); reported in
        ``excluded_`` as "excluded by the caller".
    tail_transform : {"auto", "signed_log1p", "yeo-johnson", "quantile", "none"}, default "auto"
        Heavy-tail transform of numeric columns. ``"auto"`` applies signed ``log1p`` to columns
        whose absolute skewness exceeds ``skew_threshold`` and leaves the others alone.
    skew_threshold : float, default 1.0
        Skewness above which ``"auto"`` log-transforms a column.
    rare_share : float, default 0.01
        Categories held by fewer rows than this share are grouped into ``"other"``.
    max_categories : int, default 20
        At most this many categories per column are kept (the most frequent).
    max_category_share : float, default 0.5
        A text column with more distinct values than this share of rows is free text and is
        excluded.
    id_unique_share : float, default 0.99
        A text or integer column whose share of distinct values is at least this is id-like.
    near_constant_share : float, default 0.995
        A column whose most common value covers at least this share of rows is excluded.
    max_missing_share : float, default 0.95
        Columns missing in more rows than this share are excluded.
    redundancy_threshold : float or None, default 0.95
        A numeric column whose absolute Spearman correlation with an earlier kept column is
        above this is excluded as redundant (``None`` keeps all).
    binary_weight : float, default 1.0
        Scale of binary and one-hot columns (continuous columns have unit variance).
    missing_indicator : bool, default True
        Add a 0/1 indicator for each numeric column that had missing values in ``fit``.
    impute : bool, default True
        Replace missing numeric values by the median (for k-means and Gaussian mixtures). With
        ``False`` they stay NaN, for :class:`~segml.segments.mixture.MixedMixture`.
    zero_share : float or None, default None
        A numeric column with at least this share of exact zeros (a balance of a product few
        hold) also gets a 0/1 ``col_nonzero`` column; with ``impute=False`` its zeros become NaN
        in the continuous column, which then describes the non-zero values only (a hurdle).

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        Columns seen in ``fit``.
    excluded_ : dict of str to str
        Each excluded column with the reason.
    missing_ : pandas.DataFrame
        Per input column with missing values: ``n_missing``, ``share`` and ``action``.
    numeric_columns_, binary_columns_, categorical_columns_ : list of str
        How the kept columns are treated.
    transforms_ : dict of str to str
        The heavy-tail transform applied to each numeric column.
    medians_ : dict of str to float
        Imputation value of each numeric and binary column (raw scale).
    indicator_columns_ : list of str
        Numeric columns whose missing indicator is output (one per distinct missing pattern).
    zero_columns_ : list of str
        Zero-inflated numeric columns whose ``col_nonzero`` indicator is output.
    categories_ : dict of str to list of str
        Kept categories of each categorical column (others map to ``"other"``).
    feature_names_out_ : ndarray of str
        Output columns, in order.
    """

    def __init__(
        self,
        exclude: tuple[str, ...] | list[str] = (),
        tail_transform: Transform = "auto",
        skew_threshold: float = 1.0,
        rare_share: float = 0.01,
        max_categories: int = 20,
        max_category_share: float = 0.5,
        id_unique_share: float = 0.99,
        near_constant_share: float = 0.995,
        max_missing_share: float = 0.95,
        redundancy_threshold: float | None = 0.95,
        binary_weight: float = 1.0,
        missing_indicator: bool = True,
        impute: bool = True,
        zero_share: float | None = None,
    ) -> None:
        self.exclude = exclude
        self.tail_transform = tail_transform
        self.skew_threshold = skew_threshold
        self.rare_share = rare_share
        self.max_categories = max_categories
        self.max_category_share = max_category_share
        self.id_unique_share = id_unique_share
        self.near_constant_share = near_constant_share
        self.max_missing_share = max_missing_share
        self.redundancy_threshold = redundancy_threshold
        self.binary_weight = binary_weight
        self.missing_indicator = missing_indicator
        self.impute = impute
        self.zero_share = zero_share

    def _classify(self, df: pd.DataFrame) -> None:
        roles = classify_columns(
            df,
            exclude=self.exclude,
            max_missing_share=self.max_missing_share,
            id_unique_share=self.id_unique_share,
            near_constant_share=self.near_constant_share,
            max_category_share=self.max_category_share,
            max_categories=self.max_categories,
        )
        self.excluded_ = roles.excluded
        self.numeric_columns_ = roles.numeric
        self.binary_columns_ = roles.binary
        self.categorical_columns_ = roles.categorical

    # ------------------------------------------------------------------ numeric handling
    def _choose_transform(self, x: np.ndarray) -> str:
        if self.tail_transform != "auto":
            return self.tail_transform
        lo, hi = np.nanpercentile(x, [0.5, 99.5])
        skew = stats.skew(np.clip(x, lo, hi), nan_policy="omit")
        return "signed_log1p" if np.isfinite(skew) and abs(skew) > self.skew_threshold else "none"

    def _apply(self, col: str, x: np.ndarray) -> np.ndarray:
        kind = self.transforms_[col]
        if kind == "signed_log1p":
            return signed_log1p(x)
        if kind in ("yeo-johnson", "quantile"):
            return self._fitted_transformers_[col].transform(x.reshape(-1, 1)).ravel()
        return x

    @staticmethod
    def _raw(df: pd.DataFrame, col: str) -> np.ndarray:
        s = df[col]
        if pd.api.types.is_bool_dtype(s):
            s = pd.to_numeric(s.astype(object), errors="coerce")
        elif not pd.api.types.is_numeric_dtype(s):  # numbers as text, "3,659.52" included
            s = parse_numbers(s)
        x = s.to_numpy(dtype=float, na_value=np.nan)
        return np.where(np.isfinite(x), x, np.nan)

    def _numeric_block(self, df: pd.DataFrame, cols: list[str], impute: bool) -> np.ndarray:
        out = np.empty((len(df), len(cols)))
        for j, col in enumerate(cols):
            x = self._raw(df, col)
            gap = np.isnan(x)
            if not impute and col in self.zero_columns_:
                gap |= x == 0
            x = np.where(np.isnan(x), self.medians_[col], x)
            z = (self._apply(col, x) - self.center_[col]) / self.scale_[col]
            out[:, j] = np.where(gap, np.nan, z) if not impute else z
        return out

    def _fit_numeric(self, df: pd.DataFrame) -> None:
        self.transforms_, self.medians_, self.center_, self.scale_ = {}, {}, {}, {}
        self._fitted_transformers_: dict[str, Any] = {}
        self.zero_columns_ = []
        for col in self.numeric_columns_ + self.binary_columns_:
            x = self._raw(df, col)
            med = float(np.nanmedian(x))
            self.medians_[col] = med
            if col in self.binary_columns_:
                continue
            observed = x[~np.isnan(x)]
            zeros = float(np.mean(observed == 0))
            if self.zero_share is not None and self.zero_share <= zeros < 1:
                self.zero_columns_.append(col)
                if not self.impute:
                    observed = observed[observed != 0]
            kind = self._choose_transform(observed)
            self.transforms_[col] = kind
            if kind == "yeo-johnson":
                fitted: Any = PowerTransformer(standardize=False)
            elif kind == "quantile":
                n_q = min(1000, len(observed))
                fitted = QuantileTransformer(n_quantiles=n_q, output_distribution="normal")
            if kind in ("yeo-johnson", "quantile"):
                self._fitted_transformers_[col] = fitted.fit(observed.reshape(-1, 1))
            if self.impute:
                observed = np.where(np.isnan(x), med, x)
            t = self._apply(col, observed)
            sd = float(np.std(t))
            self.center_[col], self.scale_[col] = float(np.mean(t)), sd if sd > 0 else 1.0

    def _drop_redundant(self, df: pd.DataFrame) -> None:
        if self.redundancy_threshold is None or len(self.numeric_columns_) < 2:
            return
        block = self._numeric_block(df, self.numeric_columns_, impute=True)
        ranks = np.apply_along_axis(stats.rankdata, 0, block)
        corr = np.abs(np.corrcoef(ranks, rowvar=False))
        kept: list[int] = []
        for j, col in enumerate(self.numeric_columns_):
            hit = [i for i in kept if corr[i, j] > self.redundancy_threshold]
            if hit:
                first = self.numeric_columns_[hit[0]]
                self.excluded_[col] = (
                    f"redundant: |Spearman r| = {corr[hit[0], j]:.2f} with {first}"
                )
            else:
                kept.append(j)
        self.numeric_columns_ = [self.numeric_columns_[j] for j in kept]
        self.zero_columns_ = [c for c in self.zero_columns_ if c in self.numeric_columns_]

    # ------------------------------------------------------------------ sklearn API
    def fit(self, X: Any, y: Any = None) -> CustomerPreprocessor:
        """Learn column roles, imputation values, transforms, scales and categories.

        Parameters
        ----------
        X : DataFrame or pyarrow.Table
            One row per customer.
        y : ignored

        Returns
        -------
        CustomerPreprocessor
            The fitted transformer.
        """
        df = self._frame(X)
        if len(df) < 2:
            raise ValueError(f"need at least 2 rows to fit, got {len(df)}")
        self.feature_names_in_ = np.asarray(df.columns, dtype=object)
        self.n_features_in_ = df.shape[1]
        self._classify(df)
        self._fit_numeric(df)
        self._drop_redundant(df)
        for col in self.excluded_:
            self.transforms_.pop(col, None)
        self._fit_missing(df)
        self._fit_categories(df)
        self.feature_names_out_ = np.asarray(
            self.numeric_columns_
            + [f"{c}_missing" for c in self.indicator_columns_]
            + [f"{c}_nonzero" for c in self.zero_columns_]
            + self.binary_columns_
            + [f"{c}={v}" for c in self.categorical_columns_ for v in self.categories_[c]],
            dtype=object,
        )
        if len(self.feature_names_out_) == 0:
            reasons = "; ".join(f"{k}: {v}" for k, v in self.excluded_.items())
            raise ValueError(f"no usable column left to segment on ({reasons})")
        return self

    def _fit_missing(self, df: pd.DataFrame) -> None:
        rows, seen, indicators = [], {}, []
        for col in df.columns:
            blank = df[col].isna().to_numpy()
            kept_numbers = col in self.medians_ and col not in self.excluded_
            gaps = np.isnan(self._raw(df, col)) if kept_numbers else blank
            n_missing = int(gaps.sum())
            if not n_missing:
                continue
            # infinite or unreadable values of a number column are treated as missing too
            odd = int(n_missing - blank.sum())
            extra = f"{odd:,} infinite or unreadable, " if odd else ""
            if col in self.excluded_:
                action = f"column excluded ({self.excluded_[col]})"
            elif col in self.categorical_columns_:
                action = f"kept as category {MISSING!r}"
            else:
                action = extra + (
                    f"imputed with the median {self.medians_[col]:.6g}"
                    if self.impute
                    else "left missing (the mixture model skips it)"
                )
                if self.missing_indicator and col in self.numeric_columns_:
                    pattern = gaps.tobytes()
                    if pattern in seen:
                        action += f"; missing pattern same as {seen[pattern]}'s (one indicator)"
                    else:
                        seen[pattern] = col
                        indicators.append(col)
                        action += f"; indicator {col}_missing"
            rows.append((col, n_missing, n_missing / len(df), action))
        self.indicator_columns_ = indicators
        self.missing_ = pd.DataFrame(rows, columns=["column", "n_missing", "share", "action"])

    def _fit_categories(self, df: pd.DataFrame) -> None:
        self.categories_ = {}
        for col in self.categorical_columns_:
            counts = self._as_category(df[col]).value_counts()
            keep = counts[counts >= max(self.rare_share * len(df), 1)].index[: self.max_categories]
            cats = [str(c) for c in keep]
            if len(keep) < len(counts) and OTHER not in cats:
                cats.append(OTHER)
            self.categories_[col] = cats

    @staticmethod
    def _frame(X: Any) -> pd.DataFrame:
        """``X`` as a table with text column names; an array-like is checked first."""
        if not isinstance(X, pd.DataFrame) and not hasattr(X, "to_pandas"):
            X = checked_array(X, "CustomerPreprocessor")
        return as_frame(X).rename(columns=str)

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: missing values are imputed (``impute``) or kept as missing."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    @staticmethod
    def _as_category(s: pd.Series) -> pd.Series:
        return s.astype(object).where(s.notna(), MISSING).astype(str)

    def transform(self, X: Any) -> np.ndarray:
        """Encode ``X`` with what ``fit`` learned.

        Parameters
        ----------
        X : DataFrame or pyarrow.Table
            Must hold every column that was kept in ``fit`` (excluded columns may be absent).

        Returns
        -------
        ndarray of shape (n_rows, n_features_out)
        """
        check_is_fitted(self, "feature_names_out_")
        df = self._frame(X)
        if not isinstance(X, pd.DataFrame) and df.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {df.shape[1]} features, but CustomerPreprocessor is expecting "
                f"{self.n_features_in_} features as input."
            )
        used = self.numeric_columns_ + self.binary_columns_ + self.categorical_columns_
        absent = [c for c in used if c not in df.columns]
        if absent:
            raise ValueError(f"the table lacks column(s) used in fit: {absent}")
        parts = [self._numeric_block(df, self.numeric_columns_, self.impute)]
        flags = [np.isnan(self._raw(df, c)) for c in self.indicator_columns_]
        for col in self.zero_columns_:
            x = self._raw(df, col)
            fill = float(self.medians_[col] != 0) if self.impute else np.nan
            flags.append(np.where(np.isnan(x), fill, x != 0))
        parts.append(np.column_stack(flags).astype(float) if flags else np.empty((len(df), 0)))
        for col in self.binary_columns_:
            x = self._raw(df, col)
            x = np.where(np.isnan(x), self.medians_[col] if self.impute else np.nan, x)
            parts.append((x * self.binary_weight).reshape(-1, 1))
        for col in self.categorical_columns_:
            s = self._as_category(df[col])
            cats = self.categories_[col]
            s = s.where(s.isin(cats), OTHER)
            parts.append(
                np.column_stack([(s == c).to_numpy(float) for c in cats]) * self.binary_weight
            )
        return np.hstack(parts)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns (``col``, ``col_missing``, ``col=category``)."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()
