"""The segments step of ``segml run``: behavioural segments of the active customers, compared
with the demographic baseline."""

from __future__ import annotations

import pandas as pd

from segml.run.stages.base import StageResult
from segml.segments import (
    compare_segmentations,
    customer_population,
    demographic_segments,
    segment_customers,
)
from segml.segments.baseline import DEMOGRAPHIC_CELLS

__all__ = ["segments_stage"]


def segments_stage(
    features: pd.DataFrame, k: int | str, seed: int, fit_rows: int | None = None
) -> StageResult:
    """Behavioural segments of the active customers, profiled, named, and compared with the
    demographic (age band × income band × region) baseline on how well each separates value.
    ``fit_rows``: the segment models of each customer type are fitted on a seeded sample of
    this many customers when there are more; every customer is assigned.
    """
    res = StageResult()
    seg = segment_customers(features, k, population="active", seed=seed, fit_size=fit_rows)
    # the comparison reads the demographic cells and the value: not a copy of every column
    keep = ["customer_id", "is_active", *DEMOGRAPHIC_CELLS, "profit_12m"]
    pop = customer_population(features[[c for c in keep if c in features.columns]], "active")
    rows = seg.assignments.merge(pop, on="customer_id", how="left", validate="one_to_one")
    cmp = compare_segmentations(
        rows,
        {
            "behavioural": rows["segment"].to_numpy(),
            "demographic": demographic_segments(rows),
        },
        value_col="profit_12m" if "profit_12m" in rows else None,
    )
    res.tables["segments"] = seg.assignments
    res.tables["segment_profiles"] = seg.profiles.reset_index(drop=True)
    res.tables["segment_scores"] = seg.scores.reset_index()
    res.tables["segment_comparison"] = cmp.reset_index()
    res.documents["segments.json"] = {
        "k": seg.k,
        "method": seg.method,
        "names": {str(i): n for i, n in seg.names.items()},
        "excluded": seg.excluded,
    }
    res.metrics["k"] = float(seg.k)
    for name, row in cmp.iterrows():
        for col, v in row.items():
            if isinstance(v, int | float) and pd.notna(v):
                res.metrics[f"{name}.{col}"] = float(v)
    return res
