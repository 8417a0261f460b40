"""The compiled parts of :mod:`segml.explain.pathshap`: the leaf-table builder and the row
kernel (numba; imported, and compiled or loaded from numba's cache, on first use only)."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ROW_BLOCK", "kernels"]

#: Rows explained together, tree by tree (their features and contributions stay in cache).
ROW_BLOCK = 64


def cache_dir() -> Path | None:
    """Where numba keeps segml's compiled kernels: ``$XDG_CACHE_HOME/segml/numba`` (default
    ``~/.cache``), never beside the source (that may be read-only, or the copy of segml an
    exported model ships). None when it cannot be written: the kernels compile in each process.
    """
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(root) / "segml" / "numba"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


@functools.cache
def kernels() -> tuple[Any, Any]:
    """The compiled table builder and row kernel (numba is imported, and compiles or loads its
    cache, on first use only)."""
    return _jit(_fill_tables), _jit(_rows, nogil=True)


def _jit(fn: Any, **flags: Any) -> Any:
    """``fn`` compiled by numba, cached in :func:`cache_dir` (or where ``NUMBA_CACHE_DIR``
    says; nowhere when neither can be written)."""
    import numba

    own = numba.config.CACHE_DIR  # NUMBA_CACHE_DIR, when the user set it
    where = own or cache_dir()
    if not where:
        return numba.njit(**flags)(fn)
    numba.config.CACHE_DIR = str(where)  # read when the function is decorated
    try:
        return numba.njit(cache=True, **flags)(fn)
    except RuntimeError:  # numba found no usable cache location after all
        return numba.njit(**flags)(fn)
    finally:
        numba.config.CACHE_DIR = own


def _fill_tables(value, z, n_slots, depth, path_slot, table_start, table):  # type: ignore[no-untyped-def]  # fmt: skip
    """Each leaf's contributions for every outcome of its path's splits (``table``)."""
    for leaf in range(len(value)):
        m, d = n_slots[leaf], depth[leaf]
        if m == 0:
            continue
        w = np.empty(m)
        for s in range(m):
            w[s] = math.exp(math.lgamma(s + 1) + math.lgamma(m - s) - math.lgamma(m + 1))
        by_pattern = np.empty(((1 << m), m))  # the distinct features' bits → contributions
        poly = np.empty(m + 1)
        for pattern in range(1 << m):
            for j in range(m):
                poly[:] = 0.0
                poly[0] = 1.0
                size = 0
                for k in range(m):
                    if k == j:
                        continue
                    zk = z[leaf, k]
                    if (pattern >> k) & 1:
                        for s in range(size + 1, 0, -1):
                            poly[s] = poly[s] * zk + poly[s - 1]
                        poly[0] *= zk
                        size += 1
                    else:
                        for s in range(size + 1):
                            poly[s] *= zk
                total = 0.0
                for s in range(size + 1):
                    total += w[s] * poly[s]
                o_j = float((pattern >> j) & 1)
                by_pattern[pattern, j] = value[leaf] * (o_j - z[leaf, j]) * total
        for agree in range(1 << d):  # which splits of the path the row follows → pattern
            pattern = (1 << m) - 1
            for k in range(d):
                if not (agree >> k) & 1:
                    pattern &= ~(1 << path_slot[leaf, k])
            for j in range(m):
                table[table_start[leaf] + agree * m + j] = by_pattern[pattern, j]


def _rows(X, out, feature, threshold, default_left, is_cat, cat_start, cat_end, categories,
         tree_node, tree_leaf, depth, path_node, path_right, n_slots, slot_feature,
         table_start, table, max_nodes):  # type: ignore[no-untyped-def]  # fmt: skip
    """Add every tree's contributions of each row of ``X`` to ``out`` (rows × features)."""
    right = np.zeros(max_nodes, dtype=np.uint8)
    n = X.shape[0]
    for b0 in range(0, n, ROW_BLOCK):  # a block of rows stays in cache across the trees
        b1 = min(n, b0 + ROW_BLOCK)
        for t in range(len(tree_node) - 1):
            n0 = tree_node[t]
            for i in range(b0, b1):
                for node in range(n0, tree_node[t + 1]):
                    f = feature[node]
                    if f < 0:
                        continue
                    v = X[i, f]
                    if math.isnan(v):
                        r = 1 - default_left[node]
                    elif is_cat[node]:
                        r = 0
                        for q in range(cat_start[node], cat_end[node]):
                            if categories[q] == v:
                                r = 1
                                break
                    else:
                        r = 1 if v >= threshold[node] else 0
                    right[node - n0] = r
                for leaf in range(tree_leaf[t], tree_leaf[t + 1]):
                    agree = 0
                    for k in range(depth[leaf]):
                        agree |= (1 - (right[path_node[leaf, k]] ^ path_right[leaf, k])) << k
                    m = n_slots[leaf]
                    base = table_start[leaf] + agree * m
                    for s in range(m):
                        out[i, slot_feature[leaf, s]] += table[base + s]
