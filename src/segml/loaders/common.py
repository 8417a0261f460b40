"""Shared pieces of the dataset adapters: locating shared data, load reports, writing folders.

Every adapter turns a public dataset into a folder of contract tables (see
:mod:`segml.contract`) that :func:`segml.validate.validate_folder` accepts. The helpers here
normalise identifiers, write Parquet with the contract's logical types (ids as text, dates as
``date32``) and report what was dropped on the way, so that nothing disappears silently.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segml.contract import CHANNELS, PRODUCTS, TRANSACTION_KINDS
from segml.io import atomic_output_dir
from segml.loaders.dataset import PURCHASE_LOG, dataset_record, write_dataset_record
from segml.tables import offending_rows, show_value
from segml.textcols import parse_numbers

#: Environment variable that points at the shared datasets folder (overrides the default).
SHARED_ENV = "SEGML_SHARED_DATA"


def find_repo_root(start: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the nearest folder at or above ``start`` that holds a ``pyproject.toml``.

    Parameters
    ----------
    start : path, optional
        Where to begin the search (default: the current working directory).

    Returns
    -------
    Path or None
        The repository root, or None when no ``pyproject.toml`` is found up to the file
        system root.
    """
    here = Path(start) if start is not None else Path.cwd()
    here = here.resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return None


def shared_data_dir() -> Path | None:
    """Return the folder of shared real datasets, or None when it is not available.

    The folder is ``$SEGML_SHARED_DATA`` when that variable is set, else
    ``<repo root>/../shared/data``, where the repository root is the nearest folder at or above
    the current working directory that holds a ``pyproject.toml``. Users of segml usually do
    not have it; callers must cope with None.

    Returns
    -------
    Path or None
        The existing folder, or None when it is missing.
    """
    env = os.environ.get(SHARED_ENV)
    if env:
        path = Path(env)
    else:
        root = find_repo_root()
        if root is None:
            return None
        path = root.parent / "shared" / "data"
    return path if path.is_dir() else None


@dataclass(frozen=True)
class LoadReport:
    """What an adapter read, what it kept and what it dropped, and why.

    Parameters
    ----------
    source : str
        Name of the dataset (e.g. ``"online_retail"``).
    rows_in : int
        Rows read from the main input file (lines of the log, or transactions).
    rows_out : int
        Rows in the main output (invoices, lines or transactions).
    dropped : dict of str to int
        Reason -> number of input rows dropped for it. Each row is counted once, under the
        first reason that applies.
    notes : tuple of str
        Human-readable remarks (choices made, caveats).
    counts : dict of str to int
        Other figures worth reporting that are not drops (matched cancellations, rows per
        output table, defaults, ...).
    """

    source: str
    rows_in: int
    rows_out: int
    dropped: dict[str, int]
    notes: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the report."""
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadReport:
        """The report of a dict written by :meth:`to_dict` (e.g. read from ``dataset.json``)."""
        return cls(
            source=str(data["source"]),
            rows_in=int(data["rows_in"]),
            rows_out=int(data["rows_out"]),
            dropped={str(k): int(v) for k, v in dict(data.get("dropped") or {}).items()},
            notes=tuple(str(n) for n in data.get("notes") or ()),
            counts={str(k): int(v) for k, v in dict(data.get("counts") or {}).items()},
        )

    @property
    def n_dropped(self) -> int:
        """Total number of input rows dropped."""
        return sum(self.dropped.values())

    def summary(self) -> str:
        """Readable lines: rows read and out, rows dropped per reason, other counts, notes."""
        width = max((len(k) for k in [*self.dropped, *self.counts]), default=0)
        lines = [
            f"{self.source}: {self.rows_in:,} rows read, {self.rows_out:,} rows out, "
            f"{self.n_dropped:,} rows dropped"
        ]
        if self.dropped:
            lines.append("  dropped (each row under the first reason that applies):")
            lines += [f"    {k:<{width}}  {v:>12,}" for k, v in self.dropped.items()]
        if self.counts:
            lines.append("  counts:")
            lines += [f"    {k:<{width}}  {v:>12,}" for k, v in self.counts.items()]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def normalize_ids(values: pd.Series) -> pd.Series:
    """Turn identifiers into clean text: ``17850.0`` -> ``"17850"``, ``" 42 "`` -> ``"42"``.

    Parameters
    ----------
    values : Series
        Integer, float or text identifiers; missing values stay missing.

    Returns
    -------
    Series
        Text identifiers (pandas string dtype) with the same index.
    """
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            values = values.astype("Int64")
    out = values.astype("string").str.strip()
    out = out.str.replace(r"^([0-9]+)\.0+$", r"\1", regex=True)
    return out.mask(out == "")


#: Python argument names in the adapters' messages -> the ``segml convert`` options.
_CLI_WORDS = {
    "pass overwrite=True": "pass --overwrite",
    "pass path=": "pass --path",
    "pass berka_dir=": "pass --path",
    "pass mapping=": "pass --mapping",
    "the mapping file ": "--mapping ",
}


def cli_message(text: str) -> str:
    """Reword an adapter's message for the command line: ``overwrite=True`` -> ``--overwrite``.

    The adapters speak to Python callers (``pass overwrite=True``, ``pass path=``);
    ``segml convert`` shows the same messages with its options (``--overwrite``, ``--path``).

    Parameters
    ----------
    text : str
        A message raised by an adapter.

    Returns
    -------
    str
        The message with the options of ``segml convert``.
    """
    for python, option in _CLI_WORDS.items():
        text = text.replace(python, option)
    return text


def input_file(path: str | os.PathLike[str], what: str) -> Path:
    """Return ``path`` as a Path after checking that it is an existing file.

    Parameters
    ----------
    path : path
        The file a user gave.
    what : str
        What the file should hold, for the message (``"Online Retail log"``).

    Raises
    ------
    FileNotFoundError
        When nothing is at ``path``.
    IsADirectoryError
        When ``path`` is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder: give the file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found at {path}")
    return path


def _blank(values: pd.Series) -> np.ndarray:
    text = values.astype("string").str.strip()
    return (text.isna() | (text == "")).to_numpy(dtype=bool)


def check_filled(
    values: pd.Series, source: str | os.PathLike[str], column: str, labels: Callable[[int], str]
) -> None:
    """Raise ValueError naming ``source``, ``column`` and the rows where ``values`` is blank.

    Parameters
    ----------
    values : Series
        The column (missing values and blank text count as empty).
    source : path or str
        The file, for messages.
    column : str
        The column's name in the file, for messages.
    labels : callable
        Name of the row at a 0-based position (``"line 5"``).
    """
    if (empty := _blank(values)).any():
        raise ValueError(
            f"{source}: column {column!r} is empty in {offending_rows(labels, None, empty)}"
        )


def parse_number_column(
    values: pd.Series,
    source: str | os.PathLike[str],
    column: str,
    labels: Callable[[int], str],
    *,
    whole: bool = False,
) -> pd.Series:
    """Read a column of numbers written as text; raise ValueError naming the bad rows.

    Parameters
    ----------
    values : Series
        Text (or numbers, from a typed file). Thousands separators are allowed (``1,234.5``).
    source : path or str
        The file, for messages.
    column : str
        The column's name in the file, for messages.
    labels : callable
        Name of the row at a 0-based position (``"line 5"``).
    whole : bool
        Require whole numbers (returned as ``int64``).

    Returns
    -------
    Series
        ``float64`` (``int64`` with ``whole``), same index.

    Raises
    ------
    ValueError
        Naming ``source``, ``column`` and the first offending rows with their values: empty,
        not a number, infinite, or (with ``whole``) not a whole number.
    """
    check_filled(values, source, column, labels)
    if pd.api.types.is_bool_dtype(values.dtype):
        num = pd.Series(np.nan, index=values.index)
    elif pd.api.types.is_numeric_dtype(values.dtype):
        num = values.astype("float64")
    else:  # plain numbers first (fast); the rest may have thousands separators
        num = pd.to_numeric(values.astype(object), errors="coerce").astype("float64")
        if (retry := num.isna().to_numpy()).any():
            num[retry] = parse_numbers(values[retry]).to_numpy()
    bad = ~np.isfinite(num.to_numpy(dtype="float64"))
    if bad.any():
        problem = "has values that are not numbers"
        raise ValueError(f"{source}: column {column!r} {problem}: {offending_rows(labels, values, bad)}")  # fmt: skip
    if not whole:
        return num.astype("float64")
    if (bad := (num != np.floor(num)).to_numpy()).any():
        problem = "has values that are not whole numbers"
        raise ValueError(f"{source}: column {column!r} {problem}: {offending_rows(labels, values, bad)}")  # fmt: skip
    return num.astype("int64")


def _squash(name: object) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def look_alikes(found: Iterable[object], wanted: Mapping[str, Iterable[str]]) -> list[str]:
    """``"'Customer ID' to 'CustomerID'"`` for each wanted column that a found header resembles.

    Parameters
    ----------
    found : iterable
        The headers of the file.
    wanted : mapping
        Column to name in the message -> the names it may have (``{"CustomerID":
        ("CustomerID", "Customer ID")}``); a header resembles a name when they agree once case,
        spaces and punctuation are ignored.

    Returns
    -------
    list of str
        One ``"'<header>' to '<column>'"`` per wanted column with a look-alike.
    """
    squashed = {_squash(c): str(c) for c in found}
    near = []
    for column, names in wanted.items():
        hit = next((squashed[_squash(n)] for n in names if _squash(n) in squashed), None)
        if hit is not None:
            near.append(f"{hit!r} to {column!r}")
    return near


def check_columns(
    columns: Iterable[object],
    required: Iterable[str],
    source: str | os.PathLike[str],
    what: str,
    sep: str | None = None,
) -> None:
    """Raise ValueError naming the columns of ``required`` that ``columns`` lacks.

    The message lists the columns found, points at look-alikes (``'Customer ID'`` for
    ``CustomerID``) and, when ``sep`` is given and the whole header was read as one column,
    says that the file is not ``sep``-separated.

    Parameters
    ----------
    columns : iterable
        The columns read.
    required : iterable of str
        The columns needed.
    source : path or str
        The file, for messages.
    what : str
        What the file is (``"Online Retail log"``, ``"Berka trans.asc"``).
    sep : str, optional
        The separator the file must use (None: any, it was recognised when reading).
    """
    found = [str(c) for c in columns]
    missing = [c for c in required if c not in found]
    if not missing:
        return
    text = f"{source} lacks the {what} column(s) {missing}"
    near = look_alikes(found, {c: (c,) for c in missing})
    if sep is not None and len(found) == 1 and len(missing) > 1:
        named = {";": "semicolons", ",": "commas", "\t": "tabs"}.get(sep, repr(sep))
        text += f": its header was read as one column {found[0]!r}; the file must be separated by {named}"  # fmt: skip
        raise ValueError(text)
    shown = ", ".join(repr(c) for c in found[:20]) + (", ..." if len(found) > 20 else "")
    text += f" (columns found: {shown})"
    if near:
        text += f"; rename {', '.join(near)}"
    raise ValueError(text)


def _date32(values: pd.Series) -> pa.Array:
    """Calendar dates (time of day dropped) as an Arrow ``date32`` array; NaT becomes null."""
    ts = pd.to_datetime(values)
    days = ts.dt.normalize().to_numpy(dtype="datetime64[D]")
    return pa.array(days, type=pa.date32(), mask=ts.isna().to_numpy())


def write_table(
    df: pd.DataFrame,
    path: Path,
    *,
    dates: Iterable[str] = (),
    timestamps: Iterable[str] = (),
    floats: Iterable[str] = (),
    ints: Iterable[str] = (),
) -> int:
    """Write ``df`` as Parquet with explicit Arrow types; return the number of rows written.

    Parameters
    ----------
    df : DataFrame
        The table. Columns not named in ``dates``, ``timestamps``, ``floats``, ``ints`` are
        written as text (``bool`` columns stay boolean).
    path : Path
        Output file.
    dates, timestamps, floats, ints : iterable of str
        Columns to write as ``date32``, ``timestamp[us]``, ``float64`` and ``int64``
        (nullable) respectively.

    Returns
    -------
    int
        Number of rows.
    """
    dates, timestamps, floats, ints = set(dates), set(timestamps), set(floats), set(ints)
    arrays, names = [], []
    for name in df.columns:
        col = df[name]
        if name in dates:
            arr = _date32(col)
        elif name in timestamps:
            arr = pa.array(pd.to_datetime(col).astype("datetime64[us]"), type=pa.timestamp("us"))
        elif name in floats:
            arr = pa.array(col.astype("float64"), type=pa.float64(), from_pandas=True)
        elif name in ints:
            arr = pa.array(col.astype("Int64"), type=pa.int64(), from_pandas=True)
        elif pd.api.types.is_bool_dtype(col.dtype):
            arr = pa.array(col, type=pa.bool_(), from_pandas=True)
        else:
            text = col.astype("string")
            arr = pa.array(text.to_numpy(dtype=object, na_value=None), type=pa.string())
        arrays.append(arr)
        names.append(str(name))
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path)
    return len(df)


def _check_choice(value: str, allowed: Iterable[str], what: str) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not in the contract ({', '.join(allowed)})")


def transaction_log_to_bank(
    log: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    customer_col: str = "customer_id",
    date_col: str = "timestamp",
    amount_col: str = "amount",
    region: pd.Series | Mapping[str, str] | None = None,
    product: str = "other",
    channel: str = "online",
    kind: str = "purchase",
    overwrite: bool = False,
    dataset: Mapping[str, Any] | None = None,
) -> Path:
    """Turn a purchase log into a contract folder (customers, accounts, transactions).

    Each customer becomes a retail customer with one account (``"A"`` + customer id) of
    ``product``; every purchase becomes a debit transaction on that account. The relationship
    and the account open on the day of the customer's first purchase. ``dataset.json`` records
    that the folder holds a purchase log (see :mod:`segml.loaders.dataset`).

    Parameters
    ----------
    log : DataFrame
        One row per purchase with a customer id, a timestamp and a non-negative amount.
    out_dir : path
        Output folder; written atomically (nothing is left behind on failure).
    customer_col, date_col, amount_col : str
        Names of the customer id, timestamp and amount columns of ``log``.
    region : Series or mapping, optional
        Region per customer, indexed by customer id (ids are normalised like the log's).
        Customers absent from it get an empty region.
    product : str
        Catalogue product of the accounts (see :data:`segml.contract.PRODUCTS`).
    channel, kind : str
        Contract channel and transaction kind given to every transaction.
    overwrite : bool
        Replace a non-empty ``out_dir`` (refused otherwise).
    dataset : mapping, optional
        The ``dataset.json`` record (:func:`segml.loaders.dataset.dataset_record`, kind
        ``"purchase_log"``); default: a purchase log of no named source.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    ValueError
        If a column is missing, a choice is not in the contract, or a row has no customer id,
        no timestamp (or one that is not a date), or a missing, non-numeric or negative amount;
        the message names the column and the first offending rows (by index label) with their
        values. Zero amounts are kept (the validator warns about them).
    """
    _check_choice(product, PRODUCTS, "product")
    _check_choice(channel, CHANNELS, "channel")
    _check_choice(kind, TRANSACTION_KINDS, "transaction kind")
    missing = [c for c in (customer_col, date_col, amount_col) if c not in log.columns]
    if missing:
        raise ValueError(f"the log has no column(s) {missing}; columns: {list(log.columns)}")
    ts = log[date_col]
    if not pd.api.types.is_datetime64_any_dtype(ts.dtype):
        with warnings.catch_warnings():  # "could not infer format": bad values are named below
            warnings.simplefilter("ignore", UserWarning)
            ts = pd.to_datetime(ts, errors="coerce")
    amount = log[amount_col]
    if not pd.api.types.is_numeric_dtype(amount.dtype) or pd.api.types.is_bool_dtype(amount):
        amount = pd.to_numeric(amount, errors="coerce")
    df = pd.DataFrame(
        {
            "customer_id": normalize_ids(log[customer_col]).to_numpy(),
            "timestamp": ts.to_numpy(),
            "amount": amount.astype("float64").to_numpy(),
        }
    )
    index = log.index

    def label(i: int) -> str:
        return f"row {show_value(index[i])}"

    checks = [  # (column, offending rows, problem, quote the values)
        (customer_col, df["customer_id"].isna(), "is empty", False),
        (date_col, df["timestamp"].isna(), "is missing or not a date", True),
        (amount_col, ~np.isfinite(df["amount"]), "is missing, not a number or infinite", True),
        (amount_col, df["amount"] < 0, "is a negative amount", True),
    ]
    bad = [
        f"column {col!r} {problem} in "
        + offending_rows(label, log[col] if quote else None, mask.to_numpy())
        for col, mask, problem, quote in checks
        if mask.any()
    ]
    if bad:
        raise ValueError("the log has rows the contract cannot take: " + "; ".join(bad))
    df = df.sort_values(["timestamp", "customer_id"], kind="stable").reset_index(drop=True)
    first = df.groupby("customer_id", sort=True)["timestamp"].min().dt.normalize()
    customers = pd.DataFrame(
        {
            "customer_id": first.index.astype(str),
            "customer_type": "retail",
            "open_date": first.to_numpy(),
        }
    )
    if region is not None:
        reg = pd.Series(region)
        reg.index = normalize_ids(pd.Series(reg.index)).to_numpy()
        reg = reg[~reg.index.duplicated()]
        customers["region"] = customers["customer_id"].map(reg).astype("string")
    accounts = pd.DataFrame(
        {
            "account_id": "A" + customers["customer_id"],
            "customer_id": customers["customer_id"],
            "product": product,
            "open_date": customers["open_date"],
        }
    )
    width = len(str(len(df)))
    transactions = pd.DataFrame(
        {
            "transaction_id": [f"T{i:0{width}d}" for i in range(1, len(df) + 1)],
            "account_id": "A" + df["customer_id"],
            "customer_id": df["customer_id"],
            "timestamp": df["timestamp"],
            "amount": df["amount"],
            "direction": "debit",
            "channel": channel,
            "kind": kind,
        }
    )
    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
        write_table(customers, tmp / "customers.parquet", dates=["open_date"])
        write_table(accounts, tmp / "accounts.parquet", dates=["open_date"])
        write_table(
            transactions,
            tmp / "transactions.parquet",
            timestamps=["timestamp"],
            floats=["amount"],
        )
        write_dataset_record(tmp, dataset or dataset_record(PURCHASE_LOG, None))
    return Path(out_dir)
