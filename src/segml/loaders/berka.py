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

:mod:`segml.loaders.berka_files` reads and parses the files; :mod:`segml.loaders.berka_accounts`
maps clients, accounts, loans and cards; this module maps transactions and balances and writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from segml.io import atomic_output_dir
from segml.loaders.berka_accounts import customers_and_accounts
from segml.loaders.berka_files import FILES, PARTIAL_TRANS, BerkaFiles, berka_path
from segml.loaders.common import LoadReport, write_table
from segml.loaders.dataset import BANK, dataset_record, write_dataset_record

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

TX_COLUMNS = ("transaction_id", "account_id", "customer_id", "timestamp", "amount")
TX_COLUMNS += ("direction", "channel", "kind")


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


def _notes(trans_file: Path, region_level: str) -> list[str]:
    """The load report's notes: where the transactions come from and what is not mapped."""
    return [
        f"transactions read from {trans_file.name}"
        + (" (partial: earliest dates only)" if trans_file.name == PARTIAL_TRANS else ""),
        f"region = district {'name (A2)' if region_level == 'district' else 'region (A3)'}",
        "rows_in and rows_out count transactions; dropped rows are counted per table.reason",
        "standing orders (order.asc) are instructions, not postings: the contract has no table "
        "for them",
        "loan status is written to loan_status.parquet (the contract has no table for it)",
    ]


def _count_rows(tables: dict[str, pd.DataFrame], counts: dict[str, int]) -> None:
    """Add the rows written per table, accounts per product, customers per gender, regions."""
    counts.update({name: len(df) for name, df in tables.items()})
    accounts, customers = tables["accounts"], tables["customers"]
    for product, n in accounts["product"].value_counts().sort_index().items():
        counts[f"accounts_{product}"] = int(n)
    counts["customers_female"] = int((customers["gender"] == "F").sum())
    counts["customers_male"] = int((customers["gender"] == "M").sum())
    counts["regions"] = int(customers["region"].nunique())


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
    files = BerkaFiles.read(berka_path(berka_dir))
    trans_file = files.paths["trans"]
    trans = files.frames["trans"].assign(
        date=files.dates("trans", "date"),
        amount=files.numbers("trans", "amount"),
        balance=files.numbers("trans", "balance"),
    )
    dropped: dict[str, int] = {}
    counts: dict[str, int] = {f"{k}_in": len(files.frames[k]) for k in FILES}
    customers, accounts, loan_status = customers_and_accounts(files, region_level, dropped, counts)
    t = _transactions(trans, accounts[accounts["product"] == "current_account"], dropped, counts)
    balances = _balances(t, counts)
    tables = {
        "customers": customers,
        "accounts": accounts,
        "transactions": t[list(TX_COLUMNS)],
        "balances": balances,
        "loan_status": loan_status.reset_index(drop=True),
    }
    _count_rows(tables, counts)
    notes = _notes(trans_file, region_level)
    report = LoadReport("berka", len(trans), len(t), dropped, tuple(notes), counts)
    record = dataset_record(
        BANK,
        "berka",
        report,
        [trans_file, *(files.paths[f] for f in FILES)],
        transactions_file=trans_file.name,
        transactions_partial=trans_file.name == PARTIAL_TRANS,
    )
    _write(out_dir, overwrite, tables, record)
    return Path(out_dir), report
