"""Reading the log of :mod:`segml.features.rfm`: connections, SQL expressions, checks and bounds.

Private helpers; :mod:`segml.features.rfm` is the public home. In-memory logs (pandas, Arrow) are
registered with DuckDB as Arrow tables (binding a pandas scan costs ~0.5 ms a query), and when
their dates are already timestamps, their bounds and null counts come from Arrow, not a scan.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from segml.io import disable_slow_optimizers

_UNIT = {"D": "day", "W": "day", "h": "hour", "s": "second", "ms": "millisecond",
         "us": "microsecond"}  # fmt: skip
_NAN = "CAST('NaN' AS DOUBLE)"
_DENSE = {"TINYINT": "i1", "SMALLINT": "i2", "INTEGER": "i4", "BIGINT": "i8", "UTINYINT": "u1",
          "USMALLINT": "u2", "UINTEGER": "u4"}  # fmt: skip
_NUMBERS = (*_DENSE, "HUGEINT", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")
_PLAIN_TS = ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "DATE")
_DB: dict[int, duckdb.DuckDBPyConnection] = {}
_DB_LOCK = threading.Lock()


class Bounds(NamedTuple):
    """What one pass over the log tells: its size, latest date, period and dense-id ranges."""

    n_rows: int
    max_dt: Any
    lo: int | None
    hi: int | None
    id_lo: int | None
    id_hi: int | None


def _q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _period_expr(col_sql: str, freq: str) -> str:
    """SQL for the integer period (>= 0) of a TIMESTAMP or DATE expression."""
    if freq in ("D", "W"):
        days = f"DATE_DIFF('day', DATE '0001-01-01', CAST({col_sql} AS DATE))"
        return days if freq == "D" else f"({days} // 7)"
    start = "TIMESTAMP '0001-01-01 00:00:00'"
    return f"DATE_DIFF('{_UNIT[freq]}', {start}, CAST({col_sql} AS TIMESTAMP))"


def _end_period(value: Any, datetime_format: str | None, freq: str) -> int:
    """lifetimes' ``to_datetime(end, format).to_period(freq).to_timestamp()`` as a period number."""
    if datetime_format and isinstance(value, int | np.integer):  # as pandas 3 reads it
        value = str(value)
    try:
        ts = pd.Timestamp(pd.to_datetime(value, format=datetime_format))
    except (TypeError, ValueError) as e:
        raise ValueError(f"observation_period_end {value!r} is not a date: {e}") from e
    ts = (ts.tz_localize(None) if ts.tzinfo else ts).to_period(freq).to_timestamp()  # wall time
    days = ts.toordinal() - 1
    secs = days * 86400 + ts.hour * 3600 + ts.minute * 60 + ts.second
    ends = {"D": days, "W": days // 7, "h": secs // 3600, "s": secs}
    ends |= {"ms": secs * 1000 + ts.microsecond // 1000, "us": secs * 10**6 + ts.microsecond}
    return ends[freq]


def _tx_sql(source_sql: str, id_col: str, dt_col: str, m_col: str | None, freq: str) -> str:
    amount = f", CAST({_q(m_col)} AS DOUBLE) AS amount" if m_col else ""
    period = _period_expr(_q(dt_col), freq)
    src = f"({source_sql})" if " " in source_sql.strip() else source_sql  # a query or a table
    return f"SELECT {_q(id_col)} AS customer_id, {period} AS period{amount} FROM {src} AS src"


def _connection() -> duckdb.DuckDBPyConnection:
    """A new connection (cursor) to this process's private in-memory DuckDB database.

    Opening a database costs ~10 ms, a cursor ~0.3 ms; a forked child opens its own.
    """
    with _DB_LOCK:
        if os.getpid() not in _DB:
            _DB.clear()
            _DB[os.getpid()] = duckdb.connect()
            disable_slow_optimizers(_DB[os.getpid()])
        return _DB[os.getpid()].cursor()


@contextlib.contextmanager
def _source(data: Any) -> Iterator[tuple[Callable[[str], Any], str]]:
    """Yield ``(run, name)``: ``run(sql)`` runs SQL in which ``name`` is the log."""
    name = "segml_rfm_log"
    if isinstance(data, duckdb.DuckDBPyRelation):  # runs on the relation's own connection
        yield (lambda sql: data.query(name, sql)), name
        return
    if isinstance(data, str | Path):
        path = Path(data)
        pattern = str(path / "**" / "*.parquet") if path.is_dir() else str(data)
        if not any(ch in pattern for ch in "*?[") and not path.exists():
            raise FileNotFoundError(f"no Parquet file at {pattern}")
        name = "read_parquet('" + pattern.replace("'", "''") + "')"
    with contextlib.ExitStack() as stack:
        con = None

        def run(sql: str) -> Any:  # the cursor is opened (and the log registered) on first use
            nonlocal con
            if con is None:
                con = stack.enter_context(_connection())
                if not isinstance(data, str | Path):
                    con.register(name, data)
            return con.sql(sql)

        yield run, name


def _prepare(data: Any, cols: list[str], dt_col: str, fmt: str | None, end: Any) -> tuple[Any, Any]:
    """Check in-memory columns; parse pandas dates as lifetimes does; pandas to Arrow (zero-copy
    where pandas holds Arrow or numpy data). Returns ``(data, raw max date or None)``."""
    if isinstance(data, pd.DataFrame | pa.Table):
        names = list(data.columns) if isinstance(data, pd.DataFrame) else data.column_names
        missing = [c for c in cols if c not in names]
        if missing:
            raise ValueError(f"transactions has no column(s) {missing}; it has {names}")
    if isinstance(data, pa.Table):
        col = data.column(dt_col)
        if pa.types.is_timestamp(col.type) and col.type.tz is not None:  # wall time, as pandas
            data = data.set_column(data.column_names.index(dt_col), dt_col, pc.local_timestamp(col))
    if not isinstance(data, pd.DataFrame):
        return data, None
    s, raw_max = data[dt_col], None
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        raw_max = s.max() if end is None else None  # lifetimes' default end (text: lexicographic)
        try:  # integers with a format are read as text (pandas 3; pandas 4 will differ)
            s = pd.to_datetime(s.astype(str) if fmt and s.dtype.kind in "iu" else s, format=fmt)
        except (TypeError, ValueError) as e:
            raise ValueError(f"column {dt_col!r} could not be parsed as dates: {e}") from e
    if getattr(s.dtype, "tz", None) is not None:
        s = s.dt.tz_localize(None)
    arr = s.array
    if s.dtype == np.dtype("datetime64[ns]"):  # floor to us: DuckDB rounds ns when it casts
        arr = (s.to_numpy().view("i8") // 1000).view("datetime64[us]")
    arrays = {c: data[c].array for c in cols} | {dt_col: arr}
    try:
        return pa.table({c: pa.array(a) for c, a in arrays.items()}), raw_max
    except (pa.ArrowException, TypeError, ValueError):  # e.g. mixed objects: DuckDB's pandas scan
        return pd.DataFrame(arrays, copy=False), raw_max


def _timestamp_sql(col: str, kind: str, fmt: str | None) -> str:
    """SQL reading column ``col`` of DuckDB type ``kind`` as TIMESTAMP (NULL when unparseable)."""
    c = _q(col)
    if kind in _PLAIN_TS:
        return f"CAST({c} AS TIMESTAMP)"
    if kind == "TIMESTAMP_NS":  # floor; a cast would round to the nearest microsecond
        return f"make_timestamp((epoch_ns({c}) - (epoch_ns({c}) % 1000 + 1000) % 1000) // 1000)"
    if kind == "TIMESTAMP WITH TIME ZONE":
        return f"timezone('UTC', {c})"
    if fmt and (kind == "VARCHAR" or kind in _DENSE or kind in ("HUGEINT", "UBIGINT")):
        return f"try_strptime(CAST({c} AS VARCHAR), '" + fmt.replace("'", "''") + "')"
    if kind == "VARCHAR":
        return f"TRY_CAST({c} AS TIMESTAMP)"
    need = " (integer dates need datetime_format)" if kind in _NUMBERS else ""
    raise ValueError(f"column {col!r} has type {kind}, which cannot be read as dates{need}")


def _column_types(run: Callable[[str], Any], log: str, data: Any, id_col: str, dt_col: str,
                  m_col: str | None) -> dict[str, str]:  # fmt: skip
    """DuckDB type of each column of the log; raises on a missing or non-numeric column."""
    types = _arrow_types(data.schema) if isinstance(data, pa.Table) else None
    if isinstance(data, str | Path) and Path(data).is_file():
        with contextlib.suppress(OSError, pa.ArrowException):
            types = _arrow_types(pq.read_schema(data))
    if types is None or not {id_col, dt_col, m_col or dt_col} <= set(types):
        schema = run(f"SELECT * FROM {log} LIMIT 0")
        types = dict(zip(schema.columns, map(str, schema.types), strict=True))
    missing = [c for c in (id_col, dt_col, m_col) if c is not None and c not in types]
    if missing:
        raise ValueError(f"transactions has no column(s) {missing}; it has {list(types)}")
    if m_col and types[m_col].split("(")[0] not in _NUMBERS:
        raise ValueError(f"monetary column {m_col!r} has type {types[m_col]}, not a number")
    return types


_ARROW_TYPES = {"int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT",
                "uint8": "UTINYINT", "uint16": "USMALLINT", "uint32": "UINTEGER",
                "uint64": "UBIGINT", "float": "FLOAT", "double": "DOUBLE", "string": "VARCHAR",
                "large_string": "VARCHAR", "date32[day]": "DATE", "timestamp[s]": "TIMESTAMP_S",
                "timestamp[ms]": "TIMESTAMP_MS", "timestamp[us]": "TIMESTAMP",
                "timestamp[ns]": "TIMESTAMP_NS"}  # fmt: skip


def _arrow_types(schema: pa.Schema) -> dict[str, str]:
    """DuckDB's type of the Arrow columns it is sure of (the others are left out)."""
    types = {f.name: _ARROW_TYPES.get(str(f.type)) for f in schema}
    return {name: t for name, t in types.items() if t is not None}


def _bounds(run: Callable[[str], Any], log: str, data: Any, types: dict[str, str], id_col: str,
            dt_col: str, freq: str, fmt: str | None) -> Bounds:  # fmt: skip
    """Check ids and dates (no nulls, dates parse) and return the log's :class:`Bounds`."""
    dense_ids = types[id_col] in _DENSE
    if isinstance(data, pa.Table) and types[dt_col] in _PLAIN_TS:  # no scan needed
        return _arrow_bounds(data, id_col, dt_col, freq, dense_ids)
    found = None
    if isinstance(data, str | Path) and types[dt_col] in _PLAIN_TS:  # from the statistics?
        found = _parquet_bounds(data, id_col, dt_col, freq, dense_ids)
    if found is not None:
        return found
    ts_sql, bad = _timestamp_sql(dt_col, types[dt_col], fmt), "r IS NOT NULL AND t IS NULL"
    p, span = _period_expr("t", freq), "min(i), max(i)" if dense_ids else "0, 0"
    n = f"(SELECT {_q(id_col)} AS i, {_q(dt_col)} AS r, {ts_sql} AS t FROM {log}) AS n"
    n_rows, null_ids, null_dates, n_bad, max_dt, lo, hi, id_lo, id_hi = run(
        f"SELECT count(*), count(*) - count(i), count(*) - count(r), count(*) FILTER (WHERE {bad}),"
        f" max(t), min({p}), max({p}), {span} FROM {n}"
    ).fetchall()[0]
    _check_nulls(id_col, dt_col, null_ids, null_dates)
    if n_bad:
        example = run(f"SELECT CAST(r AS VARCHAR) FROM {n} WHERE {bad} LIMIT 1").fetchall()
        raise ValueError(f"datetime column {dt_col!r} has {n_bad} values that are not dates, e.g. {example[0][0]!r}")  # fmt: skip
    return Bounds(n_rows, max_dt, lo, hi, id_lo, id_hi)


def _arrow_bounds(data: pa.Table, id_col: str, dt_col: str, freq: str, dense_ids: bool) -> Bounds:
    """:class:`Bounds` of an Arrow log whose dates are timestamps (s, ms, us) or dates."""
    ids, dates = data.column(id_col), data.column(dt_col)
    _check_nulls(id_col, dt_col, ids.null_count, dates.null_count)
    if not data.num_rows:
        return Bounds(0, None, None, None, None, None)
    first, last = (pd.Timestamp(v.as_py()) for v in pc.min_max(dates).values())
    id_lo, id_hi = (v.as_py() for v in pc.min_max(ids).values()) if dense_ids else (0, 0)
    lo, hi = _end_period(first, None, freq), _end_period(last, None, freq)
    return Bounds(data.num_rows, last, lo, hi, id_lo, id_hi)


def _parquet_bounds(path: str | Path, id_col: str, dt_col: str, freq: str,
                    dense_ids: bool) -> Bounds | None:  # fmt: skip
    """:class:`Bounds` of one Parquet file from its row groups' statistics; None without them."""
    try:
        meta = pq.ParquetFile(path).metadata if Path(path).is_file() else None
        if meta is None or meta.num_row_groups == 0:
            return None
        names = [meta.schema.column(i).path for i in range(meta.num_columns)]
        stats = [[meta.row_group(g).column(names.index(c)).statistics for c in (id_col, dt_col)]
                 for g in range(meta.num_row_groups)]  # fmt: skip
    except (OSError, ValueError, pa.ArrowException):
        return None
    flat = [st for pair in stats for st in pair]
    if any(st is None or st.null_count is None for st in flat):
        return None
    _check_nulls(
        id_col, dt_col, sum(p[0].null_count for p in stats), sum(p[1].null_count for p in stats)
    )
    need = [p[1] for p in stats] + ([p[0] for p in stats] if dense_ids else [])
    if not meta.num_rows or not all(st.has_min_max for st in need):
        return None if meta.num_rows else Bounds(0, None, None, None, None, None)
    first = min(pd.Timestamp(p[1].min) for p in stats)
    last = max(pd.Timestamp(p[1].max) for p in stats)
    id_lo, id_hi = (
        (min(p[0].min for p in stats), max(p[0].max for p in stats)) if dense_ids else (0, 0)
    )
    lo, hi = _end_period(first, None, freq), _end_period(last, None, freq)
    return Bounds(meta.num_rows, last, lo, hi, id_lo, id_hi)


def _check_nulls(id_col: str, dt_col: str, null_ids: int, null_dates: int) -> None:
    if null_ids:
        raise ValueError(f"customer id column {id_col!r} has {null_ids} null values")
    if null_dates:
        raise ValueError(f"datetime column {dt_col!r} has {null_dates} null values")
