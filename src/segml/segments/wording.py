"""Column names in words: what a column measures, in what unit, and how to say high or low.

A customer table's columns are named by whoever exported it: ``PURCHASES_INSTALLMENTS_FREQUENCY``,
``PRC_FULL_PAYMENT``, ``n_tx_365d``. :func:`column_label` reads such a name with a small
vocabulary — never a list of any one data set's columns — into a :class:`ColumnLabel`: the
subject in lower-case words ("instalment purchases"), the unit the name announces and a topic
for telling apart columns about the same thing. :func:`trait_phrase` then says a segment's
deviation on it: "frequent instalment purchases", "no full payments", "many cash advance
transactions", "high credit limit".

Units, from the name:

* ``share`` — ``PRC_``, ``pct``, ``percent``, ``share``, ``proportion``, ``fraction``:
  "high full payment share";
* ``frequency`` — ``_FREQUENCY``, ``_freq``: "frequent one-off purchases" for events
  (purchases, payments, advances, transactions, orders ...), else "high balance frequency";
* ``count`` — ``_TRX``, ``_count``, ``_cnt``, ``n_``/``num_`` prefixes, counted nouns
  (transactions, orders, visits ...): "many purchase transactions";
* ``duration`` — a last word ``days``, ``months`` ... (``recency_days``): "long recency";
* ``flag`` — a 0/1 column (given by the caller): "with mortgage" for ``has_*``, else
  "more often churned";
* ``amount`` — anything else: "high cash advance".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Tokens written out (abbreviations, spelling); an empty string drops the token.
WORDS = {
    "amt": "amount",
    "avg": "average",
    "bal": "balance",
    "cust": "customer",
    "min": "minimum",
    "max": "maximum",
    "oneoff": "one-off",
    "installment": "instalment",
    "installments": "instalment",
    "instalments": "instalment",
    "trx": "transactions",
    "tx": "transactions",
    "txn": "transactions",
    "txns": "transactions",
    "qty": "quantity",
    "prev": "previous",
    "aum": "assets under management",
    "is": "",
}
SHARE_TOKENS = frozenset({"prc", "pct", "perc", "percent", "percentage", "share", "proportion"})
SHARE_TOKENS |= {"fraction"}
FREQUENCY_TOKENS = frozenset({"frequency", "freq"})
COUNT_TOKENS = frozenset({"count", "cnt", "num", "number", "nb", "n"})
#: Nouns whose plural counts something: the column is a count without a unit token.
COUNTED = frozenset({"transactions", "orders", "visits", "logins", "calls", "complaints"})
COUNTED |= {"invoices", "sessions", "trips", "clicks", "employees", "products", "accounts"}
#: A first word that makes the column a count of time ("days since last transaction"); as the
#: last word, a duration ("recency_days": "long recency").
DURATIONS = frozenset({"days", "weeks", "months", "years", "hours"})
#: Statistics written first: ``gap_mean`` -> "average gap".
STATISTICS = {"mean": "average", "average": "average", "median": "median", "total": "total"}
#: Events: "frequent <events>", "no <events>". Their plurals lead a name when written first
#: (``PURCHASES_INSTALLMENTS`` -> "instalment purchases").
EVENTS = frozenset({"purchase", "payment", "advance", "transaction", "order", "visit"})
EVENTS |= {"login", "call", "withdrawal", "transfer", "deposit", "complaint", "claim", "trade"}
EVENTS |= {"invoice", "session", "trip", "booking"}
#: Snapshot markers dropped at the end of a name (``aum_last`` is the assets now).
TRAILING = frozenset({"last", "latest", "current", "now"})
_WINDOW = re.compile(r"^(\d+)([dwmy])$")
_UNITS = {"d": "days", "w": "weeks", "m": "months", "y": "years"}
UNITS = ("amount", "count", "duration", "frequency", "share", "flag")


@dataclass(frozen=True)
class ColumnLabel:
    """A column name read as words.

    Attributes
    ----------
    column : str
        The name as written in the table.
    subject : str
        What it measures, in lower-case words ("instalment purchases").
    unit : str
        One of :data:`UNITS`.
    head : str
        The subject's main noun in the singular ("purchase" for "one-off purchases").
    topic : frozenset of str
        The subject's words in the singular, without "transaction": the columns of one topic
        (``CASH_ADVANCE``, ``CASH_ADVANCE_FREQUENCY``, ``CASH_ADVANCE_TRX``) say one thing.
    """

    column: str
    subject: str
    unit: str
    head: str
    topic: frozenset[str]

    @property
    def events(self) -> bool:
        """Whether the subject counts events (purchases, payments ...)."""
        return self.head in EVENTS


def tokens(name: str) -> list[str]:
    """Lower-case words of a column name: split at ``_``, blanks, dots, dashes and camelCase."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name))
    return [t for t in re.split(r"[_\s.\-]+", spaced.lower()) if t]


def singular(word: str) -> str:
    """``purchases`` -> ``purchase``; words not ending in a plural ``s`` stay as they are."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def plural(subject: str) -> str:
    """The subject with its last word in the plural when it names an event."""
    words = subject.split()
    if words and words[-1] in EVENTS:
        words[-1] += "s"
    return " ".join(words)


def _split_units(words: list[str]) -> tuple[list[str], str, list[str]]:
    """Words without unit tokens, the unit they announce and a time window ("in 365 days")."""
    unit, window, kept = "amount", [], []
    for i, w in enumerate(words):
        if (m := _WINDOW.match(w)) is not None:
            window = [f"in {m.group(1)} {_UNITS[m.group(2)]}"]
        elif w in SHARE_TOKENS:
            unit = "share"
        elif w in FREQUENCY_TOKENS and len(words) > 1:
            unit = "frequency"
        elif w in COUNT_TOKENS and i in (0, len(words) - 1) and len(words) > 1:
            unit = "count"
        elif w in DURATIONS and i == len(words) - 1 and i > 0:
            unit = "duration"
        else:
            kept.append(w)
    return kept, unit, window


def _order(words: list[str], abbreviated_balance: bool) -> list[str]:
    """Head noun last, modifiers in the singular: "purchases instalment" -> "instalment
    purchases", "purchases transactions" -> "purchase transactions"."""
    counted = len(words) > 1 and words[-1] == "transactions"
    core = words[:-1] if counted else words
    first_is_events = core and core[0].endswith("s") and singular(core[0]) in EVENTS
    if len(core) > 1 and (first_is_events or abbreviated_balance):
        core = [*core[1:], core[0]]  # PURCHASES_INSTALLMENTS, bal_investment
    out = [*core, "transactions"] if counted else list(core)
    for i, w in enumerate(out[:-1]):
        if w.endswith("s") and singular(w) in EVENTS:
            out[i] = singular(w)
        if w in ("last", "first") and out[i + 1] == "transactions":
            out[i + 1] = "transaction"
    return out


def column_label(name: str, binary: bool = False) -> ColumnLabel:
    """Read a column name as a subject, a unit and a topic.

    Parameters
    ----------
    name : str
        The column name (``col`` or ``col=category``: the category is left out).
    binary : bool, default False
        The column holds 0/1 values (unit ``"flag"``).

    Returns
    -------
    ColumnLabel

    Examples
    --------
    >>> column_label("PURCHASES_INSTALLMENTS_FREQUENCY").subject
    'instalment purchases'
    >>> column_label("PRC_FULL_PAYMENT").unit
    'share'
    >>> column_label("CASH_ADVANCE_TRX").subject
    'cash advance transactions'
    """
    column = str(name).partition("=")[0]
    raw = tokens(column)
    words, unit, window = _split_units(raw)
    if raw[:1] == ["has"] and len(raw) > 1:
        words, unit = words[1:], "flag"
    words = [WORDS.get(w, w) for w in words]
    words = [w for w in words if w]
    while len(words) > 1 and words[-1] in TRAILING:
        words.pop()
    stats = [STATISTICS[w] for w in words[1:] if w in STATISTICS]
    words = [*stats, *(w for i, w in enumerate(words) if not (i and w in STATISTICS))]
    words = _order(words, raw[:1] == ["bal"])
    if words and (words[0] in DURATIONS or (unit == "amount" and words[-1] in COUNTED)):
        unit = "count"
    if binary:
        unit = "flag"
    subject = " ".join([*words, *window]) or column.lower()
    topic = frozenset(singular(w) for w in words) - {"transaction"}
    head = singular(words[-1]) if words else column.lower()
    return ColumnLabel(column, subject, unit, head, topic or frozenset(words))


#: How each unit says a segment above, below, or at none while the population has some.
_SAY = {
    "amount": ("high {s}", "low {s}", "no {p}"),
    "count": ("many {s}", "few {s}", "no {s}"),
    "duration": ("long {s}", "short {s}", "no {s}"),
    "share": ("high {s} share", "low {s} share", "no {p}"),
    "flag": ("more often {s}", "less often {s}", "never {s}"),
}


def trait_phrase(label: ColumnLabel, direction: str, category: str = "") -> str:
    """A segment's trait in words.

    Parameters
    ----------
    label : ColumnLabel
        From :func:`column_label`.
    direction : {"high", "low", "none"}
        Above the population, below it, or (next to) none where the population has some.
    category : str, optional
        For a categorical column's ``col=category`` entry: the category.

    Returns
    -------
    str

    Examples
    --------
    >>> trait_phrase(column_label("PRC_FULL_PAYMENT"), "none")
    'no full payments'
    >>> trait_phrase(column_label("ONEOFF_PURCHASES_FREQUENCY"), "high")
    'frequent one-off purchases'
    """
    s, i = label.subject, ("high", "low", "none").index(direction)
    if category:
        return f"{('more', 'fewer', 'no')[i]} {s} {category}"
    if label.unit == "flag" and tokens(label.column)[:1] == ["has"]:
        return f"{('with', 'without', 'without')[i]} {s}"
    if label.unit == "frequency":
        if label.events:
            return f"{('frequent', 'infrequent', 'no')[i]} {plural(s)}"
        return f"{('high', 'low', 'zero')[i]} {s} frequency"
    return _SAY[label.unit][i].format(s=s, p=plural(s))
