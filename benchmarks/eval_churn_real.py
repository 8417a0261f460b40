"""Cross-validated churn/default models on real public data, through ``segml churn train``.

Two customer snapshot tables are built from the shared data sets (``../shared/data``) and
given to :func:`segml.churn.train_table` — the function behind ``segml churn train`` — with no
dataset-specific code besides the table builder:

* **Berka loans** (:func:`berka_loans`): one row per loan of the Czech bank (682), target
  ``defaulted`` = loan status B (finished, not paid) or D (running, in debt); features known
  at the loan date: the loan's amount, duration and instalment, the account's statement
  frequency and age, its owner's gender and age, disponents, a card issued before the loan,
  the account's standing orders (household, insurance, leasing; the loan-instalment order is
  left out because the table is a snapshot taken after the outcome), and the district's
  demographics (district name as a 77-value high-cardinality text column).
* **Online Retail** (:func:`online_retail_snapshot`): one row per customer with a purchase by
  the cut date (2011-09-09), target ``churned`` = no purchase in the 90 days after it;
  features from invoices up to the cut only (RFM, windows, basket size, gaps, trend,
  country).

Usage::

    python benchmarks/eval_churn_real.py [--cv 5] [--seed 0] [--search 0] [--out FILE.json]

prints one JSON object per dataset (and writes them all to ``--out`` when given).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

BERKA_FILES = ("account", "client", "disp", "order", "loan", "card", "district")
#: Column names of the Berka ``district`` table (A1..A16).
DISTRICT = {
    "A1": "district_id",
    "A2": "district_name",
    "A3": "region",
    "A4": "inhabitants",
    "A5": "municipalities_lt500",
    "A6": "municipalities_500_1999",
    "A7": "municipalities_2000_9999",
    "A8": "municipalities_ge10000",
    "A9": "cities",
    "A10": "urban_ratio",
    "A11": "average_salary",
    "A12": "unemployment_95",
    "A13": "unemployment_96",
    "A14": "entrepreneurs_per_1000",
    "A15": "crimes_95",
    "A16": "crimes_96",
}


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.asc", sep=";", dtype=str, keep_default_na=False)


def _yymmdd(values: pd.Series) -> pd.Series:
    d = values.str.slice(0, 6)
    return pd.to_datetime("19" + d, format="%Y%m%d", errors="coerce")


def _num(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.str.strip().replace({"?": None, "": None}), errors="coerce")


def berka_loans(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per Berka loan with what the bank knew at the loan date; see the module doc."""
    f = Path(folder)
    t = {n: _read(f, n) for n in BERKA_FILES}
    loan = t["loan"].rename(columns={"date": "loan_date"})
    loan["loan_date"] = _yymmdd(loan["loan_date"])
    acc = t["account"].rename(columns={"date": "account_date", "frequency": "statement_frequency"})
    acc["account_date"] = _yymmdd(acc["account_date"])
    df = loan.merge(acc, on="account_id", how="left", validate="one_to_one")
    disp = t["disp"]
    owner = disp[disp["type"] == "OWNER"].merge(t["client"], on="client_id", how="left")
    bn = owner["birth_number"].str.slice(0, 6)
    month = pd.to_numeric(bn.str.slice(2, 4), errors="coerce")
    owner["owner_gender"] = np.where(month > 50, "F", "M")
    owner["owner_birth_year"] = 1900 + pd.to_numeric(bn.str.slice(0, 2), errors="coerce")
    owner = owner.rename(columns={"district_id": "owner_district_id"})
    df = df.merge(
        owner[["account_id", "disp_id", "owner_gender", "owner_birth_year", "owner_district_id"]],
        on="account_id",
        how="left",
        validate="one_to_one",
    )
    n_disp = disp[disp["type"] != "OWNER"].groupby("account_id").size()
    df["n_disponents"] = df["account_id"].map(n_disp).fillna(0).astype(int)
    card = t["card"].copy()
    card["issued"] = _yymmdd(card["issued"])
    card = card.merge(disp[["disp_id", "account_id"]], on="disp_id", how="left")
    card = card.merge(df[["account_id", "loan_date"]], on="account_id", how="inner")
    card = card[card["issued"] < card["loan_date"]]
    df["card_before_loan"] = df["account_id"].map(card.groupby("account_id")["type"].first())
    df["card_before_loan"] = df["card_before_loan"].fillna("none")
    orders = t["order"].copy()
    orders["amount"] = _num(orders["amount"])
    orders = orders[orders["k_symbol"].str.strip() != "UVER"]  # the loan's own instalment
    kinds = orders.assign(k=orders["k_symbol"].str.strip().replace("", "other"))
    piv = kinds.pivot_table(index="account_id", columns="k", values="amount", aggfunc="sum")
    piv = piv.add_prefix("order_amount_").fillna(0.0)
    df = df.merge(piv, left_on="account_id", right_index=True, how="left")
    df[list(piv.columns)] = df[list(piv.columns)].fillna(0.0)
    df["n_orders"] = df["account_id"].map(orders.groupby("account_id").size()).fillna(0)
    dist = t["district"].rename(columns=DISTRICT)
    for c in DISTRICT.values():
        if c not in ("district_id", "district_name", "region"):
            dist[c] = _num(dist[c])
    df = df.merge(dist, on="district_id", how="left")
    df["owner_same_district"] = (df["owner_district_id"] == df["district_id"]).astype(int)
    df["owner_age"] = df["loan_date"].dt.year - df["owner_birth_year"]
    df["account_age_days"] = (df["loan_date"] - df["account_date"]).dt.days
    df["loan_year"] = df["loan_date"].dt.year
    for c in ("amount", "duration", "payments"):
        df[c] = _num(df[c])
    df["defaulted"] = df["status"].isin(["B", "D"]).astype(int)
    drop = ["loan_date", "account_date", "disp_id", "owner_birth_year", "owner_district_id"]
    df = df.drop(columns=drop + ["district_id"]).rename(columns={"status": "loan_status"})
    return df.sort_values("loan_id").reset_index(drop=True)


def online_retail_snapshot(
    path: str | os.PathLike[str] | None = None,
    cut: dt.date = dt.date(2011, 9, 9),
    horizon_days: int = 90,
) -> pd.DataFrame:
    """One row per Online Retail customer with a purchase by ``cut``; see the module doc."""
    from segml.loaders import load_online_retail

    log, _ = load_online_retail(path)
    end = pd.Timestamp(cut) + pd.Timedelta(days=1)
    last = log["timestamp"].max()
    if last < end + pd.Timedelta(days=horizon_days - 1):
        raise ValueError(f"the log ends {last}, before the label window after {cut}")
    past = log[log["timestamp"] < end].copy()
    future = log[
        (log["timestamp"] >= end) & (log["timestamp"] < end + pd.Timedelta(days=horizon_days))
    ]
    past["age"] = (end - past["timestamp"]).dt.total_seconds() / 86400.0
    g = past.groupby("customer_id")
    out = pd.DataFrame(
        {
            "n_invoices": g.size(),
            "spend_total": g["amount"].sum(),
            "basket_mean": g["amount"].mean(),
            "basket_std": g["amount"].std(),
            "basket_max": g["amount"].max(),
            "quantity_total": g["quantity"].sum(),
            "lines_mean": g["n_lines"].mean(),
            "days_since_first": g["age"].max(),
            "days_since_last": g["age"].min(),
            "country": g["country"].agg(lambda s: s.mode().iloc[0]),
        }
    )
    for days in (30, 90, 180, 365):
        recent = past[past["age"] <= days].groupby("customer_id")
        out[f"invoices_{days}d"] = recent.size().reindex(out.index).fillna(0)
        out[f"spend_{days}d"] = recent["amount"].sum().reindex(out.index).fillna(0.0)
    span = out["days_since_first"] - out["days_since_last"]
    out["gap_mean_days"] = (span / (out["n_invoices"] - 1)).where(out["n_invoices"] > 1)
    out["overdue_ratio"] = out["days_since_last"] / out["gap_mean_days"]
    out["trend_90d"] = np.log1p(out["invoices_90d"]) - np.log1p(
        out["invoices_180d"] - out["invoices_90d"]
    )
    out["churned"] = (~out.index.isin(future["customer_id"])).astype(int)
    return out.rename_axis("customer_id").reset_index()


def _shared() -> Path:
    env = os.environ.get("SEGML_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    """Build both tables, cross-validate, print the results."""
    from segml.churn import train_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cv", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--search", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    root = _shared()
    runs = []
    if (root / "berka" / "loan.asc").is_file():
        runs.append(("berka_loans", lambda: berka_loans(root / "berka"), "loan_id", "defaulted",
                     ["loan_status", "account_id"]))  # fmt: skip
    if (root / "online_retail" / "online_retail.csv.xz").is_file():
        path = root / "online_retail" / "online_retail.csv.xz"
        runs.append(("online_retail_90d", lambda: online_retail_snapshot(path), "customer_id",
                     "churned", []))  # fmt: skip
    if not runs:
        print(f"no shared data under {root}", file=sys.stderr)
        return 1
    results = {}
    for name, build, id_col, target, drop in runs:
        t0 = time.perf_counter()
        table = build()
        built = time.perf_counter() - t0
        res = train_table(table, id_col, target, None, drop, cv=args.cv, seed=args.seed,
                          search=args.search, source=name)  # fmt: skip
        d = res.to_dict()
        d["build_seconds"] = built
        results[name] = d
        keep = ("roc_auc", "roc_auc_std", "pr_auc", "brier", "log_loss", "lift_top10")
        summary = {k: d[k] for k in keep} | {
            "rows": d["n_used"],
            "positives": d["positives"],
            "seconds": round(d["seconds"], 1),
        }
        print(json.dumps({name: summary}))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
