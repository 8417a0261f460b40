"""The PKDD'99 "Berka" data of a Czech bank (1993-1998) mapped onto the segml data contract.

The files are ``;``-separated text with quoted strings and dates as ``YYMMDD``:
``account`` (4,500), ``client`` (5,369), ``disp`` (5,369 client-account links, ``OWNER`` or
``DISPONENT``), ``order`` (standing orders), ``loan`` (682), ``card`` (892), ``district`` (77)
and ``trans`` (1,056,320 transactions; the shared copy has only the first 49,102 lines in
``trans_PARTIAL_first_3MiB.asc``, which is used when ``trans.asc`` is absent).

Mapping (see ``docs/loaders.md`` for the full tables):

* client -> customers: retail; ``birth_number`` ``YYMMDD`` with 50 added to the month for women
  gives ``gender`` and ``birth_year`` (19YY); ``open_date`` is the earliest open date of the
  accounts the client is linked to (owner or disponent); ``region`` is the district name
  (``A2``, 77 values) or, with ``region_level="region"``, the region (``A3``, 8 values).
* account -> accounts: ``current_account`` held by the disposition ``OWNER``; id kept.
* loan -> accounts ``consumer_loan`` (``"L" + loan_id``), held by the loan account's owner,
  opened on the loan date, ``interest_rate`` empty (Berka has none). Berka loans are at most
  590,820 CZK over at most 60 months, so none is treated as a mortgage.
* card -> accounts ``credit_card`` (``"C" + card_id``), opened on the issue date. Berka cards
  draw on the current account (debit-like), but the contract has no debit-card product.
* trans -> transactions (amount positive; ``PRIJEM`` credit, ``VYDAJ``/``VYBER`` debit; kind and
  channel from :data:`OPERATION_MAP` overridden by :data:`K_SYMBOL_MAP`); customer = owner.
* balances: monthly mean of the post-transaction ``balance`` per account, clipped at 0.
* loan status (no contract table): ``loan_status.parquet`` beside the contract tables with
  ``defaulted`` = status ``B`` (finished, not paid) or ``D`` (running, in debt).

Malformed files are refused, not cleaned: a file without the columns used, or a date
(``account.date``, ``loan.date``, ``card.issued``, ``trans.date``) that is not a valid
``YYMMDD``, or an amount (``trans.amount``, ``trans.balance``, ``loan.amount``,
``loan.duration``) that is not a number raises ``ValueError`` naming the file, the column and
the first offending lines (``line 5='931399'``; the header is line 1).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from segml.io import atomic_output_dir
from segml.loaders.common import (
    LoadReport,
    check_columns,
    check_filled,
    offending_rows,
    parse_number_column,
    shared_data_dir,
    write_table,
)
from segml.loaders.dataset import BANK, dataset_record, write_dataset_record
from segml.tables import row_labels

#: Transaction type -> contract direction.
DIRECTION_MAP: dict[str, str] = {"PRIJEM": "credit", "VYDAJ": "debit", "VYBER": "debit"}

#: Berka ``operation`` -> (contract kind, channel).
OPERATION_MAP: dict[str, tuple[str, str]] = {
    "VYBER KARTOU": ("cash_withdrawal", "atm"),  # credit card withdrawal
    "VKLAD": ("cash_deposit", "branch"),  # credit in cash
    "PREVOD Z UCTU": ("transfer_in", "online"),  # collection from another bank
    "VYBER": ("cash_withdrawal", "branch"),  # withdrawal in cash
    "PREVOD NA UCET": ("transfer_out", "online"),  # remittance to another bank
    "": ("other", "system"),  # no operation: bank postings (interest)
}

#: Berka ``k_symbol`` -> (contract kind, channel or None to keep the operation's channel).
K_SYMBOL_MAP: dict[str, tuple[str, str | None]] = {
    "UROK": ("interest", "system"),  # interest credited
    "SLUZBY": ("fee", "system"),  # payment for statement
    "SANKC. UROK": ("fee", "system"),  # sanction interest on a negative balance
    "SIPO": ("bill_payment", None),  # household payment
    "POJISTNE": ("bill_payment", None),  # insurance payment
    "DUCHOD": ("pension", None),  # old-age pension
    "UVER": ("loan_repayment", None),  # loan payment
}

#: Loan status -> default flag (A finished ok, B finished unpaid, C running ok, D in debt).
DEFAULT_STATUS = ("B", "D")

TX_COLUMNS = ("transaction_id", "account_id", "customer_id", "timestamp", "amount")
TX_COLUMNS += ("direction", "channel", "kind")
FILES = ("account", "client", "disp", "order", "loan", "card", "district")
#: Columns each file must have (those the mapping uses).
REQUIRED: dict[str, tuple[str, ...]] = {
    "account": ("account_id", "date"),
    "client": ("client_id", "birth_number", "district_id"),
    "disp": ("disp_id", "client_id", "account_id", "type"),
    "order": (),
    "loan": ("loan_id", "account_id", "date", "amount", "duration", "status"),
    "card": ("card_id", "disp_id", "issued"),
    "district": ("A1", "A2", "A3"),
    "trans": (
        "trans_id",
        "account_id",
        "date",
        "type",
        "operation",
        "amount",
        "balance",
        "k_symbol",
    ),
}
PARTIAL_TRANS = "trans_PARTIAL_first_3MiB.asc"


def berka_path(berka_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the Berka folder, checking that the needed files are there.

    Parameters
    ----------
    berka_dir : path, optional
        Folder of the ``.asc`` files; default ``<shared data>/berka``.

    Raises
    ------
    FileNotFoundError
        Naming the folder or the missing files.
    NotADirectoryError
        When ``berka_dir`` is a file.
    """
    if berka_dir is None:
        shared = shared_data_dir()
        if shared is None:
            raise FileNotFoundError(
                "Berka data not found: no shared data folder (set SEGML_SHARED_DATA or place "
                "the files in <repo>/../shared/data/berka), or pass berka_dir= (the folder of "
                "the .asc files)"
            )
        berka_dir = shared / "berka"
    folder = Path(berka_dir)
    if folder.is_file():
        raise NotADirectoryError(f"Berka data: {folder} is a file; give the folder of .asc files")
    if not folder.is_dir():
        raise FileNotFoundError(f"Berka folder not found: {folder}")
    missing = [f"{f}.asc" for f in FILES if not (folder / f"{f}.asc").is_file()]
    if not _trans_file(folder):
        missing.append(f"trans.asc (or {PARTIAL_TRANS})")
    if missing:
        raise FileNotFoundError(f"Berka files missing in {folder}: {', '.join(missing)}")
    return folder


def _trans_file(folder: Path) -> Path | None:
    for name in ("trans.asc", PARTIAL_TRANS):
        if (folder / name).is_file():
            return folder / name
    return None


def _read(path: Path, required: tuple[str, ...]) -> tuple[pd.DataFrame, Callable[[int], str]]:
    """Read one ``.asc`` file as text, quotes removed and blanks stripped, and its row names.

    Raises ValueError naming the file when it cannot be read or lacks a ``required`` column.
    """
    try:
        df = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, quotechar='"')
    except (ValueError, UnicodeError) as exc:  # ParserError, EmptyDataError, decoding
        raise ValueError(f"cannot read the Berka file {path}: {exc}") from exc
    check_columns(df.columns, required, path, f"Berka {path.name}", sep=";")
    return df.apply(lambda s: s.str.strip()), row_labels(path, len(df))


def _yymmdd(values: pd.Series) -> pd.Series:
    """Parse Berka ``YYMMDD`` dates (19YY; a trailing time is ignored); NaT when invalid."""
    digits = values.str.slice(0, 6)
    ok = digits.str.fullmatch(r"[0-9]{6}").fillna(False).astype(bool)
    d = digits.where(ok, "000000")
    parts = pd.DataFrame(
        {
            "year": 1900 + d.str.slice(0, 2).astype(int),
            "month": d.str.slice(2, 4).astype(int),
            "day": d.str.slice(4, 6).astype(int),
        }
    )
    out = pd.to_datetime(parts, errors="coerce")
    return out.where(ok.to_numpy())


def _dates(values: pd.Series, path: Path, column: str, labels: Callable[[int], str]) -> pd.Series:
    """Parse a column of ``YYMMDD`` dates; ValueError naming the file, column and bad lines."""
    check_filled(values, path, column, labels)
    out = _yymmdd(values)
    if (bad := out.isna().to_numpy()).any():
        raise ValueError(
            f"{path}: column {column!r} has values that are not dates written YYMMDD: "
            f"{offending_rows(labels, values, bad)}"
        )
    return out


def _customers(
    client: pd.DataFrame,
    disp: pd.DataFrame,
    acc_open: pd.Series,
    district: pd.DataFrame,
    region_level: str,
    dropped: dict[str, int],
    counts: dict[str, int],
) -> pd.DataFrame:
    """Clients -> contract customers (retail, gender and birth year from the birth number)."""
    links = disp.assign(open=disp["account_id"].map(acc_open)).dropna(subset=["open"])
    first = links.groupby("client_id")["open"].min()
    has = client["client_id"].isin(first.index)
    dropped["customers.client_without_account"] = int((~has).sum())
    c = client[has].reset_index(drop=True)
    bn = c["birth_number"].where(c["birth_number"].str.fullmatch(r"[0-9]{6}"), "")
    month = pd.to_numeric(bn.str.slice(2, 4), errors="coerce")
    female = month > 50
    month = month.where(~female, month - 50)
    valid = month.between(1, 12)
    counts["customers_invalid_birth_number"] = int((~valid).sum())
    gender = pd.Series(np.where(female, "F", "M"), index=c.index).where(valid)
    birth_year = (1900 + pd.to_numeric(bn.str.slice(0, 2), errors="coerce")).where(valid)
    col = "A2" if region_level == "district" else "A3"
    region = c["district_id"].map(district.set_index("A1")[col])
    return pd.DataFrame(
        {
            "customer_id": c["client_id"],
            "customer_type": "retail",
            "open_date": c["client_id"].map(first),
            "region": region,
            "birth_year": birth_year,
            "gender": gender,
        }
    )


def _transactions(
    trans: pd.DataFrame,
    accounts: pd.DataFrame,
    dropped: dict[str, int],
    counts: dict[str, int],
) -> pd.DataFrame:
    """Berka transactions -> contract transactions, dropping (and counting) what cannot fit."""
    acc = accounts.set_index("account_id")
    t = pd.DataFrame(
        {
            "transaction_id": trans["trans_id"],
            "account_id": trans["account_id"],
            "customer_id": trans["account_id"].map(acc["customer_id"]),
            "timestamp": trans["date"],
            "amount": trans["amount"],
            "balance": trans["balance"],
            "direction": trans["type"].map(DIRECTION_MAP),
            "operation": trans["operation"],
            "k_symbol": trans["k_symbol"],
        }
    )
    opened = trans["account_id"].map(acc["open_date"])
    reasons = [
        ("unknown_account", t["customer_id"].isna()),
        ("invalid_date", t["timestamp"].isna()),
        ("invalid_amount", ~np.isfinite(t["amount"]) | (t["amount"] < 0)),
        ("unknown_type", t["direction"].isna()),
        ("before_account_open", t["timestamp"] < opened),
        ("duplicate_id", t["transaction_id"].duplicated()),
    ]
    taken = pd.Series(False, index=t.index)
    for reason, mask in reasons:
        new = mask.fillna(False).astype(bool) & ~taken
        dropped[f"transactions.{reason}"] = int(new.sum())
        taken |= new
    t = t[~taken].reset_index(drop=True)
    # plain dict lookups: a Series of tuples has no .str when every lookup misses
    kind = t["operation"].map({k: v[0] for k, v in OPERATION_MAP.items()})
    counts["transactions_unmapped_operation"] = int(kind.isna().sum())
    kind = kind.fillna("other")
    channel = t["operation"].map({k: v[1] for k, v in OPERATION_MAP.items()}).fillna("other")
    ks_kind = t["k_symbol"].map({k: v[0] for k, v in K_SYMBOL_MAP.items()})
    has_ks = ks_kind.notna()
    kind = kind.where(~has_ks, ks_kind)
    ks_channel = t["k_symbol"].map({k: v[1] for k, v in K_SYMBOL_MAP.items() if v[1]})
    channel = channel.where(ks_channel.isna(), ks_channel)
    counts["transactions_unmapped_k_symbol"] = int(
        ((t["k_symbol"] != "") & ~has_ks & t["k_symbol"].notna()).sum()
    )
    t["kind"] = kind.astype(str)
    t["channel"] = channel.astype(str)
    return t


def _balances(t: pd.DataFrame, counts: dict[str, int]) -> pd.DataFrame:
    """Monthly mean of the post-transaction balance per account, clipped at 0."""
    b = t.dropna(subset=["balance"])
    month = b["timestamp"].dt.to_period("M").dt.to_timestamp()
    out = (
        b.assign(month=month)
        .groupby(["account_id", "month"], sort=True)["balance"]
        .mean()
        .rename("avg_balance")
        .reset_index()
    )
    counts["balances_negative_months_clipped"] = int((out["avg_balance"] < 0).sum())
    out["avg_balance"] = out["avg_balance"].clip(lower=0.0)
    return out


#: Arrow types of the written tables' columns (:func:`segml.loaders.common.write_table`).
_TYPES: dict[str, dict[str, list[str]]] = {
    "customers": {"dates": ["open_date"], "ints": ["birth_year"]},
    "accounts": {"dates": ["open_date"], "floats": ["interest_rate"]},
    "transactions": {"timestamps": ["timestamp"], "floats": ["amount"]},
    "balances": {"dates": ["month"], "floats": ["avg_balance"]},
    "loan_status": {"floats": ["amount"], "ints": ["duration_months"]},
}


def _write(
    out_dir: str | os.PathLike[str],
    overwrite: bool,
    tables: dict[str, pd.DataFrame],
    record: dict[str, Any],
) -> None:
    """Write the tables as Parquet and ``dataset.json``, atomically (all or nothing)."""
    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
        for name, df in tables.items():
            write_table(df, tmp / f"{name}.parquet", **_TYPES[name])
        write_dataset_record(tmp, record)


def berka_to_bank(
    out_dir: str | os.PathLike[str],
    berka_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    *,
    region_level: Literal["district", "region"] = "district",
) -> tuple[Path, LoadReport]:
    """Map the Berka bank onto the contract and write it as a folder of Parquet tables.

    Parameters
    ----------
    out_dir : path
        Output folder (written atomically): ``customers``, ``accounts``, ``transactions``,
        ``balances`` and ``loan_status`` (not a contract table) as Parquet.
    berka_dir : path, optional
        Folder of the ``.asc`` files; default ``<shared data>/berka``. ``trans.asc`` is used
        when present, else ``trans_PARTIAL_first_3MiB.asc``.
    overwrite : bool
        Replace a non-empty ``out_dir``.
    region_level : {"district", "region"}
        Customers' ``region``: the district name (77 values) or the region (8 values).

    Returns
    -------
    Path
        ``out_dir``; its ``dataset.json`` records a ``bank`` from ``berka``, the transaction
        file's name and SHA-256 (every input file's in ``input_files``) and the report.
    LoadReport
        ``rows_in``/``rows_out``: transactions read and written; ``dropped``:
        ``"table.reason"`` -> rows; ``counts``: rows written per table, loans per status,
        defaults, negative balance months clipped and other figures.

    Raises
    ------
    FileNotFoundError
        When the folder or one of its files is missing.
    NotADirectoryError
        When ``berka_dir`` is a file.
    ValueError
        When a file cannot be read, lacks a column the mapping uses, or holds a malformed
        date or amount (see the module docstring): the message names the file, the column and
        the first offending lines with their values. Nothing is written then.
    FileExistsError
        When ``out_dir`` is not empty and ``overwrite`` is not set.
    """
    if region_level not in ("district", "region"):
        raise ValueError(f"region_level must be 'district' or 'region', not {region_level!r}")
    folder = berka_path(berka_dir)
    paths = {name: folder / f"{name}.asc" for name in FILES}
    paths["trans"] = _trans_file(folder) or folder / "trans.asc"  # berka_path checked it
    read = {name: _read(path, REQUIRED[name]) for name, path in paths.items()}
    raw = {name: df for name, (df, _) in read.items() if name != "trans"}
    labels = {name: lab for name, (_, lab) in read.items()}
    trans_file = paths["trans"]

    def dates(name: str, column: str) -> pd.Series:
        return _dates(read[name][0][column], paths[name], column, labels[name])

    def numbers(name: str, column: str, whole: bool = False) -> pd.Series:
        df = read[name][0]
        return parse_number_column(df[column], paths[name], column, labels[name], whole=whole)

    trans = read["trans"][0].assign(
        date=dates("trans", "date"),
        amount=numbers("trans", "amount"),
        balance=numbers("trans", "balance"),
    )
    dropped: dict[str, int] = {}
    counts: dict[str, int] = {f"{k}_in": len(v) for k, v in raw.items()}
    notes = [
        f"transactions read from {trans_file.name}"
        + (" (partial: earliest dates only)" if trans_file.name == PARTIAL_TRANS else ""),
        f"region = district {'name (A2)' if region_level == 'district' else 'region (A3)'}",
        "rows_in and rows_out count transactions; dropped rows are counted per table.reason",
        "standing orders (order.asc) are instructions, not postings: the contract has no table "
        "for them",
        "loan status is written to loan_status.parquet (the contract has no table for it)",
    ]

    account, disp = raw["account"], raw["disp"]
    acc_open = dates("account", "date")
    acc_open.index = account["account_id"]
    owners = disp[disp["type"] == "OWNER"].drop_duplicates("account_id")
    owner = owners.set_index("account_id")["client_id"]

    customers = _customers(
        raw["client"], disp, acc_open.dropna(), raw["district"], region_level, dropped, counts
    )
    cust_open = customers.set_index("customer_id")["open_date"]

    cur = pd.DataFrame(
        {
            "account_id": account["account_id"],
            "customer_id": account["account_id"].map(owner),
            "product": "current_account",
            "open_date": acc_open.to_numpy(),
        }
    )
    bad = cur["customer_id"].isna() | cur["open_date"].isna()
    bad |= ~cur["customer_id"].isin(cust_open.index)
    dropped["accounts.current_without_owner_or_date"] = int(bad.sum())
    cur = cur[~bad]

    loan = raw["loan"]
    loans = pd.DataFrame(
        {
            "account_id": "L" + loan["loan_id"],
            "customer_id": loan["account_id"].map(cur.set_index("account_id")["customer_id"]),
            "product": "consumer_loan",
            "open_date": dates("loan", "date"),
        }
    )
    bad = loans["customer_id"].isna() | loans["open_date"].isna()
    dropped["accounts.loan_unknown_account_or_date"] = int(bad.sum())
    loan_status = pd.DataFrame(
        {
            "account_id": loans["account_id"],
            "loan_id": loan["loan_id"],
            "current_account_id": loan["account_id"],
            "customer_id": loans["customer_id"],
            "status": loan["status"],
            "defaulted": loan["status"].isin(DEFAULT_STATUS),
            "amount": numbers("loan", "amount"),
            "duration_months": numbers("loan", "duration", whole=True),
        }
    )[~bad]
    loans = loans[~bad]
    for status, n in loan_status["status"].value_counts().sort_index().items():
        counts[f"loans_status_{status}"] = int(n)
    counts["loans_defaulted"] = int(loan_status["defaulted"].sum())

    card = raw["card"].assign(issued=dates("card", "issued"))
    card = card.merge(disp, on="disp_id", how="left", suffixes=("", "_disp"))
    cards = pd.DataFrame(
        {
            "account_id": "C" + card["card_id"],
            "customer_id": card["client_id"],
            "product": "credit_card",
            "open_date": card["issued"],
        }
    )
    bad = cards["customer_id"].isna() | cards["open_date"].isna()
    bad |= ~cards["customer_id"].isin(cust_open.index)
    bad |= cards["open_date"] < cards["customer_id"].map(cust_open)
    dropped["accounts.card_unknown_disp_or_date"] = int(bad.sum())
    cards = cards[~bad]

    accounts = pd.concat([cur, loans, cards], ignore_index=True)
    accounts["interest_rate"] = np.nan
    early = accounts["open_date"] < accounts["customer_id"].map(cust_open)
    dropped["accounts.before_customer_open"] = int(early.sum())
    accounts = accounts[~early].reset_index(drop=True)
    loan_status = loan_status[loan_status["account_id"].isin(accounts["account_id"])]

    t = _transactions(trans, accounts[accounts["product"] == "current_account"], dropped, counts)
    balances = _balances(t, counts)
    tables = {
        "customers": customers,
        "accounts": accounts,
        "transactions": t[list(TX_COLUMNS)],
        "balances": balances,
        "loan_status": loan_status.reset_index(drop=True),
    }
    counts.update({name: len(df) for name, df in tables.items()})
    for product, n in accounts["product"].value_counts().sort_index().items():
        counts[f"accounts_{product}"] = int(n)
    counts["customers_female"] = int((customers["gender"] == "F").sum())
    counts["customers_male"] = int((customers["gender"] == "M").sum())
    counts["regions"] = int(customers["region"].nunique())
    report = LoadReport("berka", len(trans), len(t), dropped, tuple(notes), counts)
    record = dataset_record(
        BANK,
        "berka",
        report,
        [trans_file, *(paths[f] for f in FILES)],
        transactions_file=trans_file.name,
        transactions_partial=trans_file.name == PARTIAL_TRANS,
    )
    _write(out_dir, overwrite, tables, record)
    return Path(out_dir), report
