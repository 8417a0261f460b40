"""The duplicate-key rule's fast proof of uniqueness (segml.validation_keys)."""

from __future__ import annotations

import duckdb
import pytest

from segml import validation_keys
from segml.validation_keys import integer_key_unique


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _table(con: duckdb.DuckDBPyConnection, values: str) -> str:
    con.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM (VALUES {values}) v(k)")
    return "t"


def test_unique_integers_are_proven_across_batches(con, monkeypatch) -> None:
    monkeypatch.setattr(validation_keys, "_BATCH", 7)  # many batches: a key repeated across two
    con.execute("CREATE TABLE t AS SELECT (range * 3) - 50 AS k FROM range(100)")  # negative too
    assert integer_key_unique(con, "t", "k")
    con.execute("INSERT INTO t VALUES (-50)")  # the first key again, in the last batch
    assert not integer_key_unique(con, "t", "k")


@pytest.mark.parametrize(
    "values",
    [
        "(1), (2), (NULL)",  # a missing key: the query decides (NULLs group together)
        "(1), (2), (1000000)",  # too sparse for a bitmap
        "('a'), ('b')",  # not integers
        "(1.5), (2.5)",  # not integers
    ],
)
def test_what_cannot_be_proven_is_left_to_the_query(con, values) -> None:
    assert not integer_key_unique(con, _table(con, values), "k")


def test_the_bitmap_is_bounded(con, monkeypatch) -> None:
    monkeypatch.setattr(validation_keys, "BITMAP_MAX_BYTES", 10)
    con.execute("CREATE TABLE t AS SELECT range AS k FROM range(11)")
    assert not integer_key_unique(con, "t", "k")  # 11 values: over the bound, not proven
    con.execute("DELETE FROM t WHERE k = 10")
    assert integer_key_unique(con, "t", "k")


def test_integer_ids_skip_only_the_format_rule_they_cannot_break() -> None:
    import datetime as dt

    from segml.contract import CONTRACT
    from segml.validate import _column_checks

    col = next(c for c in CONTRACT["transactions"].columns if c.name == "transaction_id")
    ref = dt.date(2025, 1, 1)
    as_text = [rule for rule, *_ in _column_checks(col, ref, "VARCHAR")]
    as_int = [rule for rule, *_ in _column_checks(col, ref, "BIGINT")]
    assert "id_format" in as_text and "id_format" not in as_int
    assert [r for r in as_text if r != "id_format"] == as_int
    con = duckdb.connect()  # the cast an integer id goes through cannot pad, blank or add ".0"
    texts = con.execute("SELECT CAST(k AS VARCHAR) FROM (VALUES (-12), (0), (9223372036854775807)) v(k)").fetchall()  # fmt: skip
    assert [t for (t,) in texts] == ["-12", "0", "9223372036854775807"]
