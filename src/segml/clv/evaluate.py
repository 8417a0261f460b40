"""Holdout metrics of CLV predictions: purchases and value, as numbers.

Purchases (predicted vs actual holdout purchase periods, per customer):

* ``aggregate_error`` — (Σ predicted − Σ actual) / Σ actual: the bias of the total;
* ``mae``, ``rmse`` — per-customer absolute and root-mean-square errors;
* ``spearman`` — rank correlation of predicted and actual.

Value (predicted vs actual holdout value) adds:

* ``gini_normalised`` — the Gini of actual value when customers are ordered by predicted
  value, divided by its maximum (ordered by actual value): 1 ranks perfectly, 0 is random.
  Customers with tied predictions share their actual value (ties neither help nor hurt);
* ``decile_mape`` — customers split into ten equal groups by predicted value; the mean
  absolute percentage error of each group's mean prediction against its mean actual value,
  averaged over groups (groups whose actual mean is 0 are left out and counted).

Predicted values that do not exist (NaN: Gamma-Gamma's expected spend when ``p x + q <= 1``)
are never scored silently: :func:`value_metrics` raises on them unless asked to leave those
customers out, and then counts them (``left_out``).

Naive baselines (:data:`NAIVE_BASELINES`) are scored beside the models: each customer's
calibration-period rate × the holdout length (:func:`calibration_rate`) and what the customer
did in the last window of the holdout's length before the calibration end. :func:`naive_comparison`
says, in numbers and in one sentence, whether a model beats the best of them on MAE, RMSE and
Spearman, on the same customers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from segml.clv.noise import difference_interval

__all__ = [
    "MODEL_NAMES",
    "NAIVE_BASELINES",
    "VERDICT_METRICS",
    "NaiveComparison",
    "PurchaseMetrics",
    "ValueMetrics",
    "calibration_rate",
    "decile_table",
    "naive_comparison",
    "normalised_gini",
    "purchase_metrics",
    "value_metrics",
]

#: Naive baselines of holdout purchases and spend: key → name in verdicts and reports.
NAIVE_BASELINES = {
    "naive_calibration_rate": "calibration rate × holdout",
    "naive_last_window": "last window",
}
#: Models' names in verdicts and reports, by key (purchase model kind, supervised objective).
MODEL_NAMES = {
    "bgnbd": "BG/NBD",
    "pareto": "Pareto/NBD",
    "mbgnbd": "MBG/NBD",
    "tweedie": "xgboost Tweedie",
    "hurdle": "xgboost hurdle",
}
#: Metrics the verdicts compare → whether higher is better.
VERDICT_METRICS = {"mae": False, "rmse": False, "spearman": True}
_METRIC_NAMES = {"mae": "MAE", "rmse": "RMSE", "spearman": "Spearman"}
_TARGET_NOUNS = {"purchases": "purchase"}


def _pair(actual: Any, predicted: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    if a.shape != p.shape or a.ndim != 1:
        raise ValueError(f"{what}: actual and predicted differ in shape ({a.shape}, {p.shape})")
    if len(a) == 0:
        raise ValueError(f"{what}: no customers to evaluate")
    for name, v in (("actual", a), ("predicted", p)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{what}: {int((~np.isfinite(v)).sum())} non-finite {name} values")
    return a, p


def _spearman(a: np.ndarray, p: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(p) == 0:
        return float("nan")
    return float(spearmanr(a, p).statistic)


def _relative(pred_total: float, actual_total: float) -> float:
    return (pred_total - actual_total) / actual_total if actual_total else float("nan")


@dataclass(frozen=True)
class PurchaseMetrics:
    """Predicted vs actual holdout purchases (see the module docstring)."""

    n: int
    actual_total: float
    predicted_total: float
    aggregate_error: float
    mae: float
    rmse: float
    spearman: float

    def to_dict(self) -> dict[str, float]:
        """JSON-ready form."""
        return asdict(self)


def purchase_metrics(actual: Any, predicted: Any) -> PurchaseMetrics:
    """Metrics of predicted holdout purchases."""
    a, p = _pair(actual, predicted, "purchase metrics")
    err = p - a
    return PurchaseMetrics(
        n=len(a),
        actual_total=float(a.sum()),
        predicted_total=float(p.sum()),
        aggregate_error=_relative(float(p.sum()), float(a.sum())),
        mae=float(np.abs(err).mean()),
        rmse=float(np.sqrt((err**2).mean())),
        spearman=_spearman(a, p),
    )


def _lorenz_area(actual: np.ndarray, order_by: np.ndarray) -> float:
    """Gini of ``actual`` ordered by ``order_by`` descending, tied keys sharing their mean."""
    frame = pd.DataFrame({"k": order_by, "a": actual})
    frame["a"] = frame.groupby("k")["a"].transform("mean")
    a = frame.sort_values("k", ascending=False, kind="stable")["a"].to_numpy()
    n, total = len(a), a.sum()
    if total == 0:
        return float("nan")
    return float(np.cumsum(a).sum() / total / n - (n + 1) / (2 * n))


def normalised_gini(actual: Any, predicted: Any) -> float:
    """Gini of ``actual`` ordered by ``predicted``, divided by the Gini ordered by ``actual``."""
    a, p = _pair(actual, predicted, "normalised Gini")
    best = _lorenz_area(a, a)
    return _lorenz_area(a, p) / best if best and np.isfinite(best) else float("nan")


def _defined(
    actual: Any, predicted: Any, what: str, leave_out_undefined: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """The checked pair, less the NaN predictions when asked, and how many were left out."""
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    undefined = np.isnan(p) if leave_out_undefined and p.shape == a.shape else None
    if undefined is not None and undefined.any():
        if undefined.all():
            raise ValueError(f"{what}: all {len(p):,} predicted values are undefined (NaN)")
        a, p = a[~undefined], p[~undefined]
    a, p = _pair(a, p, what)
    return a, p, 0 if undefined is None else int(undefined.sum())


def decile_table(
    actual: Any, predicted: Any, bins: int = 10, *, leave_out_undefined: bool = False
) -> pd.DataFrame:
    """Mean predicted and actual value per group of customers ranked by prediction.

    Parameters
    ----------
    actual, predicted : array-like
        Per customer.
    bins : int
        Number of groups (at most one per customer).
    leave_out_undefined : bool
        Rank only the customers whose prediction is not NaN (an expectation that does not
        exist); default: NaN raises ``ValueError``.

    Returns
    -------
    DataFrame
        ``decile`` (1 = lowest predictions), ``n``, ``predicted_mean``, ``actual_mean``,
        ``ape`` (|predicted − actual| / |actual|, NaN when the actual mean is 0).
    """
    a, p = _defined(actual, predicted, "decile table", leave_out_undefined)[:2]
    bins = min(bins, len(a))
    rank = pd.Series(p).rank(method="first").to_numpy()
    group = np.minimum((rank - 1) * bins // len(a), bins - 1).astype(int) + 1
    frame = pd.DataFrame({"decile": group, "p": p, "a": a})
    out = frame.groupby("decile").agg(n=("a", "size"), predicted_mean=("p", "mean"),
                                      actual_mean=("a", "mean")).reset_index()  # fmt: skip
    denom = out["actual_mean"].abs().replace(0.0, np.nan)
    out["ape"] = (out["predicted_mean"] - out["actual_mean"]).abs() / denom
    return out


@dataclass(frozen=True)
class ValueMetrics:
    """Predicted vs actual holdout value (see the module docstring)."""

    n: int
    actual_total: float
    predicted_total: float
    aggregate_error: float
    mae: float
    rmse: float
    spearman: float
    gini_normalised: float
    decile_mape: float
    deciles_without_actual: int
    deciles: tuple[dict[str, float], ...]
    left_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``deciles`` as a list of rows)."""
        out = asdict(self)
        out["deciles"] = [dict(d) for d in self.deciles]
        return out

    def scalars(self) -> dict[str, float]:
        """The numeric metrics only (for flat metric logs)."""
        return {k: float(v) for k, v in self.to_dict().items() if k != "deciles"}


def value_metrics(
    actual: Any, predicted: Any, bins: int = 10, *, leave_out_undefined: bool = False
) -> ValueMetrics:
    """Metrics of predicted holdout value.

    Parameters
    ----------
    actual, predicted : array-like
        Per customer.
    bins : int
        Groups of :func:`decile_table`.
    leave_out_undefined : bool
        Score only the customers whose prediction is not NaN (an expectation that does not
        exist) and count the others in ``left_out``; default: NaN raises ``ValueError``.
    """
    a, p, left_out = _defined(actual, predicted, "value metrics", leave_out_undefined)
    table = decile_table(a, p, bins)
    ape = table["ape"].dropna()
    return ValueMetrics(
        **purchase_metrics(a, p).to_dict(),  # the count metrics apply to value as well
        gini_normalised=normalised_gini(a, p),
        decile_mape=float(ape.mean()) if len(ape) else float("nan"),
        deciles_without_actual=int(table["ape"].isna().sum()),
        deciles=tuple(
            {k: (int(v) if k in ("decile", "n") else float(v)) for k, v in row.items()}
            for row in table.to_dict(orient="records")
        ),
        left_out=left_out,
    )


def calibration_rate(frequency: Any, T: Any, length: float, amount: Any = None) -> np.ndarray:
    """The naive forecast: each customer's calibration-period rate × the holdout length.

    Parameters
    ----------
    frequency, T : array-like
        lifetimes' RFM in calibration: repeat purchases (purchase periods after the first) and
        the time from the first purchase to the calibration end, in the model's time unit.
    length : float
        Holdout length in the same unit.
    amount : array-like, optional
        Mean value of a repeat purchase (lifetimes' ``monetary_value``): forecast spend.

    Returns
    -------
    ndarray
        Purchases: ``frequency / T × length`` — the rate BG/NBD and Pareto/NBD estimate from
        (repeat purchases per unit of time since the first purchase) times the holdout length,
        so it counts what their expected purchases count: purchase periods in the holdout.
        With ``amount``: ``frequency × amount / T × length``, the repeat spend per unit of time
        times the holdout length. 0 where ``T`` is 0 or missing (no time to measure a rate: a
        first purchase in the calibration's last period, hence no repeat purchase either).
    """
    x, t = np.asarray(frequency, dtype=float), np.asarray(T, dtype=float)
    rate = np.divide(x, t, out=np.zeros(x.shape), where=t > 0) * float(length)
    if amount is None:
        return rate
    return np.where(rate > 0, rate * np.asarray(amount, dtype=float), 0.0)


@dataclass(frozen=True)
class NaiveComparison:
    """A model against the best naive baseline on each metric, on the same customers.

    Attributes
    ----------
    model : str
        The model's name in the verdict.
    target : str
        ``"purchases"`` or ``"spend"``.
    n : int
        Customers compared: those with a defined prediction of the model.
    metrics : dict
        Per metric of :data:`VERDICT_METRICS`: ``model`` (its value), ``best_naive`` (the best
        baseline's value, None when no baseline has one), ``baseline`` (which) and ``beats``
        (strictly better; a tie does not beat; None without a baseline value).
    naive : dict
        Per baseline, its value of each metric on these customers.
    verdict : str
        One sentence: where the model beats the best naive and where it does not.
    """

    model: str
    target: str
    n: int
    metrics: dict[str, dict[str, Any]]
    naive: dict[str, dict[str, float]]
    verdict: str

    def beats(self, metric: str) -> bool | None:
        """Whether the model beats the best naive on ``metric`` (None: nothing to compare)."""
        return self.metrics[metric]["beats"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _fmt(value: float | None, metric: str) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    if metric == "spearman":
        return f"{value:.3f}"
    a = abs(value)
    return f"{value:,.0f}" if a >= 1000 else f"{value:.{1 if a >= 100 else 2 if a >= 10 else 3}f}"


def _join(items: list[str], word: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def verdict_sentence(model: str, target: str, metrics: dict[str, dict[str, Any]]) -> str:
    """``"<model> beats the best naive (<baseline>) on <target> MAE (a vs b) but not on …"``.

    The baseline is named once when it is the best on every metric, else after each number.
    """
    bases = sorted({r["baseline"] for r in metrics.values() if r["baseline"] is not None})
    one = len(bases) == 1
    naive = f"the best naive ({NAIVE_BASELINES.get(bases[0], bases[0])})" if one else "the best naive"  # fmt: skip

    def part(names: list[str], word: str) -> str:
        items = []
        for m in names:
            r = metrics[m]
            which = "" if one else f", {NAIVE_BASELINES.get(r['baseline'], r['baseline'])}"
            items.append(f"{_METRIC_NAMES[m]} ({_fmt(r['model'], m)} vs {_fmt(r['best_naive'], m)}{which})")  # fmt: skip
        return f"{_TARGET_NOUNS.get(target, target)} {_join(items, word)}"

    won = [m for m, r in metrics.items() if r["beats"]]
    lost = [m for m, r in metrics.items() if r["beats"] is False]
    if won and lost:
        text = f"{model} beats {naive} on {part(won, 'and')} but not on {part(lost, 'or')}"
    elif won:
        text = f"{model} beats {naive} on {part(won, 'and')}"
    elif lost:
        text = f"{model} does not beat {naive} on {part(lost, 'or')}"
    else:
        text = f"{model}: no naive baseline to compare with on {target}"
    missing = [_METRIC_NAMES[m] for m, r in metrics.items() if r["beats"] is None]
    if missing and (won or lost):
        text += f" (no naive {_join(missing, 'or')})"
    return text + "."


def naive_comparison(
    model: str,
    target: str,
    actual: Any,
    predicted: Any,
    baselines: dict[str, Any],
    intervals: bool = False,
    seed: int = 0,
) -> NaiveComparison:
    """Score a model and each naive baseline on the same customers; the verdict against the best.

    Parameters
    ----------
    model : str
        The model's name in the verdict (e.g. ``"BG/NBD + Gamma-Gamma"``).
    target : str
        ``"purchases"`` or ``"spend"`` (the sentence reads "… on spend MAE …").
    actual, predicted : array-like
        Per customer; customers whose prediction is NaN (an expectation that does not exist)
        are left out of the model's *and the baselines'* numbers.
    baselines : dict of str to array-like
        Naive predictions per customer, by key (:data:`NAIVE_BASELINES`).
    intervals : bool
        Add to each metric ``interval`` (the paired bootstrap 95% interval of the model's value
        minus the best baseline's, :func:`segml.clv.noise.difference_interval`) and
        ``significant`` (the interval excludes 0).
    seed : int
        Seeds the bootstrap.

    Returns
    -------
    NaiveComparison
        For each metric the best baseline (lowest MAE and RMSE, highest Spearman; baselines
        with an undefined metric — constant predictions have no Spearman — are passed over).
    """
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    keep = ~np.isnan(p) if p.shape == a.shape else np.ones(a.shape, dtype=bool)
    if not keep.any():
        raise ValueError(f"naive comparison of {model}: no customer with a defined prediction")
    own = purchase_metrics(a[keep], p[keep]).to_dict()
    naive = {}
    for k, v in baselines.items():
        scores = purchase_metrics(a[keep], np.asarray(v, dtype=float)[keep]).to_dict()
        naive[k] = {m: scores[m] for m in VERDICT_METRICS}
    rows: dict[str, dict[str, Any]] = {}
    for m, higher in VERDICT_METRICS.items():
        finite = {k: s[m] for k, s in naive.items() if np.isfinite(s[m])}
        best = (max if higher else min)(finite, key=finite.__getitem__) if finite else None
        value = own[m]
        beats = None
        if best is not None:
            ref = finite[best]
            beats = bool(np.isfinite(value) and (value > ref if higher else value < ref))
        rows[m] = {"model": value, "best_naive": None if best is None else finite[best],
                   "baseline": best, "beats": beats}  # fmt: skip
        if intervals and best is not None:
            ref = np.asarray(baselines[best], dtype=float)[keep]
            lo, hi = difference_interval(a[keep], p[keep], ref, m, seed=seed)
            rows[m] |= {"interval": [lo, hi], "significant": bool(lo > 0 or hi < 0)}
    return NaiveComparison(model, target, int(keep.sum()), rows, naive, verdict_sentence(model, target, rows))  # fmt: skip
