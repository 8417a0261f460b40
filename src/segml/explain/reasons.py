"""Reason codes: each customer's largest contributions as readable phrases.

Display names, units and facets come from the feature catalogue
(:data:`segml.features.catalogue.CATALOGUE`), not from this module: a feature the catalogue does
not know (a bank's own column) is shown by its column name. Features that are facets of one
thing (several windows of one balance) are grouped: their contributions are summed and the
member that contributed most is quoted, with the customer's own value and unit::

    deposit 3-month average balance: ¥1.2M (+¥8,400 to annual value, incl. other deposit balance measures)
    expected credit loss: ¥12,500 a year (−¥9,800 to annual value)

:func:`reason_codes` ranks groups by |contribution| and writes the top ``k`` (default 4, as
adverse-action practice asks), positive and negative. The scalar formatters here define the
text; for large tables one DuckDB query writes the same phrases (:mod:`segml.explain.phrases`,
tested character for character against them), about 4 s for a million customers on 2 cores.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from segml.explain.phrases import EXACT_BELOW, render_phrases
from segml.explain.result import ModelExplanation, OutputSpec
from segml.features.catalogue import CATALOGUE, FACETS
from segml.money import money

__all__ = ["DEFAULT_TOP_K", "FeatureText", "feature_texts", "format_value", "group_contributions", "reason_codes"]  # fmt: skip

DEFAULT_TOP_K = 4
#: From this many phrases (customers × k) on, :func:`reason_codes` lets DuckDB write them.
DUCKDB_MIN_PHRASES = 20_000


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


def _number_formatter(unit: str) -> Callable[[float], str]:
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
    return _number_formatter(unit)(v)


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(column) or (
        pd.api.types.is_numeric_dtype(column) and not isinstance(column.dtype, pd.CategoricalDtype)
    )


def _format_values(column: pd.Series, rows: np.ndarray, unit: str) -> list[str]:
    """:func:`format_value` of ``column`` at positions ``rows``, without per-value dispatch."""
    part = column.iloc[rows]
    if _is_number(part):
        fmt = _number_formatter(unit)
        x = part.to_numpy(dtype=float, na_value=np.nan).tolist()
        return [fmt(v) if v == v else "missing" for v in x]
    return [format_value(v, unit) for v in part.to_numpy(dtype=object)]


def _contribution_formatter(output: OutputSpec) -> Callable[[float], str]:
    tail = f" to {output.label}"
    if output.unit in ("CNY", "CNY/year"):
        return lambda v: ("+" if v >= 0 else "") + money(v) + tail
    if output.unit == "points":
        return lambda v: f"{v:+.1f}".replace("-", "−") + tail
    return lambda v: f"{v:+.2f}".replace("-", "−") + tail


def format_contribution(value: float, output: OutputSpec) -> str:
    """A signed contribution in the output's unit: ``+¥8,400 to annual value``."""
    return _contribution_formatter(output)(float(value))


def group_contributions(
    values: np.ndarray, names: list[str]
) -> tuple[np.ndarray, list[str], list[str], np.ndarray, np.ndarray]:
    """Sum contributions by facet group.

    Returns
    -------
    grouped : ndarray, customers × groups
        Summed contributions.
    groups : list of str
        Group keys, in first-seen order of ``names``.
    displays : list of str
        Their display names.
    quoted : ndarray of int, customers × groups
        Per customer and group, the feature (index into ``names``) whose |contribution| is
        largest: the one a reason code quotes.
    several : ndarray of bool, customers × groups
        Whether more than one member of the group contributed.
    """
    groups, displays, members = _groups(tuple(names))
    n = values.shape[0]
    grouped = np.empty((n, len(groups)))
    quoted = np.empty((n, len(groups)), dtype=np.int64)
    several = np.zeros((n, len(groups)), dtype=bool)
    for g, idx in enumerate(members):
        if len(idx) == 1:
            grouped[:, g] = values[:, idx[0]]
            quoted[:, g] = idx[0]
            continue
        part = values[:, idx]
        grouped[:, g] = part.sum(axis=1)
        quoted[:, g] = idx[np.argmax(np.abs(part), axis=1)]
        several[:, g] = (part != 0.0).sum(axis=1) > 1
    return grouped, list(groups), list(displays), quoted, several


@functools.lru_cache(maxsize=64)
def _groups(names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[np.ndarray, ...]]:  # fmt: skip
    """Group keys (first-seen order), their display names and their members' positions."""
    groups: list[str] = []
    displays: list[str] = []
    members: dict[str, list[int]] = {}
    for i, t in enumerate(_feature_texts(names)):
        if t.group not in members:
            members[t.group] = []
            groups.append(t.group)
            displays.append(t.group_display)
        members[t.group].append(i)
    return tuple(groups), tuple(displays), tuple(np.asarray(members[g]) for g in groups)


def top_groups(grouped: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` largest |values|, largest first (ties: first column).

    ``k`` passes of ``argmax`` (which takes the first of equal maxima): the order of a stable
    descending sort, without sorting every column.
    """
    a = np.abs(grouped)
    k = min(k, a.shape[1])
    top = np.empty((a.shape[0], k), dtype=np.int64)
    rows = np.arange(a.shape[0])
    for j in range(k):
        top[:, j] = np.argmax(a, axis=1) if a.shape[0] else 0
        a[rows, top[:, j]] = -1.0  # below every |value|
    return top


def reason_codes(
    explanation: ModelExplanation,
    raw: pd.DataFrame,
    k: int = DEFAULT_TOP_K,
    prefix: str = "reason",
    engine: Literal["auto", "python", "duckdb"] = "auto",
) -> pd.DataFrame:
    """Top-``k`` reason codes per customer.

    Parameters
    ----------
    explanation : ModelExplanation
        Contributions to explain.
    raw : DataFrame
        The customers' feature values, in the same row order, holding every explained feature
        (the values quoted; categoricals as their labels).
    k : int
        Reasons per customer (groups with a contribution of exactly 0 are left out).
    prefix : str
        Column prefix.
    engine : {"auto", "python", "duckdb"}
        Who writes the phrases: Python's formatting (the definition), or one DuckDB query
        (:mod:`segml.explain.phrases`: the same text, ~8× faster); "auto" takes DuckDB from
        :data:`DUCKDB_MIN_PHRASES` phrases on.

    Returns
    -------
    DataFrame
        ``customer_id``, then for i = 1..k: ``{prefix}_{i}`` (the phrase, None when fewer
        reasons), ``{prefix}_{i}_driver`` (the group key) and ``{prefix}_{i}_impact`` (its
        summed contribution).
    """
    if len(raw) != len(explanation):
        raise ValueError(f"raw has {len(raw)} rows but the explanation {len(explanation)}")
    names = explanation.feature_names
    missing = [c for c in names if c not in raw.columns]
    if missing:
        raise ValueError(f"raw lacks the explained column(s) {missing}")
    texts = feature_texts(names)
    grouped, groups, displays, quoted, several = group_contributions(explanation.values, names)
    top = top_groups(grouped, k)
    rows = np.arange(len(raw))[:, None]
    impact = grouped[rows, top]
    feat = quoted[rows, top]
    multi = several[rows, top]
    if engine not in ("auto", "python", "duckdb"):
        raise ValueError(f"engine must be 'auto', 'python' or 'duckdb', got {engine!r}")
    if engine == "auto":
        engine = "duckdb" if impact.size >= DUCKDB_MIN_PHRASES else "python"
    render = _render_duckdb if engine == "duckdb" else _render_python
    slots = render(_Picked(explanation.output, raw, texts, groups, displays, feat, impact, multi))
    cols: dict[str, object] = {"customer_id": explanation.ids}
    keys = np.asarray(groups, dtype=object)
    for j in range(top.shape[1]):
        cols[f"{prefix}_{j + 1}"] = slots[j]
        cols[f"{prefix}_{j + 1}_driver"] = np.where(impact[:, j] != 0.0, keys[top[:, j]], None)
        cols[f"{prefix}_{j + 1}_impact"] = impact[:, j]
    return pd.DataFrame(cols)


def _by_feature(feat: np.ndarray, impact: np.ndarray) -> list[np.ndarray]:
    """Positions of the rows with a non-zero impact, grouped by the feature quoted."""
    live = np.flatnonzero(impact != 0.0)
    order = live[np.argsort(feat[live], kind="stable")]
    return np.split(order, np.flatnonzero(np.diff(feat[order])) + 1) if len(order) else []


def _also(t: FeatureText, groups: list[str], displays: list[str]) -> str:
    return f", incl. other {displays[groups.index(t.group)]} measures)"


@dataclass(frozen=True)
class _Picked:
    """The top-k reasons chosen, before they are written: per customer (rows) and reason
    (columns) the feature quoted, the group's impact and whether other members contributed."""

    output: OutputSpec
    raw: pd.DataFrame
    texts: list[FeatureText]
    groups: list[str]
    displays: list[str]
    feat: np.ndarray
    impact: np.ndarray
    multi: np.ndarray


def _render_python(p: _Picked) -> list[np.ndarray]:
    output, raw, texts, groups, displays = p.output, p.raw, p.texts, p.groups, p.displays
    feat, impact, multi = p.feat, p.impact, p.multi
    contribution = _contribution_formatter(output)
    slots = []
    for j in range(feat.shape[1]):
        phrases = np.full(len(raw), None, dtype=object)
        for at in _by_feature(feat[:, j], impact[:, j]):
            t = texts[int(feat[at[0], j])]
            head, also = f"{t.display}: ", _also(t, groups, displays)
            values = _format_values(raw[t.name], at, t.unit)
            effects = [contribution(v) for v in impact[at, j].tolist()]
            phrases[at] = [
                f"{head}{a} ({b}{also if m else ')'}"
                for a, b, m in zip(values, effects, multi[at, j].tolist(), strict=True)
            ]
        slots.append(phrases)
    return slots


def _render_duckdb(p: _Picked) -> list[pd.Series | np.ndarray]:
    output, raw, texts, groups, displays = p.output, p.raw, p.texts, p.groups, p.displays
    feat, impact, multi = p.feat, p.impact, p.multi
    n, k = feat.shape
    x = np.full((k, n), np.nan)
    written: list[str | None] | None = None  # made when a value is written here
    for j in range(k):
        for at in _by_feature(feat[:, j], impact[:, j]):
            t = texts[int(feat[at[0], j])]
            col = raw[t.name].iloc[at]
            if _is_number(col):
                v = col.to_numpy(dtype=float, na_value=np.nan)
                x[j, at] = v
                big = np.flatnonzero(np.abs(v) >= EXACT_BELOW)  # NaN compares False
            else:  # text and categories: written here, as format_value writes them
                big = np.arange(len(at))
            if len(big):
                written = written if written is not None else [None] * (k * n)
                values = col.to_numpy(dtype=object)
                for i in big.tolist():
                    written[j * n + int(at[i])] = format_value(values[i], t.unit)
    effects = impact.T.reshape(-1)
    huge = np.flatnonzero(np.abs(effects) >= EXACT_BELOW)
    effect_text: list[str | None] | None = None
    if len(huge):
        contribution = _contribution_formatter(output)
        effect_text = [None] * len(effects)
        for i in huge.tolist():
            effect_text[i] = contribution(float(effects[i]))[: -len(f" to {output.label}")]
    phrases = render_phrases(
        feat.T.reshape(-1), x.reshape(-1), written, effects, effect_text, multi.T.reshape(-1),
        [f"{t.display}: " for t in texts], [t.unit for t in texts],
        [_also(t, groups, displays) for t in texts], output,
    )  # fmt: skip
    slots = [phrases.slice(j * n, n).to_pandas() for j in range(k)]
    # a slot without any phrase stays None, as the Python writer leaves it
    return [np.full(n, None, dtype=object) if s.isna().all() else s for s in slots]


def reason_list(row: pd.Series, prefix: str = "reason") -> list[str]:
    """The non-empty reason phrases of one row of :func:`reason_codes`, in order."""
    out = []
    j = 1
    while f"{prefix}_{j}" in row.index:
        v = row[f"{prefix}_{j}"]
        if isinstance(v, str) and v:
            out.append(v)
        j += 1
    return out
