"""The stated reference of the value score's reason codes: the typical customer of each tier.

xgboost's TreeSHAP contributions (path-dependent) are measured against the model's expected
value over its training data: the *mean* customer. A bank's value is so skewed that the mean is
set by its top 1% (on the 20,000-customer demo bank the base value is ¥21,305 a year, the median
score ¥531), so raw contributions told a median key customer "net interest and AUM income
¥17,104 a year (−¥15,050)" and a small customer "expected credit loss ¥0 a year (+¥11,309)".

Reason codes therefore measure each contribution against a stated reference, the **typical
customer of the customer's value tier**, feature by feature: for tier *t* and feature *f* the
reference contribution ``r[t, f]`` is the median of *f*'s contribution over the run's customers
in tier *t*, and the codes quote ``φ_f − r[t, f]``. So

* the codes add up exactly: ``score = reference value(t) + Σ_f (φ_f − r[t, f])`` with
  ``reference value(t) = base value + Σ_f r[t, f]`` (recorded per tier, close to the tier's
  median score);
* a feature on which the customer is typical of the tier contributes about 0, so the tier's
  median customer reads as typical of it;
* the exact contributions themselves (``explanations_value.parquet``, the thresholds'
  ``lifted_by``/``held_back_by``, the figures) do not change.

The tier is the **value tier** (the one the value score gave, before override rules): the value
score explains that tier, and the rules give their own reason. A tier without customers in the
run, and a customer without a tier, are measured against all tiered customers (the last row).

The reference also keeps each tier's typical (median) value of every numeric feature, amounts
counting a missing value as none, so that no phrase claims that a zero or missing amount added
value (:func:`amount_kinds`). It is the run's: recorded in ``explanations.json`` and carried by
the exported model (``reason_reference.json``), so scoring reproduces the run's codes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from segml.explain.formatting import AMOUNT_UNITS, FeatureText, feature_texts, is_number
from segml.explain.result import ModelExplanation

__all__ = [
    "DROPPED",
    "NONE_HELD",
    "NONE_ON_RECORD",
    "ReasonReference",
    "amount_kinds",
    "typical_customers",
]

FORMAT = "segml.explain.ReasonReference/1"
POPULATION = "value tier"
STATISTIC = "median contribution of each feature"
#: What :func:`amount_kinds` says of a reason: an ordinary phrase (0), "no <amount> (¥0, …)",
#: "no <amount> on record (…)", or no phrase at all.
NONE_HELD, NONE_ON_RECORD, DROPPED = 1, 2, -1


@dataclass(frozen=True, eq=False)
class ReasonReference:
    """The typical customer of each tier, feature by feature, and the reference values.

    Attributes
    ----------
    feature_names : tuple of str
        The explained features, in the explanation's order.
    tiers : tuple of str
        The tiers with customers in the run; the matrices have one more row, last: all tiered
        customers.
    customers : tuple of int
        Customers per row.
    median_score : tuple of float
        Median score per row.
    base_value : float
        The model's expected value (what the raw contributions are measured against).
    contributions : ndarray, rows × features
        Median contribution of each feature per row.
    values : ndarray, rows × features
        Median value of each numeric feature per row (amounts: missing counted as 0; NaN for
        a non-numeric feature).
    """

    feature_names: tuple[str, ...]
    tiers: tuple[str, ...]
    customers: tuple[int, ...]
    median_score: tuple[float, ...]
    base_value: float
    contributions: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        shape = (len(self.tiers) + 1, len(self.feature_names))
        for name in ("contributions", "values"):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"reason reference: {name} has shape {np.shape(getattr(self, name))}, expected {shape}")  # fmt: skip
        if len(self.customers) != shape[0] or len(self.median_score) != shape[0]:
            raise ValueError(f"reason reference: expected {shape[0]} customer counts and median scores")  # fmt: skip

    @property
    def reference_values(self) -> np.ndarray:
        """Per row, the score the codes are measured from: base value + Σ median contributions."""
        return self.base_value + self.contributions.sum(axis=1)

    @property
    def names(self) -> list[str]:
        """How phrases name each row's reference (``the typical key customer``)."""
        return [f"the typical {t.replace('_', ' ')} customer" for t in self.tiers] + ["the typical customer"]  # fmt: skip

    def rows(self, tiers: Sequence[Any] | np.ndarray | None, n: int) -> np.ndarray:
        """The reference row of each of ``n`` customers from their tiers (unknown, missing or
        None: all tiered customers)."""
        if tiers is None:
            return np.full(n, len(self.tiers), dtype=np.int64)
        codes, uniques = pd.factorize(np.asarray(tiers, dtype=object))  # missing: -1
        if len(codes) != n:
            raise ValueError(f"{len(codes)} tiers given for {n} customers")
        at = {t: i for i, t in enumerate(self.tiers)}
        lookup = np.array([at.get(str(u), len(self.tiers)) for u in uniques] + [len(self.tiers)])
        return lookup[codes].astype(np.int64)

    def relative(
        self,
        explanation: ModelExplanation,
        tiers: Sequence[Any] | np.ndarray | None,
        rows: np.ndarray | None = None,
    ) -> ModelExplanation:
        """``explanation`` measured against the typical customer of each customer's tier: the
        contributions less the reference's, the base values the reference values (the sum
        still gives the score). ``rows``: the reference rows, when :meth:`rows` gave them."""
        if tuple(explanation.feature_names) != self.feature_names:
            raise ValueError(
                "the reason reference was taken on other features than the explanation's: "
                f"{len(self.feature_names)} vs {len(explanation.feature_names)} features"
            )
        rows = self.rows(tiers, len(explanation)) if rows is None else rows
        values = np.empty_like(explanation.values, dtype=float)
        for start in range(0, len(values), 1 << 15):  # in cache-sized blocks
            block = slice(start, start + (1 << 15))
            np.subtract(explanation.values[block], self.contributions[rows[block]], out=values[block])  # fmt: skip
        return ModelExplanation(
            values=values,
            base_values=self.reference_values[rows],
            data=explanation.data,
            feature_names=list(explanation.feature_names),
            ids=explanation.ids,
            score=explanation.score,
            output=explanation.output,
            additivity=explanation.additivity,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (NaN as null): per row its tier (null: all tiered customers),
        customers, median score, reference value, median contributions and typical values."""
        ref = self.reference_values
        rows = []
        for i, tier in enumerate([*self.tiers, None]):
            rows.append({
                "tier": tier, "customers": int(self.customers[i]),
                "median_score": float(self.median_score[i]), "reference_value": float(ref[i]),
                "contributions": dict(zip(self.feature_names, map(float, self.contributions[i]), strict=True)),
                "typical_values": {f: (None if np.isnan(v) else float(v))
                                   for f, v in zip(self.feature_names, self.values[i], strict=True)},
            })  # fmt: skip
        return {"format": FORMAT, "population": POPULATION, "statistic": STATISTIC,
                "base_value": float(self.base_value), "feature_names": list(self.feature_names),
                "rows": rows}  # fmt: skip

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ReasonReference:
        """Rebuild a reference written by :meth:`to_dict`."""
        if doc.get("format") != FORMAT:
            raise ValueError(f"not a saved ReasonReference (format {doc.get('format')!r})")
        names = tuple(doc["feature_names"])
        rows = doc["rows"]
        if not rows or rows[-1]["tier"] is not None:
            raise ValueError("a saved ReasonReference ends with the row of all tiered customers")

        def matrix(key: str) -> np.ndarray:
            return np.array([[np.nan if r[key][f] is None else r[key][f] for f in names] for r in rows], dtype=float)  # fmt: skip

        return cls(
            feature_names=names,
            tiers=tuple(str(r["tier"]) for r in rows[:-1]),
            customers=tuple(int(r["customers"]) for r in rows),
            median_score=tuple(float(r["median_score"]) for r in rows),
            base_value=float(doc["base_value"]),
            contributions=matrix("contributions"),
            values=matrix("typical_values"),
        )


def _medians(columns: Iterator[np.ndarray | None], p: int, groups: list[np.ndarray | None]) -> np.ndarray:  # fmt: skip
    """Per group (its rows; None: all) and column (``p`` of them, None: not a number), the
    median over the group, ignoring NaN (NaN when there is no value)."""
    out = np.full((len(groups), p), np.nan)
    for j, col in enumerate(columns):
        if col is None:
            continue
        nan = np.isnan(col)
        gaps = bool(nan.any())
        for g, rows in enumerate(groups):
            x = col if rows is None else col[rows]
            if gaps:
                x = x[~(nan if rows is None else nan[rows])]
            if len(x):
                out[g, j] = float(np.median(x))
    return out


def _columns(values: np.ndarray, width: int = 8) -> Iterator[np.ndarray]:
    """The columns of ``values`` as contiguous arrays, ``width`` at a time (a strided column
    would cost a cache miss a value)."""
    for j in range(0, values.shape[1], width):
        yield from np.ascontiguousarray(values[:, j : j + width].T)


def _numbers(raw: pd.DataFrame, t: FeatureText) -> np.ndarray | None:
    """A feature's values as floats (amounts: missing as 0), None when not numeric."""
    if t.name not in raw.columns or not is_number(raw[t.name]):
        return None
    x = raw[t.name].to_numpy(dtype=float, na_value=np.nan)
    return np.nan_to_num(x, nan=0.0) if t.unit in AMOUNT_UNITS else x


def typical_customers(
    explanation: ModelExplanation,
    raw: pd.DataFrame,
    tiers: Sequence[Any] | np.ndarray,
    order: Sequence[str],
) -> ReasonReference:
    """The reason-code reference of a run: each tier's median contributions and values.

    Parameters
    ----------
    explanation : ModelExplanation
        The value score's exact contributions over the whole tiered population.
    raw : DataFrame
        The same customers' features, in the same order (the values quoted).
    tiers : array-like
        Each customer's value tier.
    order : sequence of str
        The tiers, best first (the policy's labels); tiers without customers are left out.
    """
    n = len(explanation)
    if not n:
        raise ValueError("no customers to take the reason-code reference from")
    if len(raw) != n or len(tiers) != n:
        raise ValueError(f"reason reference: {n} explained customers but {len(raw)} feature rows and {len(tiers)} tiers")  # fmt: skip
    labels = pd.Series(np.asarray(tiers, dtype=object)).astype("string").fillna("").to_numpy(dtype=object)  # fmt: skip
    present = [t for t in order if (labels == t).any()]
    groups: list[np.ndarray | None] = [np.flatnonzero(labels == t) for t in present] + [None]
    texts = feature_texts(explanation.feature_names)
    p = len(texts)
    score = explanation.score
    return ReasonReference(
        feature_names=tuple(explanation.feature_names),
        tiers=tuple(present),
        customers=tuple(n if g is None else len(g) for g in groups),
        median_score=tuple(float(np.median(score if g is None else score[g])) for g in groups),
        base_value=explanation.base_value,
        contributions=_medians(_columns(explanation.values), p, groups),
        values=_medians((_numbers(raw, t) for t in texts), p, groups),
    )


def amount_kinds(
    grouped: np.ndarray,
    quoted: np.ndarray,
    group_of: np.ndarray,
    raw: pd.DataFrame,
    texts: list[FeatureText],
    typical: np.ndarray,
    rows_of: np.ndarray,
) -> np.ndarray:
    """How each (customer, group) reason is to be written, so that none claims that a zero or
    missing amount added value.

    A group whose quoted feature is an amount (:data:`AMOUNT_UNITS`) written as 0 (at most 0.5
    in size) or missing while its
    contribution against the reference is positive is written "no <amount> (¥0, unlike the
    typical … customer: +¥…)" (:data:`NONE_HELD`; missing: :data:`NONE_ON_RECORD`) when that
    customer's typical value is not 0 — having none of a cost or a risk is worth something —
    and left out (:data:`DROPPED`) when the typical customer has none either: the customer is
    typical on the feature, and the contribution comes from its interplay with the others.

    Parameters
    ----------
    grouped, quoted : ndarray, customers × groups
        Group contributions against the reference, and the feature each quotes.
    group_of : ndarray of int
        The group of each feature.
    raw : DataFrame
        The customers' feature values.
    texts : list of FeatureText
        Per feature.
    typical : ndarray, reference rows × features
        :attr:`ReasonReference.values`.
    rows_of : ndarray of int
        Each customer's reference row.

    Returns
    -------
    ndarray of int8, customers × groups
        0 (an ordinary phrase), :data:`NONE_HELD`, :data:`NONE_ON_RECORD` or :data:`DROPPED`.
    """
    kinds = np.zeros(grouped.shape, dtype=np.int8)
    for f, t in enumerate(texts):
        if t.unit not in AMOUNT_UNITS or t.name not in raw.columns or not is_number(raw[t.name]):
            continue
        x = raw[t.name].to_numpy(dtype=float, na_value=np.nan)
        rows = np.flatnonzero(np.isnan(x) | (np.abs(x) <= 0.5))  # written as 0 (half to even)
        g = int(group_of[f])
        hit = rows[(quoted[rows, g] == f) & (grouped[rows, g] > 0)]
        if not len(hit):
            continue
        typ = typical[rows_of[hit], f]
        unlike = np.isfinite(typ) & (np.abs(typ) > 0.5)
        kinds[hit, g] = np.where(unlike, np.where(np.isnan(x[hit]), NONE_ON_RECORD, NONE_HELD), DROPPED)  # fmt: skip
    return kinds
