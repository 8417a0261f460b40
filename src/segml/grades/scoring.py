"""Grade corporate clients with a :class:`~segml.grades.scorecard.Scorecard`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from segml.grades.scorecard import DEFAULT_SCORECARD, Factor, Scorecard

#: How many inputs of the weakest dimension the ``reasons`` text names.
REASON_INPUTS = 2
#: Statement-based columns: all missing means the client has no statement known at t.
STATEMENT_COLUMN = "fin_statement_age_days"


def corporate_rows(features: pd.DataFrame | pa.Table) -> pd.DataFrame:
    """The corporate customers of a feature table (``customer_type == 'corporate'``)."""
    df = features.to_pandas() if isinstance(features, pa.Table) else features
    for col in ("customer_id", "customer_type"):
        if col not in df.columns:
            raise ValueError(f"the feature table has no {col!r} column")
    return df.loc[df["customer_type"].astype(object) == "corporate"].reset_index(drop=True)


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "missing"
    if isinstance(value, str):
        return value
    v = float(value)  # type: ignore[arg-type]
    if abs(v) >= 1e5:
        return f"{v:,.0f}"
    if v == int(v):
        return str(int(v))
    return f"{v:.2f}"


def _reason(
    scorecard: Scorecard,
    row: int,
    dim_scores: dict[str, np.ndarray],
    points: dict[str, np.ndarray],
    missing: dict[str, np.ndarray],
    values: dict[str, np.ndarray],
    default_text: str,
) -> str:
    dims = scorecard.dimensions
    weakest = min(dims, key=lambda d: dim_scores[d.name][row])  # ties: the first dimension
    shortfall = sorted(
        ((f.weight * (100.0 - points[f.name][row]), i, f) for i, f in enumerate(weakest.factors)),
        key=lambda t: (-t[0], t[1]),
    )
    parts = []
    for gap, _, f in shortfall[:REASON_INPUTS]:
        if gap <= 0:
            break
        pts = points[f.name][row]
        if missing[f.name][row]:
            parts.append(f"{f.label} missing → {pts:.0f} pts (neutral)")
        else:
            parts.append(f"{f.label} {_fmt(values[f.name][row])} → {pts:.0f} pts")
    text = f"weakest: {weakest.label} ({dim_scores[weakest.name][row]:.0f})"
    if parts:
        text += ": " + ", ".join(parts)
    return f"{default_text}; {text}" if default_text else text


def grade_corporates(
    features: pd.DataFrame | pa.Table, scorecard: Scorecard = DEFAULT_SCORECARD
) -> pd.DataFrame:
    """Grade each corporate customer of a feature table on the scorecard's dimensions.

    Parameters
    ----------
    features : pandas.DataFrame or pyarrow.Table
        The customer feature table (``segml.features.build_features``); rows whose
        ``customer_type`` is not ``corporate`` are ignored.
    scorecard : Scorecard
        Dimensions, factor points, weights and grade cut-offs (default
        :data:`DEFAULT_SCORECARD`).

    Returns
    -------
    pandas.DataFrame
        One row per corporate customer, in input order:

        * ``customer_id``, ``grade`` (best first as in ``scorecard.grades``), ``grade_rank``
          (1 = best), ``score_total`` (0-100, higher = better credit quality);
        * ``score_<dimension>`` (0-100) for each dimension;
        * ``reasons``: the weakest dimension and the inputs that pulled it down (and the
          default override when it applies);
        * ``grading_flags``: ``"; "``-joined flags (``missing:<factor>``,
          ``unknown_industry:<name>``, ``unknown_category:<factor>=<value>``, ``inactive``
          (relationship closed at t), ``no_statement``, ``stale_statement``,
          ``default_override``); ``n_missing`` (inputs scored neutral);
          ``no_statement`` and ``default_override`` as booleans;
        * for each factor its input column (as in the feature table) and ``pts_<factor>``;
          ``industry_risk`` (the industry's risk level).

    Raises
    ------
    ValueError
        If a column the scorecard reads is absent.

    Notes
    -----
    A missing input (no statement known at t, no previous statement for growth, a zero
    denominator, an unknown rating code) scores ``scorecard.neutral_score`` and is flagged.
    A client at or past ``scorecard.default_dpd`` days past due, or rated one of
    ``scorecard.default_ratings``, gets the worst grade whatever its score.
    """
    df = corporate_rows(features)
    absent = [c for c in scorecard.input_columns if c not in df.columns]
    if absent:
        raise ValueError(f"the feature table lacks columns the scorecard reads: {absent}")
    n = len(df)
    neutral = scorecard.neutral_score
    out = pd.DataFrame({"customer_id": df["customer_id"].to_numpy()})

    points: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    values: dict[str, pd.Series] = {}
    flags: list[list[str]] = [[] for _ in range(n)]
    for f in scorecard.factors:
        raw = scorecard.factor_points(f, df[f.column])
        miss = np.isnan(raw)
        points[f.name] = np.where(miss, neutral, raw)
        missing[f.name] = miss
        values[f.name] = df[f.column]
        for i in np.flatnonzero(miss):
            flags[i].append(_missing_flag(f, df[f.column].iloc[i]))

    dim_scores: dict[str, np.ndarray] = {}
    for d in scorecard.dimensions:
        dim_scores[d.name] = np.clip(sum(f.weight * points[f.name] for f in d.factors), 0.0, 100.0)
    total = np.clip(sum(d.weight * dim_scores[d.name] for d in scorecard.dimensions), 0.0, 100.0)

    no_statement = (
        df[STATEMENT_COLUMN].isna().to_numpy()
        if STATEMENT_COLUMN in df.columns
        else np.zeros(n, dtype=bool)
    )
    stale = np.zeros(n, dtype=bool)
    if scorecard.stale_after_days is not None and STATEMENT_COLUMN in df.columns:
        age = pd.to_numeric(df[STATEMENT_COLUMN], errors="coerce").to_numpy(dtype=float)
        stale = np.nan_to_num(age, nan=-1.0) > scorecard.stale_after_days
    default, default_text = _default_override(df, scorecard)

    grades = scorecard.assign_grades(total)
    grades = np.where(default, scorecard.grade_names[-1], grades)
    rank = {g: i + 1 for i, g in enumerate(scorecard.grade_names)}

    inactive = (
        pd.to_numeric(df["is_active"], errors="coerce").to_numpy(dtype=float) == 0
        if "is_active" in df.columns
        else np.zeros(n, dtype=bool)
    )
    for i in range(n):
        if inactive[i]:
            flags[i].append("inactive")
        if no_statement[i]:
            flags[i].append("no_statement")
        if stale[i]:
            flags[i].append("stale_statement")
        if default[i]:
            flags[i].append("default_override")

    out["grade"] = grades
    out["grade_rank"] = np.array([rank[g] for g in grades], dtype=np.int64)
    out["score_total"] = total
    for d in scorecard.dimensions:
        out[f"score_{d.name}"] = dim_scores[d.name]
    cells = {k: v.to_numpy(dtype=object) for k, v in values.items()}  # not .iloc per row
    out["reasons"] = [
        _reason(scorecard, i, dim_scores, points, missing, cells, default_text[i]) for i in range(n)
    ]
    out["grading_flags"] = ["; ".join(fl) for fl in flags]
    out["n_missing"] = np.sum([missing[f.name] for f in scorecard.factors], axis=0, dtype=np.int64)
    out["no_statement"] = no_statement
    out["default_override"] = default
    for col in scorecard.input_columns:
        out[col] = df[col].to_numpy()
    for f in scorecard.factors:
        out[f"pts_{f.name}"] = points[f.name]
    if "industry" in df.columns:
        out["industry_risk"] = [scorecard.industry_level(v) for v in df["industry"]]
    return out


def _missing_flag(factor: Factor, value: object) -> str:
    if factor.kind == "industry" and isinstance(value, str):
        return f"unknown_industry:{value}"
    if factor.kind == "categorical" and isinstance(value, str):
        return f"unknown_category:{factor.name}={value}"
    return f"missing:{factor.name}"


def _default_override(df: pd.DataFrame, scorecard: Scorecard) -> tuple[np.ndarray, list[str]]:
    """Which clients are in default (DPD or rating) and the text that says why."""
    n = len(df)
    default = np.zeros(n, dtype=bool)
    text = [""] * n
    worst = scorecard.grade_names[-1]
    if scorecard.default_dpd is not None and "fin_days_past_due" in df.columns:
        dpd = pd.to_numeric(df["fin_days_past_due"], errors="coerce").to_numpy(dtype=float)
        hit = np.nan_to_num(dpd, nan=-1.0) >= scorecard.default_dpd
        for i in np.flatnonzero(hit):
            text[i] = f"default: {dpd[i]:.0f} days past due ≥ {scorecard.default_dpd} → {worst}"
        default |= hit
    if scorecard.default_ratings and "fin_credit_rating" in df.columns:
        rating = df["fin_credit_rating"].astype(object)
        hit = rating.isin(scorecard.default_ratings).to_numpy()
        for i in np.flatnonzero(hit & ~default):
            text[i] = f"default: rated {rating.iloc[i]} → {worst}"
        default |= hit
    return default, text
