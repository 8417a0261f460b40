"""Reason-code phrases for many customers at once, rendered by DuckDB.

Python's string formatting costs about 3 µs a phrase (12 s for a million customers' four
reasons), more than exact TreeSHAP on a GPU. DuckDB's ``format`` (the {fmt} library, the same
format mini-language and correctly rounded, like Python's) renders the same phrases in one
multi-threaded query. The scalar formatters in :mod:`segml.explain.formatting`
(:func:`~segml.explain.formatting.format_value`, ``format_contribution``) and the phrase
shapes of :mod:`segml.explain.render` stay the definition:
tests check that both give the same text, character for character, on values of every
magnitude and sign, ties, zeros and non-finite values.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from segml.compute import n_threads
from segml.explain.reference import NONE_HELD, NONE_ON_RECORD
from segml.explain.result import OutputSpec
from segml.money import money_sql

__all__ = ["EXACT_BELOW", "UNIT_CODES", "render_phrases"]

#: {fmt} writes fixed-point digits exactly like Python below this magnitude (measured: they
#: part from about 1e37 up); larger numbers are written by Python and passed in as text.
EXACT_BELOW = 1e30

#: Units with their own number format (the rest are written as plain numbers).
UNIT_CODES = {
    "CNY": 1,
    "CNY/year": 2,
    "0/1": 3,
    "share": 4,
    "days": 5,
    "months": 5,
    "years": 5,
    "persons": 5,
    "count": 6,
    "0-10": 7,
    "log ratio": 8,
    "log-odds": 8,
    "ratio": 9,
}


def _value(col: str) -> str:
    """SQL for :func:`~segml.explain.formatting.format_value` of a non-missing number."""
    plain = (
        f"CASE WHEN isinf({col}) THEN (CASE WHEN {col} > 0 THEN 'inf' ELSE '-inf' END) "
        f"WHEN {col} = trunc({col}) OR abs({col}) >= 100 THEN format('{{:,.0f}}', {col}) "
        f"WHEN abs({col}) >= 1 THEN format('{{:.1f}}', {col}) "
        f"ELSE format('{{:.3g}}', {col}) END"
    )
    return f"""CASE unit
        WHEN 1 THEN {money_sql(col)}
        WHEN 2 THEN {money_sql(col)} || ' a year'
        WHEN 3 THEN CASE WHEN {col} >= 0.5 THEN 'yes' ELSE 'no' END
        WHEN 4 THEN format('{{:.0f}}', {col} * 100) || '%'
        WHEN 5 THEN format('{{:,.0f}}', {col}) || ' ' || unit_name
        WHEN 6 THEN format('{{:,.0f}}', {col})
        WHEN 7 THEN format('{{:.1f}}', {col}) || '/10'
        WHEN 8 THEN format('{{:+.2f}}', {col})
        WHEN 9 THEN format('{{:.2f}}', {col})
        ELSE {plain} END"""


def _contribution(col: str, output: OutputSpec) -> str:
    """SQL for :func:`~segml.explain.formatting.format_contribution` (without its tail)."""
    if output.unit in ("CNY", "CNY/year"):
        return f"(CASE WHEN {col} >= 0 THEN '+' ELSE '' END) || {money_sql(col)}"
    spec = "{:+.1f}" if output.unit == "points" else "{:+.2f}"
    return f"replace(format('{spec}', {col}), '-', '−')"


def _texts(values: list[str | None] | None, n: int) -> pa.Array:
    """Texts written in Python, or an all-null column (no list of n Nones) when there are none."""
    return pa.nulls(n, pa.string()) if values is None else pa.array(values, pa.string())


def render_phrases(
    feature: np.ndarray,
    value: np.ndarray,
    text: list[str | None] | None,
    impact: np.ndarray,
    impact_text: list[str | None] | None,
    several: np.ndarray,
    heads: list[str],
    units: list[str],
    alsos: list[str],
    output: OutputSpec,
    *,
    kind: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    reference_names: list[str] | None = None,
) -> pa.ChunkedArray:
    """One reason phrase per row (null where ``impact`` is 0), in row order.

    Parameters
    ----------
    feature : ndarray of int
        Index of the quoted feature (into ``heads``, ``units``, ``alsos``).
    value : ndarray of float
        The customer's value of that feature (NaN: missing).
    text : list of str or None, optional
        Values already written (non-numeric features); None where ``value`` is to be formatted.
    impact : ndarray of float
        The (group's) contribution.
    impact_text : list of str or None, optional
        Contributions already written; None where ``impact`` is to be formatted.
    several : ndarray of bool
        Whether other members of the group contributed (then ``alsos`` is appended).
    heads, units, alsos : list of str
        Per feature: ``"display name: "``, its unit, ``", incl. other … measures)"``.
    output : OutputSpec
        The explained score (unit and label of the contribution).
    kind : ndarray of int8, optional
        How each phrase is written (:func:`segml.explain.reference.amount_kinds`; default:
        all ordinary).
    reference : ndarray of int, optional
        Index into ``reference_names`` of each row's reference (default: none named).
    reference_names : list of str, optional
        ``"the typical key customer"``, …
    """
    import duckdb

    code = np.array([UNIT_CODES.get(u, 0) for u in units], dtype=np.int8)
    f = np.asarray(feature, dtype=np.int32)
    table = pa.table(
        {
            "f": pa.array(f + 1),  # DuckDB lists are 1-based
            "unit": pa.array(code[f] if len(code) else np.zeros(0, np.int8)),
            "x": pa.array(np.asarray(value, dtype=float), from_pandas=True),
            "txt": _texts(text, len(f)),
            "c": pa.array(np.asarray(impact, dtype=float)),
            "ctxt": _texts(impact_text, len(f)),
            "m": pa.array(np.asarray(several, dtype=bool)),
            "kind": pa.array(np.zeros(len(f), np.int8) if kind is None else np.asarray(kind, np.int8)),
            "r": pa.nulls(len(f), pa.int32()) if reference is None else pa.array(np.asarray(reference, np.int32) + 1),
        }
    )  # fmt: skip
    value = f"coalesce(txt, CASE WHEN x IS NULL OR isnan(x) THEN 'missing' ELSE {_value('x')} END)"
    effect = f"coalesce(ctxt, {_contribution('c', output)}) || $tail"
    end = "CASE WHEN m THEN list_extract($alsos, f) ELSE ')' END"
    sql = f"""SELECT CASE WHEN c = 0 THEN NULL
        WHEN kind = {NONE_HELD} THEN 'no ' || list_extract($names, f) || ' (' || {value}
            || ', unlike ' || ref || ': ' || {effect} || {end}
        WHEN kind = {NONE_ON_RECORD} THEN 'no ' || list_extract($names, f)
            || ' on record (unlike ' || ref || ': ' || {effect} || {end}
        ELSE list_extract($heads, f) || {value} || ' (' || {effect}
            || coalesce(' vs ' || ref, '') || {end} END AS phrase
        FROM (SELECT *, list_extract($unit_names, f) AS unit_name,
                     list_extract($refs, r) AS ref FROM phrases_input)"""
    con = duckdb.connect()
    try:
        con.execute(f"SET threads = {n_threads()}")
        con.execute("SET preserve_insertion_order = true")
        con.register("phrases_input", table)
        params = {
            "heads": heads,
            "alsos": alsos,
            "unit_names": list(units),
            "tail": f" to {output.label}",
            "names": [h.removesuffix(": ") for h in heads],
            "refs": list(reference_names or [""]),
        }
        return con.sql(sql, params=params).to_arrow_table().column("phrase")
    finally:
        con.close()
