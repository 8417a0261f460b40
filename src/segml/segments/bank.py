"""Behavioural segments of a bank's customer feature table, checked against the synthetic truth.

:func:`segment_customers` segments the table from :func:`segml.features.build_features` (active
customers by default) on :data:`~segml.segments.api.BEHAVIOURAL_COLUMNS`.
:func:`persona_report` compares those segments and the demographic baseline with the synthetic
bank's latent personas (``ground_truth.parquet``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from segml.segments.api import BEHAVIOURAL_COLUMNS, SegmentationResult, segment_table
from segml.segments.baseline import compare_segmentations, demographic_segments
from segml.segments.columns import as_frame

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


def segment_customers(
    features: Any,
    k: int | Literal["auto"] = "auto",
    *,
    population: Literal["active", "all"] = "active",
    seed: int = 0,
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
    **options
        Passed to :func:`segml.segments.segment_table` (``method``, ``k_range`` ...).

    Returns
    -------
    SegmentationResult
        Demographic columns are described in the profiles but never used.
    """
    df = customer_population(features, population)
    options.setdefault("columns", list(BEHAVIOURAL_COLUMNS))
    return segment_table(df, "customer_id", k, seed=seed, **options)


def persona_report(
    result: SegmentationResult,
    features: Any,
    ground_truth: Any,
    value_col: str = "profit_12m",
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

    Returns
    -------
    comparison : DataFrame
        One row each for ``behavioural`` and ``demographic`` (age band × income band × region):
        number of segments, ARI and NMI against the personas, eta squared of value (raw and
        signed log) and the mean eta squared of :data:`BEHAVIOUR_ETA_COLUMNS`.
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
    cols = [c for c in BEHAVIOUR_ETA_COLUMNS if c in rows.columns]
    comparison = compare_segmentations(rows, segs, value_col, np.asarray(persona), cols)
    crosstab = pd.crosstab(rows["persona"].astype(str), rows["segment_name"])
    return comparison, crosstab
