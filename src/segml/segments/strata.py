"""Segments within strata: segment each group of a column (e.g. retail vs corporate) on its own.

Banks segment retail (对私) and corporate (对公) customers separately: their behaviour is measured
on different scales and one model would spend its clusters on the difference between the two.
:func:`segment_strata` runs :func:`segml.segments.segment_table` once per stratum (each with its
own k chosen by stability and BIC, its own encoding and names) and combines the results into one
:class:`~segml.segments.api.SegmentationResult`, numbered stratum by stratum (largest stratum
first). :class:`StratifiedSegmenter` predicts segments of new rows by the same dispatch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from segml.progress import step
from segml.segments.api import SegmentationResult, segment_table
from segml.segments.columns import as_frame

#: A stratum smaller than this is one segment (too few customers to cluster).
MIN_STRATUM_ROWS = 30


@dataclass(frozen=True)
class StratifiedSegmenter:
    """Predicts segments by dispatching each row to its stratum's fitted pipeline.

    Attributes
    ----------
    by : str
        The stratum column.
    pipelines : dict of str to (Pipeline or None, int)
        Per stratum value: the fitted pipeline (None for a one-segment stratum) and the offset
        of its segment numbers.
    """

    by: str
    pipelines: dict[str, tuple[Any, int]]

    def predict(self, X: Any) -> np.ndarray:
        """Segment of each row; raises ``ValueError`` for a stratum not seen in fitting."""
        df = as_frame(X)
        if self.by not in df.columns:
            raise ValueError(f"the table has no stratum column {self.by!r}")
        keys = df[self.by].astype(str).to_numpy()
        unknown = sorted(set(keys) - set(self.pipelines))
        if unknown:
            raise ValueError(f"column {self.by!r} has values not seen in fitting: {unknown[:5]}")
        out = np.empty(len(df), dtype=int)
        for key, (pipe, offset) in self.pipelines.items():
            rows = keys == key
            if rows.any():
                part = df[rows]
                out[rows] = offset + (0 if pipe is None else pipe.predict(part))
        return out


def _offset(df: pd.DataFrame, col: str, offset: int) -> pd.DataFrame:
    df = df.copy()
    df[col] = df[col] + offset
    return df


def segment_strata(
    data: Any,
    id_col: str,
    by: str,
    k: int | Literal["auto"] = "auto",
    **options: Any,
) -> SegmentationResult:
    """Segment each stratum of ``by`` separately and combine the results.

    Parameters
    ----------
    data : DataFrame or pyarrow.Table
        One row per customer.
    id_col : str
        Identifier column.
    by : str
        Stratum column (e.g. ``customer_type``); never a clustering feature. Missing values
        form their own stratum ``"(missing)"``.
    k : "auto" or int, default "auto"
        Segments per stratum, or chosen per stratum.
    **options
        Passed to :func:`segml.segments.segment_table` for every stratum.

    Returns
    -------
    SegmentationResult
        ``k`` is the total number of segments; ``scores``, ``profiles`` and ``missing`` carry a
        ``stratum`` column; names clashing across strata get the stratum appended.
    """
    df = as_frame(data).rename(columns=str)
    if by not in df.columns:
        raise ValueError(f"no stratum column {by!r}; the table has {list(df.columns)[:20]}")
    if by == id_col:
        raise ValueError("the stratum column cannot be the id column")
    keys = df[by].astype("string").fillna("(missing)").astype(str)
    order = keys.value_counts(sort=False).sort_index().sort_values(ascending=False, kind="stable")
    columns = options.pop("columns", "auto")
    parts: list[tuple[str, SegmentationResult | None, pd.DataFrame]] = []
    if not isinstance(columns, str):
        columns = [c for c in columns if c != by]
    for key in order.index:
        sub = df[(keys == key).to_numpy()].reset_index(drop=True)
        if len(sub) < MIN_STRATUM_ROWS:
            parts.append((key, None, sub))
            continue
        with step("stratum", f"{by} = {key}, {len(sub):,} rows"):
            res = segment_table(sub.drop(columns=[by]), id_col, k, columns=columns, **options)
        parts.append((key, res, sub))
    return _combine(df, id_col, by, parts)


def _single(key: str, sub: pd.DataFrame, id_col: str, offset: int) -> dict[str, Any]:
    name = f"all {key} customers"
    assignments = pd.DataFrame(
        {id_col: sub[id_col].to_numpy(), "segment": offset, "segment_name": name}
    )
    profile = pd.DataFrame({"segment": [offset], "name": [name], "size": [len(sub)]})
    return {"assignments": assignments, "profiles": profile, "names": {offset: name}}


def _combine(
    df: pd.DataFrame,
    id_col: str,
    by: str,
    parts: list[tuple[str, SegmentationResult | None, pd.DataFrame]],
) -> SegmentationResult:
    offset, assignments, profiles, scores, devs, missing = 0, [], [], [], [], []
    names: dict[int, str] = {}
    excluded: dict[str, str] = {by: f"stratum column: each {by} is segmented separately"}
    features: list[str] = []
    pipelines: dict[str, tuple[Any, int]] = {}
    methods = set()
    value_col = None
    notes: list[str] = []
    per_stratum = Counter(n for _, r, _ in parts if r for n in set(r.names.values()))
    clash = {n for n, strata in per_stratum.items() if strata > 1}
    for key, res, sub in parts:
        if res is None:
            one = _single(key, sub, id_col, offset)
            assignments.append(one["assignments"])
            profiles.append(one["profiles"].assign(stratum=key))
            names.update(one["names"])
            pipelines[key] = (None, offset)
            offset += 1
            continue
        local = {s: (f"{n} ({key})" if n in clash else n) for s, n in res.names.items()}
        a = _offset(res.assignments, "segment", offset)
        a["segment_name"] = res.assignments["segment"].map(local).to_numpy()
        assignments.append(a)
        p = _offset(res.profiles, "segment", offset)
        p["name"] = res.profiles["segment"].map(local).to_numpy()
        profiles.append(p.assign(stratum=key))
        scores.append(res.scores.assign(stratum=key))
        devs.append(res.deviations.set_axis(res.deviations.index + offset))
        missing.append(res.missing.assign(stratum=key))
        names.update({s + offset: n for s, n in local.items()})
        excluded.update({c: r for c, r in res.excluded.items() if c not in excluded})
        features += [c for c in res.features if c not in features]
        pipelines[key] = (res.pipeline, offset)
        methods.add(res.method)
        value_col = value_col or res.value_col
        notes += [f"{by} = {key}: {n}" for n in res.notes]
        offset += res.k
    order = df[[id_col]].reset_index(drop=True)
    assign = order.merge(pd.concat(assignments, ignore_index=True), on=id_col, how="left")
    return SegmentationResult(
        id_col=id_col,
        assignments=assign,
        k=offset,
        method="/".join(sorted(methods)) or "none",
        scores=pd.concat(scores, ignore_index=True) if scores else pd.DataFrame(),
        profiles=pd.concat(profiles, ignore_index=True),
        names=names,
        deviations=pd.concat(devs) if devs else pd.DataFrame(),
        excluded=excluded,
        missing=pd.concat(missing, ignore_index=True) if missing else pd.DataFrame(),
        features=features,
        value_col=value_col,
        pipeline=StratifiedSegmenter(by, pipelines),  # type: ignore[arg-type]
        notes=notes,
    )
