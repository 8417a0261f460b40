"""Data tests: ``segml validate`` catches every way a real bank extract goes wrong.

Each test breaks a private copy of the small synthetic bank in one way and checks that the
report names the right table, column and rule, counts the offending rows and quotes their keys
and values. The clean bank (read-only) is the control.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from segml.cli.main import app
from segml.contract import CHANNELS, CONTRACT, MAX_MONEY, MIN_DATE, PRODUCTS
from segml.data import load_bank
from segml.features import build_features
from segml.features.spec import NON_CUSTOMER_KINDS
from segml.io import TableMapping, load_mapping, source_column
from segml.validate import ContractError, Issue, ValidationReport, validate_folder

#: The synthetic bank's data run to 2025-12-31; a fixed reference date keeps "future" stable.
REF = "2026-01-01"

runner = CliRunner()


# --- helpers -------------------------------------------------------------------------------


def check(folder: Path, mapping=None, reference_date: str = REF) -> ValidationReport:
    """Validate ``folder`` as of :data:`REF`."""
    return validate_folder(folder, mapping, reference_date)


def read(folder: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(folder / f"{table}.parquet")


def rewrite(folder: Path, table: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    """Replace ``table``'s Parquet file by ``change(frame)``."""
    change(read(folder, table)).to_parquet(folder / f"{table}.parquet", index=False)


def set_cells(folder: Path, table: str, column: str, values: dict[int, object]) -> pd.DataFrame:
    """Set ``column`` at the given row positions of ``table``; return the rows as they were."""
    df = read(folder, table)
    before = df.iloc[list(values)].copy()
    for row, value in values.items():
        df.loc[row, column] = value
    df.to_parquet(folder / f"{table}.parquet", index=False)
    return before


def csv_with_cells(folder: Path, table: str, column: str, values: dict[int, str]) -> pd.DataFrame:
    """Write ``table`` as CSV instead of Parquet, with raw text at the given cells."""
    df = read(folder, table)
    before = df.iloc[list(values)].copy()
    df[column] = df[column].astype(object)
    for row, value in values.items():
        df.loc[row, column] = value
    (folder / f"{table}.parquet").unlink()
    df.to_csv(folder / f"{table}.csv", index=False)
    return before


def find(report: ValidationReport, table: str, column: str | None, rule: str) -> Issue:
    """The one issue with this table, column and rule (fails with the summary otherwise)."""
    hits = [i for i in report.issues if (i.table, i.column, i.rule) == (table, column, rule)]
    assert len(hits) == 1, f"expected one {table}.{column} ({rule}) in\n{report.summary()}"
    return hits[0]


def only_error(report: ValidationReport, table: str, column: str | None, rule: str) -> Issue:
    """The issue with this table, column and rule, which must be the report's only error."""
    issue = find(report, table, column, rule)
    assert report.errors == [issue], report.summary()
    return issue


def hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (hidden ones included), by relative path."""
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


def shown(value: object) -> str:
    """A key as the report quotes it: text in quotes, numbers and dates as written."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value) if isinstance(value, str) else str(value)


def rules(report: ValidationReport) -> set[tuple[str, str | None, str, int]]:
    """(table, column, rule, count) of every issue: what a report says, minus formatting."""
    return {(i.table, i.column, i.rule, i.count) for i in report.issues}


# --- the clean bank ------------------------------------------------------------------------


def test_clean_bank_is_valid(small_bank):
    report = check(small_bank)
    assert report.ok, report.summary()
    assert report.errors == []
    assert set(report.row_counts) == set(CONTRACT)
    for table, n in report.row_counts.items():
        assert n == pq.read_metadata(small_bank / f"{table}.parquet").num_rows > 0
    assert report.files["transactions"] == [str(small_bank / "transactions.parquet")]


def test_cli_clean_bank_exits_0(small_bank):
    result = runner.invoke(app, ["validate", str(small_bank), "--reference-date", REF])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout
    assert "INVALID" not in result.output


def test_cli_json_on_clean_bank(small_bank):
    result = runner.invoke(app, ["validate", str(small_bank), "--reference-date", REF, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["ok"] is True
    assert [i for i in out["issues"] if i["severity"] == "error"] == []
    assert out["row_counts"] == check(small_bank).row_counts


def test_missing_folder(tmp_path):
    issue = only_error(check(tmp_path / "absent"), "*", None, "missing_folder")
    assert "absent" in issue.message


# --- tables and columns --------------------------------------------------------------------


def test_missing_required_table(bank_copy):
    (bank_copy / "transactions.parquet").unlink()
    issue = only_error(check(bank_copy), "transactions", None, "missing_table")
    assert "transactions.parquet" in issue.message


def test_missing_optional_tables_are_fine(bank_copy):
    (bank_copy / "balances.parquet").unlink()
    (bank_copy / "interactions.parquet").unlink()
    report = check(bank_copy)
    assert report.ok, report.summary()
    assert "balances" not in report.row_counts


def test_missing_required_column(bank_copy):
    rewrite(bank_copy, "transactions", lambda df: df.drop(columns=["amount"]))
    only_error(check(bank_copy), "transactions", "amount", "missing_column")


def test_missing_optional_columns_are_fine(bank_copy):
    rewrite(bank_copy, "customers", lambda df: df.drop(columns=["region", "employees"]))
    assert check(bank_copy).ok


@pytest.mark.parametrize("second", ["customers.csv", "customers/part-0.parquet"])
def test_table_present_twice_is_ambiguous(bank_copy, second):
    path = bank_copy / second
    path.parent.mkdir(exist_ok=True)
    if path.suffix == ".csv":
        read(bank_copy, "customers").to_csv(path, index=False)
    else:
        shutil.copy(bank_copy / "customers.parquet", path)
    issue = only_error(check(bank_copy), "customers", None, "ambiguous_table")
    assert issue.message.endswith(f"{bank_copy}: customers.parquet, {Path(second).parts[0]}")


# --- types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "column", "bad"),
    [
        ("transactions", "amount", ["12,50", "abc"]),
        ("transactions", "timestamp", ["2024-13-45"]),
        ("accounts", "open_date", ["2024-13-45", "31/12/2024"]),
        ("customers", "birth_year", ["nineteen", "1975.6"]),  # never rounded to 1976
        ("interactions", "resolved", ["maybe"]),
    ],
)
def test_csv_values_of_the_wrong_type(bank_copy, table, column, bad):
    key = CONTRACT[table].primary_key[0]
    before = csv_with_cells(bank_copy, table, column, dict(zip([3, 7], bad, strict=False)))
    issue = only_error(check(bank_copy), table, column, "type")
    assert issue.count == len(bad)
    assert issue.message == f"values that are not {CONTRACT[table].column(column).dtype}"
    # CSV is read as text: the keys and the raw values are quoted as written
    expected = [f"{key}='{k}' ({column}={v!r})" for k, v in zip(before[key], bad, strict=True)]
    assert list(issue.examples) == expected


def test_parquet_fractional_integers_are_type_errors(bank_copy):
    def fractional(df):
        df["employees"] = df["employees"].astype(float)
        df.loc[df["employees"].notna().idxmax(), "employees"] = 12.5
        return df

    rewrite(bank_copy, "customers", fractional)
    issue = only_error(check(bank_copy), "customers", "employees", "type")
    assert issue.count == 1 and issue.examples[0].endswith("(employees=12.5)")


@pytest.mark.slow  # a subprocess per host zone: 5-9 s each on a busy machine
@pytest.mark.parametrize(
    ("zone", "pandas_zone"),
    [("Asia/Shanghai", "Asia/Shanghai"), ("+08:00", "Etc/GMT-8"), ("-05:00", "Etc/GMT+5")],
)
def test_zone_aware_timestamps_are_taken_at_their_wall_clock_on_any_host(
    bank_copy, zone, pandas_zone
):
    """A zone-aware Parquet timestamp means the time written, whatever the machine's zone."""
    tx = read(bank_copy, "transactions")
    naive = tx["timestamp"].copy()
    aware = pa.Table.from_pandas(tx, preserve_index=False)
    i = aware.column_names.index("timestamp")
    utc = pd.DatetimeIndex(naive).tz_localize(pandas_zone).tz_convert(None).as_unit("us")
    col = pa.array(utc.to_numpy(), pa.timestamp("us", tz=zone))  # stored as UTC instants
    pq.write_table(aware.set_column(i, "timestamp", col), bank_copy / "transactions.parquet")
    # a host far from the data's zone (converting there moved early-morning rows a day back)
    r = subprocess.run([sys.executable, "-m", "segml", "validate", str(bank_copy),
                        "--reference-date", REF], capture_output=True, text=True,
                       env={**os.environ, "TZ": "America/Los_Angeles"})  # fmt: skip
    assert r.returncode == 0, f"{r.stdout}{r.stderr}"
    assert check(bank_copy).ok  # and this process's zone
    bank = load_bank(bank_copy, reference_date=REF)
    got = bank.table("transactions").select("timestamp").df()["timestamp"]
    assert (got.to_numpy() == naive.to_numpy()).all()


def test_parquet_amount_stored_as_text(bank_copy):
    def as_text(df):
        df["amount"] = df["amount"].map(lambda v: f"{v:.2f}")
        df.loc[5, "amount"] = "1.234,56"
        return df

    rewrite(bank_copy, "transactions", as_text)
    tid = read(bank_copy, "transactions").loc[5, "transaction_id"]
    issue = only_error(check(bank_copy), "transactions", "amount", "type")
    assert issue.count == 1
    assert issue.examples == (f"transaction_id={tid} (amount='1.234,56')",)


# --- keys and references -------------------------------------------------------------------


def test_duplicate_transaction_id(bank_copy):
    tid = read(bank_copy, "transactions").loc[42, "transaction_id"]
    rewrite(bank_copy, "transactions", lambda df: pd.concat([df, df.iloc[[42, 42]]]))
    issue = only_error(check(bank_copy), "transactions", "transaction_id", "duplicate_key")
    assert issue.count == 3  # all rows that share a duplicated key
    assert issue.examples == (f"transaction_id='{tid}' (3 times)",)


def test_duplicate_balance_month(bank_copy):
    bal = read(bank_copy, "balances")
    acc, month = bal.loc[100, "account_id"], bal.loc[100, "month"]

    def second_snapshot(df):
        dup = df.iloc[[100]].copy()
        dup["avg_balance"] = 1.0  # a conflicting second balance for the same month
        return pd.concat([df, dup])

    rewrite(bank_copy, "balances", second_snapshot)
    issue = only_error(check(bank_copy), "balances", "account_id, month", "duplicate_key")
    assert issue.count == 2
    assert issue.message.startswith("1 key value(s)")
    assert issue.examples == (f"account_id='{acc}', month={month.isoformat()} (2 times)",)


def test_account_of_unknown_customer(bank_copy):
    acc = set_cells(bank_copy, "accounts", "customer_id", {10: "C99999999"})["account_id"].iloc[0]
    report = check(bank_copy)
    issue = find(report, "accounts", "customer_id", "orphan")
    assert issue.count == 1
    assert issue.examples == (f"account_id='{acc}' (customer_id='C99999999')",)
    assert issue.message == "every accounts.customer_id exists in customers.customer_id"
    # the account's transactions now name someone other than its (unknown) holder: nothing else
    assert {i.rule for i in report.errors} <= {"orphan", "holder_mismatch"}
    assert [i.table for i in report.errors if i.rule == "orphan"] == ["accounts"]


def test_transaction_on_unknown_account(bank_copy):
    before = set_cells(bank_copy, "transactions", "account_id", {5: "A999999999", 6: "A999999999"})
    issue = only_error(check(bank_copy), "transactions", "account_id", "orphan")
    assert issue.count == 2
    assert issue.examples == tuple(
        f"transaction_id='{t}' (account_id='A999999999')" for t in before["transaction_id"]
    )


def test_transaction_customer_is_not_the_holder(bank_copy):
    tx = read(bank_copy, "transactions")
    other = next(c for c in read(bank_copy, "customers")["customer_id"] if c != tx.customer_id[9])
    set_cells(bank_copy, "transactions", "customer_id", {9: other})
    issue = only_error(check(bank_copy), "transactions", "customer_id", "holder_mismatch")
    assert issue.count == 1
    assert issue.examples == (f"transaction_id='{tx.transaction_id[9]}' (customer_id='{other}')",)


# --- values --------------------------------------------------------------------------------


def _write_amounts(folder: Path, values: dict[int, float | None]) -> list[int]:
    """Set transaction amounts with pyarrow, so NaN stays NaN (pandas would write null)."""
    path = folder / "transactions.parquet"
    tbl = pq.read_table(path)
    amounts = tbl.column("amount").to_pylist()
    for row, value in values.items():
        amounts[row] = value
    i = tbl.schema.get_field_index("amount")
    arr = pa.array(amounts, type=pa.float64(), from_pandas=False)
    pq.write_table(tbl.set_column(i, "amount", arr), path)
    ids = tbl.column("transaction_id").to_pylist()
    return [ids[r] for r in values]


@pytest.mark.parametrize(
    ("values", "rule", "shown"),
    [
        ({3: -12.5, 8: -0.01}, "min", ["-12.5", "-0.01"]),
        ({3: math.nan, 8: math.nan}, "finite", ["nan", "nan"]),
        ({3: None}, "not_null", ["None"]),
    ],
    ids=["negative", "nan", "null"],
)
def test_bad_amounts(bank_copy, values, rule, shown):
    tids = _write_amounts(bank_copy, values)
    col = pq.read_table(bank_copy / "transactions.parquet").column("amount")
    assert col.null_count == sum(v is None for v in values.values())  # NaN written as NaN
    issue = only_error(check(bank_copy), "transactions", "amount", rule)
    assert issue.count == len(values)
    assert list(issue.examples) == [
        f"transaction_id={t} (amount={s})" for t, s in zip(tids, shown, strict=True)
    ]


@pytest.mark.parametrize(("value", "bound"), [(-math.inf, "min"), (math.inf, "max")])
def test_infinity_is_not_finite_and_beyond_the_bound(bank_copy, value, bound):
    _write_amounts(bank_copy, {4: value})
    report = check(bank_copy)
    assert find(report, "transactions", "amount", "finite").count == 1
    assert find(report, "transactions", "amount", bound).count == 1


def test_dates_in_the_future(bank_copy):
    late = pd.Timestamp("2026-01-02 00:00:00")
    before = set_cells(
        bank_copy, "transactions", "timestamp", {20: late, 21: pd.Timestamp(REF + " 23:59:59")}
    )
    report = check(bank_copy)
    issue = find(report, "transactions", "timestamp", "future")
    assert issue.count == 1  # the last second of the reference day is not in the future
    tid = before["transaction_id"].iloc[0]
    assert issue.examples == (f"transaction_id={tid} (timestamp=2026-01-02T00:00:00)",)
    assert REF in issue.message
    assert check(bank_copy, reference_date="2026-01-02").ok


def test_customer_opened_in_the_future(bank_copy):
    cid = set_cells(bank_copy, "customers", "open_date", {0: dt.date(2027, 5, 1)})["customer_id"]
    issue = only_error(check(bank_copy), "customers", "open_date", "future")  # reported once:
    assert issue.count == 1  # not again as accounts opened before their customer
    assert issue.examples == (f"customer_id='{cid.iloc[0]}' (open_date=2027-05-01)",)


def test_transaction_before_account_opened(bank_copy):
    tx, acc = read(bank_copy, "transactions"), read(bank_copy, "accounts")
    opened = acc.set_index("account_id").loc[tx.account_id[30], "open_date"]
    early = pd.Timestamp(opened) - pd.Timedelta(days=30)
    set_cells(bank_copy, "transactions", "timestamp", {30: early})
    issue = only_error(check(bank_copy), "transactions", "timestamp", "order")
    assert issue.count == 1
    assert issue.examples == (
        f"transaction_id='{tx.transaction_id[30]}' (timestamp={early.isoformat()})",
    )
    assert issue.message == "no transaction before its account opened"


@pytest.mark.parametrize("table", ["customers", "accounts"])
def test_close_date_before_open_date(bank_copy, table):
    df = read(bank_copy, table)
    key = CONTRACT[table].primary_key[0]
    closed = df.open_date[2] - dt.timedelta(days=1)
    set_cells(bank_copy, table, "close_date", {2: closed})
    issue = find(check(bank_copy), table, "close_date", "order")
    assert issue.count == 1
    assert issue.message == "close_date >= open_date"
    assert issue.examples == (f"{key}='{df[key][2]}' (close_date={closed.isoformat()})",)


@pytest.mark.parametrize(
    ("table", "fmt"),
    [
        ("customers", "parquet"),
        ("transactions", "parquet"),
        ("transactions", "csv"),
    ],
)
def test_empty_table(bank_copy, table, fmt):
    path = bank_copy / f"{table}.parquet"
    tbl = pq.read_table(path)
    if fmt == "csv":
        path.unlink()
        tbl.slice(0, 0).to_pandas().to_csv(bank_copy / f"{table}.csv", index=False)  # header only
    else:
        pq.write_table(tbl.slice(0, 0), path)
    report = check(bank_copy)
    issue = only_error(report, table, None, "empty")
    assert issue.message == "the table has no rows"
    assert report.row_counts[table] == 0


@pytest.mark.parametrize("table", ["balances", "interactions"])
def test_empty_optional_table_is_only_a_warning(bank_copy, table):
    # e.g. no complaints or surveys in the extract's period: worth a word, not a failure
    path = bank_copy / f"{table}.parquet"
    pq.write_table(pq.read_table(path).slice(0, 0), path)
    report = check(bank_copy)
    assert report.ok, report.summary()
    issue = find(report, table, None, "empty")
    assert issue.severity == "warning" and report.row_counts[table] == 0


def test_missing_mapped_column_names_the_mapping_and_the_columns_found(bank_copy):
    mapping = load_mapping({"customers": {"columns": {"customer_id": "cust_no"}}})
    issue = find(check(bank_copy, mapping), "customers", "customer_id", "missing_column")
    assert "'cust_no'" in issue.message and "customer_type" in issue.message


@pytest.mark.parametrize(
    ("table", "column", "values", "allowed"),
    [
        ("accounts", "product", {4: "gold_card"}, tuple(PRODUCTS)),
        ("transactions", "channel", {1: "fax", 2: "Mobile"}, CHANNELS),
    ],
)
def test_values_outside_the_allowed_set(bank_copy, table, column, values, allowed):
    key = CONTRACT[table].primary_key[0]
    before = set_cells(bank_copy, table, column, values)
    issue = only_error(check(bank_copy), table, column, "allowed")
    assert issue.count == len(values)
    assert issue.message == f"values outside the allowed set ({', '.join(allowed)})"
    keys = [f"{key}='{k}'" if isinstance(k, str) else f"{key}={k}" for k in before[key]]
    assert list(issue.examples) == [
        f"{k} ({column}={v!r})" for k, v in zip(keys, values.values(), strict=True)
    ]


# --- ids and encodings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "column", "bad"),
    [
        ("customers", "customer_id", "Ｃ０００１"),  # full-width letters and digits
        ("customers", "customer_id", " C00000001"),  # padded
        ("accounts", "customer_id", "C00000001 "),
        ("accounts", "account_id", "A00000é001"),  # non-ASCII
        ("transactions", "transaction_id", "123.0"),  # exported as a float
        ("transactions", "account_id", ""),
    ],
    ids=["full-width", "lead-space", "trail-space", "non-ascii", "float-suffix", "empty"],
)
def test_malformed_ids(bank_copy, table, column, bad):
    def as_text_with_bad_id(df):
        df[column] = df[column].astype(str)
        df.loc[7, column] = bad
        return df

    key = CONTRACT[table].primary_key[0]
    rewrite(bank_copy, table, as_text_with_bad_id)
    issue = only_error(check(bank_copy), table, column, "id_format")
    assert issue.count == 1
    assert "printable ASCII" in issue.message
    assert len(issue.examples) == 1
    assert issue.examples[0].startswith(f"{key}=")
    assert issue.examples[0].endswith(f"({column}={bad!r})")


def test_ids_exported_as_floats(bank_copy):
    rewrite(bank_copy, "transactions", lambda df: df.astype({"transaction_id": "float64"}))
    n = pq.read_metadata(bank_copy / "transactions.parquet").num_rows
    issue = only_error(check(bank_copy), "transactions", "transaction_id", "id_format")
    assert issue.count == n
    assert issue.examples[0] == "transaction_id=0.0 (transaction_id=0.0)"


def test_csv_with_mixed_encodings(bank_copy):
    """A CSV whose ids are UTF-8 except a few rows written in Latin-1 cannot be read as text."""
    df = read(bank_copy, "customers")
    df.loc[:9, "region"] = "Zürich"  # genuine UTF-8, fine
    df.loc[[250, 400], "customer_id"] = ["C00000250é", "C00000400ñ"]  # written in Latin-1
    lines = df.to_csv(index=False).splitlines(keepends=True)
    data = b"".join(
        line.encode("latin-1" if i in (251, 401) else "utf-8") for i, line in enumerate(lines)
    )
    (bank_copy / "customers.parquet").unlink()
    (bank_copy / "customers.csv").write_bytes(data)

    report = check(bank_copy)
    issue = only_error(report, "customers", None, "unreadable")
    assert str(bank_copy / "customers.csv") in issue.message
    assert "not valid UTF-8" in issue.message
    assert "line 252" in issue.message  # the header is line 1
    assert "Re-export it as UTF-8" in issue.message
    # the first offending line is quoted as bytes, so the Latin-1 byte shows
    (example,) = issue.examples
    assert example.startswith("line 252: b'C00000250\\xe9,retail,")
    # the other tables are still checked
    assert report.row_counts["transactions"] > 0


def test_csv_with_a_ragged_row(bank_copy):
    """A row with an extra field, past DuckDB's sniffing sample: the line and reason are named."""
    lines = read(bank_copy, "transactions").to_csv(index=False).splitlines(keepends=True)
    lines[50_001] = lines[50_001].rstrip("\n") + ",extra\n"
    (bank_copy / "transactions.parquet").unlink()
    (bank_copy / "transactions.csv").write_text("".join(lines))
    issue = only_error(check(bank_copy), "transactions", None, "unreadable")
    assert str(bank_copy / "transactions.csv") in issue.message
    assert "Line: 50002" in issue.message
    assert "Expected Number of Columns: 8 Found: 9" in issue.message


def test_csv_of_valid_utf8_non_ascii_ids(bank_copy):
    df = read(bank_copy, "customers")
    df.loc[5, "customer_id"] = "客户0005"
    (bank_copy / "customers.parquet").unlink()
    df.to_csv(bank_copy / "customers.csv", index=False, encoding="utf-8")
    issue = only_error(check(bank_copy), "customers", "customer_id", "id_format")
    assert issue.examples == ("customer_id='客户0005' (customer_id='客户0005')",)


# --- formats -------------------------------------------------------------------------------


def _as_csv_and_parquet(src: Path, root: Path, change=None) -> tuple[Path, Path]:
    """The contract tables of ``src`` (changed alike) written once as CSV, once as Parquet."""
    csv, parquet = root / "csv", root / "parquet"
    csv.mkdir()
    parquet.mkdir()
    for table in CONTRACT:
        df = read(src, table)
        if change is not None:
            change(table, df)
        df.to_csv(csv / f"{table}.csv", index=False)
        df.to_parquet(parquet / f"{table}.parquet", index=False)
    return csv, parquet


def _break_a_few(table: str, df: pd.DataFrame) -> None:
    if table == "transactions":
        df.loc[1, "amount"] = -3.0
        df.loc[2, "transaction_id"] = df.loc[3, "transaction_id"]
        df.loc[4, "channel"] = "fax"
    if table == "accounts":
        df.loc[0, "product"] = "gold_card"
    if table == "customers":
        df.loc[1, "customer_id"] = " " + df.loc[1, "customer_id"]


@pytest.mark.parametrize("change", [None, _break_a_few], ids=["clean", "broken"])
@pytest.mark.slow
def test_csv_and_parquet_validate_alike(small_bank, tmp_path, change):
    csv, parquet = _as_csv_and_parquet(small_bank, tmp_path, change)
    a, b = check(csv), check(parquet)
    assert a.ok == b.ok == (change is None)
    assert a.row_counts == b.row_counts == check(small_bank).row_counts
    assert rules(a) == rules(b)
    assert a.files["customers"] == [str(csv / "customers.csv")]
    if change is not None:
        assert rules(a) == {
            ("transactions", "amount", "min", 1),
            ("transactions", "transaction_id", "duplicate_key", 2),
            ("transactions", "channel", "allowed", 1),
            ("accounts", "product", "allowed", 1),
            ("customers", "customer_id", "id_format", 1),
        }


def test_table_as_folder_of_parquet_parts(bank_copy):
    tx = pq.read_table(bank_copy / "transactions.parquet")
    (bank_copy / "transactions.parquet").unlink()
    parts = bank_copy / "transactions"
    parts.mkdir()
    half = tx.num_rows // 2
    pq.write_table(tx.slice(0, half), parts / "part-0.parquet")
    pq.write_table(tx.slice(half), parts / "part-1.parquet")
    report = check(bank_copy)
    assert report.ok, report.summary()
    assert report.row_counts["transactions"] == tx.num_rows
    assert report.files["transactions"] == [
        str(parts / "part-0.parquet"),
        str(parts / "part-1.parquet"),
    ]
    # a key repeated across parts is still a duplicate
    pq.write_table(tx.slice(0, 1), parts / "part-2.parquet")
    issue = only_error(check(bank_copy), "transactions", "transaction_id", "duplicate_key")
    assert issue.examples == (f"transaction_id='{tx.column('transaction_id')[0]}' (2 times)",)


@pytest.mark.slow
def test_a_database_export_semicolons_upper_case_names_csv_parts(bank_copy):
    """An extract as databases write it: `;` CSV, upper-case names, a mapped folder of parts."""
    customers = read(bank_copy, "customers")
    (bank_copy / "customers.parquet").unlink()
    customers.to_csv(bank_copy / "customers.csv", sep=";", index=False)
    accounts = read(bank_copy, "accounts")
    accounts.columns = [c.upper() for c in accounts.columns]
    accounts.to_parquet(bank_copy / "accounts.parquet", index=False)
    tx = read(bank_copy, "transactions")
    (bank_copy / "transactions.parquet").unlink()
    (bank_copy / "tx_export").mkdir()
    half = len(tx) // 2
    tx.iloc[:half].to_csv(bank_copy / "tx_export" / "p0.csv", index=False)
    tx.iloc[half:].to_csv(bank_copy / "tx_export" / "p1.csv", index=False)
    report = check(bank_copy, load_mapping({"transactions": {"file": "tx_export"}}))
    assert report.ok, report.summary()
    assert report.row_counts == {**report.row_counts, "customers": len(customers),
                                 "accounts": len(accounts), "transactions": len(tx)}  # fmt: skip
    case = find(report, "accounts", None, "column_case")
    assert case.severity == "warning" and "'ACCOUNT_ID' as 'account_id'" in case.message
    bank = load_bank(bank_copy, {"transactions": {"file": "tx_export"}}, reference_date=REF)
    got = bank.table("customers").df().sort_values("customer_id").reset_index(drop=True)
    assert got["customer_id"].tolist() == sorted(customers["customer_id"])
    missing = check(bank_copy, load_mapping({"transactions": {"file": "tx_exprt"}}))
    issue = find(missing, "transactions", None, "missing_table")
    assert issue.message.startswith("the mapping's file 'tx_exprt' is not in")


# --- mapping -------------------------------------------------------------------------------
# --- mapping -------------------------------------------------------------------------------

PRODUCT_CODES = {
    "CA": "current_account",
    "SAV": "savings_deposit",
    "TD": "term_deposit",
    "WMP": "wealth_fund",
    "MTG": "mortgage",
    "CL": "consumer_loan",
    "CC": "credit_card",
    "CCA": "corporate_current",
    "CTD": "corporate_deposit",
    "CLN": "corporate_loan",
    "TF": "trade_finance",
    "OTH": "other",
}
MAPPING = {
    "customers": {"columns": {"customer_id": "cust_no", "customer_type": "segment"}},
    "accounts": {"columns": {"customer_id": "cust_no"}, "values": {"product": PRODUCT_CODES}},
    "transactions": {"file": "txn_export.parquet"},
}


@pytest.fixture()
def bank_own_names(bank_copy: Path) -> Path:
    """The bank in its own column names, product codes and file names."""
    codes = {v: k for k, v in PRODUCT_CODES.items()}
    rewrite(
        bank_copy,
        "customers",
        lambda df: df.rename(columns={"customer_id": "cust_no", "customer_type": "segment"}),
    )

    def own_accounts(df):
        df["product"] = df["product"].map(codes)
        return df.rename(columns={"customer_id": "cust_no"})

    rewrite(bank_copy, "accounts", own_accounts)
    (bank_copy / "transactions.parquet").rename(bank_copy / "txn_export.parquet")
    return bank_copy


def test_own_names_fail_without_mapping(bank_own_names):
    report = check(bank_own_names)
    assert find(report, "customers", "customer_id", "missing_column")
    assert find(report, "accounts", "product", "allowed").examples[0].endswith("(product='CA')")
    assert find(report, "transactions", None, "missing_table")


def test_mapping_dict_makes_own_names_valid(bank_own_names, small_bank):
    report = check(bank_own_names, load_mapping(MAPPING))
    assert report.ok, report.summary()
    assert report.row_counts == check(small_bank).row_counts
    assert report.files["transactions"] == [str(bank_own_names / "txn_export.parquet")]


def test_mapping_yaml_with_cli(bank_own_names, tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(MAPPING), encoding="utf-8")
    args = ["validate", str(bank_own_names), "--reference-date", REF]
    assert runner.invoke(app, args).exit_code == 1
    result = runner.invoke(app, [*args, "--mapping", str(path)])
    assert result.exit_code == 0, result.output


def test_mapped_codes_still_checked(bank_own_names):
    set_cells(bank_own_names, "accounts", "product", {3: "XYZ"})
    issue = only_error(
        check(bank_own_names, load_mapping(MAPPING)), "accounts", "product", "allowed"
    )
    assert issue.count == 1
    assert issue.examples[0].endswith("(product='XYZ')")


@pytest.mark.parametrize(
    ("mapping", "error", "names"),
    [
        ({"clients": {"columns": {"customer_id": "x"}}}, ValueError, ["clients"]),
        ({"customers": {"columns": {"cust_id": "x"}}}, ValueError, ["customers", "cust_id"]),
        ({"accounts": {"values": {"prod": {"CA": "x"}}}}, ValueError, ["accounts", "prod"]),
        ({"accounts": {"colums": {"product": "x"}}}, ValueError, ["accounts", "colums"]),
    ],
    ids=["table", "column", "values-column", "key"],
)
def test_mapping_names_unknown_parts(mapping, error, names):
    with pytest.raises(error) as exc:
        load_mapping(mapping)
    for name in names:
        assert repr(name) in str(exc.value)
    assert not str(exc.value).startswith(("'", '"'))  # a message, not a quoted KeyError


def test_cli_bad_mapping_is_a_usage_error(small_bank, tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump({"customers": {"columns": {"cust_id": "x"}}}))
    result = runner.invoke(app, ["validate", str(small_bank), "--mapping", str(path)])
    assert result.exit_code == 2
    assert "cust_id" in result.stderr


# --- the input is read, never written ------------------------------------------------------


def test_validate_never_modifies_the_input(small_bank, bank_copy):
    clean = hashes(small_bank)
    assert check(small_bank).ok
    assert runner.invoke(app, ["validate", str(small_bank), "--reference-date", REF]).exit_code == 0
    assert hashes(small_bank) == clean

    _write_amounts(bank_copy, {0: -1.0, 1: math.nan})
    (bank_copy / "customers.parquet").rename(bank_copy / "customers.csv")  # unreadable as CSV
    broken = hashes(bank_copy)
    assert not check(bank_copy).ok
    assert runner.invoke(app, ["validate", str(bank_copy), "--json"]).exit_code == 1
    with pytest.raises(ContractError):
        load_bank(bank_copy, reference_date=REF)
    assert hashes(bank_copy) == broken


# --- how failures are reported -------------------------------------------------------------


def test_cli_on_broken_folder_exits_1_and_names_the_rule(bank_copy):
    tids = _write_amounts(bank_copy, {11: -5.0})
    result = runner.invoke(app, ["validate", str(bank_copy), "--reference-date", REF])
    assert result.exit_code == 1
    assert "INVALID (1 error(s))" in result.stderr
    assert "transactions.amount (min)" in result.stderr
    assert f"transaction_id={tids[0]} (amount=-5.0)" in result.stderr

    result = runner.invoke(app, ["validate", str(bank_copy), "--reference-date", REF, "--json"])
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["ok"] is False
    (issue,) = [i for i in out["issues"] if i["severity"] == "error"]
    assert (issue["table"], issue["column"], issue["rule"], issue["count"]) == (
        "transactions",
        "amount",
        "min",
        1,
    )


def test_cli_bad_reference_date_is_a_usage_error(small_bank):
    result = runner.invoke(app, ["validate", str(small_bank), "--reference-date", "2024-13-45"])
    assert result.exit_code == 2
    assert "--reference-date must be a date written YYYY-MM-DD, got '2024-13-45'" in result.output


def test_load_bank_raises_contract_error_listing_issues(bank_copy):
    tids = _write_amounts(bank_copy, {11: -5.0})
    set_cells(bank_copy, "accounts", "product", {0: "gold_card"})
    with pytest.raises(ContractError) as exc:
        load_bank(bank_copy, reference_date=REF)
    msg = str(exc.value)
    assert "INVALID (2 error(s))" in msg
    assert "transactions.amount (min)" in msg and f"transaction_id={tids[0]}" in msg
    assert "accounts.product (allowed)" in msg and "'gold_card'" in msg
    assert {(i.table, i.rule) for i in exc.value.report.errors} == {
        ("transactions", "min"),
        ("accounts", "allowed"),
    }


def test_load_bank_on_clean_bank(small_bank):
    bank = load_bank(small_bank, reference_date=REF)
    # validation leaves no unfinished result on the connection, so its views can be queried
    assert bank.tables == tuple(CONTRACT)
    assert len(bank.to_pandas("customers")) == bank.report.row_counts["customers"]


# --- property ------------------------------------------------------------------------------


@settings(max_examples=8, deadline=None, database=None)
@given(rows=st.sets(st.integers(0, 999), min_size=1, max_size=12))
def test_every_negative_amount_is_counted(small_bank, rows):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for table in ("customers", "accounts", "transactions"):
            shutil.copy(small_bank / f"{table}.parquet", folder)
        tids = _write_amounts(folder, {r: -1.0 - r for r in sorted(rows)})
        issue = only_error(check(folder), "transactions", "amount", "min")
        assert issue.count == len(rows)
        assert len(issue.examples) == min(len(rows), 5)
        shown = {e.split(" ")[0] for e in issue.examples}
        assert shown <= {f"transaction_id={t}" for t in tids}


def test_rules_counted_in_one_shared_pass_count_what_their_own_queries_find(bank_copy):
    """Rules sharing a scan are counted together (one pass over transactions): on a bank with
    every joined fault at once, and a duplicated account, each count equals its own query's."""
    import duckdb

    from segml.contract import CROSS_RULES

    tx, acc = read(bank_copy, "transactions"), read(bank_copy, "accounts")
    other = next(c for c in read(bank_copy, "customers")["customer_id"] if c != tx.customer_id[9])
    opened = acc.set_index("account_id").loc[tx.account_id[30], "open_date"]
    set_cells(bank_copy, "transactions", "customer_id", {9: other, 11: "C99999999"})
    set_cells(bank_copy, "transactions", "account_id", {5: "A999999999"})
    set_cells(bank_copy, "transactions", "timestamp", {30: pd.Timestamp(opened) - pd.Timedelta(days=3)})  # fmt: skip
    rewrite(bank_copy, "accounts", lambda a: pd.concat([a, a.iloc[[0]]], ignore_index=True))
    con = duckdb.connect()
    report = validate_folder(bank_copy, None, REF, con=con)
    shared = [r for r in CROSS_RULES if r.scan]
    assert {r.table for r in shared} >= {"transactions", "balances", "accounts"}
    for rule in shared:
        alone = con.execute(f"SELECT count(*) FROM ({rule.sql})").fetchall()[0][0]
        together = con.execute(f"SELECT count(*) FILTER (WHERE {rule.where}) FROM {rule.scan}")
        assert together.fetchall()[0][0] == alone, (rule.table, rule.name, rule.column)
    found = {(i.table, i.column, i.rule): i.count for i in report.issues}
    assert found[("transactions", "customer_id", "holder_mismatch")] >= 2
    assert found[("transactions", "account_id", "orphan")] == 1
    assert found[("transactions", "customer_id", "orphan")] == 1
    assert found[("transactions", "timestamp", "order")] >= 1


# --- production safety: bounds, headers, what is absent, odd paths -------------------------


@pytest.mark.parametrize(
    ("table", "column", "value", "rule"),
    [
        ("transactions", "amount", 1e32, "max"),  # once a DECIMAL cast error in the features
        ("transactions", "amount", np.nextafter(MAX_MONEY, math.inf), "max"),
        ("balances", "avg_balance", 5e31, "max"),
        ("corporate_financials", "revenue", 1e19, "max"),
        ("corporate_financials", "net_income", -np.nextafter(MAX_MONEY, math.inf), "min"),
    ],
)
def test_money_beyond_what_the_features_can_sum_is_an_error(bank_copy, table, column, value, rule):
    before = set_cells(bank_copy, table, column, {3: value})
    issue = only_error(check(bank_copy), table, column, rule)
    assert issue.count == 1 and f"{MAX_MONEY:g}" in issue.message
    key = CONTRACT[table].primary_key[0]
    assert issue.examples[0].startswith(f"{key}={shown(before[key].iloc[0])}")
    assert issue.examples[0].endswith(f"({column}={shown(value)})")


def test_cli_names_an_oversized_amount_and_exits_1(bank_copy):
    tids = _write_amounts(bank_copy, {3: 1e32})
    result = runner.invoke(app, ["validate", str(bank_copy), "--reference-date", REF])
    assert result.exit_code == 1
    assert "transactions.amount (max): values above 1e+18" in result.stderr
    assert f"transaction_id={tids[0]} (amount=1e+32)" in result.stderr


def test_dates_before_1900_are_errors_and_isolated_dates_warnings(bank_copy):
    tx = read(bank_copy, "transactions")
    early, stray = tx.loc[5, "transaction_id"], tx.loc[9, "transaction_id"]
    set_cells(bank_copy, "transactions", "timestamp", {5: pd.Timestamp("1899-12-30")})
    cid = set_cells(bank_copy, "customers", "open_date", {0: dt.date(1970, 1, 1)})["customer_id"]
    report = check(bank_copy)
    issue = only_error(report, "transactions", "timestamp", "too_early")
    assert issue.examples == (f"transaction_id={early} (timestamp=1899-12-30T00:00:00)",)
    assert str(MIN_DATE) in issue.message
    opened = find(report, "customers", "open_date", "isolated_date")
    assert opened.severity == "warning" and opened.count == 1
    assert opened.examples == (f"customer_id='{cid.iloc[0]}' (open_date=1970-01-01)",)
    # a stray timestamp among 2021-2025 transactions, as placed by a placeholder
    set_cells(bank_copy, "transactions", "timestamp", {5: pd.Timestamp("1970-01-01 00:00")})
    set_cells(bank_copy, "transactions", "timestamp", {9: pd.Timestamp("1971-06-01 12:00")})
    report = check(bank_copy)
    stamped = find(report, "transactions", "timestamp", "isolated_date")
    assert stamped.count == 2 and f"transaction_id={stray}" in "; ".join(stamped.examples)
    assert "which run 2021-" in stamped.message
    assert stamped.severity == "warning"  # a genuine record can be isolated


def test_the_clean_banks_have_no_isolated_dates(small_bank):
    assert not [i for i in check(small_bank).issues if i.rule == "isolated_date"]


def test_headers_with_spaces_or_control_characters_are_read_with_a_warning(bank_copy):
    customers = read(bank_copy, "customers")
    (bank_copy / "customers.parquet").unlink()
    written = {"employees": "employees\0", "birth_year": " birth_year ", "region": "REGION\t"}
    customers.rename(columns=written).to_csv(bank_copy / "customers.csv", index=False)
    report = check(bank_copy)
    assert report.ok, report.summary()
    issue = find(report, "customers", None, "column_name")
    assert issue.severity == "warning"
    for contract, header in written.items():
        assert f"{header!r} as {contract!r}" in issue.message
    assert report.absent_columns["customers"] == []
    bank = load_bank(bank_copy, reference_date=REF)
    got = bank.table("customers").df().set_index("customer_id").loc[customers["customer_id"]]
    for col in written:
        assert got[col].notna().sum() == customers[col].notna().sum() > 0, col
    result = runner.invoke(app, ["validate", str(bank_copy), "--reference-date", REF])
    assert result.exit_code == 0 and "'employees\\x00' as 'employees'" in result.stdout


@pytest.mark.parametrize(
    ("header", "expected"),
    [("employees\0", "employees\0"), (" employees ", " employees "),
     ("EMPLOYEES\t", "EMPLOYEES\t"), ("\ufeffemployees", "\ufeffemployees"),
     ("employee s", "employees")],
)  # fmt: skip
def test_source_column_matches_headers_as_spark_reads_them(header, expected):
    """The one matcher of DuckDB and the Spark reader (``features.spark.register_bank``)."""
    assert source_column("employees", ["customer_id", header], TableMapping()) == expected


def test_absent_optional_columns_and_tables_are_listed(bank_copy):
    rewrite(bank_copy, "customers", lambda df: df.drop(columns=["region", "employees"]))
    (bank_copy / "interactions.parquet").unlink()
    report = check(bank_copy)
    assert report.ok and not report.warnings, report.summary()
    assert report.absent_columns["customers"] == ["region", "employees"]
    assert report.absent_columns["accounts"] == []
    assert report.absent_tables == ["interactions"]
    text = report.summary()
    assert "absent optional columns (read as all missing): customers: region, employees" in text
    assert "absent optional tables: interactions" in text
    result = runner.invoke(app, ["validate", str(bank_copy), "--reference-date", REF, "--json"])
    out = json.loads(result.stdout)
    assert out["absent_columns"]["customers"] == ["region", "employees"]
    assert out["absent_tables"] == ["interactions"]


def test_a_folder_named_like_a_table_file(bank_copy):
    customers = pq.read_table(bank_copy / "customers.parquet")
    (bank_copy / "customers.parquet").unlink()
    folder = bank_copy / "customers.parquet"
    folder.mkdir()
    (folder / "_SUCCESS").write_text("")
    issue = only_error(check(bank_copy), "customers", None, "not_a_file")
    assert str(folder) in issue.message and "is a folder, not a file" in issue.message
    # a Parquet dataset as Spark writes it: read as its parts
    half = customers.num_rows // 2
    pq.write_table(customers.slice(0, half), folder / "part-00000.snappy.parquet")
    pq.write_table(customers.slice(half), folder / "part-00001.snappy.parquet")
    report = check(bank_copy)
    assert report.ok, report.summary()
    assert report.row_counts["customers"] == customers.num_rows


def test_symbolic_link_loops_and_broken_links_are_named(bank_copy, tmp_path):
    (bank_copy / "customers.parquet").unlink()
    (bank_copy / "customers.parquet").symlink_to("customers.parquet")
    (bank_copy / "transactions").symlink_to(bank_copy / "transactions")
    (bank_copy / "balances.parquet").unlink()
    (bank_copy / "balances.parquet").symlink_to(tmp_path / "gone.parquet")
    report = check(bank_copy)
    loop = find(report, "customers", None, "symlink_loop")
    assert f"{bank_copy / 'customers.parquet'} is a symbolic link loop" in loop.message
    assert "transactions is a symbolic link loop" in find(report, "transactions", None, "symlink_loop").message  # fmt: skip
    assert "gone.parquet, which is not there" in find(report, "balances", None, "broken_link").message  # fmt: skip
    (bank_copy / "transactions").unlink()
    parts = bank_copy / "parts"
    parts.mkdir()
    shutil.copy(bank_copy / "transactions.parquet", parts / "part-0.parquet")
    (parts / "part-1.parquet").symlink_to(parts / "part-1.parquet")
    mapped = check(bank_copy, load_mapping({"transactions": {"file": "parts"}}))
    assert "part-1.parquet is a symbolic link loop" in find(mapped, "transactions", None, "symlink_loop").message  # fmt: skip
    looped = tmp_path / "looped"
    looped.symlink_to(looped)
    issue = only_error(check(looped), "*", None, "symlink_loop")
    assert str(looped) in issue.message
    result = runner.invoke(app, ["validate", str(bank_copy), "--reference-date", REF])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit | None)
    assert "(symlink_loop)" in result.stderr and "Traceback" not in result.output


# --- property: every value the contract accepts runs through the features ------------------

AS_OF = dt.date(2024, 12, 31)
BOUND_TABLES = ("customers", "accounts", "balances", "transactions", "interactions",
                "corporate_financials")  # fmt: skip


def _set_bounds(folder: Path, rank: int, money: float, signed: float, first: dt.date,
                big: int) -> str:  # fmt: skip
    """Put values at the contract's bounds into the bank in ``folder``; return the customer
    whose every amount, balance and statement figure is ``money``."""
    t = {name: read(folder, name) for name in BOUND_TABLES}
    tx, cu, acc = t["transactions"], t["customers"], t["accounts"]
    who = tx.loc[tx["timestamp"] <= pd.Timestamp(AS_OF), "customer_id"].value_counts().index[rank]
    tx.loc[tx["customer_id"] == who, "amount"] = money
    tx.loc[tx.index[tx["customer_id"] != who][:3], "amount"] = 0.0
    last = tx.index[tx["account_id"].isin(acc.loc[acc["close_date"].isna(), "account_id"])][-1]
    tx.loc[last, "timestamp"] = pd.Timestamp(f"{REF} 23:59:59")  # the reference day's end
    mine = acc["customer_id"] == who
    t["balances"].loc[t["balances"]["account_id"].isin(acc.loc[mine, "account_id"]), "avg_balance"] = money  # fmt: skip
    cu.loc[cu["customer_id"] == who, "open_date"] = first
    acc.loc[mine, "open_date"] = first
    retail = cu.index[cu["customer_type"] == "retail"]
    cu.loc[retail[:2], "birth_year"] = [1900, 2030]
    corporate = cu.index[cu["customer_type"] == "corporate"]
    cu["employees"] = cu["employees"].astype("Int64")
    cu.loc[corporate[:2], "employees"] = [0, big]
    acc.loc[acc.index[:2], "interest_rate"] = [-0.05, 1.0]
    t["interactions"].loc[t["interactions"].index[:2], "score"] = [0.0, 10.0]
    fin = t["corporate_financials"]
    for col in ("revenue", "total_assets", "total_liabilities", "current_assets",
                "current_liabilities"):  # fmt: skip
        fin[col] = money
    fin["net_income"] = signed
    fin["days_past_due"] = fin["days_past_due"].astype("int64")
    fin.loc[fin.index[0], "days_past_due"] = big
    for name, frame in t.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return str(who)


@settings(max_examples=4, deadline=None, database=None, derandomize=True)
@given(
    rank=st.integers(0, 3),
    money=st.sampled_from([MAX_MONEY, MAX_MONEY / 7, 0.0]),
    signed=st.sampled_from([-MAX_MONEY, MAX_MONEY]),
    first=st.sampled_from([MIN_DATE, dt.date(1950, 6, 30)]),
    big=st.sampled_from([2**63 - 1, 10**6]),
)
@pytest.mark.slow
def test_values_at_the_contract_bounds_pass_and_build_finite_features(
    small_bank, rank, money, signed, first, big
):
    """Largest amounts and balances (a customer's many at once), zero amounts, signed
    statement figures at both bounds, the earliest date, the reference day's last second, the
    ages, rates and scores at their limits: valid, and the features build with finite values
    and the customer's sums exact."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for table in BOUND_TABLES:
            shutil.copy(small_bank / f"{table}.parquet", folder)
        who = _set_bounds(folder, rank, money, signed, first, big)
        report = check(folder)
        assert report.ok, report.summary()
        bank = load_bank(folder, reference_date=REF)
        feats = build_features(bank, AS_OF).to_pandas().set_index("customer_id")
        numbers = feats.select_dtypes("number").to_numpy(dtype=float)
        assert not np.isinf(numbers).any()
        tx = read(folder, "transactions")
        end = pd.Timestamp(AS_OF) + pd.Timedelta(days=1)
        when = tx["timestamp"]
        mine = (tx["customer_id"] == who) & ~tx["kind"].isin(NON_CUSTOMER_KINDS)
        recent = mine & (when >= end - pd.Timedelta(days=365)) & (when < end)
        assert feats.loc[who, "amount_365d"] == pytest.approx(money * recent.sum(), rel=1e-9)
        assert np.isfinite(feats.loc[who, ["monetary_value", "bal_deposit_avg_12m"]].to_numpy(dtype=float)).all()  # fmt: skip


@pytest.mark.parametrize(
    ("table", "column", "value", "rule"),
    [
        ("transactions", "amount", np.nextafter(MAX_MONEY, math.inf), "max"),
        ("transactions", "amount", -1e-9, "min"),
        ("balances", "avg_balance", np.nextafter(MAX_MONEY, math.inf), "max"),
        ("corporate_financials", "net_income", -np.nextafter(MAX_MONEY, math.inf), "min"),
        ("corporate_financials", "total_assets", np.nextafter(MAX_MONEY, math.inf), "max"),
        ("customers", "birth_year", 1899, "min"),
        ("customers", "birth_year", 2031, "max"),
        ("customers", "employees", -1, "min"),
        ("accounts", "interest_rate", np.nextafter(-0.05, -1.0), "min"),
        ("accounts", "interest_rate", np.nextafter(1.0, 2.0), "max"),
        ("interactions", "score", np.nextafter(10.0, 11.0), "max"),
        ("corporate_financials", "fiscal_year", 2101, "max"),
        ("corporate_financials", "days_past_due", -1, "min"),
        ("transactions", "timestamp", pd.Timestamp("1899-12-31 23:59:59"), "too_early"),
        ("transactions", "timestamp", pd.Timestamp(REF) + pd.Timedelta(days=1), "future"),
        ("customers", "open_date", dt.date(1899, 12, 31), "too_early"),
        ("balances", "month", dt.date(1899, 12, 1), "too_early"),
    ],
)
def test_values_just_beyond_the_bounds_are_rejected(bank_copy, table, column, value, rule):
    frame = read(bank_copy, table)
    row = int(frame[column].notna().to_numpy().argmax())
    before = set_cells(bank_copy, table, column, {row: value})
    issue = find(check(bank_copy), table, column, rule)
    assert issue.severity == "error" and issue.count == 1
    key = CONTRACT[table].primary_key[0]
    assert issue.examples[0].startswith(f"{key}={shown(before[key].iloc[0])}")
    assert f"({column}=" in issue.examples[0]


def test_a_spilling_query_leaves_nothing_in_the_working_directory(tmp_path, monkeypatch):
    """DuckDB spills an in-memory database to ``.tmp`` in the working directory by default:
    segml's connections spill to the system's temporary folder instead."""
    from segml.io import connect

    work, spill = tmp_path / "project", tmp_path / "tmp"
    work.mkdir()
    spill.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(spill))
    con = connect(memory_limit="40MB", threads=1)
    n = con.execute(
        "SELECT count(*) FROM (SELECT range % 2000000 AS k, count(*) FROM range(8000000) GROUP BY 1)"
    ).fetchall()[0][0]
    assert n == 2_000_000
    assert list(work.iterdir()) == []
    temp = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
    assert Path(temp) == spill / "segml-duckdb"
