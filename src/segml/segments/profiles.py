"""Segment profiles and names derived from them.

:func:`deviations` measures how far each segment sits from the whole population on every
column, in population standard deviations (on the signed-log scale for skewed columns; for a
0/1 column, the rate difference over the population's Bernoulli spread). :func:`profile_segments`
reports size, share, value share, medians, product holding rates and channel mix per segment.
:func:`name_segments` turns the deviations into short names with :data:`NAME_RULES` — words
chosen by the data, never written per segment number — and makes them unique.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from segml.segments.columns import is_binary, is_numeric
from segml.segments.preprocess import signed_log1p

#: Columns tried, in order, as the customer value when none is named.
VALUE_CANDIDATES = ("profit_12m", "value", "clv", "customer_value", "profit", "margin", "revenue")
#: Holding columns (``has_*``) become holding rates; ``*_share`` columns make the channel mix.
HOLDING_PATTERN = re.compile(r"^has_")
MIX_PATTERN = re.compile(r"_share$")


@dataclass(frozen=True)
class NameRule:
    """One word a segment earns when a matching column deviates enough.

    Attributes
    ----------
    pattern : str
        Regular expression searched in the column name (``col`` or ``col=category``).
    sign : int
        +1: the segment is above the population; -1: below.
    threshold : float
        Deviation (population standard deviations) needed.
    word : str
        The word used in the name.
    slot : str
        ``"type"``, ``"size"``, ``"activity"``, ``"channel"``, ``"age"``, ``"value"``,
        ``"wealth"`` (the adjectives; the first two present in this order are kept) or
        ``"noun"``.
    priority : int, default 0
        Within a slot, a satisfied rule of higher priority wins over a stronger one (a more
        specific word: "inactive" over "dormant").
    """

    pattern: str
    sign: int
    threshold: float
    word: str
    slot: str
    priority: int = 0


_ACTIVITY = (
    r"^(n_tx_365d|n_tx_90d|n_tx_total|frequency|n_transactions|transactions"
    r"|n_orders|orders|n_invoices|invoices)$"
)
_VALUE = r"profit|(^|_)value$|clv|margin"
_WEALTH = r"aum|balance|deposit_last|wealth|total_assets"
#: The naming vocabulary (see docs/segments.md). Per adjective slot the satisfied rule of
#: highest priority, then highest deviation / threshold, gives the word; the noun is the
#: satisfied noun rule with the largest deviation.
NAME_RULES: tuple[NameRule, ...] = (
    NameRule(r"type=(corporate|business|company|sme)$", +1, 1.0, "corporate", "type"),
    NameRule(r"^(employees|fin_revenue|fin_total_assets|n_employees)$", +1, 0.8, "large", "size"),
    NameRule(r"^(employees|fin_revenue|fin_total_assets|n_employees)$", -1, 0.3, "small", "size"),
    NameRule(_ACTIVITY, -1, 1.75, "inactive", "activity", priority=1),
    NameRule(_ACTIVITY, -1, 0.8, "dormant", "activity"),
    NameRule(r"^(days_since_last(_tx)?|recency_days)$", +1, 1.0, "dormant", "activity"),
    NameRule(_ACTIVITY, +1, 0.8, "active", "activity"),
    NameRule(r"digital_share|online_share|mobile_share", +1, 0.5, "digital", "channel"),
    NameRule(r"branch_share", +1, 0.7, "branch-reliant", "channel"),
    NameRule(r"atm_share|cash_share", +1, 0.8, "cash-using", "channel"),
    NameRule(r"pos_share|card_share", +1, 0.8, "card-paying", "channel"),
    NameRule(r"^age$", -1, 0.5, "young", "age"),
    NameRule(r"^age$", +1, 0.8, "senior", "age"),
    NameRule(_VALUE, +1, 0.8, "high-value", "value"),
    NameRule(_VALUE, -1, 0.8, "low-value", "value"),
    NameRule(_WEALTH, +1, 1.0, "affluent", "wealth"),
    NameRule(_WEALTH, -1, 0.5, "low-balance", "wealth"),
    NameRule(r"has_mortgage", +1, 1.0, "mortgage holders", "noun"),
    NameRule(r"has_wealth_fund|has_invest|bal_investment", +1, 1.0, "investors", "noun"),
    NameRule(r"has_(corporate_)?loan|has_trade_finance|bal_lending", +1, 1.0, "borrowers", "noun"),
    NameRule(r"has_consumer_loan", +1, 1.0, "borrowers", "noun"),
    NameRule(r"has_term_deposit|has_savings", +1, 0.4, "savers", "noun"),
    NameRule(r"has_credit_card", +1, 0.6, "card users", "noun"),
    NameRule(_ACTIVITY, +1, 1.5, "transactors", "noun"),
)
#: A segment no rule names and no column sets apart by this many standard deviations is
#: "mainstream customers".
MAINSTREAM = 1.0
#: Order of the adjectives in a name, and the order in which the two kept are picked.
SLOTS = ("activity", "channel", "size", "type", "age", "value", "wealth")
SLOT_PRIORITY = ("type", "size", "activity", "channel", "age", "value", "wealth")


def find_value_column(df: pd.DataFrame, candidates: Sequence[str] = VALUE_CANDIDATES) -> str | None:
    """The first numeric column of ``candidates`` present in ``df`` (``None`` if none)."""
    for col in candidates:
        if col in df.columns and is_numeric(df[col]) and not is_binary(df[col]):
            return col
    return None


def _numeric(values: pd.Series) -> np.ndarray:
    x = pd.to_numeric(values.astype(object), errors="coerce").to_numpy(float, na_value=np.nan)
    return np.where(np.isfinite(x), x, np.nan)


def deviations(df: pd.DataFrame, labels: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """Each segment's deviation from the population on each column, in standard deviations.

    Numeric columns are compared on the signed-log scale when skewed (|skewness| > 1), 0/1
    columns as rates, categorical columns as ``col=category`` rates (categories held by at
    least 1% of rows). Missing values are left out.

    Returns
    -------
    DataFrame
        One row per segment (index), one column per feature.
    """
    labels = np.asarray(labels)
    out: dict[str, pd.Series] = {}
    for col in columns:
        s = df[col]
        if is_numeric(s):
            x = _numeric(s)
            finite = x[np.isfinite(x)]
            if len(np.unique(finite)) < 2:
                continue
            if not is_binary(s) and abs(stats.skew(finite)) > 1:
                x = signed_log1p(x)
            blocks = {col: x}
        else:
            s = s.astype(object)
            share = s.value_counts(normalize=True)
            blocks = {
                f"{col}={c}": np.where(s.isna(), np.nan, (s == c).to_numpy(float))
                for c in share[share >= 0.01].index[:20]
            }
        for name, x in blocks.items():
            sd = np.nanstd(x)
            if not np.isfinite(sd) or sd == 0:
                continue
            means = pd.Series(x).groupby(labels).mean()
            out[name] = (means - np.nanmean(x)) / sd
    return pd.DataFrame(out).sort_index()


def profile_segments(
    df: pd.DataFrame,
    labels: np.ndarray,
    columns: Sequence[str],
    value_col: str | None = None,
    describe: Sequence[str] = (),
) -> pd.DataFrame:
    """Size, share, value, medians, holding rates, channel mix and top categories per segment.

    Parameters
    ----------
    df : DataFrame
        The customers, in the order of ``labels``.
    labels : array of int
        Segment of each row.
    columns : sequence of str
        Columns the segmentation used (profiled).
    value_col : str, optional
        Customer value (e.g. ``profit_12m``): adds ``value_total``, ``value_share`` (the
        segment's share of the summed value; negative values make shares above 1 possible) and
        ``value_median``.
    describe : sequence of str
        Further columns described but not used (e.g. demographics kept apart for fairness).

    Returns
    -------
    DataFrame
        One row per segment: ``segment``, ``size``, ``share``, value columns, then
        ``median:<col>`` (numeric), ``rate:<has_col>`` (holdings), ``mix:<col_share>`` (mean
        share) and ``top:<col>`` (most common category and its share).
    """
    labels = np.asarray(labels)
    g = pd.Series(labels)
    sizes = g.value_counts().sort_index()
    prof = pd.DataFrame({"segment": sizes.index, "size": sizes.to_numpy()})
    prof["share"] = prof["size"] / len(labels)
    if value_col is not None:
        v = pd.Series(_numeric(df[value_col]))
        total = v.groupby(labels).sum().reindex(sizes.index)
        prof["value_total"] = total.to_numpy()
        prof["value_share"] = (total / v.sum()).to_numpy() if v.sum() else np.nan
        prof["value_median"] = v.groupby(labels).median().reindex(sizes.index).to_numpy()
    cols = list(dict.fromkeys([*columns, *describe]))
    for col in cols:
        s = df[col]
        if is_numeric(s) and not is_binary(s):
            x = pd.Series(_numeric(s)).groupby(labels)
            key = "mix" if MIX_PATTERN.search(col) else "median"
            agg = x.mean() if key == "mix" else x.median()
            prof[f"{key}:{col}"] = agg.reindex(sizes.index).to_numpy()
        elif is_binary(s):
            if HOLDING_PATTERN.search(col) or not any(map(HOLDING_PATTERN.search, cols)):
                rate = pd.Series(_numeric(s)).groupby(labels).mean()
                prof[f"rate:{col}"] = rate.reindex(sizes.index).to_numpy()
        else:
            top = []
            for seg in sizes.index:
                counts = s[labels == seg].astype(object).value_counts(normalize=True)
                top.append(f"{counts.index[0]} ({counts.iloc[0]:.0%})" if len(counts) else "")
            prof[f"top:{col}"] = top
    return prof


def _words(
    dev: pd.Series, rules: Sequence[NameRule] = NAME_RULES
) -> tuple[list[str], str | None, list[str]]:
    """Adjectives (in display order), the noun and the features behind them, for one segment."""
    best: dict[str, tuple[int, float, str, str]] = {}
    for rule in rules:
        for feature, z in dev.items():
            if not np.isfinite(z) or not re.search(rule.pattern, str(feature)):
                continue
            score = rule.sign * z / rule.threshold
            # nouns compete on the deviation itself, adjectives within a slot on priority
            rank = (0, rule.sign * z) if rule.slot == "noun" else (rule.priority, score)
            if score >= 1 and rank > best.get(rule.slot, (-1, 0.0, "", ""))[:2]:
                best[rule.slot] = (*rank, rule.word, str(feature))
    noun = best.pop("noun", None)
    if noun is not None:  # the noun's own feature does not also make an adjective
        best = {k: v for k, v in best.items() if v[3] != noun[3]}
    keep = [s for s in SLOT_PRIORITY if s in best][:2]
    words = [best[s][2] for s in SLOTS if s in keep]
    used = [best[s][3] for s in keep] + ([noun[3]] if noun else [])
    return words, noun[2] if noun else None, used


def _phrase(feature: str, z: float) -> str:
    """A deviation in words: "high alcohol", "with credit card", "more region Beijing"."""
    col, sep, cat = feature.partition("=")
    if sep:
        return f"{'more' if z > 0 else 'fewer'} {col.replace('_', ' ')} {cat}"
    if col.startswith("has_"):
        return f"{'with' if z > 0 else 'without'} {col[4:].replace('_', ' ')}"
    return f"{'high' if z > 0 else 'low'} {col.replace('_', ' ')}"


def name_segments(
    dev: pd.DataFrame, columns: Sequence[str] | None = None, value_col: str | None = None
) -> dict[int, str]:
    """A short, unique name for each segment from its deviations (see :data:`NAME_RULES`).

    A name is up to two adjectives (the first two present of type, size, activity, channel,
    age, value, wealth; written activity, channel, size, type, age, value, wealth) and a noun (what the
    segment holds most distinctively: investors, borrowers, savers ...; else "customers",
    "clients" for corporates, and "seniors" for a senior segment with no other noun). A
    segment no rule describes is named by its two most deviating columns among ``columns``
    ("high alcohol, low hue"), or "mainstream customers" when none deviates by
    :data:`MAINSTREAM` standard deviations. Equal names get, in brackets, the column (not yet
    in the name) that most sets each apart from the others of that name (a different phrase
    for each), then a number.

    Parameters
    ----------
    dev : DataFrame
        From :func:`deviations` (segments as index).
    columns : sequence of str, optional
        Columns (or ``col=category`` entries of them) the fallback may use; default all.
    value_col : str, optional
        The customer value column, named "high-value" / "low-value" whatever its name.

    Returns
    -------
    dict of int to str
    """
    allowed = [
        c for c in dev.columns if columns is None or str(c).partition("=")[0] in set(columns)
    ]
    rules = list(NAME_RULES)
    if value_col is not None:
        exact = f"^{re.escape(value_col)}$"
        rules += [NameRule(exact, +1, 0.8, "high-value", "value")]
        rules += [NameRule(exact, -1, 0.8, "low-value", "value")]
    names: dict[int, str] = {}
    used: dict[int, list[str]] = {}
    for seg, row in dev.iterrows():
        words, noun, feats = _words(row, rules)
        if not words and noun is None:
            own = row[allowed].dropna()
            top = own.abs().sort_values(ascending=False).index[:2]
            if not len(top) or abs(own[top[0]]) < MAINSTREAM:
                names[int(seg)], used[int(seg)] = "mainstream customers", []
                continue
            names[int(seg)] = ", ".join(_phrase(str(f), own[f]) for f in top)
            used[int(seg)] = [str(f) for f in top]
            continue
        if noun is None and "senior" in words:
            words, noun = [w for w in words if w != "senior"], "seniors"
        if noun is None:
            noun = "clients" if "corporate" in words else "customers"
        names[int(seg)] = " ".join([*words, noun])
        used[int(seg)] = feats
    groups = pd.Series(names).groupby(pd.Series(names)).groups
    for segs in [list(ix) for ix in groups.values() if len(ix) > 1]:
        # what sets each apart from the others of the same name, a different phrase each
        own = dev.loc[segs, allowed]
        rel = own - own.mean()
        given: set[str] = set()
        for seg in segs:
            taken = {f.partition("=")[0] for f in used[seg]}
            row = rel.loc[seg].dropna()
            row = row[[str(f).partition("=")[0] not in taken for f in row.index]]
            for f in row.abs().sort_values(ascending=False).index:
                phrase = _phrase(str(f), row[f])
                if phrase not in given:
                    names[seg] = f"{names[seg]} ({phrase})"
                    given.add(phrase)
                    break
    seen: dict[str, int] = {}
    for seg in sorted(names):
        base = names[seg]
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            names[seg] = f"{base} #{seen[base]}"
    return names
