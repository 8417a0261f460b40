"""Decide what each column of a customer table is: identifier, constant, numeric, flag, category.

:func:`classify_columns` is the first step of
:class:`~segml.segments.preprocess.CustomerPreprocessor`; every column it leaves out comes back
with a reason a reader can act on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from segml.columns import is_binary, is_numeric, show, unusable_reason
from segml.textcols import id_like, nested_values, numeric_text


@dataclass
class ColumnRoles:
    """Roles of a table's columns; ``excluded`` maps each left-out column to the reason."""

    numeric: list[str] = field(default_factory=list)
    binary: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)


def as_frame(data: Any) -> pd.DataFrame:
    """A pandas DataFrame from a DataFrame, a pyarrow Table or anything DataFrame accepts."""
    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "to_pandas"):
        return data.to_pandas()
    return pd.DataFrame(data)


def classify_columns(
    df: pd.DataFrame,
    *,
    exclude: Iterable[str] = (),
    max_missing_share: float = 0.95,
    id_unique_share: float = 0.99,
    near_constant_share: float = 0.995,
    max_category_share: float = 0.5,
    max_categories: int = 20,
) -> ColumnRoles:
    """Sort the columns of ``df`` into numeric, binary, categorical and excluded.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    exclude : iterable of str
        Columns the caller leaves out.
    max_missing_share : float
        Columns missing in more rows than this share are excluded.
    id_unique_share : float
        A text or integer column (over 20 rows) with at least this share of distinct values is an
        identifier.
    near_constant_share : float
        A column whose most common value covers at least this share of rows is excluded.
    max_category_share, max_categories : float, int
        A text column with more distinct values than ``max_category_share`` of the rows (and
        than ``2 * max_categories``) is free text and is excluded.

    Returns
    -------
    ColumnRoles
        The kept columns by role, and the excluded ones with their reasons, in table order.
    """
    roles = ColumnRoles()
    asked = {str(c) for c in exclude}
    n = len(df)
    for col in df.columns:
        s, name = df[col], str(col)
        if name in asked:
            roles.excluded[name] = "excluded by the caller"
            continue
        nested = nested_values(s)
        if nested is not None:
            roles.excluded[name] = f"nested values ({nested}s): flatten them into columns first"
            continue
        parsed = numeric_text(s)
        text_numbers = parsed is not None
        if text_numbers:  # numbers written as text ("3,659.52"): judged as the numbers
            s = parsed
        n_missing = int(s.isna().sum())
        nonnull = s.dropna()
        n_unique = int(nonnull.nunique())
        numeric = is_numeric(s)
        reason = unusable_reason(s, name)
        if reason is None and n_missing / n > max_missing_share:
            reason = f"{n_missing / n:.1%} missing (limit {max_missing_share:.0%})"
        if reason is None:
            reason = id_like(s, n, id_unique_share, from_text=text_numbers)
        if reason is None:
            counts = nonnull.value_counts()
            if counts.iloc[0] / n >= near_constant_share:
                reason = (
                    f"near-constant: {counts.iloc[0] / n:.1%} of rows are {show(counts.index[0])}"
                )
            elif not numeric and n_unique > max(max_category_share * n, 2 * max_categories):
                reason = f"free text: {n_unique:,} distinct values in {n:,} rows"
        if reason is not None:
            roles.excluded[name] = reason
        elif numeric and is_binary(s):
            roles.binary.append(name)
        elif numeric:
            roles.numeric.append(name)
        else:
            roles.categorical.append(name)
    return roles
