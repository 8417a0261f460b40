"""The streaming engine of :mod:`segml.features.rfm`: Arrow batches folded into numpy arrays.

DuckDB parses, filters and numbers the periods; a ``customers x periods`` flag array counts each
customer's distinct periods (one byte a flag while that fits the budget, then one bit), so no
(customer, period) hash aggregation is needed; integer ids in a compact range are not hashed.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segml.features.rfm_source import _NAN, Bounds, _tx_sql

_GROUP_ROWS = 1 << 20
_BIT = np.left_shift(np.uint8(1), np.arange(8, dtype=np.uint8))


class _Flags:
    """Which (customer, period) pairs occurred, for up to ``customers`` customers in ``budget`` bytes.

    One byte a flag while the customers fit, then (:meth:`reserve`) one bit: 8 times as many. Room
    grows with the customers seen (a bound-sized calloc may be memset by malloc, and touched).
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
        if nk > self.cap and not self.bits and nk > self.budget // self.p:
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
    keys = np.flatnonzero(last[:nk]) if dense else pc.sort_indices(known).to_numpy()
    fp, lp = n_periods - head[keys].astype(np.int64), last[keys].astype(np.int64) - 1
    ids = keys if dense else known.take(keys)
    return ids, flags.count(keys), fp, lp, first[keys], rest[keys]


def stream_arrays(run: Callable[[str], Any], norm: str, cols: tuple[str, str, str | None],
                  freq: str, end: int, bounds: Bounds, dense: bool, budget: int) -> Any:  # fmt: skip
    """Run the streaming engine over the log query ``norm`` (TIMESTAMP dates).

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
    flags = _Flags(n_periods, budget, customers, exact=dense)
    if not flags.most or (dense and flags.cap < customers):
        return None
    key = f"CAST(customer_id - {id_lo} AS INTEGER)" if dense else "customer_id"
    amount = f", COALESCE(NULLIF(amount, {_NAN}), 0)" if m_col else ""
    where = f" WHERE period <= {end}" if end < bounds.hi else ""
    tx = _tx_sql(norm, id_col, dt_col, m_col, freq)
    rel = run(f"SELECT {key}, CAST(period - {lo} AS INTEGER){amount} FROM ({tx}) AS tx{where}")
    if bounds.n_rows <= _GROUP_ROWS:  # one group: no worker thread
        tables = _groups(rel.to_arrow_table().to_batches(), dense)
    else:
        tables = _prefetch(_groups(rel.to_arrow_reader(min(_GROUP_ROWS, 1 << 17)), dense))
    with contextlib.closing(tables):  # stops the worker before any fallback query
        return _fold(tables, flags, dense, m_col is not None)
