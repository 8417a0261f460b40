"""Shared pieces of the dataset adapters: locating shared data, load reports, writing folders.

Every adapter turns a public dataset into a folder of contract tables (see
:mod:`segml.contract`) that :func:`segml.validate.validate_folder` accepts. The helpers here
normalise identifiers, write Parquet with the contract's logical types (ids as text, dates as
``date32``) and report what was dropped on the way, so that nothing disappears silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segml.contract import CHANNELS, PRODUCTS, TRANSACTION_KINDS
from segml.io import atomic_output_dir

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

    @property
    def n_dropped(self) -> int:
        """Total number of input rows dropped."""
        return sum(self.dropped.values())


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
) -> Path:
    """Turn a purchase log into a contract folder (customers, accounts, transactions).

    Each customer becomes a retail customer with one account (``"A"`` + customer id) of
    ``product``; every purchase becomes a debit transaction on that account. The relationship
    and the account open on the day of the customer's first purchase.

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

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    ValueError
        If a column is missing, a choice is not in the contract, or a row has no customer id,
        no timestamp, or a missing or negative amount. Zero amounts are kept (the validator
        warns about them).
    """
    _check_choice(product, PRODUCTS, "product")
    _check_choice(channel, CHANNELS, "channel")
    _check_choice(kind, TRANSACTION_KINDS, "transaction kind")
    missing = [c for c in (customer_col, date_col, amount_col) if c not in log.columns]
    if missing:
        raise ValueError(f"the log has no column(s) {missing}; columns: {list(log.columns)}")
    df = pd.DataFrame(
        {
            "customer_id": normalize_ids(log[customer_col]).to_numpy(),
            "timestamp": pd.to_datetime(log[date_col]).to_numpy(),
            "amount": pd.to_numeric(log[amount_col]).astype("float64").to_numpy(),
        }
    )
    bad = {
        "missing customer id": int(df["customer_id"].isna().sum()),
        "missing timestamp": int(df["timestamp"].isna().sum()),
        "missing or non-finite amount": int((~np.isfinite(df["amount"])).sum()),
        "negative amount": int((df["amount"] < 0).sum()),
    }
    bad = {k: v for k, v in bad.items() if v}
    if bad:
        raise ValueError(f"the log has rows the contract cannot take: {bad}")
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
    return Path(out_dir)
