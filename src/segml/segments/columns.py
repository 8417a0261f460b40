"""Decide what each column of a customer table is: identifier, constant, numeric, flag, category.

:func:`classify_columns` is the first step of
:class:`~segml.segments.preprocess.CustomerPreprocessor`; every column it leaves out comes back
with a reason a reader can act on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segml.textcols import id_like, is_date_text, nested_values, numeric_text

#: Column names that identify rather than describe a customer (``id``, ``*_id``, ``*_key`` ...).
ID_NAME_PATTERN = re.compile(r"(^|_)(id|key|uuid|guid)$|^id_", re.IGNORECASE)


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


def show(value: Any) -> str:
    """A value as a reader would write it (``1``, not ``np.int32(1)``)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value) if isinstance(value, str) else str(value)


def is_binary(values: pd.Series) -> bool:
    """True for booleans and for numbers whose only values are 0 and 1."""
    if pd.api.types.is_bool_dtype(values):
        return True
    if not pd.api.types.is_numeric_dtype(values):
        return False
    uniq = values.dropna().unique()
    return len(uniq) == 2 and {float(v) for v in uniq} == {0.0, 1.0}


def is_numeric(values: pd.Series) -> bool:
    """True for numeric and boolean columns."""
    return pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


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
        reason = None
        if n_missing == n:
            reason = "all values missing"
        elif ID_NAME_PATTERN.search(name):
            reason = "id-like: the name marks an identifier"
        elif pd.api.types.is_datetime64_any_dtype(s) or isinstance(
            s.dtype, pd.PeriodDtype | pd.IntervalDtype
        ):
            reason = "date/time: derive durations or counts from it first"
        elif not numeric and is_date_text(s):
            reason = "date/time text: derive durations or counts from it first"
        elif n_unique <= 1:
            reason = f"constant: every non-missing value is {show(nonnull.iloc[0])}"
        elif n_missing / n > max_missing_share:
            reason = f"{n_missing / n:.1%} missing (limit {max_missing_share:.0%})"
        elif (ids := id_like(s, n, id_unique_share, from_text=text_numbers)) is not None:
            reason = ids
        else:
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
