"""Segment any customer table in one call: :func:`segment_table` -> :class:`SegmentationResult`."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from segml.columns import DEMOGRAPHIC, is_binary, is_numeric, show
from segml.progress import step
from segml.segments.cluster import Method, make_segmenter
from segml.segments.columns import as_frame
from segml.segments.naming import name_segments
from segml.segments.profiles import absences, deviations, find_value_column, profile_segments
from segml.segments.result import SegmentationResult
from segml.textcols import numeric_text

__all__ = [
    "BEHAVIOURAL_COLUMNS",
    "DEMOGRAPHIC_COLUMNS",
    "SegmentationResult",
    "segment_table",
    "value_numbers",
]

#: Demographic columns (:data:`segml.columns.DEMOGRAPHIC`): described, never clustered.
DEMOGRAPHIC_COLUMNS = DEMOGRAPHIC
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
    all_stability: bool = False,
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
        Customer value for the value share and mean (``value_share``, ``value_mean`` in the
        profiles); ``"auto"`` takes the first of
        :data:`segml.segments.profiles.VALUE_CANDIDATES` present. Numbers written as text
        (``"3,659.52"``) are read.
    k_range, n_bootstrap, sample_size, min_stability, k_rule, all_stability
        Passed to :class:`segml.segments.AutoKCluster` (``k_rule``: the elbow of the BIC among
        the stable k, or ``"bic"`` its lowest; see :func:`segml.segments.select_k`;
        ``all_stability``: measure every candidate's stability, not only those the choice
        needs).
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
        When ``id_col`` is absent, missing or duplicated, when the value column is absent or
        not numeric, or when no column is usable.

    Notes
    -----
    Under :func:`segml.progress.reporting` the steps are announced as they start: encoding,
    fitting (once per candidate k) and profiling.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> wine = load_wine(as_frame=True).data.reset_index(names="wine_id")
    >>> result = segment_table(wine, "wine_id", k=3, n_bootstrap=0)
    >>> result.k, len(set(result.names.values()))
    (3, 3)
    """
    df = as_frame(data).rename(columns=str)
    ids = _checked_ids(df, id_col)
    vcol = find_value_column(df) if value_col == "auto" else value_col
    if vcol is not None:
        df = df.assign(**{vcol: value_numbers(df, vcol)})
    chosen, outside = _select_columns(df, id_col, columns)
    exclude_reasons = _exclude_reasons(df, chosen, exclude)
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
        all_stability=all_stability,
    )
    prep, cluster = pipe.named_steps["prep"], pipe.named_steps["cluster"]
    with warnings.catch_warnings(record=True) as caught:  # reported once each, as notes
        warnings.simplefilter("always")
        with step("encoding", f"{len(df):,} rows, {len(chosen)} columns"):
            encoded = prep.fit_transform(df[chosen])  # as pipe.fit: the steps fitted in place
        cluster.fit(encoded)  # a step per candidate k
    labels = np.asarray(cluster.labels_)
    excluded = {id_col: "identifier (the id column)", **outside}
    for col, reason in prep.excluded_.items():
        excluded[col] = exclude_reasons.get(col, reason)
    for col in DEMOGRAPHIC_COLUMNS:
        if col in df.columns and col not in chosen and exclude is None:
            excluded[col] = DEMOGRAPHIC_REASON
    used, describe = _used_and_described(df, id_col, chosen, prep, exclude_reasons, vcol)
    with step("profiling", f"{len(np.unique(labels))} segments"):
        df = _as_read(df, used + describe)
        dev = deviations(df, labels, used + describe)
        absent = absences(df, labels, used + describe)
        names = name_segments(dev, used, vcol, absent, prep.binary_columns_)
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


def _exclude_reasons(
    df: pd.DataFrame, chosen: list[str], exclude: Sequence[str] | None
) -> dict[str, str]:
    """Columns never clustered, with the reason: the demographic ones by default."""
    if exclude is None:
        demo = [c for c in DEMOGRAPHIC_COLUMNS if c in chosen]
        return dict.fromkeys(demo, DEMOGRAPHIC_REASON)
    return {
        c: DEMOGRAPHIC_REASON if c in DEMOGRAPHIC_COLUMNS else "excluded by the caller"
        for c in exclude
        if c in df.columns
    }


def _used_and_described(
    df: pd.DataFrame,
    id_col: str,
    chosen: list[str],
    prep: Any,
    exclude_reasons: dict[str, str],
    vcol: str | None,
) -> tuple[list[str], list[str]]:
    """The columns the fitted preprocessor used, and those only described in the profiles
    (left out, demographic, or the value column)."""
    used = prep.numeric_columns_ + prep.binary_columns_ + prep.categorical_columns_
    used = [c for c in chosen if c in used]
    describe = [c for c in df.columns if c in exclude_reasons or c in DEMOGRAPHIC_COLUMNS]
    describe = [c for c in describe if c not in used and c != id_col]
    if vcol is not None and vcol not in used + describe:
        describe.append(vcol)
    return used, describe


def _checked_ids(df: pd.DataFrame, id_col: str) -> pd.Series:
    """The id column, once checked: present, never missing, unique; and enough rows."""
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
    return ids


def value_numbers(df: pd.DataFrame, col: str, what: str = "value column") -> pd.Series:
    """The value column as numbers (numbers written as text, ``"3,659.52"``, are read).

    Parameters
    ----------
    df : DataFrame
        The table.
    col : str
        The value column.
    what : str, default "value column"
        How messages call it (``"--value column"`` on the command line).

    Returns
    -------
    Series

    Raises
    ------
    ValueError
        Naming the column, when it is absent or not numeric (with a value that is not a
        number) and, for both, a few of the numeric columns the table has.

    Examples
    --------
    >>> value_numbers(pd.DataFrame({"spend": ["1,200.50", "3"]}), "spend").tolist()
    [1200.5, 3.0]
    """
    numeric = [str(c) for c in df.columns if is_numeric(df[c]) and not is_binary(df[c])]
    others = f"numeric columns: {', '.join(numeric[:8])}{' ...' if len(numeric) > 8 else ''}"
    if col not in df.columns:
        raise ValueError(f"no {what} {col!r} ({others})")
    s = df[col]
    if is_numeric(s):
        return s
    parsed = numeric_text(s)
    if parsed is None:
        text = s.dropna().astype(str)
        bad = text[pd.to_numeric(text, errors="coerce").isna()]
        example = f", e.g. {show(bad.iloc[0])}" if len(bad) else ""
        raise ValueError(f"the {what} {col!r} is not numeric{example} ({others})")
    return parsed


def _as_read(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Numbers written as text (``"3,659.52"``) as numbers, as the preprocessor reads them."""
    parsed = {c: p for c in columns if (p := numeric_text(df[c])) is not None}
    return df.assign(**parsed) if parsed else df


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
