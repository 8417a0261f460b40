"""The tier measure chosen by validation: a model only when it beats the naive forecasts.

:func:`segml.tiers.choose_value_measure` asks :func:`by_validation` whether ``auto``'s model
(the value model, or CLV on a purchase log) beat the best naive forecast before the as-of date,
on both MAE and Spearman. If it did not, the tiers rank that naive forecast, unless the model
lost only by less than the comparison's noise (:func:`within_noise`: the paired bootstrap
interval of each lost metric's difference holds 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["NAIVE_DESCRIPTIONS", "beats_naive", "by_validation", "figures", "within_noise"]

#: The naive forecasts a run can tier on (columns of the CLV table), described.
NAIVE_DESCRIPTIONS = {
    "naive_spend_rate": "naive forecast of the horizon's purchases: each customer's purchase rate so far × the horizon",  # fmt: skip
    "naive_spend_last_window": "naive forecast of the horizon's purchases: what the customer spent in the last window as long",  # fmt: skip
}
_METRIC_WORDS = {"spearman": "Spearman", "mae": "MAE"}


def _num(value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:,.0f}"


def beats_naive(validation: dict[str, Any]) -> bool | None:
    """Whether the model beat the best naive forecast on both MAE and Spearman in validation
    (None: nothing to compare with)."""
    verdicts = [validation["metrics"].get(m, {}).get("beats") for m in _METRIC_WORDS]
    if all(v is None for v in verdicts):
        return None
    return all(v is not False for v in verdicts)


def within_noise(validation: dict[str, Any]) -> str | None:
    """Where the model loses to the best naive only within the comparison's noise: the
    bootstrap intervals of the differences (``"Spearman −0.004, 95% interval −0.02 … 0.01"``);
    None when a loss is significant or has no interval."""
    rows = validation["metrics"]
    lost = [m for m in _METRIC_WORDS if rows.get(m, {}).get("beats") is False]
    if not lost or any(rows[m].get("significant", True) for m in lost):
        return None
    parts = []
    for m in lost:
        lo, hi = rows[m]["interval"]
        diff = rows[m]["model"] - rows[m]["best_naive"]
        parts.append(f"{_METRIC_WORDS[m]} {diff:+.3g}, 95% interval {lo:+.3g} … {hi:+.3g}")
    return "; ".join(parts)


def figures(validation: dict[str, Any]) -> str:
    """``"Spearman 0.61 vs 0.66, MAE 120 vs 98"`` (model vs the best naive)."""
    rows = validation["metrics"]
    return ", ".join(
        f"{word} {_num(rows[m]['model'])} vs {_num(rows[m]['best_naive'])}"
        for m, word in _METRIC_WORDS.items() if m in rows and rows[m]["best_naive"] is not None
    )  # fmt: skip


def by_validation(
    column: str, reason: str, validation: dict[str, Any] | None, columns: set[str]
) -> tuple[str, str, list[str], dict[str, Any] | None]:
    """``auto``'s candidate, or the best naive forecast when the model did not beat it.

    Returns the column, the reason, warnings and the validation record (None without one).
    """
    if validation is None:
        return column, reason, [], None
    record = {**validation, "candidate": column, "beats": beats_naive(validation)}
    if record["beats"] is not False:
        if record["beats"]:
            reason += f"; it beats the best naive forecast in validation ({figures(validation)}, {validation['window']})"  # fmt: skip
        return column, reason, [], record
    noise = within_noise(validation)
    record["within_noise"] = noise
    if noise:
        why = (
            f"{validation['model']} does not beat the best naive forecast in validation "
            f"({figures(validation)}, {validation['window']}), but only by less than the noise "
            f"of the comparison ({noise}): it is kept"
        )
        return column, f"{reason}; {why}", [f"tiers: {why}"], record
    best = validation["metrics"]["spearman"]["baseline"] or validation["metrics"]["mae"]["baseline"]  # fmt: skip
    naive = validation["naive_columns"].get(best)
    if naive is None or naive not in columns:
        return column, reason, [], record
    why = (
        f"{validation['model']} does not beat the naive forecast in validation "
        f"({figures(validation)}, {validation['window']}), so the tiers rank the naive forecast {naive}"
    )  # fmt: skip
    return naive, f"{reason}; but {why}", [f"tiers: {why}"], record
