"""Segment profiles, and the measurements segment names are made from.

:func:`deviations` measures how far each segment sits from the whole population on every
column, in population standard deviations (on the signed-log scale for skewed columns; for a
0/1 column, the rate difference over the population's Bernoulli spread); :func:`absences`
marks the columns a segment has next to none of while the population has some.
:func:`profile_segments` reports size, share, value share, medians, product holding rates and
channel mix per segment. :func:`segml.segments.naming.name_segments` turns the first two into
names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from segml.columns import is_binary, is_numeric
from segml.segments.preprocess import signed_log1p

#: Columns tried, in order, as the customer value when none is named.
VALUE_CANDIDATES = ("profit_12m", "value", "clv", "customer_value", "profit", "margin", "revenue")
#: Holding columns (``has_*``) become holding rates; ``*_share`` columns make the channel mix.
HOLDING_PATTERN = re.compile(r"^has_")
MIX_PATTERN = re.compile(r"_share$")
#: A segment has none of a column when at most this share of its rows are non-zero ...
NONE_SHARE = 0.05
#: ... while at least this share of the population's rows are.
NONE_POPULATION = 0.25


def find_value_column(df: pd.DataFrame, candidates: Sequence[str] = VALUE_CANDIDATES) -> str | None:
    """The first numeric column of ``candidates`` present in ``df`` (``None`` if none).

    Examples
    --------
    >>> find_value_column(pd.DataFrame({"id": [1, 2], "revenue": [3.0, 4.5]}))
    'revenue'
    """
    for col in candidates:
        if col in df.columns and is_numeric(df[col]) and not is_binary(df[col]):
            return col
    return None


def _numeric(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        x = values.to_numpy(float, na_value=np.nan)  # no trip through Python objects
    else:
        x = pd.to_numeric(values.astype(object), errors="coerce").to_numpy(float, na_value=np.nan)  # fmt: skip
    return np.where(np.isfinite(x), x, np.nan)


def deviations(df: pd.DataFrame, labels: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """Each segment's deviation from the population on each column, in standard deviations.

    Numeric columns are compared on the signed-log scale when skewed (|skewness| > 1), 0/1
    columns as rates, categorical columns as ``col=category`` rates (categories held by at
    least 1% of rows). Missing values are left out.

    Returns
    -------
    DataFrame
        One row per segment (index), one column per feature.

    Examples
    --------
    >>> df = pd.DataFrame({"spend": [1.0, 2.0, 9.0, 10.0]})
    >>> deviations(df, [0, 0, 1, 1], ["spend"])["spend"].round(2).tolist()
    [-0.99, 0.99]
    """
    labels = np.asarray(labels)
    out: dict[str, pd.Series] = {}
    for col in columns:
        s = df[col]
        if is_numeric(s):
            x = _numeric(s)
            finite = x[np.isfinite(x)]
            if finite.size == 0 or finite.min() == finite.max():  # fewer than two values
                continue
            if not is_binary(s) and abs(stats.skew(finite)) > 1:
                x = signed_log1p(x)
            blocks = {col: x}
        else:
            s = s.astype(object)
            share = s.value_counts(normalize=True)
            codes, uniques = pd.factorize(s)  # one pass: each category is then a code
            missing = codes < 0
            blocks = {
                f"{col}={c}": np.where(missing, np.nan, (codes == uniques.get_loc(c)).astype(float))
                for c in share[share >= 0.01].index[:20]
            }
        for name, x in blocks.items():
            sd = np.nanstd(x)
            if not np.isfinite(sd) or sd == 0:
                continue
            means = pd.Series(x).groupby(labels).mean()
            out[name] = (means - np.nanmean(x)) / sd
    return pd.DataFrame(out).sort_index()


def absences(df: pd.DataFrame, labels: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """Where a segment has next to none of what the population has: "no full payments".

    A numeric column is absent from a segment when at most :data:`NONE_SHARE` of the
    segment's rows are non-zero while at least :data:`NONE_POPULATION` of all rows are (so
    that "none" sets the segment apart). Missing values are left out.

    Parameters
    ----------
    df : DataFrame
        The customers, in the order of ``labels``.
    labels : array of int
        Segment of each row.
    columns : sequence of str
        Columns to look at (non-numeric ones are skipped).

    Returns
    -------
    DataFrame of bool
        One row per segment (index), one column per numeric column where some segment could
        have none.

    Examples
    --------
    >>> df = pd.DataFrame({"PRC_FULL_PAYMENT": [0.0, 0.0, 0.0, 0.5, 1.0, 0.0]})
    >>> absences(df, [0, 0, 0, 1, 1, 1], ["PRC_FULL_PAYMENT"])["PRC_FULL_PAYMENT"].tolist()
    [True, False]
    """
    labels = np.asarray(labels)
    out: dict[str, pd.Series] = {}
    for col in columns:
        if not is_numeric(df[col]):
            continue
        x = _numeric(df[col])
        nonzero = pd.Series(np.where(np.isfinite(x), (x != 0).astype(float), np.nan))
        if not nonzero.notna().any() or nonzero.mean() < NONE_POPULATION:
            continue
        out[col] = nonzero.groupby(labels).mean() <= NONE_SHARE
    index = pd.Index(np.unique(labels))
    return pd.DataFrame(out, index=index).fillna(False).astype(bool)


def profile_segments(
    df: pd.DataFrame,
    labels: np.ndarray,
    columns: Sequence[str],
    value_col: str | None = None,
    describe: Sequence[str] = (),
) -> pd.DataFrame:
    """Size, share, value, medians, holding rates, channel mix and top categories per segment.

    Parameters
    ----------
    df : DataFrame
        The customers, in the order of ``labels``.
    labels : array of int
        Segment of each row.
    columns : sequence of str
        Columns the segmentation used (profiled).
    value_col : str, optional
        Customer value (e.g. ``profit_12m``): adds ``value_total``, ``value_share`` (the
        segment's share of the summed value; negative values make shares above 1 possible),
        ``value_mean`` (per customer) and ``value_median``.
    describe : sequence of str
        Further columns described but not used (e.g. demographics kept apart for fairness).

    Returns
    -------
    DataFrame
        One row per segment: ``segment``, ``size``, ``share``, value columns, then
        ``median:<col>`` (numeric), ``rate:<has_col>`` (holdings), ``mix:<col_share>`` (mean
        share) and ``top:<col>`` (most common category and its share).

    Examples
    --------
    >>> df = pd.DataFrame({"spend": [1.0, 3.0, 6.0]})
    >>> prof = profile_segments(df, [0, 0, 1], ["spend"], value_col="spend")
    >>> prof[["size", "value_share", "value_mean"]].values.tolist()
    [[2.0, 0.4, 2.0], [1.0, 0.6, 6.0]]
    """
    labels = np.asarray(labels)
    g = pd.Series(labels)
    sizes = g.value_counts().sort_index()
    prof = pd.DataFrame({"segment": sizes.index, "size": sizes.to_numpy()})
    prof["share"] = prof["size"] / len(labels)
    if value_col is not None:
        v = pd.Series(_numeric(df[value_col]))
        total = v.groupby(labels).sum().reindex(sizes.index)
        prof["value_total"] = total.to_numpy()
        prof["value_share"] = (total / v.sum()).to_numpy() if v.sum() else np.nan
        prof["value_mean"] = v.groupby(labels).mean().reindex(sizes.index).to_numpy()
        prof["value_median"] = v.groupby(labels).median().reindex(sizes.index).to_numpy()
    cols = list(dict.fromkeys([*columns, *describe]))
    for col in cols:
        s = df[col]
        if is_numeric(s) and not is_binary(s):
            x = pd.Series(_numeric(s)).groupby(labels)
            key = "mix" if MIX_PATTERN.search(col) else "median"
            agg = x.mean() if key == "mix" else x.median()
            prof[f"{key}:{col}"] = agg.reindex(sizes.index).to_numpy()
        elif is_binary(s):
            if HOLDING_PATTERN.search(col) or not any(map(HOLDING_PATTERN.search, cols)):
                rate = pd.Series(_numeric(s)).groupby(labels).mean()
                prof[f"rate:{col}"] = rate.reindex(sizes.index).to_numpy()
        else:
            top = []
            for seg in sizes.index:
                counts = s[labels == seg].astype(object).value_counts(normalize=True)
                top.append(f"{counts.index[0]} ({counts.iloc[0]:.0%})" if len(counts) else "")
            prof[f"top:{col}"] = top
    return prof
