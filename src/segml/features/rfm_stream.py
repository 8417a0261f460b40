"""The streaming engine of :mod:`segml.features.rfm`: Arrow batches folded into numpy arrays.

DuckDB parses, filters and numbers the periods; a ``customers x periods`` flag array counts each
customer's distinct periods (one byte a flag while that fits the budget, then one bit), so no
(customer, period) hash aggregation is needed; integer ids in a compact range are not hashed.
An Arrow log or one Parquet file whose dates are already timestamps or dates and whose amounts are
plain numbers skips DuckDB (:func:`native_reader`): :func:`arrow_batches` numbers its periods in
numpy, slice by slice; the ids are read where they lie, Parquet text ids as the file's own
dictionaries (no text copied out of a query and hashed again).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from segml.features.rfm_source import Bounds, _tx_sql

_GROUP_ROWS = 1 << 20
_SLICE_ROWS = 1 << 17  # rows numbered at once by arrow_batches (its temporaries stay small)
#: Parquet files up to this many rows are read by pyarrow (measured: 100k rows 1.06 -> 0.77 of
#: the plain DuckDB query, 1M 0.80 -> 0.49); above, DuckDB's parallel reading is the faster
#: (10M: even; 100M rows of 969k customers: 1.7x slower by pyarrow, whose per-row-group
#: dictionaries of ~640k ids each must be unified and looked up).
NATIVE_PARQUET_ROWS = 1 << 22
_UNIT_US = {"s": 10**6, "ms": 10**3, "us": 1}  # microseconds a timestamp unit
_US = {"D": 86_400 * 10**6, "W": 86_400 * 10**6, "h": 3_600 * 10**6, "s": 10**6, "ms": 10**3,
       "us": 1}  # fmt: skip
_EPOCH_DAY = 719_162  # 1970-01-01 less 0001-01-01, in days
_BIT = np.left_shift(np.uint8(1), np.arange(8, dtype=np.uint8))


class _Flags:
    """Which (customer, period) pairs occurred, for up to ``customers`` customers in ``budget`` bytes.

    One byte a flag while the customers fill at most half the budget, then (:meth:`reserve`) one
    bit: 8 times as many. Room grows with the customers seen (a bound-sized calloc may be memset
    by malloc, and touched).
    """

    def __init__(self, n_periods: int, budget: int, customers: int, exact: bool) -> None:
        self.p, self.budget, self.customers, self.n = n_periods, budget, customers, 0
        self.bits = exact and customers * n_periods > budget  # else bytes while they fit
        self.row = (n_periods + 7) // 8 if self.bits else n_periods  # bytes a customer
        self.cap = min(customers, budget // self.row) if exact else 0
        self.flags = np.zeros(self.cap * self.row, np.uint8 if self.bits else bool)

    @property
    def most(self) -> int:
        """The most customers this can ever hold."""
        return min(self.customers, self.budget // ((self.p + 7) // 8))

    def reserve(self, nk: int) -> bool:
        """Make room for customers ``0..nk-1`` (switching to bits if needed); False if none."""
        # bits once the customers seen fill half the bytes' room: growing bytes to the budget
        # and packing them then cost 1.8 of 5.3 s on 10M rows of 1M customers
        if nk > self.cap and not self.bits and 2 * nk > self.budget // self.p:
            old = self.flags[: self.n * self.p].reshape(self.n, self.p)
            self.bits, self.row, self.cap = True, (self.p + 7) // 8, self.n
            self.flags = np.packbits(old, axis=1, bitorder="little").ravel()
        if nk > self.cap:
            limit = min(self.customers, self.budget // self.row)  # in this representation
            if nk > limit:
                return False
            grown = np.zeros(min(limit, max(nk, 2 * self.cap)) * self.row, self.flags.dtype)
            grown[: self.n * self.row] = self.flags[: self.n * self.row]
            self.flags, self.cap = grown, len(grown) // self.row
        self.n = max(self.n, nk)
        return True

    def add(self, codes: np.ndarray, q: np.ndarray) -> None:
        """Flag (customer ``codes``, period ``q``) pairs."""
        if self.bits:
            np.bitwise_or.at(self.flags, codes * self.row + (q >> 3), _BIT[q & 7])
        else:
            self.flags[codes * self.p + q] = True

    def count(self, keys: np.ndarray) -> np.ndarray:
        """Distinct periods of customers ``keys``."""
        rows = self.flags[: self.n * self.row].reshape(self.n, self.row)
        if self.bits:
            return np.bitwise_count(rows).sum(axis=1, dtype=np.int64)[keys]
        return np.count_nonzero(rows, axis=1)[keys]


def _groups(batches: Iterable[pa.RecordBatch], dense: bool) -> Iterator[tuple[Any, ...]]:
    """``(table, customer codes, ids so far)`` per >= ``_GROUP_ROWS`` rows; dense ids are codes."""
    pending, known = [], None
    for batch in itertools.chain(batches, [None]):
        pending += [] if batch is None else [batch]
        # a group looks its ids up in a hash of all ids seen: at least twice their number of rows
        least = max(_GROUP_ROWS, 2 * len(known)) if known is not None else _GROUP_ROWS
        if sum(map(len, pending)) < (1 if batch is None else least):
            continue
        tbl, pending = pa.Table.from_batches(pending), []
        if dense:
            yield tbl, tbl.column(0).to_numpy().astype(np.int64), None
            continue
        col = tbl.column(0)
        if pa.types.is_dictionary(col.type):  # e.g. one dictionary per Parquet row group
            enc = col.unify_dictionaries()
        else:
            enc = pc.dictionary_encode(col)  # the chunks share one dictionary
            if len({len(c.dictionary) for c in enc.chunks}) > 1:
                enc = enc.unify_dictionaries()
        dic, local = enc.chunk(0).dictionary, np.concatenate([c.indices for c in enc.chunks])
        if known is None:  # the first group's codes are its own
            known = dic
            yield tbl, local.astype(np.int64), known
            continue
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


def _fold(tables: Iterable[tuple[Any, ...]], flags: _Flags, dense: bool, money: bool) -> Any:
    """Fold ``(customer, period - lo[, amount])`` tables into per-customer arrays (None past the
    flags' room). All calloc'ed, 0 = none yet: ``head`` = n_periods - first period, ``last`` =
    last period + 1; ``first``/``rest``: amounts of the first / later periods."""
    n_periods, arrays = flags.p, [np.zeros(0, t) for t in ("i4", "i4", "f8", "f8")]
    known, nk = None, 0
    for tbl, codes, known in tables:
        nk = max(nk, int(codes.max()) + 1) if dense else len(known)
        if not flags.reserve(nk):
            return None
        if len(arrays[0]) < flags.cap:  # grow as the flags did
            arrays = [np.concatenate([a, np.zeros(flags.cap - len(a), a.dtype)]) for a in arrays]
        head, last, first, rest = arrays
        q = tbl.column(1).to_numpy()
        flags.add(codes, q)
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
    if dense:
        keys = np.flatnonzero(last[:nk])
    else:  # a dictionary read as such may hold ids without rows (or whose rows are after end)
        keys = pc.sort_indices(known).to_numpy()
        keys = keys[last[keys] > 0]
    fp, lp = n_periods - head[keys].astype(np.int64), last[keys].astype(np.int64) - 1
    ids = keys if dense else known.take(keys)
    return ids, flags.count(keys), fp, lp, first[keys], rest[keys]


def _native_schema(schema: pa.Schema, cols: tuple[str, str, str | None]) -> bool:
    """Dates zone-less timestamps (s, ms, us) or dates; amounts integers or floats; ids text,
    text dictionaries or integers."""
    id_col, dt_col, m_col = cols
    try:
        ids, dates = schema.field(id_col).type, schema.field(dt_col).type
        amounts = None if m_col is None else schema.field(m_col).type
    except KeyError:  # a name held twice
        return False
    if pa.types.is_dictionary(ids):
        ids = ids.value_type
    ok_ids = pa.types.is_string(ids) or pa.types.is_large_string(ids) or pa.types.is_integer(ids)
    ok_dates = pa.types.is_date32(dates) or (
        pa.types.is_timestamp(dates) and dates.tz is None and dates.unit in _UNIT_US
    )
    ok_amounts = amounts is None or pa.types.is_integer(amounts) or pa.types.is_floating(amounts)
    return ok_ids and ok_dates and ok_amounts


def native_reader(data: Any, cols: tuple[str, str, str | None]) -> Callable[[], Any] | None:
    """A reader of the log's batches for :func:`arrow_batches` (None when DuckDB must read it):
    an Arrow table, or one Parquet file of up to :data:`NATIVE_PARQUET_ROWS` rows (text ids read
    as the file's own dictionaries), whose columns have the types ``arrow_batches`` reads."""
    names = list(dict.fromkeys(c for c in cols if c))
    if isinstance(data, pa.Table):
        if not _native_schema(data.schema, cols):
            return None
        return lambda: data.select(names).to_batches(_SLICE_ROWS)
    if not isinstance(data, str | Path) or not Path(data).is_file():
        return None
    try:
        with pq.ParquetFile(data) as file:
            rows, schema = file.metadata.num_rows, file.schema_arrow
    except (OSError, pa.ArrowException):
        return None
    if rows > NATIVE_PARQUET_ROWS or not _native_schema(schema, cols):
        return None
    text = not pa.types.is_integer(schema.field(cols[0]).type)
    kw = {"read_dictionary": [cols[0]]} if text else {}
    return lambda: pq.ParquetFile(data, **kw).iter_batches(_SLICE_ROWS, columns=names)


def _periods(dates: pa.Array, freq: str) -> np.ndarray:
    """Period numbers (int64, from 0001-01-01) of timestamps or dates, as ``_period_expr`` gives."""
    v = dates.to_numpy(zero_copy_only=False).view(np.int64)
    per_day = _US["D"] // _US[freq]  # periods a day ("W": days, then // 7)
    if pa.types.is_date32(dates.type):  # days since 1970-01-01
        out = (v + _EPOCH_DAY) * per_day
    else:
        out = v * _UNIT_US[dates.type.unit] // _US[freq] + _EPOCH_DAY * per_day
    return out // 7 if freq == "W" else out


def arrow_batches(batches: Iterable[pa.RecordBatch], cols: tuple[str, str, str | None], freq: str,
                  end: int, bounds: Bounds, dense: bool) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """The batches the DuckDB query of :func:`stream_arrays` yields, from a log's Arrow batches
    (:func:`native_reader`), numbered in numpy.

    ``(key, period - lo, amount)``: key is the id (less ``bounds.id_lo`` when ``dense``), the
    amount a float64 whose nulls and NaNs are 0; rows after period ``end`` are left out. The
    log must have been checked (no null ids or dates: ``_arrow_bounds``, ``_parquet_bounds``).
    """
    id_col, dt_col, m_col = cols
    for batch in batches:
        q = _periods(batch.column(dt_col), freq) - bounds.lo
        key = batch.column(id_col)
        if dense:
            key = pa.array(key.to_numpy() - np.int64(bounds.id_lo))
        out = [key, pa.array(q.astype(np.int32))]
        if m_col:
            m = pc.fill_null(batch.column(m_col), 0).to_numpy().astype(np.float64)
            if np.isnan(m).any():
                m = np.where(np.isnan(m), 0.0, m)
            out.append(pa.array(m))
        rb = pa.RecordBatch.from_arrays(out, names=[str(i) for i in range(len(out))])
        if end < bounds.hi:
            rb = rb.filter(pa.array(q <= end - bounds.lo))
        if rb.num_rows:
            yield rb


def stream_arrays(run: Callable[[str], Any], norm: str, cols: tuple[str, str, str | None],
                  freq: str, end: int, bounds: Bounds, dense: bool, budget: int,
                  native: Iterator[pa.RecordBatch] | None = None) -> Any:  # fmt: skip
    """Run the streaming engine over the log query ``norm`` (TIMESTAMP dates, NaN amounts NULL).

    ``native`` (:func:`arrow_batches`) replaces the query when given.

    Returns
    -------
    tuple or None
        ``(ids, n_periods, first period, last period, first amount, repeat amount)`` per customer,
        sorted by id (periods from ``bounds.lo``; dense ids less ``bounds.id_lo``), or None when
        the flags would need more than ``budget`` bytes.
    """
    id_col, dt_col, m_col = cols
    n_periods, lo, id_lo = end - bounds.lo + 1, bounds.lo, bounds.id_lo
    customers = bounds.id_hi - id_lo + 1 if dense else bounds.n_rows  # at most
    if n_periods > np.iinfo(np.int32).max:  # periods are numbered in int32 (e.g. "ms" > 24 days)
        return None
    flags = _Flags(n_periods, budget, customers, exact=dense)
    if not flags.most or (dense and flags.cap < customers):
        return None
    if native is not None:
        batches: Iterable[pa.RecordBatch] = native
    else:
        key = f"CAST(customer_id - {id_lo} AS INTEGER)" if dense else "customer_id"
        amount = ", COALESCE(amount, 0)" if m_col else ""  # norm has made NaN amounts NULL
        where = f" WHERE period <= {end}" if end < bounds.hi else ""
        tx = _tx_sql(norm, id_col, dt_col, m_col, freq)
        rel = run(f"SELECT {key}, CAST(period - {lo} AS INTEGER){amount} FROM ({tx}) AS tx{where}")
        small = bounds.n_rows <= _GROUP_ROWS
        batches = rel.to_arrow_table().to_batches() if small else rel.to_arrow_reader(_SLICE_ROWS)
    if bounds.n_rows <= _GROUP_ROWS:  # one group: no worker thread
        tables = _groups(batches, dense)
    else:
        tables = _prefetch(_groups(batches, dense))
    with contextlib.closing(tables):  # stops the worker before any fallback query
        return _fold(tables, flags, dense, m_col is not None)
