"""RFM summaries (frequency, recency, T, monetary value) computed with DuckDB.

:func:`rfm_summary` returns what ``lifetimes.utils.summary_data_from_transaction_data`` does (to
float rounding) for pandas, Arrow, DuckDB relations or Parquet files (read out of core); periods are
integers from 0001-01-01, a Monday: days, days // 7 (pandas W-SUN weeks run Monday..Sunday), hours,
s, ms or us, whose differences equal lifetimes' ``(t1 - t0) / np.timedelta64(1, freq)``. Engine
"sql" runs :func:`rfm_sql`, a portable two-level GROUP BY that DuckDB can spill. Engine "stream"
(:mod:`segml.features.rfm_stream`) lets DuckDB parse, filter and number the periods and folds the
Arrow batches into numpy arrays: a ``customers x periods`` flag array (bytes, then bits) counts
distinct periods instead of a (customer, period) hash aggregation, and integer ids in a compact
range are not hashed at all. It needs at most ``BITMAP_BUDGET`` bytes whatever the log's length;
"auto" uses it when that suffices. An in-memory log or one Parquet file whose dates are timestamps
or dates and whose amounts are plain numbers skips DuckDB: its periods are numbered in numpy
(``arrow_batches``). Queries run on cursors of one private in-memory database, opened on first
use, and other in-memory logs are scanned as Arrow (:mod:`segml.features.rfm_source`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from segml.features.rfm_source import (
    _DENSE,
    _NAN,
    _UNIT,
    Bounds,
    _bounds,
    _column_types,
    _end_period,
    _prepare,
    _q,
    _source,
    _timestamp_sql,
    _tx_sql,
)
from segml.features.rfm_stream import arrow_batches, native_reader, stream_arrays

__all__ = ["BITMAP_BUDGET", "SUPPORTED_FREQS", "rfm_sql", "rfm_summary"]

SUPPORTED_FREQS: tuple[str, ...] = tuple(_UNIT)
#: Bytes of customer x period flags the streaming engine may use before it falls back to SQL.
BITMAP_BUDGET = 1 << 30


def _check_freq(freq: str, freq_multiplier: float) -> None:
    if freq not in _UNIT:
        hint = " (lifetimes fails for it too under pandas 3)" if freq != "ns" else ""
        raise ValueError(f"freq={freq!r} is not supported{hint}; use one of {SUPPORTED_FREQS}")
    m = freq_multiplier
    if isinstance(m, bool) or not isinstance(m, int | float | np.number) or not 0 < m < np.inf:
        raise ValueError(f"freq_multiplier must be a positive number, got {freq_multiplier!r}")


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
    On DuckDB over Parquet, NaN amounts are not skipped: DuckDB folds ``NULLIF(amount, NaN)``
    away on the file's statistics, which leave NaN out (:func:`rfm_summary` nulls them first).
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
    end_at = observation_period_end
    data, raw_max = _prepare(transactions, cols, dt_col, fmt, end_at)  # checks the columns
    id_dtype = transactions[id_col].dtype if isinstance(transactions, pd.DataFrame) else None
    names = ["frequency", "recency", "T"] + (["monetary_value"] if m_col else [])
    with _source(data) as (run, log):
        types = _column_types(run, log, data, id_col, dt_col, m_col)
        bounds = _bounds(run, log, data, types, id_col, dt_col, freq, fmt)
        ts_sql = _timestamp_sql(dt_col, types[dt_col], fmt)
        if bounds.n_rows and end_at is None:  # lifetimes: the max of the raw column, text included
            if raw_max is None and ts_sql.startswith(("try_", "TRY_")):
                raw_max = run(f"SELECT max({_q(dt_col)}) FROM {log}").fetchall()[0][0]
            end_at = bounds.max_dt if raw_max is None else raw_max
        end = _end_period(end_at, fmt, freq) if bounds.n_rows else -1
        ids, out = [], {c: np.zeros(0) for c in names}
        if bounds.n_rows and end >= bounds.lo:
            id_sql = _q(id_col) + (" :: VARCHAR" if types[id_col].startswith("ENUM") else "")
            m_sql = f", {_amount_sql(m_col, types[m_col])}" if m_col else ""
            # the log with TIMESTAMP dates:
            norm = f"SELECT {id_sql} AS {_q(id_col)}, {ts_sql} AS {_q(dt_col)}{m_sql} FROM {log}"
            kw = dict(
                freq=freq, mult=float(freq_multiplier), include_first=include_first_transaction
            )
            reader = native_reader(data, (id_col, dt_col, m_col))
            ids, out = _summarise(
                run, norm, (id_col, dt_col, m_col), types[id_col], end, bounds, engine, reader, **kw
            )
    index = pd.Index(ids, name=id_col)
    if id_dtype not in (None, object) and index.dtype != id_dtype:  # object: pandas infers
        index = index.astype(id_dtype)
    frame = pd.DataFrame(out, index=index, columns=names, copy=False)
    return frame.sort_index() if isinstance(index.dtype, pd.CategoricalDtype) else frame


def _amount_sql(m_col: str, kind: str) -> str:
    """The amount column, its NaNs NULL. DuckDB (2.0) trusts Parquet statistics, which leave NaN
    out: on a Parquet scan it folds ``isnan(m)`` to false and ``NULLIF(m, NaN)`` to ``m``, so a
    NaN amount made the customer's monetary value NaN. NaN is the one value neither finite nor
    infinite; ``isfinite`` is not folded, and the statistics do hold infinities."""
    m = _q(m_col)
    if kind not in ("FLOAT", "DOUBLE"):
        return m
    return f"CASE WHEN isfinite({m}) OR isinf({m}) THEN {m} END AS {m}"


def _summarise(run: Any, norm: str, cols: tuple[str, str, str | None], id_type: str, end: int,
               bounds: Bounds, engine: str, reader: Any, freq: str, mult: float,
               include_first: bool) -> Any:  # fmt: skip
    """``(ids, {column: values})`` of the summary, by the streaming engine or the SQL one
    (``reader``: the log's Arrow batches, read by the streaming engine without DuckDB)."""
    id_col, dt_col, m_col = cols
    n_periods, span = end - bounds.lo + 1, (bounds.id_hi or 0) - (bounds.id_lo or 0) + 1
    dense = id_type in _DENSE and span < 4 * bounds.n_rows
    dense = dense and span * ((n_periods + 7) // 8) <= BITMAP_BUDGET
    result = None
    if engine != "sql":
        batches = (
            None if reader is None else arrow_batches(reader(), cols, freq, end, bounds, dense)
        )
        result = stream_arrays(run, norm, cols, freq, end, bounds, dense, BITMAP_BUDGET, batches)
        if result is None and engine == "stream":
            raise ValueError("engine='stream': customers x periods exceed BITMAP_BUDGET")
    if result is None:
        sql = _rfm_sql(norm, id_col, dt_col, m_col, end, freq, mult, include_first)
        tbl = run(sql).to_arrow_table()
        return tbl.column(0).to_pandas(), {
            c: tbl.column(c).to_numpy() for c in tbl.column_names[1:]
        }
    ids, n, fp, lp, first, rest = result  # sorted by id
    ids = (ids + bounds.id_lo).astype(_DENSE[id_type]) if dense else ids.to_pandas()
    out = {"frequency": (n if include_first else n - 1).astype(float)}
    out["recency"] = (lp - fp).astype(float) / mult
    out["T"] = (end - bounds.lo - fp).astype(float) / mult
    if m_col and include_first:
        out["monetary_value"] = (first + rest) / n
    elif m_col:
        out["monetary_value"] = np.where(n > 1, rest / np.maximum(n - 1, 1), 0.0)
    return ids, out
