"""How reason codes write names, values and contributions: the scalar definition of the text.

Display names, units and facets come from the feature catalogue
(:data:`segml.features.catalogue.CATALOGUE`): a feature the catalogue does not know (a bank's
own column) is shown by its column name. :func:`format_value` writes a feature value in its
unit, :func:`format_contribution` a signed contribution in the output's unit. The DuckDB writer
(:mod:`segml.explain.phrases`) is tested character for character against these.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from segml.explain.result import OutputSpec
from segml.features.catalogue import CATALOGUE, FACETS
from segml.money import money

__all__ = [
    "AMOUNT_UNITS",
    "FeatureText",
    "feature_texts",
    "format_contribution",
    "format_value",
    "group_display",
]

#: Units of amounts: a value written as 0 (or missing) means the customer has none of the
#: thing, so a phrase never says that it added value (see :mod:`segml.explain.reference`).
AMOUNT_UNITS = ("CNY", "CNY/year", "count", "persons")


@dataclass(frozen=True)
class FeatureText:
    """How a feature is named in a reason code."""

    name: str
    display: str
    unit: str
    group: str
    group_display: str


def feature_texts(names: list[str]) -> list[FeatureText]:
    """Display name, unit and facet group of each feature, from the catalogue."""
    return list(_feature_texts(tuple(names)))


@functools.lru_cache(maxsize=64)
def _feature_texts(names: tuple[str, ...]) -> tuple[FeatureText, ...]:
    out = []
    for n in names:
        doc = CATALOGUE.get(n)
        if doc is None:
            out.append(FeatureText(n, n.replace("_", " "), "", n, n.replace("_", " ")))
        else:
            out.append(FeatureText(n, doc.display, doc.unit, doc.group, FACETS.get(doc.group, doc.display)))  # fmt: skip
    return tuple(out)


def group_display(key: str) -> str:
    """Display name of a facet group or feature (``bal_deposit`` → ``deposit balance``)."""
    if key in FACETS:
        return FACETS[key]
    doc = CATALOGUE.get(key)
    return doc.display if doc is not None else key.replace("_", " ")


def _plain(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    if v == int(v) or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}" if abs(v) >= 1 else f"{v:.3g}"


def number_formatter(unit: str) -> Callable[[float], str]:
    """The function that writes a (non-missing) number in ``unit`` (see :func:`format_value`)."""
    if unit == "CNY":
        return money
    if unit == "CNY/year":
        return lambda v: f"{money(v)} a year"
    if unit == "0/1":
        return lambda v: "yes" if v >= 0.5 else "no"
    if unit == "share":
        return lambda v: f"{v:.0%}"
    if unit in ("days", "months", "years", "persons"):
        tail = f" {unit}"
        return lambda v: f"{v:,.0f}{tail}"
    if unit == "count":
        return lambda v: f"{v:,.0f}"
    if unit == "0-10":
        return lambda v: f"{v:.1f}/10"
    if unit in ("log ratio", "log-odds"):
        return lambda v: f"{v:+.2f}"
    if unit == "ratio":
        return lambda v: f"{v:.2f}"
    return _plain


def format_value(value: object, unit: str) -> str:
    """A feature value in its unit: ``¥1.2M``, ``¥45,000 a year``, ``35 days``, ``62%``, ``yes``."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "missing"
    if isinstance(value, str):
        return value
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "missing"
    return number_formatter(unit)(v)


def is_number(column: pd.Series) -> bool:
    """Whether ``column`` holds numbers (booleans included, categories not)."""
    return pd.api.types.is_bool_dtype(column) or (
        pd.api.types.is_numeric_dtype(column) and not isinstance(column.dtype, pd.CategoricalDtype)
    )


def format_values(column: pd.Series, rows: np.ndarray, unit: str) -> list[str]:
    """:func:`format_value` of ``column`` at positions ``rows``, without per-value dispatch."""
    part = column.iloc[rows]
    if is_number(part):
        fmt = number_formatter(unit)
        x = part.to_numpy(dtype=float, na_value=np.nan).tolist()
        return [fmt(v) if v == v else "missing" for v in x]
    return [format_value(v, unit) for v in part.to_numpy(dtype=object)]


def contribution_formatter(output: OutputSpec) -> Callable[[float], str]:
    """The function that writes a signed contribution with its tail (``+¥8,400 to annual value``)."""
    tail = f" to {output.label}"
    if output.unit in ("CNY", "CNY/year"):
        return lambda v: ("+" if v >= 0 else "") + money(v) + tail
    if output.unit == "points":
        return lambda v: f"{v:+.1f}".replace("-", "−") + tail
    return lambda v: f"{v:+.2f}".replace("-", "−") + tail


def format_contribution(value: float, output: OutputSpec) -> str:
    """A signed contribution in the output's unit: ``+¥8,400 to annual value``."""
    return contribution_formatter(output)(float(value))
