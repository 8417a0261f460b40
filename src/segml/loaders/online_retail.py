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
compressed, or Parquet. Its columns may carry the names of the 2010-11 "Online Retail" release
(:data:`COLUMNS`) or of the 2009-11 "Online Retail II" release (``Invoice``, ``Price``,
``Customer ID``: :data:`COLUMNS_II`); other headers are named by a column mapping
(:func:`load_column_mapping`). Malformed values are not dropped but refused: an empty
InvoiceNo, Quantity, InvoiceDate or UnitPrice, a Quantity that is not a whole number, a
UnitPrice that is not a number or an InvoiceDate that is not a date raise ``ValueError``
naming the file, the column as the file names it and the first offending lines
(``line 5='abc'``; the header is line 1).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from segml.io import checked, read_yaml
from segml.loaders.common import (
    LoadReport,
    check_filled,
    input_file,
    look_alikes,
    normalize_ids,
    offending_rows,
    parse_number_column,
    shared_data_dir,
    transaction_log_to_bank,
)
from segml.loaders.dataset import PURCHASE_LOG, dataset_record
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
#: The names the "Online Retail II" release (2009-12-01 to 2011-12-09) gives some of them.
COLUMNS_II: dict[str, str] = {
    "InvoiceNo": "Invoice",
    "UnitPrice": "Price",
    "CustomerID": "Customer ID",
}
#: Each column's accepted headers, in the order they are looked for.
_HEADERS = {c: (c, COLUMNS_II[c]) if c in COLUMNS_II else (c,) for c in COLUMNS}
#: A mapping file's keys: the columns under either release's names.
_KEYS = {name: c for c, names in _HEADERS.items() for name in names}
#: How a mapping file is written, for messages.
MAPPING_FORM = "columns: {InvoiceNo: <your header>, CustomerID: <your header>, ...}"


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


def load_column_mapping(
    source: str | os.PathLike[str] | Mapping[str, Any] | None, option: str | None = None
) -> dict[str, str]:
    """Read the headers a log gives the loader's columns: ``columns: {InvoiceNo: BillNo, ...}``.

    The format follows the ``columns`` part of a contract mapping (:func:`segml.io.load_mapping`):
    one key, ``columns``, mapping the loader's column names (:data:`COLUMNS`, or the Online
    Retail II names ``Invoice``, ``Price``, ``Customer ID``) to the file's headers. Columns it
    leaves out are looked for under their usual names.

    Parameters
    ----------
    source : path, mapping or None
        A YAML file, or the mapping itself; None: no mapping.
    option : str, optional
        The option that named the file (``"--mapping"``), for messages.

    Returns
    -------
    dict of str to str
        Loader column (a name of :data:`COLUMNS`) -> the file's header.

    Raises
    ------
    ValueError
        In one line naming the file (or option): missing, not YAML (with the line and column),
        another shape, a column the loader does not know, a header that is not text, a column
        given twice or two columns given one header.
    """
    if source is None:
        return {}
    if isinstance(source, Mapping):
        where, raw = "the mapping", source
    else:
        where = f"{option} {source}" if option else f"the mapping file {source}"
        raw = read_yaml(source, where)
    return checked(raw, _column_mapping, where)


def _column_mapping(raw: object) -> dict[str, str]:
    """The parsed mapping checked: loader column -> header."""
    if not isinstance(raw, Mapping) or set(raw) - {"columns"}:
        found = f" (found {', '.join(map(str, raw))})" if isinstance(raw, Mapping) else ""
        raise ValueError(f"an Online Retail mapping has one key, {MAPPING_FORM}{found}")
    columns = raw.get("columns") or {}
    if not isinstance(columns, Mapping):
        raise ValueError(f"columns must map the loader's columns to your headers: {MAPPING_FORM}")
    out: dict[str, str] = {}
    for key, header in columns.items():
        column = _KEYS.get(str(key))
        if column is None:
            raise ValueError(
                f"columns names {key!r}, which is not an Online Retail column "
                f"({', '.join(COLUMNS)}; or Online Retail II's {', '.join(COLUMNS_II.values())})"
            )
        if isinstance(header, bool) or not isinstance(header, str | int) or not str(header):
            raise ValueError(f"columns: {key} must be the header of a column, not {header!r}")
        if column in out:
            raise ValueError(f"columns names {column} twice (as {column} and as {key})")
        out[column] = str(header)
    seen: dict[str, str] = {}
    for column, header in out.items():
        if header in seen:
            raise ValueError(f"columns gives {seen[header]} and {column} one header {header!r}")
        seen[header] = column
    return out


def _shown(headers: list[str]) -> str:
    return ", ".join(repr(h) for h in headers[:20]) + (", ..." if len(headers) > 20 else "")


def resolve_columns(
    found: Iterable[object],
    source: str | os.PathLike[str],
    mapping: Mapping[str, str] | None = None,
    where: str = "the mapping",
) -> dict[str, str]:
    """The file's header of each loader column: the mapping's, else its 2010-11 or II name.

    Parameters
    ----------
    found : iterable
        The file's headers.
    source : path or str
        The file, for messages.
    mapping : mapping, optional
        Loader column -> header (:func:`load_column_mapping`).
    where : str
        What the mapping is, for messages (``"the mapping file map.yaml"``).

    Returns
    -------
    dict of str to str
        Each name of :data:`COLUMNS` -> its header in the file.

    Raises
    ------
    ValueError
        When a mapped header is not in the file, or columns are missing: the message names the
        file, every missing column (with its Online Retail II name), the headers found,
        look-alikes (``rename 'customer_id' to 'CustomerID'``) and how to map them.
    """
    headers = [str(c) for c in found]
    mapping = dict(mapping or {})
    names: dict[str, str] = {}
    for column in COLUMNS:
        if column in mapping:
            if mapping[column] not in headers:
                raise ValueError(
                    f"{where} gives {column} the header {mapping[column]!r}, which {source} "
                    f"does not have (headers found: {_shown(headers)})"
                )
            names[column] = mapping[column]
        elif hit := next((h for h in _HEADERS[column] if h in headers), None):
            names[column] = hit
    missing = [c for c in COLUMNS if c not in names]
    if not missing:
        return names
    wanted = ", ".join(" (or ".join(_HEADERS[c]) + (")" if c in COLUMNS_II else "") for c in missing)  # fmt: skip
    text = f"{source} lacks the Online Retail column(s) {wanted} (headers found: {_shown(headers)})"
    near = look_alikes([h for h in headers if h not in names.values()], {c: _HEADERS[c] for c in missing})  # fmt: skip
    form = "columns: {" + ", ".join(f"{c}: <your header>" for c in missing) + "}"
    how = f"add them to {where} ({form})" if mapping else f"pass mapping= a YAML file that names your header for each ({form})"  # fmt: skip
    rename = f"rename {', '.join(near)}, or " if near else ""
    raise ValueError(f"{text}; {rename}{how}")


#: The forms of InvoiceDate: (pandas format, example) for ISO and for the UCI spreadsheet.
DATE_FORMS = {
    "iso": ("ISO8601", "2010-12-01 08:26:00"),
    "uci": ("%m/%d/%Y %H:%M", "12/1/2010 8:26"),
}


def _parse_dates(
    values: pd.Series, source: str | os.PathLike[str], labels: Callable[[int], str], column: str
) -> pd.Series:
    """Parse InvoiceDate: ISO (``2010-12-01 08:26:00``) or UCI style (``12/1/2010 8:26``).

    The form of the first value applies to all; a value in another form, or not a date, raises
    ValueError naming the file, the ``column`` (the file's header) and the lines.
    """
    check_filled(values, source, column, labels)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    text = values.astype("string").str.strip()
    form = "uci" if "/" in str(text.iloc[0]) else "iso"
    fmt, example = DATE_FORMS[form]
    ts = pd.to_datetime(text, format=fmt, errors="coerce")
    bad = ts.isna().to_numpy()
    if bad.any():
        raise ValueError(
            f"{source}: column {column!r} has values that are not dates written like "
            f"{example!r} (the form of the first date): {offending_rows(labels, values, bad)}"
        )
    return ts


def _read_log(
    src: Path, mapping: Mapping[str, str], where: str
) -> tuple[pd.DataFrame, dict[str, str], Callable[[int], str]]:
    """Read the log as text; return it, each loader column's header and the row names.

    Raises ValueError naming the file: a workbook, unreadable, columns missing, no line, or an
    empty InvoiceNo.
    """
    if src.suffix.lower() in (".xlsx", ".xls", ".xlsm"):
        raise ValueError(
            f"{src} is an Excel workbook: save its sheet as CSV (the UCI downloads are "
            f"'Online Retail.xlsx' and 'online_retail_II.xlsx') and give that file"
        )
    raw = read_table(src, text=True)
    names = resolve_columns(raw.columns, src, mapping, where)
    if raw.empty:
        raise ValueError(f"{src} has no invoice lines (only a header)")
    labels = row_labels(src, len(raw))
    check_filled(raw[names["InvoiceNo"]], src, names["InvoiceNo"], labels)
    return raw, names, labels


def _typed(
    raw: pd.DataFrame, names: dict[str, str], src: Path, labels: Callable[[int], str]
) -> pd.DataFrame:
    """The log's columns parsed (ids, dates, numbers); ValueError naming bad lines."""

    def number(column: str, whole: bool = False) -> pd.Series:
        return parse_number_column(raw[names[column]], src, names[column], labels, whole=whole)

    def text(column: str) -> pd.Series:
        return raw[names[column]].astype("string")

    date = names["InvoiceDate"]
    return pd.DataFrame(
        {
            "customer_id": normalize_ids(raw[names["CustomerID"]]),
            "invoice": text("InvoiceNo").str.strip(),
            "timestamp": _parse_dates(raw[date], src, labels, date),
            "stock_code": text("StockCode").str.strip(),
            "description": text("Description"),
            "quantity": number("Quantity", whole=True),
            "unit_price": number("UnitPrice"),
            "country": text("Country"),
        }
    )


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


def _first_reasons(df: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Lines dropped before netting (any reason) and each reason's lines (first reason only)."""
    non_product = (
        df["stock_code"].isin(list(NON_PRODUCT_CODES))
        | df["stock_code"].str.contains(NON_PRODUCT_PATTERN, regex=True)
    ).fillna(False)
    reasons = [
        ("missing_customer_id", df["customer_id"].isna().to_numpy()),
        ("non_product_code", non_product.to_numpy(dtype=bool)),
        ("non_positive_price", (df["unit_price"] <= 0).to_numpy()),
        ("cancellation", df["invoice"].str.startswith("C").fillna(False).to_numpy(dtype=bool)),
        ("negative_quantity", (df["quantity"] <= 0).to_numpy()),
    ]
    taken = np.zeros(len(df), dtype=bool)
    first: dict[str, np.ndarray] = {}
    for reason, mask in reasons:
        first[reason] = mask & ~taken
        taken |= mask
    return taken, first


def _per_invoice(buys: pd.DataFrame) -> pd.DataFrame:
    """One row per invoice: customer, first timestamp, amount, quantity, lines, country."""
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
    out = out[["customer_id", "invoice", "timestamp", "amount", "quantity", "n_lines", "country"]]
    return out.sort_values(["timestamp", "invoice"], kind="stable").reset_index(drop=True)


LINE_COLUMNS = ["customer_id", "invoice", "timestamp", "stock_code", "description"]
LINE_COLUMNS += ["quantity", "unit_price", "amount", "country"]


def _clean(
    df: pd.DataFrame, per: str
) -> tuple[pd.DataFrame, dict[str, int], dict[str, int], float]:
    """Drop, net and aggregate the typed log: the clean log, lines dropped per reason, other
    figures and the value netted out by cancellations."""
    counts: dict[str, int] = {"customers_in_log": int(df["customer_id"].nunique())}
    counts["cancellation_lines_in_log"] = int(df["invoice"].str.startswith("C").fillna(False).sum())  # fmt: skip
    counts["negative_quantity_lines_in_log"] = int((df["quantity"] <= 0).sum())
    taken, first = _first_reasons(df)
    dropped = {reason: int(mask.sum()) for reason, mask in first.items()}
    buys = df[~taken].sort_values(["timestamp", "invoice"], kind="stable").reset_index(drop=True)
    remaining, matching, value = _net_cancellations(buys, df[first["cancellation"]])
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
    out = buys[LINE_COLUMNS] if per == "line" else _per_invoice(buys)
    return out, dropped, counts, value


def load_online_retail(
    path: str | os.PathLike[str] | None = None,
    *,
    per: Literal["invoice", "line"] = "invoice",
    mapping: str | os.PathLike[str] | Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, LoadReport]:
    """Read and clean the Online Retail log; report every line dropped and why.

    Parameters
    ----------
    path : path, optional
        The CSV (plain or compressed, e.g. ``.csv.xz``; separated by commas, semicolons, tabs
        or bars) or Parquet file; default: the shared copy. Its headers are those of the
        2010-11 "Online Retail" release (:data:`COLUMNS`) or of "Online Retail II"
        (:data:`COLUMNS_II`), or those ``mapping`` names.
    per : {"invoice", "line"}
        ``"invoice"``: one row per invoice with columns ``customer_id``, ``invoice``,
        ``timestamp``, ``amount`` (sum of net quantity x unit price, > 0), ``quantity``,
        ``n_lines`` and ``country``. ``"line"``: one row per kept invoice line with
        ``customer_id``, ``invoice``, ``timestamp``, ``stock_code``, ``description``,
        ``quantity`` (net of cancellations), ``unit_price``, ``amount`` and ``country``.
    mapping : path or mapping, optional
        The file's header of each column it names otherwise, as a YAML file or a dict
        ``{"columns": {"InvoiceNo": "BillNo", ...}}`` (see :func:`load_column_mapping`).

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
        For an unknown ``per``, a mapping that cannot be read or does not fit, a file that
        cannot be read, lacks columns (the message names each missing column, the headers
        found, look-alikes and how to map them) or has no lines, or malformed values (see the
        module docstring): the message names the file, the column and the first offending
        lines with their values.
    """
    if per not in ("invoice", "line"):
        raise ValueError(f"per must be 'invoice' or 'line', not {per!r}")
    columns = load_column_mapping(mapping)
    where = "the mapping" if isinstance(mapping, Mapping) else f"the mapping file {mapping}"
    src = online_retail_path(path)
    raw, names, labels = _read_log(src, columns, where)
    df = _typed(raw, names, src, labels)
    out, dropped, counts, value = _clean(df, per)
    notes = [
        f"cancellations netted out {value:,.2f} of earlier purchases (matched on customer and "
        f"StockCode, most recent purchase first, at the purchase's unit price)",
        "non-product codes: " + ", ".join(sorted(NON_PRODUCT_CODES)) + ", gift_* vouchers",
        "dropped counts are input lines; rows_out counts "
        + ("invoices" if per == "invoice" else "lines"),
    ]
    if renamed := [f"{c}={h!r}" for c, h in names.items() if h != c]:
        notes.append("columns read from the headers " + ", ".join(renamed))
    report = LoadReport("online_retail", len(df), len(out), dropped, tuple(notes), counts)
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
    *,
    mapping: str | os.PathLike[str] | Mapping[str, Any] | None = None,
) -> Path:
    """Write the cleaned Online Retail invoices as a contract folder.

    One retail customer per CustomerID (region = their country), one account ``"A" + id`` of
    product ``other``, and one debit ``purchase`` transaction over the ``online`` channel per
    invoice (amount net of matched cancellations). ``dataset.json`` records a purchase log
    from ``online_retail``, the file's name and SHA-256 and the
    :class:`~segml.loaders.common.LoadReport` of what was dropped
    (:func:`segml.loaders.dataset.read_dataset_record` reads it back).

    Parameters
    ----------
    out_dir : path
        Output folder (written atomically).
    path : path, optional
        The log; default: the shared copy.
    overwrite : bool
        Replace a non-empty ``out_dir``.
    mapping : path or mapping, optional
        The file's headers for the loader's columns (see :func:`load_online_retail`).

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
    invoices, report = load_online_retail(path, per="invoice", mapping=mapping)
    src = online_retail_path(path)
    if invoices.empty:
        dropped = {k: v for k, v in report.dropped.items() if v}
        raise ValueError(
            f"{src}: no purchase is left after cleaning "
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
        dataset=dataset_record(PURCHASE_LOG, "online_retail", report, [src]),
    )
