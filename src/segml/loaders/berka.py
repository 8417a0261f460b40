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
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from segml.io import atomic_output_dir
from segml.loaders.common import LoadReport, shared_data_dir, write_table

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
    """
    if berka_dir is None:
        shared = shared_data_dir()
        if shared is None:
            raise FileNotFoundError(
                "Berka data not found: no shared data folder (set SEGML_SHARED_DATA or place "
                "the files in <repo>/../shared/data/berka), or pass berka_dir="
            )
        berka_dir = shared / "berka"
    folder = Path(berka_dir)
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


def _read(path: Path) -> pd.DataFrame:
    """Read one ``.asc`` file as text, quotes removed and blanks stripped."""
    df = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, quotechar='"')
    return df.apply(lambda s: s.str.strip())


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
            "timestamp": _yymmdd(trans["date"]),
            "amount": pd.to_numeric(trans["amount"], errors="coerce"),
            "balance": pd.to_numeric(trans["balance"], errors="coerce"),
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
    op = t["operation"].map(OPERATION_MAP)
    counts["transactions_unmapped_operation"] = int(op.isna().sum())
    op = op.where(op.notna(), pd.Series([("other", "other")] * len(t), dtype=object))
    kind = op.str[0]
    channel = op.str[1]
    ks = t["k_symbol"].map(K_SYMBOL_MAP)
    has_ks = ks.notna()
    kind = kind.where(~has_ks, ks.str[0])
    ks_channel = ks.str[1]
    channel = channel.where(~(has_ks & ks_channel.notna()), ks_channel)
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
        ``out_dir``.
    LoadReport
        ``rows_in``/``rows_out``: transactions read and written; ``dropped``:
        ``"table.reason"`` -> rows; ``counts``: rows written per table, loans per status,
        defaults, negative balance months clipped and other figures.

    Raises
    ------
    FileNotFoundError
        When the folder or one of its files is missing.
    """
    if region_level not in ("district", "region"):
        raise ValueError(f"region_level must be 'district' or 'region', not {region_level!r}")
    folder = berka_path(berka_dir)
    raw = {name: _read(folder / f"{name}.asc") for name in FILES}
    trans_file = _trans_file(folder) or folder / "trans.asc"  # berka_path checked it exists
    trans = _read(trans_file)
    dropped: dict[str, int] = {}
    counts: dict[str, int] = {f"{k}_in": len(v) for k, v in raw.items()}
    notes = [
        f"transactions read from {trans_file.name}"
        + (" (partial: earliest dates only)" if trans_file.name == PARTIAL_TRANS else ""),
        f"region = district {'name (A2)' if region_level == 'district' else 'region (A3)'}",
        "standing orders (order.asc) are instructions, not postings: the contract has no table "
        "for them",
        "loan status is written to loan_status.parquet (the contract has no table for it)",
    ]

    account, disp = raw["account"], raw["disp"]
    acc_open = _yymmdd(account["date"])
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
            "open_date": _yymmdd(loan["date"]),
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
            "amount": pd.to_numeric(loan["amount"], errors="coerce"),
            "duration_months": pd.to_numeric(loan["duration"], errors="coerce"),
        }
    )[~bad]
    loans = loans[~bad]
    for status, n in loan_status["status"].value_counts().sort_index().items():
        counts[f"loans_status_{status}"] = int(n)
    counts["loans_defaulted"] = int(loan_status["defaulted"].sum())

    card = raw["card"].merge(disp, on="disp_id", how="left", suffixes=("", "_disp"))
    cards = pd.DataFrame(
        {
            "account_id": "C" + card["card_id"],
            "customer_id": card["client_id"],
            "product": "credit_card",
            "open_date": _yymmdd(card["issued"]),
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
    t = t[list(TX_COLUMNS)]

    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
        counts["customers"] = write_table(
            customers, tmp / "customers.parquet", dates=["open_date"], ints=["birth_year"]
        )
        counts["accounts"] = write_table(
            accounts, tmp / "accounts.parquet", dates=["open_date"], floats=["interest_rate"]
        )
        counts["transactions"] = write_table(
            t, tmp / "transactions.parquet", timestamps=["timestamp"], floats=["amount"]
        )
        counts["balances"] = write_table(
            balances, tmp / "balances.parquet", dates=["month"], floats=["avg_balance"]
        )
        counts["loan_status"] = write_table(
            loan_status.reset_index(drop=True),
            tmp / "loan_status.parquet",
            floats=["amount"],
            ints=["duration_months"],
        )
    for product, n in accounts["product"].value_counts().sort_index().items():
        counts[f"accounts_{product}"] = int(n)
    counts["customers_female"] = int((customers["gender"] == "F").sum())
    counts["customers_male"] = int((customers["gender"] == "M").sum())
    counts["regions"] = int(customers["region"].nunique())
    report = LoadReport("berka", len(trans), len(t), dropped, tuple(notes), counts)
    return Path(out_dir), report
