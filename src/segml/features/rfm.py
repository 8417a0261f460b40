"""RFM summaries (frequency, recency, T, monetary value) computed with DuckDB.

:func:`rfm_summary` returns what ``lifetimes.utils.summary_data_from_transaction_data`` does (to
float rounding) for pandas, Arrow, DuckDB relations or Parquet files (read out of core); periods are
integers from 0001-01-01, a Monday: days, days // 7 (pandas W-SUN weeks run Monday..Sunday), hours,
s, ms or us, whose differences equal lifetimes' ``(t1 - t0) / np.timedelta64(1, freq)``. Engine
"sql" runs :func:`rfm_sql`, a portable two-level GROUP BY that DuckDB can spill. Engine "stream"
lets DuckDB parse, filter and number the periods and folds the Arrow batches into numpy arrays: a
``customers x periods`` flag array counts distinct periods instead of a (customer, period) hash
aggregation, and integer ids in a compact range are not hashed at all. It needs at most
``BITMAP_BUDGET`` bytes whatever the log's length; "auto" uses it when that suffices.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["BITMAP_BUDGET", "SUPPORTED_FREQS", "rfm_sql", "rfm_summary"]

_UNIT = {"D": "day", "W": "day", "h": "hour", "s": "second", "ms": "millisecond",
         "us": "microsecond"}  # fmt: skip
SUPPORTED_FREQS: tuple[str, ...] = tuple(_UNIT)
#: Bytes of customer x period flags the streaming engine may use before it falls back to SQL.
BITMAP_BUDGET = 1 << 30
_GROUP_ROWS = 1 << 20
_NAN = "CAST('NaN' AS DOUBLE)"
_DENSE = {"TINYINT": "i1", "SMALLINT": "i2", "INTEGER": "i4", "BIGINT": "i8", "UTINYINT": "u1",
          "USMALLINT": "u2", "UINTEGER": "u4"}  # fmt: skip
_NUMBERS = (*_DENSE, "HUGEINT", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")


def _q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _check_freq(freq: str, freq_multiplier: float) -> None:
    if freq not in _UNIT:
        hint = " (lifetimes fails for it too under pandas 3)" if freq != "ns" else ""
        raise ValueError(f"freq={freq!r} is not supported{hint}; use one of {SUPPORTED_FREQS}")
    m = freq_multiplier
    if isinstance(m, bool) or not isinstance(m, int | float | np.number) or not 0 < m < np.inf:
        raise ValueError(f"freq_multiplier must be a positive number, got {freq_multiplier!r}")


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


def rfm_sql(
    source_sql: str, customer_id_col: str, datetime_col: str, monetary_value_col: str | None = None,
    observation_period_end: Any = None, freq: str = "D", freq_multiplier: float = 1,
    include_first_transaction: bool = False,
) -> str:  # fmt: skip
    """SQL computing lifetimes' RFM summary over ``source_sql``.

    Parameters
    ----------
    source_sql : str
        A query or table name with the columns; ``datetime_col`` must be TIMESTAMP or DATE.
    customer_id_col, datetime_col, monetary_value_col, freq, freq_multiplier, \
include_first_transaction
        As in :func:`rfm_summary`.
    observation_period_end : str, datetime or None
        Parsed by ``pd.to_datetime``; None: the latest period in the data (lifetimes' default).

    Returns
    -------
    str
        A SELECT of ``customer_id_col, frequency, recency, T[, monetary_value]`` (DOUBLE) by id;
        period sums skip NULL and NaN amounts (an all-NaN period is 0, as in pandas).

    Notes
    -----
    DuckDB dialect kept to GROUP BY, CASE, a window MIN, CAST and NULLIF. Not ANSI:
    ``DATE_DIFF('<unit>', a, b)`` and integer division ``//`` (for "W"); sqlglot makes them Spark's
    ``DATEDIFF(unit, a, b)`` and ``DIV`` (checked on Spark 4). :func:`rfm_summary` wraps it in
    DuckDB-only SQL: ``try_strptime``/``TRY_CAST`` for text dates, ``epoch_ns`` to floor ns.
    """
    _check_freq(freq, freq_multiplier)
    end = None if (ope := observation_period_end) is None else _end_period(ope, None, freq)
    return _rfm_sql(source_sql, customer_id_col, datetime_col, monetary_value_col, end, freq,
                    float(freq_multiplier), include_first_transaction)  # fmt: skip


def _rfm_sql(source_sql: str, id_col: str, dt_col: str, m_col: str | None, end: int | None,
             freq: str, mult: float, include_first: bool) -> str:  # fmt: skip
    end_sql = "(SELECT MAX(period) FROM tx)" if end is None else str(end)
    where = "" if end is None else f" WHERE period <= {end}"
    amount = f", COALESCE(SUM(NULLIF(amount, {_NAN})), 0) AS amount" if m_col else ""
    sums = money = ""
    if m_col:
        sums = (", SUM(CASE WHEN period > fp THEN amount ELSE 0 END) AS repeat_amount,"
                " SUM(amount) AS total_amount")  # fmt: skip
        money = (",\n  total_amount / n_periods AS monetary_value" if include_first else
                 ",\n  CASE WHEN n_periods > 1 THEN repeat_amount / (n_periods - 1) ELSE 0.0 END"
                 " AS monetary_value")  # fmt: skip
    n_repeat = "n_periods" if include_first else "n_periods - 1"
    return f"""WITH tx AS (
  {_tx_sql(source_sql, id_col, dt_col, m_col, freq)}
), per_period AS (
  SELECT customer_id, period{amount} FROM tx{where} GROUP BY customer_id, period
), flagged AS (
  SELECT per_period.*, MIN(period) OVER (PARTITION BY customer_id) AS fp FROM per_period
), per_customer AS (
  SELECT customer_id, COUNT(*) AS n_periods, MIN(period) AS first_period,
    MAX(period) AS last_period{sums}
  FROM flagged GROUP BY customer_id
)
SELECT customer_id AS {_q(id_col)},
  CAST({n_repeat} AS DOUBLE) AS frequency,
  CAST(last_period - first_period AS DOUBLE) / {mult!r} AS recency,
  CAST({end_sql} - first_period AS DOUBLE) / {mult!r} AS T{money}
FROM per_customer
ORDER BY customer_id"""


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
    with duckdb.connect() as con:
        if not isinstance(data, str | Path):
            con.register(name, data)
        yield con.sql, name


def _prepare(data: Any, cols: list[str], dt_col: str, fmt: str | None, end: Any) -> tuple[Any, Any]:
    """Check in-memory columns; parse pandas dates as lifetimes does. Returns (data, raw max)."""
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
    return pd.DataFrame({c: data[c].array for c in cols} | {dt_col: arr}, copy=False), raw_max


def _timestamp_sql(col: str, kind: str, fmt: str | None) -> str:
    """SQL reading column ``col`` of DuckDB type ``kind`` as TIMESTAMP (NULL when unparseable)."""
    c = _q(col)
    if kind in ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "DATE"):
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


def _groups(batches: Iterable[pa.RecordBatch], dense: bool) -> Iterator[tuple[Any, ...]]:
    """``(table, customer codes, ids so far)`` per >= ``_GROUP_ROWS`` rows; dense ids are codes."""
    pending, known = [], None
    for batch in itertools.chain(batches, [None]):
        pending += [] if batch is None else [batch]
        if sum(map(len, pending)) < (1 if batch is None else _GROUP_ROWS):
            continue
        tbl, pending = pa.Table.from_batches(pending), []
        if dense:
            yield tbl, tbl.column(0).to_numpy().astype(np.int64), None
            continue
        enc = pc.dictionary_encode(tbl.column(0))  # the chunks share one dictionary
        if len({len(c.dictionary) for c in enc.chunks}) > 1:
            enc = enc.unify_dictionaries()
        dic, local = enc.chunk(0).dictionary, np.concatenate([c.indices for c in enc.chunks])
        known = dic[:0] if known is None else known
        glob = pc.fill_null(pc.index_in(dic, value_set=known), -1).to_numpy().astype(np.int64)
        new = glob < 0
        glob[new] = len(known) + np.arange(int(new.sum()))
        known = pa.concat_arrays([known, dic.filter(pa.array(new))])
        yield tbl, glob[local], known


def _prefetch(items: Iterator[Any]) -> Iterator[Any]:
    """``items``, each made by a worker thread while the caller uses the previous one."""
    with ThreadPoolExecutor(1) as pool:
        ahead = pool.submit(next, items, None)
        while (item := ahead.result()) is not None:
            ahead = pool.submit(next, items, None)
            yield item


def _stream(tables: Iterable[tuple[Any, ...]], n_periods: int, cap: int, dense: bool,
            money: bool) -> Any:  # fmt: skip
    """Fold ``(customer, period - lo[, amount])`` tables into per-customer arrays (None past cap).
    All calloc'ed, 0 = none yet: ``head`` = n_periods - first period, ``last`` = last period + 1."""
    seen = np.zeros(cap * n_periods, dtype=bool)
    head, last, first, rest = (np.zeros(cap, t) for t in ("i4", "i4", "f8", "f8"))
    known, nk = None, 0
    for tbl, codes, known in tables:
        nk = max(nk, int(codes.max()) + 1) if dense else len(known)
        if nk > cap:
            return None
        q = tbl.column(1).to_numpy()
        seen[codes * n_periods + q] = True
        np.maximum.at(last, codes, q + 1)
        h = head[:nk].copy()
        np.maximum.at(h, codes, n_periods - q)
        if money:  # a first period that moved earlier is now a repeat period
            moved = h > head[:nk]
            rest[:nk][moved] += first[:nk][moved]
            first[:nk][moved] = 0.0
            is_first, m = n_periods - q == h[codes], tbl.column(2).to_numpy()
            sums = np.bincount(2 * codes + is_first, weights=m, minlength=2 * nk)
            first[:nk] += sums[1::2]
            rest[:nk] += sums[0::2]
        head[:nk] = h
    keys = np.flatnonzero(last[:nk]) if dense else pc.sort_indices(known).to_numpy()
    n = np.count_nonzero(seen[: nk * n_periods].reshape(nk, n_periods), axis=1)[keys]
    fp, lp = n_periods - head[keys].astype(np.int64), last[keys].astype(np.int64) - 1
    return (keys if dense else known.take(keys)), n, fp, lp, first[keys], rest[keys]


def rfm_summary(
    transactions: pd.DataFrame | pa.Table | duckdb.DuckDBPyRelation | str | Path,
    customer_id_col: str, datetime_col: str, monetary_value_col: str | None = None,
    datetime_format: str | None = None, observation_period_end: Any = None, freq: str = "D",
    freq_multiplier: float = 1, include_first_transaction: bool = False,
    *, engine: str = "auto",
) -> pd.DataFrame:  # fmt: skip
    """Frequency, recency, T (and monetary value) per customer, exactly as lifetimes defines them.

    Parameters
    ----------
    transactions : DataFrame, pyarrow.Table, DuckDB relation, str or Path
        The log. A str/Path is a Parquet file, glob or folder, read by DuckDB (out of core).
    customer_id_col, datetime_col, monetary_value_col, datetime_format, observation_period_end, \
freq, freq_multiplier, include_first_transaction
        As in lifetimes. ``freq`` is one of ``SUPPORTED_FREQS``; ``freq_multiplier`` must be > 0.
        pandas dates are parsed by ``pd.to_datetime(format=datetime_format)`` as lifetimes does,
        other sources by DuckDB (ISO-8601 text, or ``strptime`` with ``datetime_format``).
    engine : {"auto", "stream", "sql"}
        See the module docstring; "auto" streams when the flags fit ``BITMAP_BUDGET``. To set
        DuckDB options (``memory_limit``, ``temp_directory``), pass ``con.read_parquet(path)``.

    Returns
    -------
    pandas.DataFrame
        ``frequency, recency, T[, monetary_value]`` (float64) indexed by customer id, sorted and
        named ``customer_id_col``; a pandas input's id dtype is kept (object: as lifetimes, the
        inferred one), else pandas' default for the Arrow type (``str`` for text, BIGINT ``int64``).

    Raises
    ------
    ValueError
        Bad freq/freq_multiplier, missing or non-numeric column, null ids/dates, unparseable dates.

    Notes
    -----
    As lifetimes: the default end is the max of the *raw* dates (text: '12/31/2019' > '01/05/2020'),
    NaN amounts add 0 to their period, tz-aware dates count in wall time. Unlike it: the first
    period (left out of monetary_value) is the earliest even for text dates that do not sort
    (lifetimes takes the lexicographically first), and null ids or dates raise.
    """
    _check_freq(freq, freq_multiplier)
    if engine not in ("auto", "stream", "sql"):
        raise ValueError(f"engine must be 'auto', 'stream' or 'sql', got {engine!r}")
    cols = list(dict.fromkeys(c for c in (customer_id_col, datetime_col, monetary_value_col) if c))
    id_col, dt_col, m_col, fmt = customer_id_col, datetime_col, monetary_value_col, datetime_format
    mult, include_first = float(freq_multiplier), include_first_transaction
    end_at = observation_period_end
    data, raw_max = _prepare(transactions, cols, dt_col, fmt, end_at)  # checks the columns
    id_dtype = transactions[id_col].dtype if isinstance(data, pd.DataFrame) else None
    with _source(data) as (run, log):
        schema = run(f"SELECT * FROM {log} LIMIT 0")
        types = dict(zip(schema.columns, map(str, schema.types), strict=True))
        missing = [c for c in (id_col, dt_col, m_col) if c is not None and c not in types]
        if missing:
            raise ValueError(f"transactions has no column(s) {missing}; it has {list(types)}")
        if m_col and types[m_col].split("(")[0] not in _NUMBERS:
            raise ValueError(f"monetary column {m_col!r} has type {types[m_col]}, not a number")
        id_type = types[id_col]
        ts_sql, bad = _timestamp_sql(dt_col, types[dt_col], fmt), "r IS NOT NULL AND t IS NULL"
        p, span = _period_expr("t", freq), "min(i), max(i)" if id_type in _DENSE else "0, 0"
        n = f"(SELECT {_q(id_col)} AS i, {_q(dt_col)} AS r, {ts_sql} AS t FROM {log}) AS n"
        n_rows, null_ids, null_dates, n_bad, max_dt, lo, hi, id_lo, id_hi = run(
            f"SELECT count(*), count(*) - count(i), count(*) - count(r), count(*) FILTER (WHERE {bad}),"
            f" max(t), min({p}), max({p}), {span} FROM {n}"
        ).fetchall()[0]
        if null_ids:
            raise ValueError(f"customer id column {id_col!r} has {null_ids} null values")
        if null_dates:
            raise ValueError(f"datetime column {dt_col!r} has {null_dates} null values")
        if n_bad:
            example = run(f"SELECT CAST(r AS VARCHAR) FROM {n} WHERE {bad} LIMIT 1").fetchall()
            raise ValueError(f"datetime column {dt_col!r} has {n_bad} values that are not dates, e.g. {example[0][0]!r}")  # fmt: skip
        if n_rows and end_at is None:  # lifetimes: the max of the raw column, text included
            if raw_max is None and ts_sql.startswith(("try_", "TRY_")):
                raw_max = run(f"SELECT max({_q(dt_col)}) FROM {log}").fetchall()[0][0]
            end_at = max_dt if raw_max is None else raw_max
        end = _end_period(end_at, fmt, freq) if n_rows else -1
        names = ["frequency", "recency", "T"] + (["monetary_value"] if m_col else [])
        ids, out, result = [], {c: np.zeros(0) for c in names}, None
        id_sql = _q(id_col) + (" :: VARCHAR" if id_type.startswith("ENUM") else "")
        m_sql = f", {_q(m_col)}" if m_col else ""  # the log with TIMESTAMP dates:
        norm = f"SELECT {id_sql} AS {_q(id_col)}, {ts_sql} AS {_q(dt_col)}{m_sql} FROM {log}"
        n_periods = end - lo + 1 if n_rows else 0
        dense = id_type in _DENSE and n_rows and (id_hi - id_lo + 1) * n_periods <= BITMAP_BUDGET
        dense = dense and id_hi - id_lo < 4 * n_rows
        cap = id_hi - id_lo + 1 if dense else min(n_rows, BITMAP_BUDGET // max(n_periods, 1))
        if n_periods > 0 and engine != "sql" and cap:
            key = f"CAST(customer_id - {id_lo} AS INTEGER)" if dense else "customer_id"
            amount = f", COALESCE(NULLIF(amount, {_NAN}), 0)" if m_col else ""
            where = f" WHERE period <= {end}" if end < hi else ""
            tx = _tx_sql(norm, id_col, dt_col, m_col, freq)
            sql = f"SELECT {key}, CAST(period - {lo} AS INTEGER){amount} FROM ({tx}) AS tx{where}"
            tables = _prefetch(_groups(run(sql).to_arrow_reader(), bool(dense)))
            with contextlib.closing(tables):  # stops the worker before any fallback query
                result = _stream(tables, n_periods, cap, bool(dense), m_col is not None)
            if result is None and engine == "stream":
                raise ValueError("engine='stream': customers x periods exceed BITMAP_BUDGET")
        if result is not None:
            ids, n, fp, lp, first, rest = result  # sorted by id
            ids = (ids + id_lo).astype(_DENSE[id_type]) if dense else ids.to_pandas()
            out = {"frequency": (n if include_first else n - 1).astype(float)}
            out["recency"] = (lp - fp).astype(float) / mult
            out["T"] = (end - lo - fp).astype(float) / mult
            if m_col and include_first:
                out["monetary_value"] = (first + rest) / n
            elif m_col:
                out["monetary_value"] = np.where(n > 1, rest / np.maximum(n - 1, 1), 0.0)
        elif n_periods > 0:
            sql = _rfm_sql(norm, id_col, dt_col, m_col, end, freq, mult, include_first)
            tbl = run(sql).to_arrow_table()
            ids, out = tbl.column(0).to_pandas(), {c: tbl.column(c).to_numpy() for c in names}
        index = pd.Index(ids, name=id_col)
        if id_dtype not in (None, object) and index.dtype != id_dtype:  # object: pandas infers
            index = index.astype(id_dtype)
        frame = pd.DataFrame(out, index=index)[names]
        return frame.sort_index() if isinstance(index.dtype, pd.CategoricalDtype) else frame
