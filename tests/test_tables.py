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
