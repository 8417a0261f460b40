"""Number formatting for the review pack: one way to write a share, an amount or a metric.

Every function accepts ``None`` and NaN and writes an en dash for them, so a missing number
never reads as zero.
"""

from __future__ import annotations

import math
from typing import Any

from segml.money import money as _money

__all__ = ["DASH", "is_number", "money", "num", "pct", "ratio", "signed"]

DASH = "–"


def is_number(x: Any) -> bool:
    """True for a finite int or float (bools and NaN excluded)."""
    if isinstance(x, bool) or x is None:
        return False
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def pct(x: Any, digits: int = 0) -> str:
    """A share as a percentage (``0.9803`` → ``98%``, ``8608.9`` → ``860,890%``)."""
    if not is_number(x):
        return DASH
    text = f"{abs(float(x)):,.{digits}%}"
    negative = float(x) < 0 and float(text.rstrip("%").replace(",", "")) != 0
    return f"−{text}" if negative else text


def num(x: Any, digits: int = 3) -> str:
    """A metric: thousands separators for large values, ``digits`` decimals for small ones."""
    if not is_number(x):
        return DASH
    v = float(x)
    if v == int(v) and (abs(v) >= 1 or v == 0):
        return f"{int(v):,}".replace("-", "−")
    if abs(v) >= 100:
        text = f"{v:,.0f}"
    elif abs(v) < 10 ** (-digits):
        text = f"{v:.2g}"
    else:
        text = f"{v:.{digits}f}"
    return text.replace("-", "−")


def money(x: Any) -> str:
    """An amount in CNY, shortened (``¥1.2M``, ``¥12,345``, ``−¥3.4B``: :func:`segml.money.money`)."""
    return _money(float(x)) if is_number(x) else DASH


def signed(x: Any, digits: int = 3) -> str:
    """A difference with its sign (``+0.012``, ``−0.004``)."""
    if not is_number(x):
        return DASH
    v = float(x)
    text = num(abs(v), digits)
    return f"+{text}" if v > 0 else (f"−{text}" if v < 0 else text)


def ratio(x: Any) -> str:
    """A ratio with two decimals (``0.8`` → ``0.80``)."""
    return f"{float(x):.2f}" if is_number(x) else DASH
