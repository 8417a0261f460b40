"""Tests of the dataset adapters on real data (CDNOW always; Online Retail and Berka if shared)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from segml.loaders import (
    LoadReport,
    berka_to_bank,
    cdnow_to_bank,
    load_cdnow,
    load_online_retail,
    online_retail_to_bank,
    shared_data_dir,
    transaction_log_to_bank,
)
from segml.loaders.cdnow import cdnow_path
from segml.loaders.online_retail import RELATIVE_PATH, customer_countries
from segml.validate import validate_folder

BERKA_FILES = ("account", "client", "disp", "order", "loan", "card", "district")


def _shared(rel: str | Path) -> Path:
    """Path of a shared dataset file or folder, or skip the test with the reason."""
    root = shared_data_dir()
    if root is None:
        pytest.skip("shared data folder not found (../shared/data or $SEGML_SHARED_DATA)")
    path = root / rel
    if not path.exists():
        pytest.skip(f"shared dataset not found at {path}")
    return path


def _berka_dir() -> Path:
    folder = _shared("berka")
    if any(not (folder / f"{f}.asc").is_file() for f in BERKA_FILES):
        pytest.skip(f"Berka files incomplete in {folder}")
    return folder


def _snapshot(paths: list[Path]) -> dict[str, tuple[int, int]]:
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*")))]
    return {str(f): (f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.is_file()}


def _id_ok(ids: pd.Series) -> bool:
    return bool(ids.map(lambda v: isinstance(v, str)).all() and not ids.str.contains(r"\.").any())


# --- common --------------------------------------------------------------------------------


def test_shared_data_dir_env_and_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGML_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    monkeypatch.setenv("SEGML_SHARED_DATA", str(tmp_path / "absent"))
    assert shared_data_dir() is None
    monkeypatch.delenv("SEGML_SHARED_DATA")
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "repo" / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "repo" / "sub")
    assert shared_data_dir() is None
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert shared_data_dir() == (tmp_path / "shared" / "data").resolve()


def test_transaction_log_to_bank_normalises_ids_and_regions(tmp_path):
    log = pd.DataFrame(
        {
            "cust": [17850.0, 17850.0, 13047.0],
            "when": pd.to_datetime(["2011-01-02 10:00", "2011-02-01 09:00", "2011-01-05 12:30"]),
            "value": [10.0, 5.5, 7.25],
        }
    )
    region = pd.Series({17850.0: "United Kingdom", 13047.0: "France"})
    out = transaction_log_to_bank(
        log,
        tmp_path / "bank",
        customer_col="cust",
        date_col="when",
        amount_col="value",
        region=region,
    )
    report = validate_folder(out)
    assert report.ok, report.summary()
    cust = pd.read_parquet(out / "customers.parquet").set_index("customer_id")
    assert sorted(cust.index) == ["13047", "17850"]
    assert cust.loc["17850", "region"] == "United Kingdom"
    assert str(cust.loc["17850", "open_date"]) == "2011-01-02"
    acc = pd.read_parquet(out / "accounts.parquet")
    assert set(acc["account_id"]) == {"A17850", "A13047"}
    tx = pd.read_parquet(out / "transactions.parquet")
    assert tx["transaction_id"].is_unique and (tx["direction"] == "debit").all()
    with pytest.raises(FileExistsError):
        transaction_log_to_bank(log, out, customer_col="cust", date_col="when", amount_col="value")


def test_transaction_log_to_bank_refuses_bad_rows(tmp_path):
    log = pd.DataFrame({"customer_id": ["1", "2"], "timestamp": ["2020-01-01"] * 2})
    with pytest.raises(ValueError, match="negative amount"):
        transaction_log_to_bank(log.assign(amount=[1.0, -1.0]), tmp_path / "a")
    with pytest.raises(ValueError, match="product"):
        transaction_log_to_bank(log.assign(amount=1.0), tmp_path / "b", product="bond")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_load_report_to_dict_is_json_ready():
    rep = LoadReport("x", 10, 7, {"a": 2, "b": 1}, ("note",), {"k": 3})
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["dropped"] == {"a": 2, "b": 1} and d["notes"] == ["note"] and rep.n_dropped == 3


# --- CDNOW (ships with lifetimes) ---------------------------------------------------------


def test_cdnow_sample_counts_and_ids():
    df = load_cdnow("sample")
    assert list(df.columns) == ["customer_id", "timestamp", "quantity", "amount"]
    assert len(df) == 6919
    assert df["customer_id"].nunique() == 2357
    assert set(df["customer_id"]) == {str(i) for i in range(1, 2358)}
    assert _id_ok(df["customer_id"])
    assert pd.api.types.is_datetime64_any_dtype(df["timestamp"])
    assert df["timestamp"].min() == pd.Timestamp("1997-01-01")
    assert df["timestamp"].max() <= pd.Timestamp("1998-06-30")
    assert (df["amount"] >= 0).all() and (df["quantity"] > 0).all()
    # first-quarter 1997 cohort: every customer's first purchase is in Q1 1997
    assert df.groupby("customer_id")["timestamp"].min().max() < pd.Timestamp("1997-04-01")


def test_cdnow_master_counts():
    df = load_cdnow("master")
    assert df["customer_id"].nunique() == 23570
    assert len(df) == 69659


def test_cdnow_to_bank_validates(tmp_path):
    out = cdnow_to_bank(tmp_path / "cdnow")
    report = validate_folder(out)
    assert report.ok, report.summary()
    assert report.row_counts == {"customers": 2357, "accounts": 2357, "transactions": 6919}
    # the only issues are the 8 zero-dollar purchases (a warning)
    assert [(i.rule, i.count) for i in report.issues] == [("zero_amount", 8)]
    for table in ("customers", "accounts", "transactions"):
        schema = pq.read_schema(out / f"{table}.parquet")
        assert str(schema.field("customer_id").type) == "string"
    with pytest.raises(FileExistsError):
        cdnow_to_bank(out)
    cdnow_to_bank(out, overwrite=True)
    assert validate_folder(out).ok


# --- Online Retail (shared) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def online_retail():
    path = _shared(RELATIVE_PATH)
    return path, load_online_retail(path, per="invoice")


def test_online_retail_missing_file_is_clear(tmp_path):
    missing = tmp_path / "nowhere" / "online_retail.csv.xz"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_online_retail(missing)


@pytest.mark.shared
def test_online_retail_report_figures(online_retail):
    _, (inv, rep) = online_retail
    assert rep.rows_in == 541_909
    assert rep.counts["customers_in_log"] == 4_372
    assert rep.dropped["missing_customer_id"] == 135_080
    assert rep.counts["cancellation_lines_in_log"] == 9_288
    assert rep.dropped["cancellation"] > 0
    assert rep.dropped["non_product_code"] > 0
    assert rep.dropped["non_positive_price"] > 0
    matched = rep.counts["cancel_lines_matched"] + rep.counts["cancel_lines_partly_matched"]
    assert matched > 0 and rep.counts["cancel_lines_unmatched"] > 0
    assert matched + rep.counts["cancel_lines_unmatched"] == rep.dropped["cancellation"]
    # every input line is either kept or dropped under exactly one reason
    assert rep.n_dropped + rep.counts["lines_out"] == rep.rows_in
    assert rep.rows_out == len(inv) == inv["invoice"].nunique() == rep.counts["invoices_out"]
    assert 4_000 < rep.counts["customers_out"] <= 4_372
    assert (inv["amount"] > 0).all()
    assert not inv["invoice"].str.startswith("C").any()
    assert _id_ok(inv["customer_id"])
    assert inv["timestamp"].min() == pd.Timestamp("2010-12-01 08:26")
    assert inv["timestamp"].max() <= pd.Timestamp("2011-12-09 23:59")


@pytest.mark.shared
def test_online_retail_per_line_agrees_with_invoices(online_retail):
    path, (inv, rep) = online_retail
    lines, rep_l = load_online_retail(path, per="line")
    assert rep_l.dropped == rep.dropped and len(lines) == rep.counts["lines_out"]
    assert (lines["quantity"] > 0).all() and (lines["unit_price"] > 0).all()
    assert np.isclose(lines["amount"].sum(), inv["amount"].sum())
    assert np.allclose(lines["amount"], lines["quantity"] * lines["unit_price"])
    # netting removed value: the two fully cancelled 80,995 and 74,215 unit orders are gone
    assert lines["quantity"].max() < 74_215


@pytest.mark.shared
def test_online_retail_to_bank_validates(online_retail, tmp_path):
    path, (inv, rep) = online_retail
    out = online_retail_to_bank(tmp_path / "retail", path=path)
    report = validate_folder(out)
    assert report.ok, report.summary()
    assert report.row_counts["customers"] == rep.counts["customers_out"]
    assert report.row_counts["transactions"] == len(inv)
    cust = pd.read_parquet(out / "customers.parquet")
    assert cust["region"].notna().all()
    assert cust["region"].value_counts().index[0] == "United Kingdom"
    assert customer_countries(inv).index.is_unique


# --- Berka (shared) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def berka(tmp_path_factory):
    folder = _berka_dir()
    out, rep = berka_to_bank(tmp_path_factory.mktemp("berka") / "bank", berka_dir=folder)
    return folder, out, rep


@pytest.mark.shared
def test_berka_tables_and_validation(berka):
    _, out, rep = berka
    report = validate_folder(out)
    assert report.ok, report.summary()
    assert report.row_counts["customers"] == 5_369
    accounts = pd.read_parquet(out / "accounts.parquet")
    counts = accounts["product"].value_counts().to_dict()
    assert counts == {"current_account": 4_500, "credit_card": 892, "consumer_loan": 682}
    cust = pd.read_parquet(out / "customers.parquet")
    assert set(cust["gender"]) == {"F", "M"}
    assert cust["region"].nunique() == 77 == rep.counts["regions"]
    assert cust["birth_year"].between(1900, 2000).all()
    tx = pd.read_parquet(out / "transactions.parquet")
    assert len(tx) == rep.rows_out and (tx["amount"] > 0).all()
    assert set(tx["direction"]) == {"credit", "debit"}
    assert {"interest", "fee", "pension", "cash_withdrawal", "cash_deposit"} <= set(tx["kind"])
    assert (
        rep.rows_out + sum(v for k, v in rep.dropped.items() if k.startswith("transactions."))
        == rep.rows_in
    )
    bal = pd.read_parquet(out / "balances.parquet")
    assert (bal["avg_balance"] >= 0).all() and (pd.to_datetime(bal["month"]).dt.day == 1).all()
    assert rep.counts["balances_negative_months_clipped"] >= 0


@pytest.mark.shared
def test_berka_loan_defaults(berka):
    _, out, rep = berka
    loans = pd.read_parquet(out / "loan_status.parquet")
    assert len(loans) == 682
    assert loans["defaulted"].sum() == 76 == rep.counts["loans_defaulted"]
    assert set(loans.loc[loans["defaulted"], "status"]) == {"B", "D"}
    acc = pd.read_parquet(out / "accounts.parquet")
    assert set(loans["account_id"]) <= set(acc["account_id"])


@pytest.mark.shared
def test_berka_regions_and_dropped_rows(tmp_path):
    src = _berka_dir()
    folder = tmp_path / "berka"
    folder.mkdir()
    for name in BERKA_FILES:
        (folder / f"{name}.asc").write_bytes((src / f"{name}.asc").read_bytes())
    trans = [
        line
        for p in sorted(src.glob("trans*.asc"))[:1]
        for line in p.read_text(encoding="latin-1").splitlines()[:2001]
    ]
    trans += [
        '9000001;576;921231;"PRIJEM";"VKLAD";100.00;100.00;"";;',  # before account 576 opened
        '9000002;999999;930105;"PRIJEM";"VKLAD";100.00;100.00;"";;',  # unknown account
        '9000003;576;930105;"PRIJEM";"NOVY";100.00;1000.00;"";;',  # unknown operation
    ]
    (folder / "trans.asc").write_text("\n".join(trans) + "\n", encoding="latin-1")
    out, rep = berka_to_bank(tmp_path / "bank", berka_dir=folder, region_level="region")
    assert rep.rows_in == 2003 and rep.rows_out == 2001
    assert rep.dropped["transactions.before_account_open"] == 1
    assert rep.dropped["transactions.unknown_account"] == 1
    assert rep.counts["transactions_unmapped_operation"] == 1
    assert rep.counts["regions"] == 8
    assert validate_folder(out).ok


# --- inputs are only read -----------------------------------------------------------------


def test_inputs_not_modified(tmp_path):
    inputs = [cdnow_path("sample")]
    root = shared_data_dir()
    berka_ok = root is not None and all(
        (root / "berka" / f"{f}.asc").is_file() for f in BERKA_FILES
    )
    if berka_ok:
        inputs.append(root / "berka")
    before = _snapshot(inputs)
    cdnow_to_bank(tmp_path / "cdnow")
    if berka_ok:
        berka_to_bank(tmp_path / "berka", berka_dir=root / "berka")
    assert _snapshot(inputs) == before
    assert not any(Path(p).name.startswith(".") for p in before)


def test_cli_convert_cdnow_writes_a_valid_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from segml.cli import app

    out = tmp_path / "cdnow_bank"
    r = CliRunner().invoke(app, ["convert", "cdnow", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert validate_folder(out).ok
    r = CliRunner().invoke(app, ["convert", "cdnow", "--out", str(out)])
    assert r.exit_code == 2 and "not empty" in r.output
