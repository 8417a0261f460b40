"""Berka clients, accounts, loans and cards mapped onto the contract's customers and accounts.

See :mod:`segml.loaders.berka` for the mapping; rows that cannot fit are dropped and counted
in ``dropped`` under ``"table.reason"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segml.loaders.berka_files import BerkaFiles

#: Loan status -> default flag (A finished ok, B finished unpaid, C running ok, D in debt).
DEFAULT_STATUS = ("B", "D")


def customers_and_accounts(
    files: BerkaFiles, region_level: str, dropped: dict[str, int], counts: dict[str, int]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Contract customers and accounts (current, loan, card), and the loans' status.

    An account opened before its customer (the client's earliest linked account) is dropped;
    so is a loan's status row when its account is.
    """
    account, disp = files.frames["account"], files.frames["disp"]
    acc_open = files.dates("account", "date")
    acc_open.index = account["account_id"]
    owners = disp[disp["type"] == "OWNER"].drop_duplicates("account_id")
    owner = owners.set_index("account_id")["client_id"]

    customers = _customers(
        files.frames["client"],
        disp,
        acc_open.dropna(),
        files.frames["district"],
        region_level,
        dropped,
        counts,
    )
    cust_open = customers.set_index("customer_id")["open_date"]
    cur = _current_accounts(account, owner, acc_open, cust_open, dropped)
    loans, loan_status = _loan_accounts(files, cur, dropped, counts)
    cards = _card_accounts(files, disp, cust_open, dropped)

    accounts = pd.concat([cur, loans, cards], ignore_index=True)
    accounts["interest_rate"] = np.nan
    early = accounts["open_date"] < accounts["customer_id"].map(cust_open)
    dropped["accounts.before_customer_open"] = int(early.sum())
    accounts = accounts[~early].reset_index(drop=True)
    loan_status = loan_status[loan_status["account_id"].isin(accounts["account_id"])]
    return customers, accounts, loan_status


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


def _current_accounts(
    account: pd.DataFrame,
    owner: pd.Series,
    acc_open: pd.Series,
    cust_open: pd.Series,
    dropped: dict[str, int],
) -> pd.DataFrame:
    """Berka accounts -> ``current_account`` held by the owner (dropped without owner or date)."""
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
    return cur[~bad]


def _loan_accounts(
    files: BerkaFiles, cur: pd.DataFrame, dropped: dict[str, int], counts: dict[str, int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Loans -> ``consumer_loan`` accounts of the current account's owner, and their status."""
    loan = files.frames["loan"]
    loans = pd.DataFrame(
        {
            "account_id": "L" + loan["loan_id"],
            "customer_id": loan["account_id"].map(cur.set_index("account_id")["customer_id"]),
            "product": "consumer_loan",
            "open_date": files.dates("loan", "date"),
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
            "amount": files.numbers("loan", "amount"),
            "duration_months": files.numbers("loan", "duration", whole=True),
        }
    )[~bad]
    for status, n in loan_status["status"].value_counts().sort_index().items():
        counts[f"loans_status_{status}"] = int(n)
    counts["loans_defaulted"] = int(loan_status["defaulted"].sum())
    return loans[~bad], loan_status


def _card_accounts(
    files: BerkaFiles, disp: pd.DataFrame, cust_open: pd.Series, dropped: dict[str, int]
) -> pd.DataFrame:
    """Cards -> ``credit_card`` accounts of the card's client, issued once the client is one."""
    card = files.frames["card"].assign(issued=files.dates("card", "issued"))
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
    return cards[~bad]
