"""The one reader of a user's table (segml.tables): formats, separators, text columns, lines."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import pandas as pd
import pytest

from segml.tables import csv_separator, is_csv, read_table, row_labels, table_kind

ROWS = 'id;amount;note\n007;"3,659.52";a\n\n010;12.5;"two\nlines"\n011;1;c\n'


def test_kind_from_suffixes(tmp_path: Path) -> None:
    assert table_kind(Path("log.csv.gz")) == "csv"
    assert table_kind(Path("log.TSV")) == "csv"
    assert table_kind(Path("log.gz")) == "csv"
    assert table_kind(Path("t.pq")) == "parquet"
    assert table_kind(Path("t.data")) is None


@pytest.mark.parametrize(
    ("header", "suffix", "sep"),
    [
        ("a,b,c", ".csv", ","),
        ("a;b;c", ".csv", ";"),
        ("a\tb\tc", ".txt", "\t"),
        ("a|b|c", ".csv", "|"),
        ('"x,y";b;c', ".csv", ";"),  # a comma inside quotes does not count
        ("single", ".tsv", "\t"),
        ("single", ".csv", ","),
    ],
)
def test_separator_from_header(tmp_path: Path, header: str, suffix: str, sep: str) -> None:
    path = tmp_path / f"t{suffix}"
    path.write_text(f"\n{header}\n1\n", encoding="utf-8")
    assert csv_separator(path) == sep


@pytest.mark.parametrize("opener", ["plain", "gz", "xz"])
def test_semicolon_csv_with_text_ids_and_compression(tmp_path: Path, opener: str) -> None:
    if opener == "plain":
        path = tmp_path / "t.csv"
        path.write_text(ROWS, encoding="utf-8")
    elif opener == "gz":
        path = tmp_path / "t.csv.gz"
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(ROWS)
    else:
        path = tmp_path / "t.csv.xz"
        with lzma.open(path, "wt", encoding="utf-8") as fh:
            fh.write(ROWS)
    df = read_table(path, text=["id"])
    assert list(df.columns) == ["id", "amount", "note"]
    assert df["id"].tolist() == ["007", "010", "011"]  # zeros kept
    everything = read_table(path, text=True)
    assert everything["amount"].tolist() == ["3,659.52", "12.5", "1"]  # as written
    label = row_labels(path, len(df))
    # header line 1, "007" line 2, a blank line 3, "010" from line 4 (its note spans 4-5)
    assert [label(i) for i in range(3)] == ["line 2", "line 4", "line 6"]


def test_parquet_by_signature_and_rows_by_position(tmp_path: Path) -> None:
    path = tmp_path / "export.data"
    pd.DataFrame({"id": ["007", "008"], "x": [1.0, 2.0]}).to_parquet(path)
    assert not is_csv(path)
    df = read_table(path, text=["id"])
    assert df["id"].tolist() == ["007", "008"]
    assert row_labels(path, 2)(1) == "row 1 (0-based)"


def test_rows_by_position_when_lines_do_not_match(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n2\n", encoding="utf-8")
    assert row_labels(path, 5)(0) == "row 0 (0-based)"


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="is a folder"):
        read_table(tmp_path)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(ValueError, match=r"cannot read .*bad\.parquet"):
        read_table(bad)


# --- fields separated by runs of blanks (CDNOW's layout) ------------------------------------


@pytest.mark.parametrize(
    ("lines", "sep"),
    [
        (
            " customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n",
            r"\s+",
        ),
        ("00001 19970101  1   11.77\n00002 19970112  1   12.00\n", r"\s+"),  # no header
        ("id \t date\tamount\n1 \t 19970101\t3\n", r"\s+"),  # tabs beside spaces: a run
        ("a\tb\tc\n1\t2\t3\n", "\t"),  # single tabs: tab-separated
        ("a\tb\t\n1\t2\t\n", "\t"),  # a trailing tab too
        ("Customer ID\tAmount\n1\t2\n", "\t"),  # spaces inside tab-separated names
        ("Customer ID,Amount\n1,2\n", ","),
        ('"a b";c d\n1;2\n', ";"),
        ("Customer ID\n17850\n", ","),  # one column with a space: not two
        ("single\n1\n", ","),
    ],
)
def test_blank_separated_fields(tmp_path: Path, lines: str, sep: str) -> None:
    from segml.tables import field_separator

    path = tmp_path / "t.txt"
    path.write_text(lines, encoding="utf-8", newline="")
    assert field_separator(path) == sep
    if sep != r"\s+":
        assert field_separator(path) == csv_separator(path)


def _cdnow_lines(n: int) -> list[str]:
    """The header and the first ``n`` purchase lines of lifetimes' CDNOW_master.txt, as written
    (leading blanks, runs of spaces, CRLF)."""
    from segml.loaders.cdnow import cdnow_path

    return cdnow_path("master").read_bytes().decode("ascii").splitlines(keepends=True)[: n + 1]


@pytest.mark.parametrize("header", [True, False])
def test_cdnow_layout_read_with_lines(tmp_path: Path, header: bool) -> None:
    lines = _cdnow_lines(40)
    assert lines[0].split() == ["customer_id", "date", "number_of_cds", "dollar_value"]
    assert "  " in lines[1] and lines[1].endswith("\r\n")
    lines = [*lines[:10], "   \r\n", *lines[10:]] if header else [*lines[1:10], "\r\n", *lines[10:]]  # fmt: skip
    path = tmp_path / "cd.txt.gz"
    with gzip.open(path, "wb") as fh:
        fh.write("".join(lines).encode("ascii"))
    df = read_table(path, text=True)
    names = ["customer_id", "date", "number_of_cds", "dollar_value"] if header else ["1", "2", "3", "4"]  # fmt: skip
    assert list(df.columns) == names and len(df) == 40
    assert df.iloc[0].tolist() == ["00001", "19970101", "1", "11.77"]  # as written, zeros kept
    label = row_labels(path, len(df))
    # the header (if any) is line 1; the blank line after the 9th purchase is skipped
    first = 2 if header else 1
    assert [label(0), label(8), label(9)] == [f"line {first}", f"line {first + 8}", f"line {first + 10}"]  # fmt: skip


def _clv_fit(path: Path, customer: str, date: str, amount: str) -> dict:
    import json

    from typer.testing import CliRunner

    from segml.cli.main import app

    args = ["clv", "fit", "--transactions", str(path), "--customer-col", customer]
    args += ["--date-col", date, "--amount-col", amount, "--calibration-end", "1997-09-30"]
    r = CliRunner().invoke(app, [*args, "--no-supervised", "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_clv_fit_reads_the_cdnow_layout_like_a_csv(tmp_path: Path) -> None:
    lines = _cdnow_lines(600)  # 150 customers
    blank = tmp_path / "CDNOW_master.txt"
    blank.write_text("".join(lines), encoding="ascii", newline="")
    no_header = tmp_path / "CDNOW_original.txt"
    no_header.write_text("".join(lines[1:]), encoding="ascii", newline="")
    rows = [line.split() for line in lines]
    plain = tmp_path / "log.csv"
    pd.DataFrame(rows[1:], columns=rows[0]).to_csv(plain, index=False)
    expected = _clv_fit(plain, "customer_id", "date", "dollar_value")
    assert expected["customers"] == 150
    assert _clv_fit(blank, "customer_id", "date", "dollar_value") == expected
    assert _clv_fit(no_header, "1", "2", "4") == expected
