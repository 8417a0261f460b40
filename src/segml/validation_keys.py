"""The contract's key rule: no primary key value appears twice in a table.

A table's primary key is checked on its typed view (``GROUP BY`` the key, ``HAVING count(*) >
1``). On a large table with a one-column integer key — a transaction or interaction number —
that query hashes every key as text (the contract types ids as text): 21 s on 144.5M
transactions. :func:`integer_key_unique` proves the same thing in ~1 s when it can: the keys
are integers, the cast to text is one-to-one on integers, and a bitmap of the key's range
counts the distinct values exactly. When the proof fails (a duplicate, a missing key, a range
too sparse for a bitmap) the query runs as before and names the offending values.
"""

from __future__ import annotations

import duckdb
import numpy as np

from segml.io import TableSource, quote
from segml.validation_report import Issue, ValidationReport, format_cell

__all__ = ["BITMAP_MAX_BYTES", "INTEGER_TYPES", "duplicate_keys", "integer_key_unique"]

#: The largest bitmap :func:`integer_key_unique` allocates (one byte per value of the range).
BITMAP_MAX_BYTES = 1 << 30
#: Rows per batch read from DuckDB into the bitmap.
_BATCH = 1 << 20
#: DuckDB's integer types (a key of one of them is written as digits by the cast to text).
INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")  # fmt: skip
#: The integer types a bitmap can index (64 bits at most: numpy has no 128-bit integers).
_BITMAP_TYPES = tuple(t for t in INTEGER_TYPES if "HUGEINT" not in t)


def integer_key_unique(con: duckdb.DuckDBPyConnection, view: str, column: str) -> bool:
    """Whether ``column`` of ``view`` is proven to hold integers, none missing, none twice.

    True is a proof: every row's key was set in a bitmap of ``[min, max]`` and as many bits
    are set as there are rows. False means "not proven" (not integers, a missing key, a range
    wider than 8 values a row or :data:`BITMAP_MAX_BYTES`, or a duplicate).

    Examples
    --------
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE t AS SELECT range AS k FROM range(1000)")
    >>> integer_key_unique(con, "t", "k")
    True
    >>> _ = con.execute("INSERT INTO t VALUES (7)")
    >>> integer_key_unique(con, "t", "k")
    False
    """
    col = quote(column)
    kind = con.execute(f"SELECT typeof({col}) FROM {view} LIMIT 1").fetchall()
    if not kind or kind[0][0] not in _BITMAP_TYPES:
        return False
    lo, hi, keys, rows = con.execute(
        f"SELECT min({col}), max({col}), count({col}), count(*) FROM {view}"
    ).fetchall()[0]
    if keys != rows or not rows:
        return False
    span = int(hi) - int(lo) + 1
    if span > 8 * rows or span > BITMAP_MAX_BYTES:
        return False
    seen = np.zeros(span, dtype=bool)
    for batch in con.sql(f"SELECT {col} FROM {view}").to_arrow_reader(_BATCH):
        values = batch.column(0).to_numpy(zero_copy_only=False)
        seen[(values - lo) if lo >= 0 else (values.astype(np.int64) - int(lo))] = True
    return int(np.count_nonzero(seen)) == rows


def duplicate_keys(
    con: duckdb.DuckDBPyConnection, src: TableSource, report: ValidationReport, examples: int
) -> None:
    """Report the primary key values of ``src`` that appear more than once (with up to
    ``examples`` of them, most repeated first)."""
    spec = src.spec
    pk = [k for k in spec.primary_key if k in src.present]
    if len(pk) != len(spec.primary_key):
        return
    if len(pk) == 1 and integer_key_unique(con, src.raw_view, pk[0]):
        return
    pk_sql = ", ".join(quote(k) for k in pk)
    dup = con.execute(
        f"SELECT count(*), sum(n) FROM (SELECT {pk_sql}, count(*) AS n FROM {src.view} "
        f"GROUP BY ALL HAVING count(*) > 1)"
    ).fetchall()[0]
    if not dup[0]:
        return
    rows = con.execute(
        f"SELECT {pk_sql}, count(*) AS n FROM {src.view} GROUP BY ALL "
        f"HAVING count(*) > 1 ORDER BY n DESC, {pk_sql} LIMIT {examples}"
    ).fetchall()
    ex = tuple(
        ", ".join(f"{k}={format_cell(v)}" for k, v in zip(pk, r[:-1], strict=True))
        + f" ({r[-1]} times)"
        for r in rows
    )
    msg = f"{dup[0]:,} key value(s) appear more than once"
    report.issues.append(Issue(spec.name, ", ".join(pk), "duplicate_key", msg, int(dup[1]), ex))
