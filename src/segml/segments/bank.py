"""Behavioural segments of a bank's customer feature table, checked against the synthetic truth.

:func:`segment_customers` segments the table from :func:`segml.features.build_features` (active
customers by default) on :data:`~segml.segments.api.BEHAVIOURAL_COLUMNS`.
:func:`persona_report` compares those segments and the demographic baseline with the synthetic
bank's latent personas (``ground_truth.parquet``), next to :func:`persona_ceiling`, the best a
labelling of the same columns could do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from segml.segments.api import BEHAVIOURAL_COLUMNS, SegmentationResult, segment_table
from segml.segments.baseline import compare_segmentations, demographic_segments
from segml.segments.columns import as_frame
from segml.segments.strata import segment_strata

#: Numeric behavioural columns whose between-segment variance ``persona_report`` averages.
BEHAVIOUR_ETA_COLUMNS = (
    "n_tx_365d",
    "digital_share",
    "branch_share",
    "aum_last",
    "bal_lending_last",
    "fee_income_12m",
)


def customer_population(
    features: Any, population: Literal["active", "all"] = "active"
) -> pd.DataFrame:
    """The feature table as a DataFrame, restricted to active customers unless ``"all"``."""
    df = as_frame(features)
    if population == "active":
        if "is_active" not in df.columns:
            raise ValueError("the feature table has no is_active column; use population='all'")
        df = df[df["is_active"] == 1]
    elif population != "all":
        raise ValueError(f"population must be 'active' or 'all', got {population!r}")
    return df.reset_index(drop=True)


#: Channel shares shrunk towards the population mix by :func:`shrink_shares`.
SHARE_COLUMNS = ("digital_share", "branch_share", "atm_share", "pos_share")


def shrink_shares(
    df: pd.DataFrame,
    count_col: str = "n_tx_365d",
    share_cols: tuple[str, ...] = SHARE_COLUMNS,
    prior_weight: float = 5.0,
) -> pd.DataFrame:
    """Credibility-weighted shares: ``(n * share + m * mix) / (n + m)``.

    A customer with two transactions has a channel share of 0, 0.5 or 1 by chance; clustering on
    raw shares splits the quiet customers by that noise. Each share is pulled towards the
    population's transaction-weighted mix with the weight of ``prior_weight`` transactions, so
    shares of active customers barely move and those of customers with no transactions become
    the population mix (rather than missing).

    Parameters
    ----------
    df : DataFrame
        Customer table with ``count_col`` and the share columns present.
    count_col : str, default "n_tx_365d"
        Number of transactions the shares are computed over.
    share_cols : tuple of str
        Share columns (missing ones are skipped).
    prior_weight : float, default 5.0
        Pseudo-transactions at the population mix.

    Returns
    -------
    DataFrame
        A copy with the shares replaced.
    """
    if prior_weight < 0:
        raise ValueError(f"prior_weight must be >= 0, got {prior_weight}")
    out = df.copy()
    if count_col not in out.columns:
        return out
    n = pd.to_numeric(out[count_col], errors="coerce").fillna(0.0).clip(lower=0).to_numpy(float)
    for col in share_cols:
        if col not in out.columns:
            continue
        x = pd.to_numeric(out[col], errors="coerce").to_numpy(float)
        seen = ~np.isnan(x)
        w = n * seen
        prior = float(np.sum(np.where(seen, x, 0.0) * w) / w.sum()) if w.sum() > 0 else 0.0
        denom = w + prior_weight
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(
                denom > 0, (np.where(seen, x, 0.0) * w + prior * prior_weight) / denom, prior
            )
        out[col] = y
    return out


def segment_customers(
    features: Any,
    k: int | Literal["auto"] = "auto",
    *,
    population: Literal["active", "all"] = "active",
    seed: int = 0,
    by: str | None = "customer_type",
    prior_weight: float = 5.0,
    **options: Any,
) -> SegmentationResult:
    """Behavioural segments of the customer feature table.

    Parameters
    ----------
    features : pyarrow.Table or DataFrame
        From :func:`segml.features.build_features` (one row per customer).
    k : "auto" or int, default "auto"
        Number of segments.
    population : {"active", "all"}, default "active"
        Segment the customers whose relationship is open at the as-of date, or everyone.
    seed : int, default 0
    by : str or None, default "customer_type"
        Segment each value of this column separately (retail and corporate customers), each
        with its own k (:func:`segml.segments.segment_strata`); None segments everyone together.
    prior_weight : float, default 5.0
        Channel shares are shrunk towards the population mix with this weight
        (:func:`shrink_shares`); 0 keeps the raw shares.
    **options
        Passed to :func:`segml.segments.segment_table` (``method``, ``k_range`` ...).

    Returns
    -------
    SegmentationResult
        Demographic columns are described in the profiles but never used.
    """
    df = customer_population(features, population)
    if prior_weight:
        df = shrink_shares(df, prior_weight=prior_weight)
    options.setdefault("columns", list(BEHAVIOURAL_COLUMNS))
    if by is not None and by in df.columns:
        return segment_strata(df, "customer_id", by, k, seed=seed, **options)
    return segment_table(df, "customer_id", k, seed=seed, **options)


def persona_ceiling(
    df: pd.DataFrame,
    persona: Any,
    columns: Sequence[str] | None = None,
    *,
    folds: int = 3,
    seed: int = 0,
) -> np.ndarray:
    """Out-of-fold personas predicted by a classifier trained on the personas themselves.

    No segmentation of ``columns`` that never sees the personas can be expected to recover
    them better than a gradient-boosting classifier that is *trained on* them: its
    cross-fitted predictions measure how separable the personas are in these columns (the
    ceiling of ARI), whatever the clustering method. Evaluation only.

    Parameters
    ----------
    df : DataFrame
        The customers (one row each).
    persona : array-like
        The true persona of each row.
    columns : sequence of str, optional
        Columns the classifier sees (default: the :data:`BEHAVIOURAL_COLUMNS` in ``df``, the
        segmentation's own); text columns are encoded as categories, missing values kept.
    folds : int, default 3
        Stratified folds (shuffled with ``seed``); each row is predicted by the model that did
        not see it.
    seed : int, default 0

    Returns
    -------
    ndarray
        One predicted persona per row.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(persona).astype(str)
    cols = [c for c in (columns or BEHAVIOURAL_COLUMNS) if c in df.columns]
    if not cols:
        raise ValueError("persona_ceiling: none of the columns is in the table")
    X = pd.DataFrame(index=df.index)
    for c in cols:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            X[c] = pd.to_numeric(s, errors="coerce").astype(float)
        else:  # category codes, missing stays missing (NaN)
            X[c] = s.astype("category").cat.codes.replace(-1, np.nan).astype(float)
    smallest = int(pd.Series(y).value_counts().min())
    n_splits = max(2, min(folds, smallest))
    if smallest < 2:
        raise ValueError("persona_ceiling: every persona needs at least two customers")
    out = np.empty(len(y), dtype=object)
    split = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    for train, test in split.split(X, y):
        model = HistGradientBoostingClassifier(
            max_leaf_nodes=15, early_stopping=False, random_state=seed
        )
        model.fit(X.iloc[train], y[train])
        out[test] = model.predict(X.iloc[test])
    return out.astype(str)


def persona_report(
    result: SegmentationResult,
    features: Any,
    ground_truth: Any,
    value_col: str = "profit_12m",
    *,
    ceiling: bool = True,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How behavioural segments and demographic cells recover the synthetic personas.

    Parameters
    ----------
    result : SegmentationResult
        From :func:`segment_customers`.
    features : pyarrow.Table or DataFrame
        The feature table that was segmented (any superset of its customers).
    ground_truth : pyarrow.Table or DataFrame
        ``ground_truth.parquet`` of the synthetic bank (``customer_id``, ``persona``).
    value_col : str, default "profit_12m"
        Value whose between-segment variance is compared.
    ceiling : bool, default True
        Add the row ``supervised ceiling``: the personas predicted out of fold by a classifier
        trained on them, from the columns the segmentation used (:func:`persona_ceiling`) —
        the ARI no segmentation of those columns can be expected to beat.
    seed : int, default 0
        Seed of the ceiling's folds and classifier.

    Returns
    -------
    comparison : DataFrame
        One row each for ``behavioural`` and ``demographic`` (age band × income band × region)
        and, with ``ceiling``, ``supervised ceiling``: number of segments, ARI and NMI against
        the personas, eta squared of value (raw and signed log) and the mean eta squared of
        :data:`BEHAVIOUR_ETA_COLUMNS`.
    crosstab : DataFrame
        Personas (rows) by behavioural segment name (columns).
    """
    df = as_frame(features)
    truth = as_frame(ground_truth)[["customer_id", "persona"]]
    rows = result.assignments.merge(df, on=result.id_col, how="left", validate="one_to_one")
    rows = rows.merge(truth, on="customer_id", how="left", validate="one_to_one")
    if rows["persona"].isna().any():
        raise ValueError(f"{int(rows['persona'].isna().sum())} customers have no persona")
    persona = rows["persona"].astype(str).to_numpy()
    segs = {
        "behavioural": rows["segment"].to_numpy(),
        "demographic": demographic_segments(rows),
    }
    if ceiling:
        # the segmentation's columns, and the column it was stratified by (customer type)
        used = [c for c in ("customer_type", *result.features) if c in rows.columns] or None
        segs["supervised ceiling"] = persona_ceiling(rows, persona, used, seed=seed)
    cols = [c for c in BEHAVIOUR_ETA_COLUMNS if c in rows.columns]
    comparison = compare_segmentations(rows, segs, value_col, np.asarray(persona), cols)
    crosstab = pd.crosstab(rows["persona"].astype(str), rows["segment_name"])
    return comparison, crosstab
