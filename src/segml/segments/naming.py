"""Segment names from the traits that set each segment apart from the population.

:func:`name_segments` reads each segment's deviations (:func:`segml.segments.deviations`, in
population standard deviations) and its absences (:func:`segml.segments.absences`: next to no
value where most of the population has some) and names it:

1. with :data:`NAME_RULES` — words for segml's bank feature table ("digital high-value
   investors"), chosen by the data, never written per segment number;
2. else by its strongest traits in the table's own words (:mod:`segml.segments.wording`):
   "frequent cash advances, no purchases". A trait is a column whose segment mean lies at least
   :data:`MAINSTREAM` standard deviations from the population's, or where the segment has none;
   of several columns about one thing (``CASH_ADVANCE``, ``CASH_ADVANCE_FREQUENCY``) the
   strongest speaks;
3. "mainstream customers" only when no column sets the segment apart: every one within
   :data:`MAINSTREAM` standard deviations, and none absent.

Equal names get, in brackets, the trait that most sets each apart from the others of that
name (a different one for each).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from segml.segments.wording import ColumnLabel, column_label, trait_phrase


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
#: The naming vocabulary of segml's bank feature table (see docs/segments.md). Per adjective
#: slot the satisfied rule of highest priority, then highest deviation / threshold, gives the
#: word; the noun is the satisfied noun rule with the largest deviation. The value and wealth
#: words apply to amounts only (not to a ``balance_frequency`` or a ``profit_share``).
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
#: A trait sets a segment apart when its mean lies this many population standard deviations
#: from the population's (or the segment has none of it); a segment without any is
#: "mainstream customers".
MAINSTREAM = 0.5
#: A "no ..." trait ranks as a deviation of at least this many standard deviations: holding
#: none of what a quarter or more of the population holds defines a segment even where the
#: mean moves little (no full payments when 15% is the population's mean share).
NONE_RANK = 1.0
#: The most traits a name is built from.
NAME_TRAITS = 2
#: Order of the adjectives in a name, and the order in which the two kept are picked.
SLOTS = ("activity", "channel", "size", "type", "age", "value", "wealth")
SLOT_PRIORITY = ("type", "size", "activity", "channel", "age", "value", "wealth")


@dataclass(frozen=True)
class Trait:
    """How a segment differs from the population on one column.

    Attributes
    ----------
    feature : str
        The column (``col`` or ``col=category``).
    z : float
        The deviation in population standard deviations.
    direction : str
        ``"high"``, ``"low"`` or ``"none"`` (next to none where the population has some).
    label : ColumnLabel
        The column in words.
    """

    feature: str
    z: float
    direction: str
    label: ColumnLabel

    @property
    def rank(self) -> float:
        """Strength: ``|z|``, at least :data:`NONE_RANK` for a "none" trait."""
        return max(abs(self.z), NONE_RANK) if self.direction == "none" else abs(self.z)

    @property
    def phrase(self) -> str:
        """The trait in words ("frequent cash advances")."""
        category = self.feature.partition("=")[2]
        return trait_phrase(self.label, self.direction, category)

    def repeats(self, other: Trait) -> bool:
        """Whether ``other`` says the same thing: same direction and topic (or, in one unit, a
        topic within the other's: "high purchases" after "high one-off purchases")."""
        mine, theirs = self.label.topic, other.label.topic
        lower = {"low", "none"}
        same_way = self.direction == other.direction or {self.direction, other.direction} <= lower
        if not same_way or self.feature.partition("=")[2] or other.feature.partition("=")[2]:
            return same_way and self.feature == other.feature
        nested = self.label.unit == other.label.unit and (mine <= theirs or theirs <= mine)
        return mine == theirs or nested


def segment_traits(
    dev: pd.Series,
    absent: pd.Series | None = None,
    flags: Collection[str] = (),
) -> list[Trait]:
    """A segment's traits, strongest first.

    Parameters
    ----------
    dev : Series
        The segment's row of :func:`segml.segments.deviations` (feature -> deviation).
    absent : Series of bool, optional
        The segment's row of :func:`segml.segments.absences` (column -> has none).
    flags : collection of str
        The 0/1 columns ("more often ...").

    Returns
    -------
    list of Trait
        Sorted by :attr:`Trait.rank`, then by column order.

    Examples
    --------
    >>> dev = pd.Series({"PRC_FULL_PAYMENT": -0.6, "CASH_ADVANCE": 1.4})
    >>> [t.phrase for t in segment_traits(dev, pd.Series({"PRC_FULL_PAYMENT": True}))]
    ['high cash advance', 'no full payments']
    """
    out = []
    for feature, z in dev.items():
        if not np.isfinite(z):
            continue
        col = str(feature).partition("=")[0]
        none = absent is not None and "=" not in str(feature) and bool(absent.get(col, False))
        direction = "none" if none else ("high" if z > 0 else "low")
        out.append(Trait(str(feature), float(z), direction, column_label(col, col in flags)))
    order = {t.feature: i for i, t in enumerate(out)}
    return sorted(out, key=lambda t: (-t.rank, order[t.feature]))


def distinct_traits(
    traits: Sequence[Trait], n: int, after: Sequence[Trait] = (), min_rank: float = 0.0
) -> list[Trait]:
    """The ``n`` strongest traits of at least ``min_rank`` that repeat neither each other nor
    ``after``."""
    kept: list[Trait] = []
    for t in traits:
        if len(kept) == n or t.rank < min_rank:
            break
        if not any(t.repeats(o) for o in [*after, *kept]):
            kept.append(t)
    return kept


def _words(
    dev: pd.Series, rules: Sequence[NameRule], exact: str | None
) -> tuple[list[str], str | None, list[str]]:
    """Adjectives (in display order), the noun and the features behind them, for one segment."""
    best: dict[str, tuple[int, float, str, str]] = {}
    for rule in rules:
        for feature, z in dev.items():
            if not np.isfinite(z) or not re.search(rule.pattern, str(feature)):
                continue
            amount = feature == exact or column_label(str(feature)).unit == "amount"
            if rule.slot in ("value", "wealth") and not amount:
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


def _rule_name(words: list[str], noun: str | None) -> str:
    if noun is None and "senior" in words:
        words, noun = [w for w in words if w != "senior"], "seniors"
    if noun is None:
        noun = "clients" if "corporate" in words else "customers"
    return " ".join([*words, noun])


def name_segments(
    dev: pd.DataFrame,
    columns: Sequence[str] | None = None,
    value_col: str | None = None,
    absent: pd.DataFrame | None = None,
    flags: Collection[str] = (),
) -> dict[int, str]:
    """A short, unique name for each segment from its deviations.

    A segment :data:`NAME_RULES` describe gets up to two adjectives — the first two present of
    type, size, activity, channel, age, value, wealth; written activity, channel, size, type,
    age, value, wealth — and a noun (what it holds most distinctively: investors, borrowers,
    savers ...; else "customers", "clients" for corporates, "seniors" for a senior segment).
    Any other segment is named by its :data:`NAME_TRAITS` strongest distinct traits among
    ``columns`` ("frequent cash advances, no purchases"), or "mainstream customers" when no
    column sets it apart (module docstring). Equal names get, in brackets, the trait not yet in
    the name that most sets each apart from the others of that name — the largest difference
    from their mean deviation, said against the population ("high balance") — a different
    phrase for each, then a number.

    Parameters
    ----------
    dev : DataFrame
        From :func:`segml.segments.deviations` (segments as index).
    columns : sequence of str, optional
        Columns (or ``col=category`` entries of them) the traits may use; default all.
    value_col : str, optional
        The customer value column, named "high-value" / "low-value" whatever its name.
    absent : DataFrame of bool, optional
        From :func:`segml.segments.absences`: "no ..." traits.
    flags : collection of str
        0/1 columns.

    Returns
    -------
    dict of int to str

    Examples
    --------
    >>> dev = pd.DataFrame({"CASH_ADVANCE": [1.5, -0.4], "PRC_FULL_PAYMENT": [-0.1, -0.6]})
    >>> absent = pd.DataFrame({"PRC_FULL_PAYMENT": [False, True]})
    >>> name_segments(dev, absent=absent)
    {0: 'high cash advance', 1: 'no full payments'}
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
    used: dict[int, list[Trait]] = {}
    traits: dict[int, list[Trait]] = {}
    for seg, row in dev.iterrows():
        seg = int(seg)
        missing = absent.loc[seg] if absent is not None and seg in absent.index else None
        traits[seg] = segment_traits(row[allowed], missing, flags)
        words, noun, feats = _words(row, rules, value_col)
        if words or noun is not None:
            names[seg] = _rule_name(words, noun)
            by_feature = {t.feature: t for t in segment_traits(row, missing, flags)}
            used[seg] = [by_feature[f] for f in feats if f in by_feature]
            continue
        used[seg] = distinct_traits(traits[seg], NAME_TRAITS, min_rank=MAINSTREAM)
        names[seg] = ", ".join(t.phrase for t in used[seg]) or "mainstream customers"
    return _disambiguate(names, traits, used)


def _disambiguate(
    names: dict[int, str], traits: dict[int, list[Trait]], used: dict[int, list[Trait]]
) -> dict[int, str]:
    """Equal names: each gets in brackets its trait (not yet in its name) that most sets it
    apart from the others of that name, said against the population (a different phrase
    each); then a number."""
    groups = pd.Series(names).groupby(pd.Series(names)).groups
    for segs in [sorted(ix) for ix in groups.values() if len(ix) > 1]:
        z = pd.DataFrame({seg: {t.feature: t.z for t in traits[seg]} for seg in segs}).T
        apart = (z - z.mean()).abs()
        given: set[str] = set()
        for seg in segs:
            said = {t.feature for t in used[seg]}
            own = [t for t in traits[seg] if t.feature not in said]
            own = [t for t in own if not any(t.repeats(u) for u in used[seg])]
            own.sort(key=lambda t: -apart.loc[seg].get(t.feature, 0.0))
            for t in own:
                if t.phrase not in given:
                    names[seg] = f"{names[seg]} ({t.phrase})"
                    given.add(t.phrase)
                    break
    seen: dict[str, int] = {}
    for seg in sorted(names):
        base = names[seg]
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            names[seg] = f"{base} #{seen[base]}"
    return names
