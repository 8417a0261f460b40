"""Writing the chosen reason codes as phrases: the definition (Python) and the fast writer (DuckDB).

A reason is written, with ``vs <reference>`` when the codes are measured against a reference
(:mod:`segml.explain.reference`) and ``, incl. other … measures`` when other members of its
facet group contributed::

    net interest and AUM income: ¥17,104 a year (+¥1,659 to annual value vs the typical key customer)
    no expected credit loss (¥0 a year, unlike the typical key customer: +¥1,994 to annual value)
    no fee income on record (unlike the typical key customer: +¥120 to annual value)

The last two shapes are for an amount of 0 or missing that contributes positively
(:func:`~segml.explain.reference.amount_kinds`): the phrase says that the customer has none,
unlike the typical customer, never that the zero added value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from segml.explain.formatting import (
    FeatureText,
    contribution_formatter,
    format_value,
    format_values,
    is_number,
)
from segml.explain.phrases import EXACT_BELOW, render_phrases
from segml.explain.reference import NONE_HELD, NONE_ON_RECORD
from segml.explain.result import OutputSpec

__all__ = ["Picked", "phrase", "render_duckdb", "render_python"]


@dataclass(frozen=True)
class Picked:
    """The top-k reasons chosen, before they are written: per customer (rows) and reason
    (columns) the feature quoted, the group's impact, whether other members contributed and
    how the phrase is written (``kind``); per customer its reference (an index into
    ``reference_names``; None: no reference named)."""

    output: OutputSpec
    raw: pd.DataFrame
    texts: list[FeatureText]
    groups: list[str]
    displays: list[str]
    feat: np.ndarray
    impact: np.ndarray
    multi: np.ndarray
    kind: np.ndarray | None = None
    reference: np.ndarray | None = None
    reference_names: list[str] | None = None


def phrase(display: str, value: str, effect: str, end: str, reference: str | None, kind: int) -> str:  # fmt: skip
    """One reason: ``display`` and ``value`` of the feature quoted, ``effect`` the written
    contribution (``+¥8,400 to annual value``), ``end`` ``")"`` or ``", incl. … measures)"``."""
    if kind == NONE_HELD:
        return f"no {display} ({value}, unlike {reference}: {effect}{end}"
    if kind == NONE_ON_RECORD:
        return f"no {display} on record (unlike {reference}: {effect}{end}"
    vs = f" vs {reference}" if reference else ""
    return f"{display}: {value} ({effect}{vs}{end}"


def by_feature(feat: np.ndarray, impact: np.ndarray) -> list[np.ndarray]:
    """Positions of the rows with a non-zero impact, grouped by the feature quoted."""
    live = np.flatnonzero(impact != 0.0)
    order = live[np.argsort(feat[live], kind="stable")]
    return np.split(order, np.flatnonzero(np.diff(feat[order])) + 1) if len(order) else []


def also(t: FeatureText, groups: list[str], displays: list[str]) -> str:
    """The end of a phrase whose group had other members contributing."""
    return f", incl. other {displays[groups.index(t.group)]} measures)"


def render_python(p: Picked) -> list[np.ndarray]:
    """The phrases of each reason slot (None where there is no reason), in Python."""
    contribution = contribution_formatter(p.output)
    names = p.reference_names or []
    slots = []
    for j in range(p.feat.shape[1]):
        phrases = np.full(len(p.raw), None, dtype=object)
        for at in by_feature(p.feat[:, j], p.impact[:, j]):
            t = p.texts[int(p.feat[at[0], j])]
            tail = also(t, p.groups, p.displays)
            values = format_values(p.raw[t.name], at, t.unit)
            effects = [contribution(v) for v in p.impact[at, j].tolist()]
            ends = [tail if m else ")" for m in p.multi[at, j].tolist()]
            refs = [None] * len(at) if p.reference is None else [names[r] for r in p.reference[at].tolist()]  # fmt: skip
            kinds = [0] * len(at) if p.kind is None else p.kind[at, j].tolist()
            phrases[at] = [
                phrase(t.display, a, b, e, r, kd)
                for a, b, e, r, kd in zip(values, effects, ends, refs, kinds, strict=True)
            ]
        slots.append(phrases)
    return slots


def _values(p: Picked) -> tuple[np.ndarray, list[str | None] | None]:
    """Per slot and row, the quoted value as a number, and the values written here (text,
    categories and numbers from :data:`EXACT_BELOW` on; None when there are none)."""
    n, k = p.feat.shape
    x = np.full((k, n), np.nan)
    written: list[str | None] | None = None  # made when a value is written here
    for j in range(k):
        for at in by_feature(p.feat[:, j], p.impact[:, j]):
            t = p.texts[int(p.feat[at[0], j])]
            col = p.raw[t.name].iloc[at]
            if is_number(col):
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
    return x, written


def render_duckdb(p: Picked) -> list[pd.Series | np.ndarray]:
    """The same phrases as :func:`render_python`, written by one DuckDB query."""
    n, k = p.feat.shape
    x, written = _values(p)
    effects = p.impact.T.reshape(-1)
    huge = np.flatnonzero(np.abs(effects) >= EXACT_BELOW)
    effect_text: list[str | None] | None = None
    if len(huge):
        contribution = contribution_formatter(p.output)
        effect_text = [None] * len(effects)
        for i in huge.tolist():
            effect_text[i] = contribution(float(effects[i]))[: -len(f" to {p.output.label}")]
    phrases = render_phrases(
        p.feat.T.reshape(-1), x.reshape(-1), written, effects, effect_text, p.multi.T.reshape(-1),
        [f"{t.display}: " for t in p.texts], [t.unit for t in p.texts],
        [also(t, p.groups, p.displays) for t in p.texts], p.output,
        kind=None if p.kind is None else p.kind.T.reshape(-1),
        reference=None if p.reference is None else np.tile(p.reference, k),
        reference_names=p.reference_names,
    )  # fmt: skip
    slots = [phrases.slice(j * n, n).to_pandas() for j in range(k)]
    # a slot without any phrase stays None, as the Python writer leaves it
    return [np.full(n, None, dtype=object) if s.isna().all() else s for s in slots]
