"""Tests of the dataset adapters on real data (CDNOW always; Online Retail and Berka if shared)."""

from __future__ import annotations

import json
import re
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
    with pytest.raises(ValueError, match="'amount' is a negative amount in 1 row: row 1=-1.0"):
        transaction_log_to_bank(log.assign(amount=[1.0, -1.0]), tmp_path / "a")
    with pytest.raises(ValueError, match=r"'timestamp' is missing or not a date in 1 row: row 0='x'"):  # fmt: skip
        transaction_log_to_bank(log.assign(amount=1.0, timestamp=["x", "2020-01-01"]), tmp_path / "a")  # fmt: skip
    with pytest.raises(ValueError, match="'amount' is missing, not a number .* row 1='abc'"):
        transaction_log_to_bank(log.assign(amount=["1", "abc"]), tmp_path / "a")
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
@pytest.mark.slow
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
@pytest.mark.slow
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
@pytest.mark.slow
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

    from segml.cli.main import app

    out = tmp_path / "cdnow_bank"
    r = CliRunner().invoke(app, ["convert", "cdnow", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert validate_folder(out).ok
    r = CliRunner().invoke(app, ["convert", "cdnow", "--out", str(out)])
    assert r.exit_code == 2 and "not empty" in r.output


# --- segml convert: --path, bad input, messages -------------------------------------------

OR_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
OR_LINES = [
    "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom",
    "536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,13047,France",
    "536367,84879,ASSORTED COLOUR BIRD,32,2010-12-02 08:34:00,1.69,13047,France",
]


def _convert(*args: str):
    """Run ``segml convert ARGS`` in-process; return the result."""
    from typer.testing import CliRunner

    from segml.cli.main import app

    return CliRunner().invoke(app, ["convert", *args])


def _refused(r, code: int, *needles: str) -> str:
    """Assert a clean refusal: the exit code, no traceback, the needles in the message."""
    assert r.exit_code == code, r.output
    assert isinstance(r.exception, SystemExit), r.exception  # not an uncaught error
    assert "Traceback" not in r.output
    for needle in needles:
        assert needle in r.output, (needle, r.output)
    return r.output


def _or_csv(folder: Path, name: str, lines: list[str], header: str = OR_HEADER) -> Path:
    path = folder / name
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def _left_behind(folder: Path, out: Path) -> list[str]:
    """What a failed convert left in ``folder`` besides the inputs (must be nothing)."""
    return sorted(p.name for p in folder.iterdir() if p == out or p.name.startswith("."))


def test_cli_convert_cdnow_uses_path(tmp_path):
    sample = tmp_path / "cdnow_sample.txt"  # the sample layout: master id, sample id, ...
    sample.write_text(
        " 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n\r\n"
        " 00018 0002 19970101  2   29.73\r\n 00021 0003 19970101  3   63.34\r\n"
    )
    r = _convert("cdnow", "--path", str(sample), "--out", str(tmp_path / "a"))
    assert r.exit_code == 0, r.output
    assert validate_folder(tmp_path / "a").row_counts == {
        "customers": 3,
        "accounts": 3,
        "transactions": 4,
    }
    master = tmp_path / "cdnow_master.txt"  # the master layout, with lifetimes' header
    master.write_text(
        " customer_id  date number_of_cds  dollar_value\n 00001 19970101  1   11.77\n"
        " 00002 19970112  1   12.00\n 00002 19970112  5   77.00\n"
    )
    df = load_cdnow(path=master)
    assert df["customer_id"].tolist() == ["1", "2", "2"] and df["quantity"].sum() == 7
    with pytest.raises(ValueError, match="master layout"):
        load_cdnow("sample", path=master)
    r = _convert("cdnow", "--path", str(master), "--out", str(tmp_path / "b"))
    assert r.exit_code == 0, r.output
    assert validate_folder(tmp_path / "b").row_counts["transactions"] == 3


def test_load_cdnow_path_reads_the_bundled_files_alike():
    for kind in ("sample", "master"):
        pd.testing.assert_frame_equal(load_cdnow(path=cdnow_path(kind)), load_cdnow(kind))


def test_cli_convert_cdnow_missing_path_is_refused(tmp_path):
    out = tmp_path / "out"
    missing = tmp_path / "nonexistent.txt"
    _refused(_convert("cdnow", "--out", str(out), "--path", str(missing)), 2, str(missing))
    (tmp_path / "in").mkdir()
    r = _convert("cdnow", "--out", str(out), "--path", str(tmp_path / "in"))
    _refused(r, 2, "is a folder")
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (" 1 19970101 1 11.77\n 2 1997013x 1 12.00\n", ["column 2 (date)", "line 2='1997013x'"]),
        (" 1 19970101 1 11.77\n\n 2 19970102 1 abc\n", ["dollar value", "line 3='abc'"]),
        (" 1 19970101 1 11.77\n 2 19970102 -1 5.0\n", ["number of CDs", "line 2='-1'"]),
        (" 1 19970101 1 -11.77\n", ["dollar value", "line 1='-11.77'"]),
        (" 1 19970101 1 11.77\n 2 19970102 1\n", ["other than 4 columns", "line 2="]),
        ("a,b,c\n1,2,3\n", ["line 2 has 1 column;"]),
        ("", ["no purchase lines"]),
    ],
)
def test_cli_convert_cdnow_bad_file_names_lines(tmp_path, text, needles):
    src = tmp_path / "cd.txt"
    src.write_text(text)
    out = tmp_path / "out"
    _refused(_convert("cdnow", "--path", str(src), "--out", str(out)), 1, str(src), *needles)
    assert _left_behind(tmp_path, out) == []
    assert src.read_text() == text


@pytest.mark.parametrize(
    ("row", "value", "needles"),
    [
        (2, ("InvoiceDate", "31/12/2010 08:26"), ["'InvoiceDate'", "line 4='31/12/2010 08:26'"]),
        (1, ("UnitPrice", "abc"), ["'UnitPrice'", "line 3='abc'"]),
        (3, ("Quantity", "6.5"), ["'Quantity'", "whole numbers", "line 5='6.5'"]),
        (0, ("UnitPrice", ""), ["'UnitPrice' is empty in 1 row: line 2"]),
        (0, ("InvoiceNo", ""), ["'InvoiceNo' is empty in 1 row: line 2"]),
    ],
)
def test_cli_convert_online_retail_bad_values_name_lines(tmp_path, row, value, needles):
    column, text = value
    pos = OR_HEADER.split(",").index(column)
    lines = list(OR_LINES)
    fields = lines[row].split(",")
    fields[pos] = text
    lines[row] = ",".join(fields)
    src = _or_csv(tmp_path, "log.csv", lines)
    before = _snapshot([src])
    out = tmp_path / "conv" / "x"
    _refused(_convert("online-retail", "--path", str(src), "--out", str(out)), 1, str(src), *needles)  # fmt: skip
    with pytest.raises(ValueError, match=column):
        load_online_retail(src)
    assert not (tmp_path / "conv").exists()
    assert _snapshot([src]) == before


def test_cli_convert_online_retail_renamed_column(tmp_path):
    src = _or_csv(tmp_path, "log.csv", OR_LINES, OR_HEADER.replace("CustomerID", "customer_id"))
    out = tmp_path / "out"
    text = _refused(
        _convert("online-retail", "--path", str(src), "--out", str(out)),
        1,
        str(src),
        "lacks the Online Retail column(s) CustomerID (or Customer ID) (headers found:",
        "rename 'customer_id' to 'CustomerID'",
        "pass --mapping",
    )
    assert "'InvoiceNo'" in text and "mapping=" not in text  # the headers found are listed
    assert _left_behind(tmp_path, out) == []
    # the Online Retail II name is accepted, also beside the 2010-11 names
    src = _or_csv(tmp_path, "ii.csv", OR_LINES, OR_HEADER.replace("CustomerID", "Customer ID"))
    assert _convert("online-retail", "--path", str(src), "--out", str(out)).exit_code == 0


def test_cli_convert_online_retail_reads_other_separators(tmp_path):
    comma = _or_csv(tmp_path, "comma.csv", OR_LINES)
    semi = _or_csv(tmp_path, "semi.csv", [x.replace(",", ";") for x in OR_LINES], OR_HEADER.replace(",", ";"))  # fmt: skip
    for src in (comma, semi):
        r = _convert("online-retail", "--path", str(src), "--out", str(tmp_path / src.stem))
        assert r.exit_code == 0, r.output
    for table in ("customers", "accounts", "transactions"):
        a = pd.read_parquet(tmp_path / "comma" / f"{table}.parquet")
        pd.testing.assert_frame_equal(a, pd.read_parquet(tmp_path / "semi" / f"{table}.parquet"))
    assert validate_folder(tmp_path / "semi").row_counts["transactions"] == 3


def test_cli_convert_online_retail_refusals(tmp_path):
    src = _or_csv(tmp_path, "log.csv", OR_LINES)
    out = tmp_path / "out"
    r = _convert("online-retail", "--path", str(tmp_path / "none.csv"), "--out", str(out))
    _refused(r, 2, "none.csv")
    _refused(_convert("online-retail", "--path", str(tmp_path), "--out", str(out)), 2, "folder")
    xlsx = tmp_path / "Online Retail.xlsx"
    xlsx.write_bytes(b"PK\x03\x04 not really a workbook")
    _refused(_convert("online-retail", "--path", str(xlsx), "--out", str(out)), 1, "save its sheet as CSV")  # fmt: skip
    cancelled = [x.replace("536365,", "C536365,", 1) for x in OR_LINES[:2]]
    r = _convert("online-retail", "--path", str(_or_csv(tmp_path, "c.csv", cancelled)), "--out", str(out))  # fmt: skip
    _refused(r, 1, "no purchase is left after cleaning", "cancellation")
    assert not out.exists()
    # --out may not be (or hold) the input, even with --overwrite
    before = _snapshot([tmp_path])
    r = _convert("online-retail", "--path", str(src), "--out", str(tmp_path), "--overwrite")
    _refused(r, 2, "--out", "--path")
    assert _snapshot([tmp_path]) == before


def test_cli_convert_says_flags_not_python_arguments(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _convert("cdnow", "--out", str(out)).exit_code == 0
    text = _refused(_convert("cdnow", "--out", str(out)), 2, "not empty", "--overwrite")
    assert "overwrite=True" not in text
    with pytest.raises(FileExistsError, match="overwrite=True"):  # the Python API's words
        cdnow_to_bank(out)
    monkeypatch.setenv("SEGML_SHARED_DATA", str(tmp_path / "absent"))
    for source, python in (("online-retail", "path="), ("berka", "berka_dir=")):
        text = _refused(_convert(source, "--out", str(tmp_path / "o")), 2, "pass --path")
        assert python not in text
    with pytest.raises(FileNotFoundError, match="pass path="):
        load_online_retail()
    with pytest.raises(FileNotFoundError, match="pass berka_dir="):
        berka_to_bank(tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_offending_rows_and_cli_message():
    from segml.loaders.common import cli_message, offending_rows

    mask = np.array([False, True, True] + [True] * 6)
    text = offending_rows(lambda i: f"line {i + 2}", ["1", "abc", None] + ["x"] * 6, mask)
    assert text.startswith("8 rows: line 3='abc', line 4=(empty), line 5='x'")
    assert text.endswith("(and 3 more)")
    assert offending_rows(["a", "b"], None, np.array([False, True])) == "1 row: b"
    assert cli_message("pass overwrite=True to replace it") == "pass --overwrite to replace it"


def _tiny_berka(folder: Path, trans: list[str] | None = None) -> Path:
    """A minimal Berka folder (2 clients, 2 accounts, a loan, a card) in the real format."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "account": ['"account_id";"district_id";"frequency";"date"',
                    '1;1;"POPLATEK MESICNE";930101', '2;1;"POPLATEK MESICNE";930201'],
        "client": ['"client_id";"birth_number";"district_id"', '1;"706213";1', '2;"455204";1'],
        "disp": ['"disp_id";"client_id";"account_id";"type"', '1;1;1;"OWNER"', '2;2;2;"OWNER"'],
        "order": ['"order_id";"account_id";"bank_to";"account_to";"amount";"k_symbol"',
                  '1;1;"YZ";87144583;2452.0;"SIPO"'],
        "loan": ['"loan_id";"account_id";"date";"amount";"duration";"payments";"status"',
                 '5314;1;930705;96396;12;8033.00;"B"'],
        "card": ['"card_id";"disp_id";"type";"issued"', '1005;2;"classic";931107 00:00:00'],
        "district": ["A1;A2;A3", '1;"Hl.m. Praha";"Prague"'],
        "trans": ['"trans_id";"account_id";"date";"type";"operation";"amount";"balance";'
                  '"k_symbol";"bank";"account"',
                  *(trans or ['1;1;930101;"PRIJEM";"VKLAD";700.00;700.00;"";;',
                              '2;2;930201;"PRIJEM";"VKLAD";900.00;900.00;"";;',
                              '3;1;930115;"VYDAJ";"VYBER";200.00;500.00;"";;'])],
    }  # fmt: skip
    for name, lines in files.items():
        (folder / f"{name}.asc").write_text("\r\n".join(lines) + "\r\n", encoding="latin-1")
    return folder


def test_cli_convert_berka_tiny_folder(tmp_path):
    folder = _tiny_berka(tmp_path / "berka")
    r = _convert("berka", "--path", str(folder), "--out", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    report = validate_folder(tmp_path / "out")
    assert report.ok, report.summary()
    assert report.row_counts["transactions"] == 3


@pytest.mark.parametrize(
    ("file", "old", "new", "needles"),
    [
        ("trans", "930115", "931399", ["trans.asc", "'date'", "YYMMDD", "line 4='931399'"]),
        ("trans", "200.00;500.00", "abc;500.00", ["trans.asc", "'amount'", "line 4='abc'"]),
        ("trans", "700.00;700.00", "700.00;", ["trans.asc", "'balance' is empty", "line 2"]),
        ("account", "930201", "93-02-01", ["account.asc", "'date'", "line 3='93-02-01'"]),
        ("loan", "96396", "9x", ["loan.asc", "'amount'", "line 2='9x'"]),
        ("card", "931107", "931131", ["card.asc", "'issued'", "line 2='931131 00:00:00'"]),
        ("loan", '"amount"', '"amt"', ["loan.asc", "['amount']", "'amt'"]),
        ("disp", ";", ",", ["disp.asc", "separated by semicolons"]),
    ],
)
def test_cli_convert_berka_bad_values_name_lines(tmp_path, file, old, new, needles):
    folder = _tiny_berka(tmp_path / "berka")
    path = folder / f"{file}.asc"
    text = path.read_text(encoding="latin-1")
    assert old in text
    path.write_text(text.replace(old, new), encoding="latin-1")
    before = _snapshot([folder])
    out = tmp_path / "out"
    _refused(_convert("berka", "--path", str(folder), "--out", str(out)), 1, *needles)
    assert _left_behind(tmp_path, out) == [] and _snapshot([folder]) == before


def test_cli_convert_berka_path_refusals(tmp_path):
    folder = _tiny_berka(tmp_path / "berka")
    out = tmp_path / "out"
    r = _convert("berka", "--path", str(folder / "loan.asc"), "--out", str(out))
    _refused(r, 2, "is a file")
    _refused(_convert("berka", "--path", str(tmp_path / "nope"), "--out", str(out)), 2, "nope")
    (folder / "card.asc").unlink()
    _refused(_convert("berka", "--path", str(folder), "--out", str(out)), 2, "card.asc")
    r = _convert("berka", "--path", str(folder), "--out", str(folder / "out"))
    _refused(r, 2, "inside the input folder")
    assert not out.exists() and not (folder / "out").exists()


# --- Online Retail II headers, --mapping ------------------------------------------------------

OR_II_HEADER = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_parquet(folder / f"{t}.parquet") for t in ("customers", "accounts", "transactions")}  # fmt: skip


def _assert_same_tables(a: Path, b: Path) -> None:
    for table, frame in _tables(a).items():
        pd.testing.assert_frame_equal(frame, _tables(b)[table])


@pytest.mark.shared
def test_cli_convert_online_retail_ii_headers(tmp_path):
    """The first 1,500 lines of the shared log, once with the II release's headers (and its
    CSV export's ``17850.0`` ids), give the same folder and report as with the 2010-11 ones."""
    raw = pd.read_csv(_shared(RELATIVE_PATH), dtype=str, keep_default_na=False, nrows=1500)
    old = tmp_path / "or.csv"
    raw.to_csv(old, index=False)
    ii = raw.rename(columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"})  # fmt: skip
    ii["Customer ID"] = ii["Customer ID"].where(ii["Customer ID"] == "", ii["Customer ID"] + ".0")
    new = tmp_path / "or_ii.csv"
    ii.to_csv(new, index=False)
    assert new.read_text().splitlines()[0] == OR_II_HEADER
    before = _convert("online-retail", "--path", str(old), "--out", str(tmp_path / "a"))
    after = _convert("online-retail", "--path", str(new), "--out", str(tmp_path / "b"))
    assert before.exit_code == 0 and after.exit_code == 0, (before.output, after.output)
    _assert_same_tables(tmp_path / "a", tmp_path / "b")
    report = json.loads((tmp_path / "b" / "dataset.json").read_text())["report"]
    assert report["dropped"]["missing_customer_id"] == 58
    assert report["dropped"]["cancellation"] > 0
    assert report == json.loads((tmp_path / "a" / "dataset.json").read_text())["report"] | {
        "notes": report["notes"]  # only the note on the headers read differs
    }
    assert "InvoiceNo='Invoice', UnitPrice='Price', CustomerID='Customer ID'" in report["notes"][-1]
    for needle in ("missing_customer_id", "58", "cancellation", "or_ii.csv: sha256"):
        assert needle in after.output, needle
    assert validate_folder(tmp_path / "b").ok


def test_cli_convert_online_retail_mapping(tmp_path):
    header = "Bill,StockCode,Description,Quantity,InvoiceDate,Price,Kunde,Land"
    src = _or_csv(tmp_path, "log.csv", OR_LINES, header)
    out = tmp_path / "out"
    text = _refused(
        _convert("online-retail", "--path", str(src), "--out", str(out)),
        1,
        f"{src} lacks the Online Retail column(s) InvoiceNo (or Invoice), CustomerID (or "
        "Customer ID), Country (headers found: 'Bill', 'StockCode', 'Description', 'Quantity', "
        "'InvoiceDate', 'Price', 'Kunde', 'Land')",
        "pass --mapping a YAML file",
        "columns: {InvoiceNo: <your header>, CustomerID: <your header>, Country: <your header>}",
    )
    assert "rename" not in text  # no look-alike here
    mapping = tmp_path / "map.yaml"
    mapping.write_text("# Online Retail under other names\ncolumns:\n  InvoiceNo: Bill\n"
                       "  Customer ID: Kunde\n  Country: Land\n")  # fmt: skip
    r = _convert("online-retail", "--path", str(src), "--out", str(out), "--mapping", str(mapping))
    assert r.exit_code == 0, r.output
    _assert_same_tables(out, online_retail_to_bank(tmp_path / "plain", _or_csv(tmp_path, "p.csv", OR_LINES)))  # fmt: skip
    as_dict = {"columns": {"InvoiceNo": "Bill", "CustomerID": "Kunde", "Country": "Land"}}
    inv, _ = load_online_retail(src, mapping=as_dict)
    assert inv["country"].tolist() == ["United Kingdom", "France", "France"]
    # a mapping that leaves a column out is told so; a mapped header must exist
    mapping.write_text("columns: {InvoiceNo: Bill, CustomerID: Kunde}\n")
    r = _convert("online-retail", "--path", str(src), "--out", str(out / "x"), "--mapping", str(mapping))  # fmt: skip
    _refused(r, 1, "Country (headers found:", f"add them to --mapping {mapping} (columns: {{Country:")  # fmt: skip
    mapping.write_text("columns: {InvoiceNo: Rechnung}\n")
    r = _convert("online-retail", "--path", str(src), "--out", str(out / "x"), "--mapping", str(mapping))  # fmt: skip
    _refused(r, 1, f"--mapping {mapping} gives InvoiceNo the header 'Rechnung', which {src} does not have")  # fmt: skip
    assert not (out / "x").exists()


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("columns:\n  InvoiceNo: Bill\n  - x\n", ["not valid YAML at line 3, column 3"]),
        (
            "columns:\n  Kunde: CustomerID\n",
            ["'Kunde', which is not an Online Retail column", "Price"],
        ),
        (
            "transactions:\n  columns: {customer_id: X}\n",
            ["one key, columns: {InvoiceNo:", "found transactions"],
        ),
        ("columns: {InvoiceNo: [a, b]}\n", ["InvoiceNo must be the header of a column"]),
        ("columns: {Invoice: A, InvoiceNo: B}\n", ["names InvoiceNo twice"]),
        (
            "columns: {InvoiceNo: A, StockCode: A}\n",
            ["gives InvoiceNo and StockCode one header 'A'"],
        ),
    ],
)
def test_cli_convert_mapping_refused_before_any_work(tmp_path, text, needles):
    src = _or_csv(tmp_path, "log.csv", OR_LINES)
    mapping = tmp_path / "map.yaml"
    mapping.write_text(text)
    out = tmp_path / "out"
    r = _convert("online-retail", "--path", str(src), "--out", str(out), "--mapping", str(mapping))
    _refused(r, 2, f"--mapping {mapping}: ", *needles)
    with pytest.raises(ValueError, match="the mapping file"):
        load_online_retail(src, mapping=mapping)
    assert not out.exists()


def test_cli_convert_mapping_usage(tmp_path):
    out = tmp_path / "out"
    mapping = tmp_path / "map.yaml"
    mapping.write_text("columns: {InvoiceNo: Bill}\n")
    _refused(_convert("cdnow", "--out", str(out), "--mapping", str(mapping)), 2, "online-retail only")  # fmt: skip
    src = _or_csv(tmp_path, "log.csv", OR_LINES)
    r = _convert("online-retail", "--path", str(src), "--out", str(out), "--mapping", str(tmp_path / "no.yaml"))  # fmt: skip
    _refused(r, 2, "no.yaml: not found")
    assert not out.exists()


# --- load reports on the command line, dataset.json -------------------------------------------


def test_cli_convert_online_retail_prints_report_and_records_dataset(tmp_path):
    import hashlib

    from segml.loaders.dataset import read_dataset_record

    lines = [*OR_LINES, OR_LINES[0].replace("17850", ""), "C536368,71053,WHITE METAL LANTERN,-2,2010-12-02 09:00:00,3.39,17850,United Kingdom"]  # fmt: skip
    src = _or_csv(tmp_path, "log.csv", lines)
    out = tmp_path / "out"
    r = _convert("online-retail", "--path", str(src), "--out", str(out))
    assert r.exit_code == 0, r.output
    _, report = load_online_retail(src)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    assert r.output.startswith(f"wrote {out}\ndataset: purchase_log from online_retail, read from log.csv\n")  # fmt: skip
    assert f"log.csv: sha256 {sha}" in r.output and report.summary() in r.output
    assert "online_retail: 6 rows read, 3 rows out, 2 rows dropped" in r.output
    for reason, n in (("missing_customer_id", 1), ("cancellation", 1), ("netted_out", 0)):
        assert re.search(rf"\n    {reason} +{n}\n", r.output), reason
    record = read_dataset_record(out)
    assert record["kind"] == "purchase_log" and record["source"] == "online_retail"
    assert record["source_file"] == "log.csv" and record["source_sha256"] == sha
    assert record["report"] == report.to_dict()
    assert LoadReport.from_dict(record["report"]) == report
    # the validator and the contract reader ignore dataset.json
    assert validate_folder(out).ok
    from typer.testing import CliRunner

    from segml.cli.main import app

    v = CliRunner().invoke(app, ["validate", str(out)])
    assert v.exit_code == 0 and "dataset" not in v.output, v.output
    # --json: one object with the record
    r = _convert("online-retail", "--path", str(src), "--out", str(out), "--overwrite", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"out": str(out), "dataset": record}


def test_cli_convert_berka_says_which_transactions_and_prints_report(tmp_path):
    folder = _tiny_berka(tmp_path / "berka")
    r = _convert("berka", "--path", str(folder), "--out", str(tmp_path / "full"))
    assert r.exit_code == 0, r.output
    assert "transactions: trans.asc (the full file)" in r.output
    assert "berka: 3 rows read, 3 rows out, 0 rows dropped" in r.output
    assert re.search(r"\n    transactions\.unknown_account +0\n", r.output)
    record = json.loads((tmp_path / "full" / "dataset.json").read_text())
    assert (record["kind"], record["source"], record["source_file"]) == ("bank", "berka", "trans.asc")  # fmt: skip
    assert record["transactions_partial"] is False
    assert sorted(record["input_files"]) == sorted(f"{f}.asc" for f in (*BERKA_FILES, "trans"))
    assert record["report"]["counts"]["loans_defaulted"] == 1
    (folder / "trans.asc").rename(folder / "trans_PARTIAL_first_3MiB.asc")
    r = _convert("berka", "--path", str(folder), "--out", str(tmp_path / "part"))
    assert r.exit_code == 0, r.output
    assert "transactions: trans_PARTIAL_first_3MiB.asc is PARTIAL" in r.output
    record = json.loads((tmp_path / "part" / "dataset.json").read_text())
    assert record["source_file"] == "trans_PARTIAL_first_3MiB.asc" and record["transactions_partial"]  # fmt: skip
    assert validate_folder(tmp_path / "part").ok


@pytest.mark.shared
def test_berka_shared_records_the_partial_file(berka):
    folder, out, rep = berka
    record = json.loads((out / "dataset.json").read_text())
    trans = "trans.asc" if (folder / "trans.asc").is_file() else "trans_PARTIAL_first_3MiB.asc"
    assert record["kind"] == "bank" and record["source_file"] == trans
    assert record["report"] == rep.to_dict()


def test_cdnow_and_any_log_record_a_purchase_log(tmp_path):
    import hashlib

    r = _convert("cdnow", "--out", str(tmp_path / "cd"))
    assert r.exit_code == 0, r.output
    record = json.loads((tmp_path / "cd" / "dataset.json").read_text())
    assert (record["kind"], record["source"], record["source_file"]) == ("purchase_log", "cdnow", "CDNOW_sample.txt")  # fmt: skip
    assert record["source_sha256"] == hashlib.sha256(cdnow_path("sample").read_bytes()).hexdigest()
    assert record["report"]["counts"] == {"customers": 2357, "zero_amount_purchases": 8}
    assert "cdnow: 6,919 rows read, 6,919 rows out, 0 rows dropped" in r.output
    log = pd.DataFrame({"customer_id": ["1"], "timestamp": ["2020-01-01"], "amount": [5.0]})
    out = transaction_log_to_bank(log, tmp_path / "log")
    record = json.loads((out / "dataset.json").read_text())
    assert record["kind"] == "purchase_log" and record["source"] is None
    assert record["report"] is None and validate_folder(out).ok
