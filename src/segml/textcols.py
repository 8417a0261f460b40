"""What a text column of a user's table holds: numbers written as text, dates, nested values.

CSV files carry every value as text. A column of amounts written with thousands separators
(``"3,659.52"``) or of dates (``"2024-06-30"``) arrives as text and would otherwise be taken
for an identifier or a category; a Parquet column may hold lists or structs. Both
``segml segment`` (:mod:`segml.segments.columns`) and ``segml churn train``
(:mod:`segml.churn.tabular`) sort columns with these checks.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: A number as text: optional sign, digits with or without thousands separators (``1,234``),
#: decimals, exponent.
NUM_TEXT = re.compile(r"^\s*[-+]?(\d{1,3}(,\d{3})+(\.\d*)?|\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
#: A date, optionally with a time: ``2024-06-30``, ``2024/6/30 12:00``, ``30.06.2024``.
DATE_TEXT = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})([ T]\d{1,2}:\d{2}.*)?\s*$"
)


def share_matching(values: pd.Series, pattern: re.Pattern[str], sample: int = 2000) -> float:
    """Share of (up to ``sample``) non-missing values whose text matches ``pattern``."""
    text = values.dropna().head(sample).astype(str)
    return float(text.str.match(pattern).mean()) if len(text) else 0.0


def parse_numbers(s: pd.Series) -> pd.Series:
    """Text as numbers (thousands separators allowed); blanks and unreadable values are missing."""
    text = s.astype("string").str.strip()
    # in a value NUM_TEXT accepts, a comma can only be a thousands separator
    text = text.where(~text.str.match(NUM_TEXT).fillna(False), text.str.replace(",", ""))
    return pd.to_numeric(text.astype(object).where(text.notna()), errors="coerce").astype(float)


def numeric_text(s: pd.Series, min_share: float = 0.95) -> pd.Series | None:
    """The column parsed as numbers if at least ``min_share`` of its non-blank values are numbers.

    Returns None for a column that is not text or does not hold numbers.
    """
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return None
    counts = s.dropna().astype(str).value_counts()  # each distinct text read once
    counts = counts[counts.index.str.strip() != ""]
    if counts.empty or counts[counts.index.str.match(NUM_TEXT)].sum() / counts.sum() < min_share:
        return None
    return parse_numbers(s)


def is_date_text(s: pd.Series, min_share: float = 0.95) -> bool:
    """True for a text column whose values (at least ``min_share``) read as dates."""
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return False
    return share_matching(s, DATE_TEXT) >= min_share


def nested_values(s: pd.Series, sample: int = 2000) -> str | None:
    """The kind of nested values (``"list"``, ``"struct"``) a column holds, or None."""
    if s.dtype != object:
        return None
    for v in s.dropna().head(sample):
        if isinstance(v, dict):
            return "struct"
        if isinstance(v, list | tuple | set | np.ndarray):
            return "list"
    return None


def id_like(
    values: pd.Series, n_rows: int, min_share: float, from_text: bool = False
) -> str | None:
    """Why a column is an identifier by its values (one distinct value per row), or None.

    Integers and text are identifiers when at least ``min_share`` of the non-missing values are
    distinct (and more than two, in a table of over 20 rows). Floats are measurements, except
    whole numbers read from text (``from_text``, e.g. ``"000123"`` parsed by
    :func:`numeric_text`); booleans never are.
    """
    nonnull = values.dropna()
    distinct = int(nonnull.nunique())
    if n_rows <= 20 or distinct <= 2 or distinct < min_share * len(nonnull):
        return None
    if pd.api.types.is_bool_dtype(values):
        return None
    if from_text:
        if not bool((nonnull == np.round(nonnull)).all()):
            return None
        return f"id-like: {distinct:,} distinct whole numbers (as text) in {len(nonnull):,} rows"
    if pd.api.types.is_float_dtype(values):
        return None
    return f"id-like: {distinct:,} distinct values in {len(nonnull):,} rows"
