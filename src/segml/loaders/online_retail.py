"""The UCI "Online Retail" log (Chen, Sain & Guo 2012) as a clean purchase log or bank folder.

The log has one row per invoice line of a UK online gift retailer (2010-12-01 to 2011-12-09):
InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country.
Cleaning, in this order (each line is counted once, under the first reason that applies):

1. ``missing_customer_id``: lines without a CustomerID cannot be tied to a customer.
2. ``non_product_code``: postage, carriage, manual adjustments, discounts, samples, bank
   charges, marketplace fees, charity commission, bad-debt adjustments and gift vouchers
   (:data:`NON_PRODUCT_CODES`, :data:`NON_PRODUCT_PATTERN`) are not merchandise.
3. ``non_positive_price``: a unit price of 0 or below (free items, bad-debt adjustments).
4. ``cancellation``: invoices starting with ``C``. Each cancelled quantity is netted out of the
   same customer's most recent earlier purchases of the same StockCode (at the purchase's unit
   price); what cannot be matched (bought before the log starts) is reported as unmatched.
5. ``negative_quantity``: other lines with a quantity of 0 or below (returns, stock fixes).
6. ``netted_out``: purchase lines whose whole quantity was cancelled.

The file may be comma-, semicolon-, tab- or bar-separated (recognised from the header),
compressed, or Parquet. Malformed values are not dropped but refused: an empty InvoiceNo,
Quantity, InvoiceDate or UnitPrice, a Quantity that is not a whole number, a UnitPrice that is
not a number or an InvoiceDate that is not a date raise ``ValueError`` naming the file, the
column and the first offending lines (``line 5='abc'``; the header is line 1).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from segml.loaders.common import (
    LoadReport,
    check_columns,
    check_filled,
    input_file,
    normalize_ids,
    offending_rows,
    parse_number_column,
    shared_data_dir,
    transaction_log_to_bank,
)
from segml.tables import read_table, row_labels

#: Location of the log inside the shared data folder.
RELATIVE_PATH = Path("online_retail") / "online_retail.csv.xz"

#: Stock codes that are services, fees or adjustments rather than products.
NON_PRODUCT_CODES: dict[str, str] = {
    "POST": "postage",
    "DOT": "dotcom postage",
    "C2": "carriage",
    "M": "manual adjustment",
    "m": "manual adjustment",
    "D": "discount",
    "S": "samples",
    "B": "adjust bad debt",
    "BANK CHARGES": "bank charges",
    "AMAZONFEE": "Amazon fee",
    "CRUK": "Cancer Research UK commission",
}
#: Regular expression of further non-product codes (gift vouchers ``gift_0001_20`` ...).
NON_PRODUCT_PATTERN = r"^gift_"

COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)


def online_retail_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of the log, checking that it exists.

    Parameters
    ----------
    path : path, optional
        The file; default ``<shared data>/online_retail/online_retail.csv.xz``.

    Raises
    ------
    FileNotFoundError
        Naming the expected path when the file is absent.
    IsADirectoryError
        When ``path`` is a folder.
    """
    if path is None:
        shared = shared_data_dir()
        if shared is None:
            raise FileNotFoundError(
                f"Online Retail log not found: no shared data folder (set SEGML_SHARED_DATA or "
                f"place the file at <repo>/../shared/data/{RELATIVE_PATH.as_posix()}), or pass "
                f"path= (the UCI 'Online Retail' log as CSV)"
            )
        path = shared / RELATIVE_PATH
    return input_file(path, "Online Retail log")


#: The forms of InvoiceDate: (pandas format, example) for ISO and for the UCI spreadsheet.
DATE_FORMS = {
    "iso": ("ISO8601", "2010-12-01 08:26:00"),
    "uci": ("%m/%d/%Y %H:%M", "12/1/2010 8:26"),
}


def _parse_dates(
    values: pd.Series, source: str | os.PathLike[str], labels: Callable[[int], str]
) -> pd.Series:
    """Parse InvoiceDate: ISO (``2010-12-01 08:26:00``) or UCI style (``12/1/2010 8:26``).

    The form of the first value applies to all; a value in another form, or not a date, raises
    ValueError naming the lines.
    """
    check_filled(values, source, "InvoiceDate", labels)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    text = values.astype("string").str.strip()
    form = "uci" if "/" in str(text.iloc[0]) else "iso"
    fmt, example = DATE_FORMS[form]
    ts = pd.to_datetime(text, format=fmt, errors="coerce")
    bad = ts.isna().to_numpy()
    if bad.any():
        raise ValueError(
            f"{source}: column 'InvoiceDate' has values that are not dates written like "
            f"{example!r} (the form of the first date): {offending_rows(labels, values, bad)}"
        )
    return ts


def _read_log(src: Path) -> tuple[pd.DataFrame, Callable[[int], str]]:
    """Read the log as text with the Online Retail columns; ValueError naming the file if not."""
    if src.suffix.lower() in (".xlsx", ".xls", ".xlsm"):
        raise ValueError(
            f"{src} is an Excel workbook: save its sheet as CSV (the UCI download is "
            f"'Online Retail.xlsx') and give that file"
        )
    raw = read_table(src, text=True)
    check_columns(raw.columns, COLUMNS, src, "Online Retail")
    if raw.empty:
        raise ValueError(f"{src} has no invoice lines (only a header)")
    labels = row_labels(src, len(raw))
    check_filled(raw["InvoiceNo"], src, "InvoiceNo", labels)
    return raw, labels


def _net_cancellations(
    buys: pd.DataFrame, cancels: pd.DataFrame
) -> tuple[np.ndarray, dict[str, int], float]:
    """Net cancelled quantities out of earlier purchases of the same customer and StockCode.

    Each cancellation consumes the most recent purchases at or before its timestamp first.

    Returns
    -------
    remaining : ndarray of int
        Quantity left on each purchase line (aligned with ``buys``).
    counts : dict
        Cancellation lines matched fully, partly or not at all, and cancelled quantities
        matched and unmatched.
    value : float
        Money netted out of purchases (matched quantity times the purchase's unit price).
    """
    remaining = buys["quantity"].to_numpy(dtype="int64").copy()
    ts = buys["timestamp"].to_numpy()
    price = buys["unit_price"].to_numpy(dtype="float64")
    groups = buys.groupby(["customer_id", "stock_code"], sort=False).indices
    counts = dict.fromkeys(
        ("cancel_lines_matched", "cancel_lines_partly_matched", "cancel_lines_unmatched"), 0
    )
    qty_matched = qty_unmatched = 0
    value = 0.0
    order = cancels.sort_values("timestamp", kind="stable")
    for cust, code, when, qty in zip(
        order["customer_id"],
        order["stock_code"],
        order["timestamp"],
        -order["quantity"],
        strict=True,
    ):
        need = int(qty)
        pos = groups.get((cust, code), ())
        for i in reversed(pos):  # positions are in time order
            if need == 0:
                break
            if ts[i] > when or remaining[i] == 0:
                continue
            take = min(need, int(remaining[i]))
            remaining[i] -= take
            need -= take
            value += take * price[i]
        matched = int(qty) - need
        qty_matched += matched
        qty_unmatched += need
        if need == 0:
            counts["cancel_lines_matched"] += 1
        elif matched:
            counts["cancel_lines_partly_matched"] += 1
        else:
            counts["cancel_lines_unmatched"] += 1
    counts["cancelled_quantity_matched"] = qty_matched
    counts["cancelled_quantity_unmatched"] = qty_unmatched
    return remaining, counts, value


def load_online_retail(
    path: str | os.PathLike[str] | None = None,
    *,
    per: Literal["invoice", "line"] = "invoice",
) -> tuple[pd.DataFrame, LoadReport]:
    """Read and clean the Online Retail log; report every line dropped and why.

    Parameters
    ----------
    path : path, optional
        The CSV (plain or compressed, e.g. ``.csv.xz``; separated by commas, semicolons, tabs
        or bars) or Parquet file; default: the shared copy.
    per : {"invoice", "line"}
        ``"invoice"``: one row per invoice with columns ``customer_id``, ``invoice``,
        ``timestamp``, ``amount`` (sum of net quantity x unit price, > 0), ``quantity``,
        ``n_lines`` and ``country``. ``"line"``: one row per kept invoice line with
        ``customer_id``, ``invoice``, ``timestamp``, ``stock_code``, ``description``,
        ``quantity`` (net of cancellations), ``unit_price``, ``amount`` and ``country``.

    Returns
    -------
    DataFrame
        The clean log, sorted by timestamp and invoice.
    LoadReport
        ``rows_in`` lines read, ``rows_out`` rows returned, ``dropped`` lines per reason (see
        the module docstring), ``counts`` with customers before/after cleaning, cancellation
        matching and invoice counts.

    Raises
    ------
    FileNotFoundError
        When the file is absent (the message names the expected path).
    IsADirectoryError
        When ``path`` is a folder.
    ValueError
        For an unknown ``per``, a file that cannot be read, lacks the expected columns (the
        message lists the columns found and look-alikes such as ``'Customer ID'``) or has no
        lines, or malformed values (see the module docstring): the message names the file,
        the column and the first offending lines with their values.
    """
    if per not in ("invoice", "line"):
        raise ValueError(f"per must be 'invoice' or 'line', not {per!r}")
    src = online_retail_path(path)
    raw, labels = _read_log(src)
    df = pd.DataFrame(
        {
            "customer_id": normalize_ids(raw["CustomerID"]),
            "invoice": raw["InvoiceNo"].astype("string").str.strip(),
            "timestamp": _parse_dates(raw["InvoiceDate"], src, labels),
            "stock_code": raw["StockCode"].astype("string").str.strip(),
            "description": raw["Description"].astype("string"),
            "quantity": parse_number_column(raw["Quantity"], src, "Quantity", labels, whole=True),
            "unit_price": parse_number_column(raw["UnitPrice"], src, "UnitPrice", labels),
            "country": raw["Country"].astype("string"),
        }
    )
    rows_in = len(df)
    counts = {"customers_in_log": int(df["customer_id"].nunique())}
    is_cancel = df["invoice"].str.startswith("C").fillna(False).to_numpy(dtype=bool)
    counts["cancellation_lines_in_log"] = int(is_cancel.sum())
    counts["negative_quantity_lines_in_log"] = int((df["quantity"] <= 0).sum())
    non_product = (
        df["stock_code"].isin(list(NON_PRODUCT_CODES))
        | df["stock_code"].str.contains(NON_PRODUCT_PATTERN, regex=True)
    ).fillna(False)
    reasons = [
        ("missing_customer_id", df["customer_id"].isna().to_numpy()),
        ("non_product_code", non_product.to_numpy(dtype=bool)),
        ("non_positive_price", (df["unit_price"] <= 0).to_numpy()),
        ("cancellation", is_cancel),
        ("negative_quantity", (df["quantity"] <= 0).to_numpy()),
    ]
    taken = np.zeros(rows_in, dtype=bool)
    dropped: dict[str, int] = {}
    first_reason: dict[str, np.ndarray] = {}
    for reason, mask in reasons:
        first_reason[reason] = mask & ~taken
        dropped[reason] = int(first_reason[reason].sum())
        taken |= mask
    cancel_rows = df[first_reason["cancellation"]]
    buys = df[~taken].sort_values(["timestamp", "invoice"], kind="stable").reset_index(drop=True)
    remaining, matching, value = _net_cancellations(buys, cancel_rows)
    counts.update(matching)
    buys["quantity"] = remaining
    dropped["netted_out"] = int((remaining == 0).sum())
    buys = buys[buys["quantity"] > 0].reset_index(drop=True)
    buys["amount"] = buys["quantity"] * buys["unit_price"]
    counts["lines_out"] = len(buys)
    counts["customers_out"] = int(buys["customer_id"].nunique())
    counts["invoices_out"] = int(buys["invoice"].nunique())
    counts["customers_with_several_countries"] = int(
        (buys.groupby("customer_id")["country"].nunique() > 1).sum()
    )
    notes = [
        f"cancellations netted out {value:,.2f} of earlier purchases (matched on customer and "
        f"StockCode, most recent purchase first, at the purchase's unit price)",
        "non-product codes: " + ", ".join(sorted(NON_PRODUCT_CODES)) + ", gift_* vouchers",
        "dropped counts are input lines; rows_out counts "
        + ("invoices" if per == "invoice" else "lines"),
    ]
    if per == "line":
        out = buys[
            [
                "customer_id",
                "invoice",
                "timestamp",
                "stock_code",
                "description",
                "quantity",
                "unit_price",
                "amount",
                "country",
            ]
        ]
    else:
        out = (
            buys.groupby("invoice", sort=False)
            .agg(
                customer_id=("customer_id", "first"),
                timestamp=("timestamp", "min"),
                amount=("amount", "sum"),
                quantity=("quantity", "sum"),
                n_lines=("amount", "size"),
                country=("country", "first"),
            )
            .reset_index()
        )
        out = out[
            ["customer_id", "invoice", "timestamp", "amount", "quantity", "n_lines", "country"]
        ]
        out = out.sort_values(["timestamp", "invoice"], kind="stable").reset_index(drop=True)
    report = LoadReport(
        source="online_retail",
        rows_in=rows_in,
        rows_out=len(out),
        dropped=dropped,
        notes=tuple(notes),
        counts=counts,
    )
    return out, report


def customer_countries(log: pd.DataFrame) -> pd.Series:
    """Country of each customer: the one of most of their rows (ties: the earliest seen).

    Parameters
    ----------
    log : DataFrame
        Output of :func:`load_online_retail` (either ``per``).

    Returns
    -------
    Series
        Country indexed by customer id.
    """
    n = log.groupby(["customer_id", "country"], sort=False).size().rename("n").reset_index()
    n = n.sort_values(["customer_id", "n"], ascending=[True, False], kind="stable")
    return n.drop_duplicates("customer_id").set_index("customer_id")["country"]


def online_retail_to_bank(
    out_dir: str | os.PathLike[str],
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the cleaned Online Retail invoices as a contract folder.

    One retail customer per CustomerID (region = their country), one account ``"A" + id`` of
    product ``other``, and one debit ``purchase`` transaction over the ``online`` channel per
    invoice (amount net of matched cancellations). Use :func:`load_online_retail` to get the
    :class:`~segml.loaders.common.LoadReport` of what was dropped.

    Parameters
    ----------
    out_dir : path
        Output folder (written atomically).
    path : path, optional
        The log; default: the shared copy.
    overwrite : bool
        Replace a non-empty ``out_dir``.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, ValueError
        As :func:`load_online_retail`, and ValueError when no purchase is left after cleaning;
        nothing is written then.
    FileExistsError
        When ``out_dir`` is not empty and ``overwrite`` is not set.
    """
    invoices, report = load_online_retail(path, per="invoice")
    if invoices.empty:
        dropped = {k: v for k, v in report.dropped.items() if v}
        raise ValueError(
            f"{online_retail_path(path)}: no purchase is left after cleaning "
            f"({report.rows_in:,} lines read; dropped: {dropped})"
        )
    return transaction_log_to_bank(
        invoices,
        out_dir,
        region=customer_countries(invoices),
        product="other",
        channel="online",
        kind="purchase",
        overwrite=overwrite,
    )
