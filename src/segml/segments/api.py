"""Segment any customer table in one call: :func:`segment_table` -> :class:`SegmentationResult`."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from segml.segments.cluster import Method, make_segmenter
from segml.segments.columns import as_frame, show
from segml.segments.profiles import (
    deviations,
    find_value_column,
    name_segments,
    profile_segments,
)

#: Demographic columns (as in segml.features.build.DEMOGRAPHIC): described, never clustered.
DEMOGRAPHIC_COLUMNS = ("region", "gender", "age", "age_band", "income_band", "occupation")
DEMOGRAPHIC_REASON = "demographic: kept apart for fairness (described in the profiles, not used)"
#: The behavioural and value columns of segml's customer feature table (docs/features.md) used
#: when a table has them all: activity, recency, channel mix, balances, fees, value, holdings
#: and firm size. Left out: windows and totals that repeat these, trends, tenure, service and
#: satisfaction (outcomes of the relationship rather than behaviour), statement ratios.
BEHAVIOURAL_COLUMNS = (
    "customer_type",
    "n_tx_365d",
    "monetary_value",
    "gap_mean_days",
    "days_since_last_tx",
    "digital_share",
    "branch_share",
    "atm_share",
    "pos_share",
    "aum_last",
    "bal_investment_last",
    "bal_lending_last",
    "fee_income_12m",
    "profit_12m",
    "employees",
    "has_current_account",
    "has_savings_deposit",
    "has_term_deposit",
    "has_wealth_fund",
    "has_mortgage",
    "has_consumer_loan",
    "has_credit_card",
    "has_corporate_current",
    "has_corporate_deposit",
    "has_corporate_loan",
    "has_trade_finance",
)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@dataclass
class SegmentationResult:
    """Everything a segmentation produced, for people (``summary``) and machines (``to_dict``).

    Attributes
    ----------
    id_col : str
        The identifier column.
    assignments : DataFrame
        One row per customer: the id, ``segment`` (0 = largest) and ``segment_name``.
    k : int
        Number of segments.
    method : str
        ``"mixed"``, ``"gmm"`` or ``"kmeans"``.
    scores : DataFrame
        Per candidate k: silhouette, BIC, inertia, stability (± std) and which was selected.
    profiles : DataFrame
        Per segment: name, size, share, value, medians, holding rates, channel mix.
    names : dict of int to str
        Segment names.
    deviations : DataFrame
        Per segment and column: deviation from the population in standard deviations.
    excluded : dict of str to str
        Columns not used, with the reason.
    missing : DataFrame
        Columns with missing values: count, share and what was done.
    features : list of str
        Input columns the segmentation used.
    value_col : str or None
        Value column profiled.
    pipeline : sklearn.pipeline.Pipeline
        The fitted preprocessing + clustering pipeline (``predict`` on new rows).
    notes : list of str
        What a reader should know about the result: fewer segments than asked for, or no
        candidate k that reproduces across resamples.
    """

    id_col: str
    assignments: pd.DataFrame
    k: int
    method: str
    scores: pd.DataFrame
    profiles: pd.DataFrame
    names: dict[int, str]
    deviations: pd.DataFrame
    excluded: dict[str, str]
    missing: pd.DataFrame
    features: list[str]
    value_col: str | None
    pipeline: Pipeline | Any = field(repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> np.ndarray:
        """Segment of each row, in the input order."""
        return self.assignments["segment"].to_numpy()

    def predict(self, data: Any) -> np.ndarray:
        """Segments of new customers (same columns as the fitted table)."""
        return self.pipeline.predict(as_frame(data))

    def profile_records(self) -> list[dict[str, Any]]:
        """One dict per segment: name, size, share, value, medians, holding rates, channel mix."""
        out = []
        for _, row in self.profiles.iterrows():
            rec: dict[str, Any] = {"segment": int(row["segment"]), "name": row["name"]}
            groups: dict[str, dict[str, Any]] = {}
            for key, value in row.items():
                kind, sep, col = str(key).partition(":")
                if sep:
                    label = {"rate": "holding_rates", "mix": "channel_mix", "top": "top"}
                    groups.setdefault(label.get(kind, kind + "s"), {})[col] = value
                elif key not in ("segment", "name"):
                    rec[str(key)] = value
            rec["size"] = int(rec["size"])
            rec.update(groups)
            seg = row["segment"]
            top = self.deviations.loc[seg].dropna() if seg in self.deviations.index else pd.Series()
            top = top.reindex(top.abs().sort_values(ascending=False).index[:5])
            rec["distinctive"] = {str(k): round(float(v), 2) for k, v in top.items()}
            out.append(rec)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (NaN becomes null)."""
        return _json_safe(
            {
                "k": self.k,
                "method": self.method,
                "n_rows": len(self.assignments),
                "id_column": self.id_col,
                "value_column": self.value_col,
                "features": self.features,
                "scores": self.scores.to_dict(orient="records"),
                "profiles": self.profile_records(),
                "excluded": self.excluded,
                "missing": self.missing.to_dict(orient="records"),
                "notes": self.notes,
            }
        )

    def summary(self) -> str:
        """A few readable lines: k and how it was chosen, then each segment."""
        lines = [f"{len(self.assignments):,} rows -> {self.k} segments ({self.method})"]
        cols = [c for c in ("k", "silhouette", "bic", "stability", "selected") if c in self.scores]
        lines.append(self.scores[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        for _, row in self.profiles.iterrows():
            value = (
                f", value share {row['value_share']:.1%}"
                if "value_share" in row and pd.notna(row["value_share"])
                else ""
            )
            lines.append(
                f"  {int(row['segment'])}: {row['name']:<40s} {int(row['size']):>8,} "
                f"({row['share']:.1%}{value})"
            )
        if self.excluded:
            lines.append(f"excluded: {', '.join(self.excluded)}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _select_columns(
    df: pd.DataFrame, id_col: str, columns: Sequence[str] | Literal["auto", "all"]
) -> tuple[list[str], dict[str, str]]:
    others = [c for c in df.columns if c != id_col]
    if isinstance(columns, str):
        if columns not in ("auto", "all"):
            raise ValueError(f"columns must be 'auto', 'all' or a list, got {columns!r}")
        if columns == "auto" and all(c in df.columns for c in BEHAVIOURAL_COLUMNS):
            reason = "not in the behavioural feature set (segml.segments.BEHAVIOURAL_COLUMNS)"
            chosen = [c for c in others if c in BEHAVIOURAL_COLUMNS]
            return chosen, {
                c: reason for c in others if c not in chosen and c not in DEMOGRAPHIC_COLUMNS
            }
        return others, {}
    absent = [c for c in columns if c not in df.columns]
    if absent:
        raise ValueError(f"the table has no column(s) {absent}")
    chosen = [c for c in columns if c != id_col]
    return chosen, {c: "not among the requested columns" for c in others if c not in chosen}


def segment_table(
    data: Any,
    id_col: str,
    k: int | Literal["auto"] = "auto",
    *,
    method: Method = "mixed",
    columns: Sequence[str] | Literal["auto", "all"] = "auto",
    exclude: Sequence[str] | None = None,
    value_col: str | None | Literal["auto"] = "auto",
    k_range: tuple[int, int] = (2, 10),
    n_bootstrap: int = 4,
    sample_size: int = 4000,
    min_stability: float = 0.75,
    seed: int = 0,
    fit_size: int | None = None,
    k_rule: Literal["elbow", "bic"] = "elbow",
) -> SegmentationResult:
    """Segment the customers of any table (one row per customer) by their behaviour.

    Parameters
    ----------
    data : DataFrame or pyarrow.Table
        One row per customer.
    id_col : str
        Identifier column (unique, never used as a feature).
    k : "auto" or int, default "auto"
        Number of segments, or chosen over ``k_range`` (see :func:`segml.segments.select_k`).
    method : {"mixed", "gmm", "kmeans"}, default "mixed"
        Latent-class mixture (Gaussian + Bernoulli, missing values skipped), diagonal Gaussian
        mixture or k-means.
    columns : "auto", "all" or sequence of str, default "auto"
        Columns to segment on. ``"auto"``: :data:`BEHAVIOURAL_COLUMNS` when the table is
        segml's customer feature table, otherwise every column.
    exclude : sequence of str, optional
        Columns never used. Default: the demographic columns present
        (:data:`DEMOGRAPHIC_COLUMNS`), which are still described in the profiles.
    value_col : str, None or "auto", default "auto"
        Customer value for the value share; ``"auto"`` takes the first of
        :data:`segml.segments.profiles.VALUE_CANDIDATES` present.
    k_range, n_bootstrap, sample_size, min_stability, k_rule
        Passed to :class:`segml.segments.AutoKCluster` (``k_rule``: the elbow of the BIC among
        the stable k, or ``"bic"`` its lowest; see :func:`segml.segments.select_k`).
    seed : int, default 0
        Same seed and table: same segments.
    fit_size : int, optional
        Fit the models on a seeded sample of this many rows when there are more; every row
        is then assigned (see :class:`segml.segments.AutoKCluster`). None: all rows.

    Returns
    -------
    SegmentationResult

    Raises
    ------
    ValueError
        When ``id_col`` is absent, missing or duplicated, or when no column is usable.
    """
    df = as_frame(data).rename(columns=str)
    if id_col not in df.columns:
        raise ValueError(f"no id column {id_col!r}; the table has {list(df.columns)[:20]}")
    ids = df[id_col]
    if ids.isna().any():
        rows = _rows(np.flatnonzero(ids.isna().to_numpy()))
        raise ValueError(
            f"the id column {id_col!r} is missing in {int(ids.isna().sum())} rows ({rows})"
        )
    if ids.duplicated().any():
        twice = ids.duplicated(keep=False).to_numpy()
        shown = [
            f"{show(v)} at {_rows(np.flatnonzero(twice & (ids == v).to_numpy()))}"
            for v in ids[ids.duplicated()].drop_duplicates().iloc[:3]
        ]
        raise ValueError(
            f"the id column {id_col!r} repeats values ({'; '.join(shown)}): need one row each"
        )
    if len(df) < 3:
        raise ValueError(f"need at least 3 rows to segment, got {len(df)}")
    vcol = find_value_column(df) if value_col == "auto" else value_col
    if vcol is not None and vcol not in df.columns:
        raise ValueError(f"no value column {vcol!r}")
    chosen, outside = _select_columns(df, id_col, columns)
    if exclude is None:
        demo = [c for c in DEMOGRAPHIC_COLUMNS if c in chosen]
        exclude_reasons = dict.fromkeys(demo, DEMOGRAPHIC_REASON)
    else:
        exclude_reasons = {
            c: DEMOGRAPHIC_REASON if c in DEMOGRAPHIC_COLUMNS else "excluded by the caller"
            for c in exclude
            if c in df.columns
        }
    pipe = make_segmenter(
        method,
        k,
        exclude=list(exclude_reasons),
        random_state=seed,
        k_range=k_range,
        n_bootstrap=n_bootstrap,
        sample_size=sample_size,
        min_stability=min_stability,
        fit_size=fit_size,
        k_rule=k_rule,
    )
    with warnings.catch_warnings(record=True) as caught:  # reported once each, as notes
        warnings.simplefilter("always")
        pipe.fit(df[chosen])
    prep, cluster = pipe.named_steps["prep"], pipe.named_steps["cluster"]
    labels = np.asarray(cluster.labels_)
    excluded = {id_col: "identifier (the id column)", **outside}
    for col, reason in prep.excluded_.items():
        excluded[col] = exclude_reasons.get(col, reason)
    for col in DEMOGRAPHIC_COLUMNS:
        if col in df.columns and col not in chosen and exclude is None:
            excluded[col] = DEMOGRAPHIC_REASON
    used = prep.numeric_columns_ + prep.binary_columns_ + prep.categorical_columns_
    used = [c for c in chosen if c in used]
    describe = [c for c in df.columns if c in exclude_reasons or c in DEMOGRAPHIC_COLUMNS]
    describe = [c for c in describe if c not in used and c != id_col]
    if vcol is not None and vcol not in used + describe:
        describe.append(vcol)
    dev = deviations(df, labels, used + describe)
    names = name_segments(dev, used, vcol)
    profiles = profile_segments(df, labels, used, vcol, describe)
    profiles.insert(1, "name", profiles["segment"].map(names))
    assignments = pd.DataFrame({id_col: ids.to_numpy(), "segment": labels})
    assignments["segment_name"] = assignments["segment"].map(names)
    return SegmentationResult(
        id_col=id_col,
        assignments=assignments,
        k=len(np.unique(labels)),
        method=method,
        scores=cluster.scores_.copy(),
        profiles=profiles,
        names=names,
        deviations=dev,
        excluded=excluded,
        missing=prep.missing_.copy(),
        features=used,
        value_col=vcol,
        pipeline=pipe,
        notes=_notes(k, int(cluster.k_), len(np.unique(labels)), cluster.scores_, min_stability)
        + _warned(caught),
    )


def _warned(caught: list[warnings.WarningMessage], limit: int = 3) -> list[str]:
    """Warnings raised while fitting, alike ones (differing only in numbers) reported once."""
    groups: dict[str, list[str]] = {}
    for w in caught:
        text = f"{w.category.__name__} while fitting: {str(w.message).splitlines()[0]}"
        groups.setdefault(re.sub(r"\d+", "N", text), []).append(text)
    return [f"{texts[0]} ({len(texts)}x)" for texts in groups.values()][:limit]


def _rows(positions: np.ndarray, limit: int = 5) -> str:
    """Data rows counted from 1 (the header is not a row): ``rows 4, 9``."""
    shown = ", ".join(str(int(p) + 1) for p in positions[:limit])
    more = f" and {len(positions) - limit:,} more" if len(positions) > limit else ""
    return f"data row{'s' if len(positions) > 1 else ''} {shown}{more}"


def _notes(
    asked: int | str, chosen: int, found: int, scores: pd.DataFrame, min_stability: float
) -> list[str]:
    """Warnings for the reader: empty segments, or no k stable enough."""
    notes = []
    if found < chosen:
        what = f"k = {asked} was asked for" if asked != "auto" else f"k = {chosen} was chosen"
        notes.append(
            f"{what} but only {found} segments have customers: the data do not support more"
        )
    stab = scores["stability"] if "stability" in scores else pd.Series(dtype=float)
    if asked == "auto" and stab.notna().any() and (stab < min_stability).all():
        best = scores.loc[stab.idxmax()]
        notes.append(
            f"no candidate k reproduces across resamples (stability {best['stability']:.2f} at "
            f"k = {int(best['k'])}, below {min_stability}): treat the segments as tentative"
        )
    return notes
