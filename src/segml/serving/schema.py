"""The input contract of the exported tiering model, and its checks.

:class:`InputSchema` lists every column the models read, its kind (``numeric`` or
``category`` with the categories seen in training), and the columns that must never be missing.
:meth:`InputSchema.check` refuses a table that breaks it with an :class:`InputError` naming the
column and the offending rows or values — never a silent default: an unknown category is an
error, not "missing". Missing columns come first, named in one short line
(:func:`missing_columns`). :func:`open_rows` is the run's population rule: rows with
``is_active = 1`` are tiered, closed relationships (``is_active = 0``) are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segml.boosters import numbers, positions, texts
from segml.contract import CREDIT_RATINGS, CUSTOMER_TYPES, GENDERS, INCOME_BANDS
from segml.features.build import AGE_BANDS
from segml.serving.guards import Limits, RowsError, check_rfm
from segml.value.model import ACCOUNTING_LINES

if TYPE_CHECKING:
    from segml.serving.bundle import TieringBundle

__all__ = [
    "CLOSED",
    "ID_COLUMN",
    "POPULATION",
    "InputError",
    "InputSchema",
    "build_schema",
    "missing_columns",
    "open_rows",
]

ID_COLUMN = "customer_id"
#: The run's population rule: it tiers the customers whose relationship is open at the as-of
#: date (``is_active == 1``, :func:`segml.features.build.active`); so does the model.
POPULATION = "is_active"
#: Why a row with ``is_active = 0`` gets no tier (the model's ``not_tiered`` output).
CLOSED = "closed relationship (is_active = 0): the run tiers active customers only"
RFM = ("frequency", "recency", "T", "monetary_value")
#: Categorical features whose values the data contract fixes: every contract value is accepted
#: (one the models never saw in training counts as missing for them, as in training).
DOMAINS: dict[str, tuple[str, ...]] = {
    "customer_type": CUSTOMER_TYPES,
    "fin_credit_rating": CREDIT_RATINGS,
    "gender": GENDERS,
    "income_band": INCOME_BANDS,
    "age_band": (*(b for _, b in AGE_BANDS), "65+"),
}


class InputError(RowsError):
    """The input table breaks the model's contract (the message names column and rows).

    ``rows`` (positions from 0, possibly empty) and ``column`` say where;
    :meth:`~segml.serving.guards.RowsError.at` names the rows shifted (a chunk's offset).
    """

    def __init__(self, template: str, rows: Any = (), column: str | None = None) -> None:
        super().__init__(template, rows, column)


def missing_columns(missing: list[str], what: str = "features", verb: str = "lack") -> InputError:
    """The refusal of a table that lacks ``missing``: one short line, the columns first.

    ``features lack 3 required columns: a, b, c`` (20 named, then a count), and what
    ``is_active`` is when it is one of them; ``what`` and ``verb`` name the table
    (``features.parquet``, ``lacks``).
    """
    n = len(missing)
    shown = ", ".join(missing[:20]) + (f" and {n - 20} more" if n > 20 else "")
    text = f"{what} {verb} {n} required column{'' if n == 1 else 's'}: {shown}"
    if POPULATION in missing:
        text += (f" ({POPULATION}: 1 if the relationship is open at the as-of date, 0 if closed; "
                 "the model tiers open relationships only)")  # fmt: skip
    return InputError(text, (), missing[0] if missing else None)


def open_rows(table: pd.DataFrame) -> np.ndarray:
    """Which rows the run's population rule tiers: ``is_active == 1`` (True) or 0 (False).

    Raises
    ------
    InputError
        When ``is_active`` is absent, or holds anything but 0 and 1 (naming the rows).
    """
    if POPULATION not in table.columns:
        raise missing_columns([POPULATION])
    flag = pd.to_numeric(table[POPULATION], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isin(flag, (0.0, 1.0))
    if bad.any():
        shown = list(dict.fromkeys("missing" if pd.isna(v) else str(v) for v in table[POPULATION][bad]))[:5]  # fmt: skip
        raise _refuse(
            f"column {POPULATION!r}, {{rows}}: {shown} where 1 (the relationship is open at the "
            "as-of date) or 0 (closed) is expected", bad, POPULATION,
        )  # fmt: skip
    return flag == 1


def _refuse(template: str, mask: np.ndarray, column: str) -> InputError:
    return InputError(template, np.flatnonzero(mask), column)


def _no_nested(s: pd.Series, c: str) -> None:
    """Refuse a list or an object (JSON can nest them) where a cell holds one value."""
    if s.dtype != object or pd.api.types.infer_dtype(s, skipna=True) in _SCALAR_KINDS:
        return
    nested = np.array([not pd.api.types.is_scalar(v) for v in s.to_numpy(dtype=object)], dtype=bool)  # fmt: skip
    if nested.any():
        raise _refuse(f"column {c!r}, {{rows}}: a list or an object where one value is expected", nested, c)  # fmt: skip


_SCALAR_KINDS = frozenset({"string", "empty", "integer", "floating", "mixed-integer-float", "boolean", "decimal"})  # fmt: skip


@dataclass
class InputSchema:
    """Columns the model reads, their kinds and allowed categories, and the non-null ones.

    Attributes
    ----------
    numeric : list of str
    categories : dict of str to list of str
        Categorical columns and the categories seen in training.
    required : list of str
        Columns that must not be missing (besides ``customer_id``).

    The numeric columns' plausible ranges come from the data contract
    (:class:`segml.serving.guards.Limits`, derived from the names when the schema is made).
    """

    numeric: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._limits = Limits(self.numeric)
        self._allowed = {c: frozenset(v) for c, v in self.categories.items()}

    @property
    def columns(self) -> list[str]:
        """Every input column, ``customer_id`` first."""
        return [ID_COLUMN, *sorted(self.categories), *sorted(self.numeric)]

    @property
    def limits(self) -> Limits:
        """The numeric columns' bounds (:class:`segml.serving.guards.Limits`)."""
        return self._limits

    def check(self, table: pd.DataFrame) -> pd.DataFrame:
        """A checked copy of ``table``: numeric columns as float, categoricals as text.

        Columns the schema does not name are kept as they are. Safe to call from many threads.

        Raises
        ------
        InputError
            Missing columns, missing or duplicate customer ids, non-numeric, non-finite or
            implausible values in a numeric column (:mod:`segml.serving.guards`), RFM columns
            that contradict each other, unknown categories, missing values in a required
            column. The message names the column and the rows (positions from 0).
        """
        if not isinstance(table, pd.DataFrame):
            raise InputError(f"expected a table (DataFrame), got {type(table).__name__}")
        have = set(table.columns)
        missing = [c for c in self.columns if c not in have]
        if missing:
            raise missing_columns(missing)
        table = table.reset_index(drop=True)
        ids = self._ids(table[ID_COLUMN])
        values = self._numbers(table)
        self._limits.check(values)
        check_rfm({c: values[:, j] for j, c in enumerate(self.numeric) if c in RFM})
        cols: dict[str, Any] = {ID_COLUMN: ids}
        cols.update((c, self._category(table[c], c)) for c in self.categories)
        where = {c: j for j, c in enumerate(self.numeric)}
        for c in self.required:
            if c in where:
                na = np.isnan(values[:, where[c]])
            else:
                na = pd.isna(cols[c]) if c in cols else table[c].isna().to_numpy()
            if na.any():
                raise _refuse(f"column {c!r} must not be missing; it is in {{rows}}", na, c)
        known = set(self.numeric) | set(cols)
        parts = [pd.DataFrame(cols), pd.DataFrame(values, columns=self.numeric)]
        extra = [c for c in table.columns if c not in known]
        if extra:
            parts.append(table[extra])
        return pd.concat(parts, axis=1)

    @staticmethod
    def _ids(ids: pd.Series) -> pd.Series:
        na = ids.isna().to_numpy()
        if na.any():
            raise _refuse(f"column {ID_COLUMN!r} is missing in {{rows}}", na, ID_COLUMN)
        _no_nested(ids, ID_COLUMN)
        dup = ids.duplicated().to_numpy()
        if dup.any():
            shown = ids[dup].astype(str).unique()[:5].tolist()
            raise _refuse(f"column {ID_COLUMN!r} has duplicate ids {shown} in {{rows}}", dup, ID_COLUMN)  # fmt: skip
        return ids

    def _numbers(self, table: pd.DataFrame) -> np.ndarray:
        """The numeric columns as one float array; text that is no number is refused."""
        kinds = table.dtypes.to_numpy()[positions(table.columns, self.numeric)]
        if all(pd.api.types.is_numeric_dtype(t) for t in kinds):
            return numbers(table, self.numeric)
        out = np.empty((len(table), len(self.numeric)))
        for j, c in enumerate(self.numeric):
            s = table[c]
            _no_nested(s, c)
            num = pd.to_numeric(s, errors="coerce")
            bad = (num.isna() & s.notna()).to_numpy()
            if bad.any():
                examples = s[bad].astype(str).unique()[:5].tolist()
                raise _refuse(f"column {c!r} must be numeric; {{rows}} hold {examples}", bad, c)
            out[:, j] = num.to_numpy(dtype=float, na_value=np.nan)
        return out

    def _category(self, s: pd.Series, c: str) -> np.ndarray:
        """``s`` as text (missing: None), refusing categories outside the allowed ones."""
        _no_nested(s, c)
        text = texts(s)
        allowed = self._allowed[c]
        unknown = np.array([v is not None and v not in allowed for v in text], dtype=bool)
        if unknown.any():
            values = sorted({text[i] for i in np.flatnonzero(unknown)})[:5]
            raise _refuse(
                f"column {c!r} has unknown categor{'y' if len(values) == 1 else 'ies'} "
                f"{values} in {{rows}}; known: {self.categories[c][:20]}", unknown, c,
            )  # fmt: skip
        return np.array(text, dtype=object)

    def example(self, features: pd.DataFrame, n: int = 3) -> pd.DataFrame:
        """The first ``n`` rows of ``features`` in the schema's columns and types."""
        df = self.check(features[self.columns].head(n))
        return df[self.columns]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {"numeric": self.numeric, "categories": self.categories, "required": self.required}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSchema:
        """Read :meth:`to_dict`'s output."""
        return cls(list(d["numeric"]), {k: list(v) for k, v in d["categories"].items()},
                   list(d["required"]))  # fmt: skip


def build_schema(bundle: TieringBundle, seen: pd.DataFrame | None = None) -> InputSchema:
    """The columns every model of ``bundle`` reads, from the fitted models themselves.

    Allowed categories: those the models saw in training, the data contract's values
    (:data:`DOMAINS`), and those of ``seen`` (the validated feature table of the run that
    exports the model).
    """
    cats: dict[str, set[str]] = {"customer_type": set()}
    used: set[str] = set(bundle.value_model.feature_names_) | set(ACCOUNTING_LINES)
    for c, values in bundle.value_model.trees_.categories_.items():
        cats.setdefault(c, set()).update(values)
    if bundle.churn_model is not None:
        enc = bundle.churn_model.encoder_
        for c, role in enc.roles_.items():
            if role == "dropped":
                continue
            used.add(c)
            if role == "categorical":
                cats.setdefault(c, set()).update(enc.categories_[c])
            elif role not in ("numeric", "numeric_text", "boolean"):
                cats.setdefault(c, set()).update(enc.encodings_[c]["frequency"])
    if bundle.surrogate is not None:
        used |= set(bundle.surrogate.feature_names)
        for c, values in bundle.surrogate.categories.items():
            cats.setdefault(c, set()).update(values)
    if bundle.scorecard is not None:
        used |= set(bundle.scorecard.input_columns)
    if bundle.clv_model is not None:
        used |= set(RFM)
    for rule in bundle.rules:
        used |= {cond.column for cond in rule.when}
    for c in cats:
        cats[c] |= set(DOMAINS.get(c, ()))
        if seen is not None and c in seen.columns:
            cats[c] |= set(seen[c].dropna().astype(str).unique())
    used -= {ID_COLUMN}
    used.add(POPULATION)  # the population rule reads it, whichever model does
    numeric = sorted(used - set(cats))
    return InputSchema(
        numeric=numeric,
        categories={c: sorted(v) for c, v in sorted(cats.items())},
        required=["customer_type", *ACCOUNTING_LINES, POPULATION],
    )
