"""Column roles: which columns of a customer table identify, date, describe people or measure.

The one home of the rules every model applies to a user's columns before it learns from them:
:data:`ID_NAME_PATTERN` (names that mark an identifier), :data:`DEMOGRAPHIC` (columns kept
apart for fairness: described, never modelled), :func:`is_numeric` and :func:`is_binary`, and
:func:`unusable_reason`, why a column can be no feature at all (all missing, an identifier's
name, dates, a single value). :func:`segml.segments.classify_columns` and
:class:`segml.churn.tabular.TabularEncoder` both start from it; the value checks on text
(numbers or dates written as text, identifiers by their values) are in :mod:`segml.textcols`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from segml.textcols import is_date_text

__all__ = [
    "DEMOGRAPHIC",
    "ID_NAME_PATTERN",
    "is_binary",
    "is_numeric",
    "show",
    "unusable_reason",
]

#: Column names that identify rather than describe a customer (``id``, ``*_id``, ``*_key`` ...).
ID_NAME_PATTERN = re.compile(r"(^|_)(id|key|uuid|guid)$|^id_", re.IGNORECASE)

#: Demographic columns of the feature table: described in profiles and fairness checks, never
#: used by a model or a clustering.
DEMOGRAPHIC = ("region", "gender", "age", "age_band", "income_band", "occupation")


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


def _dates(values: pd.Series) -> str | None:
    if pd.api.types.is_datetime64_any_dtype(values) or isinstance(
        values.dtype, pd.PeriodDtype | pd.IntervalDtype
    ):
        return "date/time: derive durations or counts from it first"
    return None


def unusable_reason(values: pd.Series, name: str, constant_first: bool = False) -> str | None:
    """Why column ``name`` can be no feature whatever the model, or None.

    Parameters
    ----------
    values : Series
        The column (numbers written as text already parsed, where the caller does so).
    name : str
        Its name.
    constant_first : bool, default False
        Name a constant column of dates written as text "constant" (the check of a single value
        before that of date text), as :class:`~segml.churn.tabular.TabularEncoder` does.

    Returns
    -------
    str or None
        In order: all values missing, an identifier's name (:data:`ID_NAME_PATTERN`), a date or
        time type, dates written as text, a single distinct value; None for a usable column.
    """
    nonnull = values.dropna()
    if nonnull.empty:
        return "all values missing"
    if ID_NAME_PATTERN.search(name):
        return "id-like: the name marks an identifier"
    if (dated := _dates(values)) is not None:
        return dated
    constant = None
    if nonnull.nunique() <= 1:
        constant = f"constant: every non-missing value is {show(nonnull.iloc[0])}"
    if constant is not None and constant_first:
        return constant
    if not is_numeric(values) and is_date_text(nonnull):
        return "date/time text: derive durations or counts from it first"
    return constant
