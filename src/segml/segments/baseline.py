"""The traditional demographic segmentation, and how segmentations compare.

Banks have long cut customers into cells of age band × income band × region.
:func:`demographic_segments` builds those cells (rare cells pooled into ``"other"``);
:func:`compare_segmentations` scores any set of segmentations side by side: number of
segments, adjusted Rand index against a known truth (the synthetic bank's personas), the
between-segment share of the variance of value (eta squared, on the raw value and on its signed
log) and of every behavioural column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from segml.segments.preprocess import signed_log1p

#: The cells of the traditional segmentation, when the table has them.
DEMOGRAPHIC_CELLS = ("age_band", "income_band", "region")


def demographic_segments(
    df: pd.DataFrame,
    columns: Sequence[str] = DEMOGRAPHIC_CELLS,
    min_share: float = 0.005,
) -> np.ndarray:
    """Demographic cells (e.g. ``"35-44 | middle | Shanghai"``), one label per row.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    columns : sequence of str
        Demographic columns crossed (those absent are skipped); missing values form their own
        level ``"unknown"`` (corporate clients have no age or income band).
    min_share : float, default 0.005
        Cells holding fewer rows than this share are pooled into ``"other"``.

    Returns
    -------
    ndarray of str
    """
    present = [c for c in columns if c in df.columns]
    if not present:
        raise ValueError(f"the table has none of the demographic columns {list(columns)}")
    parts = [df[c].astype(object).where(df[c].notna(), "unknown").astype(str) for c in present]
    cells = parts[0]
    for p in parts[1:]:
        cells = cells + " | " + p
    counts = cells.value_counts()
    rare = counts[counts < min_share * len(df)].index
    return cells.where(~cells.isin(rare), "other").to_numpy(dtype=object)


def eta_squared(values: np.ndarray, labels: np.ndarray) -> float:
    """Share of the variance of ``values`` between segments (one-way ANOVA eta squared).

    Missing values are left out; 0 to 1, higher means the segments separate the values more.
    """
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x)
    x, lab = x[ok], np.asarray(labels)[ok]
    total = float(np.sum((x - x.mean()) ** 2))
    if total == 0:
        return float("nan")
    means = pd.Series(x).groupby(lab).transform("mean").to_numpy()
    return float(np.sum((means - x.mean()) ** 2) / total)


def epsilon_squared(values: np.ndarray, labels: np.ndarray) -> float:
    """Eta squared adjusted for the number of segments (one-way ANOVA epsilon squared).

    ``(SS_between - (k - 1) MS_within) / SS_total``: the share of variance the segments
    explain beyond what ``k`` arbitrary groups would, so a segmentation into many small cells
    is not rewarded for its size. Missing values are left out; can be slightly negative.
    """
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x)
    x, lab = x[ok], np.asarray(labels)[ok]
    n, k = len(x), len(np.unique(lab))
    total = float(np.sum((x - x.mean()) ** 2))
    if total == 0 or n <= k:
        return float("nan")
    means = pd.Series(x).groupby(lab).transform("mean").to_numpy()
    between = float(np.sum((means - x.mean()) ** 2))
    return (between - (k - 1) * (total - between) / (n - k)) / total


def compare_segmentations(
    df: pd.DataFrame,
    segmentations: Mapping[str, np.ndarray],
    value_col: str | None = None,
    truth: np.ndarray | None = None,
    columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Score segmentations of the same customers side by side.

    Parameters
    ----------
    df : DataFrame
        The customers, in the order of every labelling.
    segmentations : mapping of str to array
        Name -> segment label per row (e.g. ``{"behavioural": ..., "demographic": ...}``).
    value_col : str, optional
        Customer value: adds ``eta2_value`` (raw) and ``eta2_log_value`` (signed log1p, less
        driven by a few very large customers), and ``eps2_value``, ``eps2_log_value``: the
        same adjusted for the number of segments (:func:`epsilon_squared`), the fair
        comparison of segmentations of different sizes.
    truth : array, optional
        Known groups (e.g. the synthetic personas): adds ``ari_truth`` and ``nmi_truth``.
    columns : sequence of str
        Numeric behavioural columns: adds ``eta2_behaviour``, the mean eta squared over them
        (signed log scale), and ``eps2_behaviour``, adjusted.

    Returns
    -------
    DataFrame
        One row per segmentation.
    """
    rows = []
    for name, labels in segmentations.items():
        labels = np.asarray(labels)
        if len(labels) != len(df):
            raise ValueError(f"{name!r} has {len(labels)} labels for {len(df)} rows")
        row: dict[str, object] = {"segmentation": name, "n_segments": len(np.unique(labels))}
        if truth is not None:
            row["ari_truth"] = adjusted_rand_score(np.asarray(truth), labels)
            row["nmi_truth"] = normalized_mutual_info_score(np.asarray(truth), labels)
        if value_col is not None:
            v = pd.to_numeric(df[value_col], errors="coerce").to_numpy(float)
            row["eta2_value"] = eta_squared(v, labels)
            row["eta2_log_value"] = eta_squared(signed_log1p(v), labels)
            row["eps2_value"] = epsilon_squared(v, labels)
            row["eps2_log_value"] = epsilon_squared(signed_log1p(v), labels)
        if columns:
            logged = [
                signed_log1p(pd.to_numeric(df[c], errors="coerce").to_numpy(float)) for c in columns
            ]
            row["eta2_behaviour"] = float(np.nanmean([eta_squared(x, labels) for x in logged]))
            row["eps2_behaviour"] = float(np.nanmean([epsilon_squared(x, labels) for x in logged]))
        rows.append(row)
    return pd.DataFrame(rows)
