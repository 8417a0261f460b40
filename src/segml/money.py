"""How segml writes an amount of money: one rule for reports, reason codes, SQL and charts.

:func:`money` writes an amount in CNY shortened (``¥1.2M``, ``¥12,345``, ``−¥3.4B``; a true
minus sign); :func:`money_sql` is the same rule as a DuckDB expression (reason codes written in
SQL read as those written in Python); :func:`signed_compact` writes a signed amount for a chart
cell without the currency (``+1.7M``, ``−21.1k``, ``+262``).
"""

from __future__ import annotations

import math

__all__ = ["CURRENCY", "MINUS", "money", "money_sql", "signed_compact"]

#: The currency sign amounts are written with.
CURRENCY = "¥"
#: The minus sign of negative amounts (U+2212, not a hyphen).
MINUS = "−"


def money(v: float) -> str:
    """An amount in CNY, shortened: ``¥1.2M``, ``¥12,345``, ``−¥3.4B``, ``¥510.3T``.

    Parameters
    ----------
    v : float
        The amount (callers write missing values their own way first).

    Returns
    -------
    str
        Trillions, billions and millions with one decimal and ``T`` / ``B`` / ``M`` (beyond
        ``¥999,999.9T`` in thousands of trillions, with separators), smaller amounts whole
        with thousands separators.
    """
    a, sign = abs(v), MINUS if v < 0 else ""
    if a >= 1e12:
        return f"{sign}{CURRENCY}{a / 1e12:,.1f}T"
    if a >= 1e9:
        return f"{sign}{CURRENCY}{a / 1e9:.1f}B"
    if a >= 1e6:
        return f"{sign}{CURRENCY}{a / 1e6:.1f}M"
    return f"{sign}{CURRENCY}{a:,.0f}"


def money_sql(col: str) -> str:
    """A DuckDB expression writing the number ``col`` as :func:`money` does.

    Parameters
    ----------
    col : str
        A SQL expression of a (non-missing) number.

    Returns
    -------
    str
        A SQL text expression.
    """
    a = f"abs({col})"
    return (
        f"(CASE WHEN {col} < 0 THEN '{MINUS}' ELSE '' END) || '{CURRENCY}' || "
        f"CASE WHEN {a} >= 1e12 THEN format('{{:,.1f}}', {a} / 1e12) || 'T' "
        f"WHEN {a} >= 1e9 THEN format('{{:.1f}}', {a} / 1e9) || 'B' "
        f"WHEN {a} >= 1e6 THEN format('{{:.1f}}', {a} / 1e6) || 'M' "
        f"ELSE format('{{:,.0f}}', {a}) END"
    )


def signed_compact(v: float) -> str:
    """A signed amount for a chart cell: ``+1.7M``, ``−21.1k``, ``+262``, ``+3.1``, ``−0.12``.

    Parameters
    ----------
    v : float
        The amount; NaN and infinities are written as an en dash.

    Returns
    -------
    str
        Millions and (from 10,000) thousands with one decimal, then whole numbers, then one or
        two decimals; no sign when the written value is zero.
    """
    if not math.isfinite(v):
        return "–"
    a = abs(v)
    body = (f"{a / 1e6:.1f}M" if a >= 1e6 else f"{a / 1e3:.1f}k" if a >= 1e4
            else f"{a:,.0f}" if a >= 9.95 else f"{a:.1f}" if a >= 1 else f"{a:.2f}")  # fmt: skip
    if float(body.rstrip("kM").replace(",", "")) == 0:
        return body
    return ("+" if v > 0 else MINUS) + body
