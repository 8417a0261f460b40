"""Reason codes: each customer's largest contributions as readable phrases.

Display names, units and facets come from the feature catalogue
(:data:`segml.features.catalogue.CATALOGUE`), not from this module: a feature the catalogue does
not know (a bank's own column) is shown by its column name. Features that are facets of one
thing (several windows of one balance) are grouped: their contributions are summed and the
member that contributed most is quoted, with the customer's own value and unit::

    deposit 3-month average balance: ¥1.2M (+¥8,400 to annual value, incl. other deposit balance measures)
    expected credit loss: ¥12,500 a year (−¥9,800 to annual value)

:func:`reason_codes` ranks groups by |contribution| and writes the top ``k`` (default 4, as
adverse-action practice asks), positive and negative, vectorised so a million customers take
seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from segml.explain.result import ModelExplanation, OutputSpec
from segml.features.catalogue import CATALOGUE, FACETS

__all__ = ["DEFAULT_TOP_K", "FeatureText", "feature_texts", "format_value", "group_contributions", "reason_codes"]  # fmt: skip

DEFAULT_TOP_K = 4


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
    out = []
    for n in names:
        doc = CATALOGUE.get(n)
        if doc is None:
            out.append(FeatureText(n, n.replace("_", " "), "", n, n.replace("_", " ")))
        else:
            out.append(FeatureText(n, doc.display, doc.unit, doc.group, FACETS.get(doc.group, doc.display)))  # fmt: skip
    return out


def group_display(key: str) -> str:
    """Display name of a facet group or feature (``bal_deposit`` → ``deposit balance``)."""
    if key in FACETS:
        return FACETS[key]
    doc = CATALOGUE.get(key)
    return doc.display if doc is not None else key.replace("_", " ")


def _money(v: float) -> str:
    a = abs(v)
    sign = "−" if v < 0 else ""
    if a >= 1e9:
        return f"{sign}¥{a / 1e9:.1f}B"
    if a >= 1e6:
        return f"{sign}¥{a / 1e6:.1f}M"
    return f"{sign}¥{a:,.0f}"


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
    if unit == "CNY":
        return _money(v)
    if unit == "CNY/year":
        return f"{_money(v)} a year"
    if unit == "0/1":
        return "yes" if v >= 0.5 else "no"
    if unit == "share":
        return f"{v:.0%}"
    if unit in ("days", "months", "years", "persons"):
        return f"{v:,.0f} {unit}"
    if unit == "count":
        return f"{v:,.0f}"
    if unit == "0-10":
        return f"{v:.1f}/10"
    if unit in ("log ratio", "log-odds"):
        return f"{v:+.2f}"
    if unit == "ratio":
        return f"{v:.2f}"
    if v == int(v) or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}" if abs(v) >= 1 else f"{v:.3g}"


def format_contribution(value: float, output: OutputSpec) -> str:
    """A signed contribution in the output's unit: ``+¥8,400 to annual value``."""
    if output.unit in ("CNY", "CNY/year"):
        text = ("+" if value >= 0 else "") + _money(value)
    elif output.unit == "points":
        text = f"{value:+.1f}".replace("-", "−")
    else:
        text = f"{value:+.2f}".replace("-", "−")
    return f"{text} to {output.label}"


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
    texts = feature_texts(names)
    groups: list[str] = []
    displays: list[str] = []
    members: dict[str, list[int]] = {}
    for i, t in enumerate(texts):
        if t.group not in members:
            members[t.group] = []
            groups.append(t.group)
            displays.append(t.group_display)
        members[t.group].append(i)
    n = values.shape[0]
    grouped = np.empty((n, len(groups)))
    quoted = np.empty((n, len(groups)), dtype=np.int64)
    several = np.zeros((n, len(groups)), dtype=bool)
    for g, key in enumerate(groups):
        idx = np.asarray(members[key])
        part = values[:, idx]
        grouped[:, g] = part.sum(axis=1)
        quoted[:, g] = idx[np.argmax(np.abs(part), axis=1)] if len(idx) > 1 else idx[0]
        if len(idx) > 1:
            several[:, g] = (part != 0.0).sum(axis=1) > 1
    return grouped, groups, displays, quoted, several


def top_groups(grouped: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` largest |values|, largest first (ties: first column)."""
    k = min(k, grouped.shape[1])
    order = np.argsort(-np.abs(grouped), axis=1, kind="stable")
    return order[:, :k]


def reason_codes(
    explanation: ModelExplanation,
    raw: pd.DataFrame,
    k: int = DEFAULT_TOP_K,
    prefix: str = "reason",
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
    columns = {c: raw[c].to_numpy(dtype=object) for c in names}
    out = pd.DataFrame({"customer_id": explanation.ids})
    out_spec = explanation.output
    for j in range(top.shape[1]):
        phrases: list[str | None] = []
        for i, (g, f, v, m) in enumerate(
            zip(top[:, j], feat[:, j], impact[:, j], multi[:, j], strict=True)
        ):
            if v == 0.0:
                phrases.append(None)
                continue
            t = texts[f]
            also = f", incl. other {displays[g]} measures" if m else ""
            phrases.append(
                f"{t.display}: {format_value(columns[t.name][i], t.unit)} "
                f"({format_contribution(float(v), out_spec)}{also})"
            )
        out[f"{prefix}_{j + 1}"] = phrases
        out[f"{prefix}_{j + 1}_driver"] = np.where(impact[:, j] != 0.0, np.asarray(groups, dtype=object)[top[:, j]], None)  # fmt: skip
        out[f"{prefix}_{j + 1}_impact"] = impact[:, j]
    return out


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
