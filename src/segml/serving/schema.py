"""The input contract of the exported tiering model, and its checks.

:class:`InputSchema` lists every column the models read, its kind (``numeric`` or
``category`` with the categories seen in training), and the columns that must never be missing.
:meth:`InputSchema.check` refuses a table that breaks it with an :class:`InputError` naming the
column and the offending rows or values — never a silent default: an unknown category is an
error, not "missing".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segml.contract import CREDIT_RATINGS, CUSTOMER_TYPES, GENDERS, INCOME_BANDS
from segml.explain.value_model import ACCOUNTING_LINES
from segml.features.build import AGE_BANDS

if TYPE_CHECKING:
    from segml.serving.bundle import TieringBundle

__all__ = ["ID_COLUMN", "InputError", "InputSchema", "build_schema"]

ID_COLUMN = "customer_id"
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


class InputError(ValueError):
    """The input table breaks the model's contract (the message names column and rows)."""


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    idx = np.flatnonzero(mask)
    shown = ", ".join(map(str, idx[:limit])) + (", …" if len(idx) > limit else "")
    return f"{len(idx)} row(s) (positions {shown})"


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
    """

    numeric: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """Every input column, ``customer_id`` first."""
        return [ID_COLUMN, *sorted(self.categories), *sorted(self.numeric)]

    def check(self, table: pd.DataFrame) -> pd.DataFrame:
        """A checked copy of ``table``: numeric columns as float, categoricals as text.

        Raises
        ------
        InputError
            Missing columns, non-numeric values in a numeric column, unknown categories,
            missing values in a required column, missing or duplicate customer ids.
        """
        if not isinstance(table, pd.DataFrame):
            raise InputError(f"expected a table (DataFrame), got {type(table).__name__}")
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            raise InputError(f"the input lacks column(s) {missing}")
        df = table.reset_index(drop=True).copy()
        ids = df[ID_COLUMN]
        if ids.isna().any():
            raise InputError(f"column {ID_COLUMN!r} is missing in {_rows(ids.isna().to_numpy())}")
        if ids.duplicated().any():
            dup = ids[ids.duplicated()].astype(str).unique()[:5].tolist()
            raise InputError(f"column {ID_COLUMN!r} has duplicate ids {dup}")
        for c in self.numeric:
            s = df[c]
            num = pd.to_numeric(s, errors="coerce")
            bad = (num.isna() & s.notna()).to_numpy()
            if bad.any():
                examples = s[bad].astype(str).unique()[:5].tolist()
                raise InputError(f"column {c!r} must be numeric; {_rows(bad)} hold {examples}")
            inf = np.isinf(num.to_numpy(dtype=float))
            if inf.any():
                raise InputError(f"column {c!r} has infinite values in {_rows(inf)}")
            df[c] = num.astype(float)
        for c, allowed in self.categories.items():
            s = df[c]
            text = s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else str(v))
            unknown = (text.notna() & ~text.isin(allowed)).to_numpy()
            if unknown.any():
                values = sorted(text[unknown].unique())[:5]
                raise InputError(
                    f"column {c!r} has unknown categor{'y' if len(values) == 1 else 'ies'} "
                    f"{values} in {_rows(unknown)}; known: {allowed[:20]}"
                )
            df[c] = text
        for c in self.required:
            na = df[c].isna().to_numpy()
            if na.any():
                raise InputError(f"column {c!r} must not be missing; it is in {_rows(na)}")
        return df

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
    numeric = sorted(used - set(cats))
    return InputSchema(
        numeric=numeric,
        categories={c: sorted(v) for c, v in sorted(cats.items())},
        required=["customer_type", *ACCOUNTING_LINES],
    )
