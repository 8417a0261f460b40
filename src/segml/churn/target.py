"""The churn target as 0/1 labels: :func:`binary_target`, and the key of a category value.

:func:`binary_target` turns a target column into 0/1 (``positive`` names the positive class;
otherwise a 0/1 or boolean column, or two text values one of which is in
:data:`POSITIVE_WORDS`). :func:`category_key` is how a value is written as a category, here and
in :class:`~segml.churn.tabular.TabularEncoder`; :func:`check_labels` checks 0/1 labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segml.boosters import is_all_text

__all__ = ["POSITIVE_WORDS", "binary_target", "category_key", "category_keys", "check_labels"]

#: Text values read as the positive class of a two-valued target when ``positive`` is not given.
POSITIVE_WORDS = frozenset(
    {
        "1",
        "1.0",
        "true",
        "t",
        "yes",
        "y",
        "churn",
        "churned",
        "churner",
        "left",
        "exited",
        "attrited",
        "closed",
        "lost",
        "bad",
        "default",
        "defaulted",
        "positive",
        "pos",
    }
)


def category_key(value: Any) -> str:
    """A category's key: its text, with integral floats written as integers.

    Parameters
    ----------
    value : any
        A cell.

    Returns
    -------
    str
        ``str(value)``, ``"1"`` for ``1.0``.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def category_keys(values: pd.Series) -> pd.Series:
    """:func:`category_key` of each value, NaN where one is missing.

    Text is its own key, so a column of text is keyed by its distinct values at once (a
    Python call per row cost seconds on a million rows); other columns value by value.
    """
    if is_all_text(values):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        keys = np.append(np.asarray(uniques, dtype=object), np.nan)
        out = pd.Series(keys[codes], index=values.index, name=values.name)
        return out.astype(values.dtype) if isinstance(values.dtype, pd.StringDtype) else out
    return values.map(category_key).where(values.notna())


def binary_target(
    values: pd.Series, positive: str | None = None, name: str = "target"
) -> tuple[np.ndarray, dict[str, Any]]:
    """0/1 target from a column; rows with a missing target are the caller's to drop first.

    Parameters
    ----------
    values : Series
        The target, without missing values.
    positive : str, optional
        The positive class, compared as text with each value (``1`` and ``1.0`` both match
        ``"1"``). Needed when the column has more than two values (positive vs the rest) or
        two text values neither or both of which is in :data:`POSITIVE_WORDS`.
    name : str
        Column name for messages.

    Returns
    -------
    (ndarray of int, dict)
        The labels, and ``{"column", "positive", "negative", "rule"}`` describing the mapping.

    Raises
    ------
    ValueError
        Naming the column and its values when the target has one class, when ``positive`` is
        not one of its values, or when the positive class is ambiguous.
    """
    keys = values.map(category_key).astype(object)
    counts = keys.value_counts()
    seen = list(counts.index)
    shown = ", ".join(repr(v) for v in seen[:10]) + (" ..." if len(seen) > 10 else "")
    if len(seen) < 2:
        raise ValueError(f"target column {name!r} has a single class ({shown}): nothing to predict")
    if positive is not None:
        if str(positive) not in counts.index:
            raise ValueError(
                f"--positive {positive!r} is not a value of target column {name!r} "
                f"(values: {shown})"
            )
        pos, rule = str(positive), "named by the caller"
    elif len(seen) > 2:
        raise ValueError(
            f"target column {name!r} has {len(seen)} values ({shown}): name the positive class "
            "with --positive"
        )
    elif set(seen) == {"0", "1"}:
        pos, rule = "1", "0/1 target"
    elif pd.api.types.is_bool_dtype(values):
        pos, rule = "True", "boolean target"
    else:
        hits = [v for v in seen if v.strip().lower() in POSITIVE_WORDS]
        if len(hits) != 1:
            raise ValueError(
                f"target column {name!r} has two values ({shown}) and which is positive is "
                "ambiguous: name it with --positive"
            )
        pos, rule = hits[0], f"{hits[0]!r} read as the positive class"
    y = (keys == pos).to_numpy(dtype=np.int64)
    if y.sum() in (0, len(y)):  # pragma: no cover - guarded by the count check above
        raise ValueError(f"target column {name!r} has a single class after mapping")
    negative = [v for v in seen if v != pos]
    info = {"column": name, "positive": pos, "negative": negative[:20], "rule": rule}
    return y, info


def check_labels(y: Any, what: str) -> np.ndarray:
    """Labels ``y`` as a 1-D int64 array of 0 and 1.

    Parameters
    ----------
    y : array-like
        The labels (numbers equal to 0 or 1).
    what : str
        Their name, for messages (``"y"``, ``"y_val"``).

    Returns
    -------
    ndarray of int64

    Raises
    ------
    ValueError
        When ``y`` is not 1-D or holds another value.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {arr.shape}")
    try:
        out = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be 0/1, got values such as {arr[:3].tolist()}") from exc
    bad = np.unique(out[~np.isin(out, (0.0, 1.0))])
    if len(bad):
        raise ValueError(f"{what} must be 0/1, found {bad[:5].tolist()}")
    return out.astype(np.int64)
