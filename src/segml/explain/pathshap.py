"""Exact TreeSHAP for xgboost's trees, by leaf tables: the same contributions as
``Booster.predict(pred_contribs=True)``, several times faster on a CPU.

Path-dependent TreeSHAP (Lundberg et al. 2020, Algorithm 2; what xgboost computes) gives each
leaf's share of a feature's contribution as a function of two things only: the cover ratios
``z`` along the leaf's path (fixed by the tree) and, for each distinct feature on the path,
whether the row satisfies every split of that feature on it (one bit per feature). A leaf at
depth ``d`` therefore has at most ``2**d`` possible contribution vectors, one per outcome of its
path's splits, computed once per booster (:func:`leaf_tables`); explaining a row is then, for
every leaf, reading its path's outcomes (each internal node is tested once per tree), one table
look-up and ``m`` additions (:func:`contributions`, compiled with numba, rows split over
threads). xgboost's CPU TreeSHAP re-runs the path algebra (``O(leaves × depth²)``) per row.

For leaf ``l`` with value ``v``, distinct path features ``U`` (``|U| = m``), cover ratios
``z_k`` (the product over the splits of ``k`` on the path) and bits ``o_k``, feature ``j``
receives ``v (o_j - z_j) Σ_{S ⊆ U∖j} |S|!(m-1-|S|)!/m! Π_{k∈S} o_k Π_{k∈U∖S∖j} z_k``.

The bias (expected margin) is xgboost's own, taken from one row of its TreeSHAP. Trees deeper
than :data:`MAX_TABLE_DEPTH`, tables larger than :data:`MAX_TABLE_ENTRIES`, and models this
module does not read (multi-output, forest, linear boosters) return ``None`` from :func:`leaf_tables`, and
the caller uses xgboost's TreeSHAP.
"""

from __future__ import annotations

import json
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from segml.boosters import SINGLE_THREAD_ROWS
from segml.compute import n_threads, thread_map, xgb_device
from segml.explain.pathshap_kernels import kernels as _kernels

__all__ = [
    "MAX_TABLE_DEPTH",
    "MAX_TABLE_ENTRIES",
    "LeafTables",
    "contributions",
    "leaf_tables",
    "table_contributions",
]

#: Most table entries (``Σ 2**depth × m`` over leaves, 8 bytes each) before xgboost is used instead.
MAX_TABLE_ENTRIES = 20_000_000
#: Deepest leaf explained by tables (``2**depth`` entries per leaf).
MAX_TABLE_DEPTH = 12


@dataclass(frozen=True)
class LeafTables:
    """The trees of one booster, flattened for :func:`contributions`.

    Nodes (tree by tree, ``tree_node[t]`` the first of tree ``t``): ``feature`` (-1 for a
    leaf), ``threshold`` (float32: "left if x < threshold"), ``default_left`` (missing values),
    ``is_cat`` and ``categories[cat_start:cat_end]`` (the categories a categorical split sends
    right). Leaves (``tree_leaf[t]`` the first of tree ``t``): ``depth``, the path
    (``path_node``: node within its tree, ``path_right``, ``path_slot``: which distinct
    feature), ``n_slots``, ``slot_feature``, and ``table[table_start:]``: ``2**depth × m``
    contributions (which of the path's splits the row follows, bit ``k`` for the ``k``-th,
    then feature slot).
    """

    feature: np.ndarray
    threshold: np.ndarray
    default_left: np.ndarray
    is_cat: np.ndarray
    cat_start: np.ndarray
    cat_end: np.ndarray
    categories: np.ndarray
    tree_node: np.ndarray
    tree_leaf: np.ndarray
    depth: np.ndarray
    path_node: np.ndarray
    path_right: np.ndarray
    path_slot: np.ndarray
    n_slots: np.ndarray
    slot_feature: np.ndarray
    table_start: np.ndarray
    table: np.ndarray
    n_features: int
    max_nodes: int


def _model(booster: Any) -> tuple[list[dict[str, Any]], int] | None:
    """The trees and feature count of a single-output tree booster (None for anything else)."""
    learner = json.loads(bytes(booster.save_raw("json")))["learner"]
    gb, param = learner["gradient_booster"], learner["learner_model_param"]
    if gb.get("name") != "gbtree" or int(param.get("num_target", "1")) != 1:
        return None
    model = gb["model"]
    if int(param.get("num_class", "0")) > 1 or any(model.get("tree_info", [])):
        return None
    if int(model["gbtree_model_param"].get("num_parallel_tree", "1")) != 1:
        return None
    return model["trees"], int(param["num_feature"])


def _leaf_paths(tree: dict[str, Any]) -> list[tuple[int, list[tuple[int, bool, float]]]]:
    """Each leaf and its path from the root: (node, goes right, cover ratio of that child)."""
    left, right, cover = tree["left_children"], tree["right_children"], tree["sum_hessian"]
    out: list[tuple[int, list[tuple[int, bool, float]]]] = []
    stack: list[tuple[int, list[tuple[int, bool, float]]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        if left[node] == -1:
            out.append((node, path))
            continue
        for child, goes_right in ((right[node], True), (left[node], False)):
            ratio = cover[child] / cover[node] if cover[node] > 0 else 0.0
            stack.append((child, [*path, (node, goes_right, ratio)]))
    return out


def _slots(
    tree: dict[str, Any], path: list[tuple[int, bool, float]]
) -> tuple[list[int], list[float], list[int]]:
    """The path's distinct features, their cover-ratio products and each split's slot."""
    feats: list[int] = []
    z: list[float] = []
    slot_of: list[int] = []
    for node, _, ratio in path:
        f = int(tree["split_indices"][node])
        if f not in feats:
            feats.append(f)
            z.append(1.0)
        k = feats.index(f)
        z[k] *= ratio
        slot_of.append(k)
    return feats, z, slot_of


def leaf_tables(booster: Any, n_trees: int | None = None) -> LeafTables | None:
    """The leaf tables of the first ``n_trees`` trees of ``booster`` (default: all), or None
    when this module cannot explain it (see the module's notes)."""
    read = _model(booster)
    if read is None:
        return None
    trees, n_features = read
    trees = trees[: len(trees) if n_trees is None else n_trees]
    nodes: dict[str, list[Any]] = {k: [] for k in ("feature", "threshold", "left", "cat", "c0", "c1")}  # fmt: skip
    cats: list[float] = []
    tree_node, tree_leaf = [0], [0]
    leaves: list[
        tuple[float, list[tuple[int, bool, float]], list[int], list[float], list[int]]
    ] = []
    for tree in trees:
        if not _add_nodes(tree, nodes, cats):
            return None
        for leaf, path in _leaf_paths(tree):
            feats, z, slot_of = _slots(tree, path)
            leaves.append((float(tree["split_conditions"][leaf]), path, feats, z, slot_of))
        tree_node.append(len(nodes["feature"]))
        tree_leaf.append(len(leaves))
    return _flatten(nodes, cats, tree_node, tree_leaf, leaves, n_features)


def _add_nodes(tree: dict[str, Any], nodes: dict[str, list[Any]], cats: list[float]) -> bool:
    """Append one tree's nodes; False for a split this module does not read."""
    left, split_type = tree["left_children"], tree.get("split_type") or [0] * len(tree["left_children"])  # fmt: skip
    cat_of = {
        int(n): (int(s), int(s) + int(k))
        for n, s, k in zip(tree.get("categories_nodes", []), tree.get("categories_segments", []),
                           tree.get("categories_sizes", []), strict=True)
    }  # fmt: skip
    values = tree.get("categories", [])
    for node in range(len(left)):
        leaf = left[node] == -1
        cat = not leaf and int(split_type[node]) == 1
        if cat and node not in cat_of or int(split_type[node]) not in (0, 1):
            return False
        nodes["feature"].append(-1 if leaf else int(tree["split_indices"][node]))
        nodes["threshold"].append(0.0 if leaf or cat else float(tree["split_conditions"][node]))
        nodes["left"].append(bool(tree["default_left"][node]))
        nodes["cat"].append(cat)
        nodes["c0"].append(len(cats))
        if cat:
            a, b = cat_of[node]
            cats.extend(float(v) for v in values[a:b])
        nodes["c1"].append(len(cats))
    return True


def _flatten(
    nodes: dict[str, list[Any]],
    cats: list[float],
    tree_node: list[int],
    tree_leaf: list[int],
    leaves: list[tuple[float, list[tuple[int, bool, float]], list[int], list[float], list[int]]],
    n_features: int,
) -> LeafTables | None:
    depth = np.array([len(p) for _, p, _, _, _ in leaves], dtype=np.int64)
    n_slots = np.array([len(f) for _, _, f, _, _ in leaves], dtype=np.int64)
    deepest = int(depth.max()) if len(depth) else 0
    if deepest > MAX_TABLE_DEPTH:
        return None
    sizes = (1 << depth) * n_slots  # every outcome of the path's splits × its features
    if int(sizes.sum()) > MAX_TABLE_ENTRIES:
        return None
    width = max(deepest, 1)
    path_node = np.zeros((len(leaves), width), dtype=np.int64)
    path_right = np.zeros((len(leaves), width), dtype=np.uint8)
    path_slot = np.zeros((len(leaves), width), dtype=np.int64)
    slot_feature = np.zeros((len(leaves), width), dtype=np.int64)
    z = np.zeros((len(leaves), width))
    value = np.zeros(len(leaves))
    for i, (v, path, feats, zs, slot_of) in enumerate(leaves):
        value[i] = v
        for d, (node, right, _) in enumerate(path):
            path_node[i, d], path_right[i, d], path_slot[i, d] = node, right, slot_of[d]
        slot_feature[i, : len(feats)] = feats
        z[i, : len(zs)] = zs
    table_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    table = np.zeros(int(table_start[-1]))
    _kernels()[0](value, z, n_slots, depth, path_slot, table_start, table)
    return LeafTables(
        feature=np.array(nodes["feature"], dtype=np.int64),
        threshold=np.array(nodes["threshold"], dtype=np.float32),
        default_left=np.array(nodes["left"], dtype=np.uint8),
        is_cat=np.array(nodes["cat"], dtype=np.uint8),
        cat_start=np.array(nodes["c0"], dtype=np.int64),
        cat_end=np.array(nodes["c1"], dtype=np.int64),
        categories=np.array(cats, dtype=np.float64),
        tree_node=np.array(tree_node, dtype=np.int64),
        tree_leaf=np.array(tree_leaf, dtype=np.int64),
        depth=depth,
        path_node=path_node,
        path_right=path_right,
        path_slot=path_slot,
        n_slots=n_slots,
        slot_feature=slot_feature,
        table_start=table_start,
        table=table,
        n_features=n_features,
        max_nodes=max(np.diff(tree_node), default=1),
    )


def contributions(tables: LeafTables, X: np.ndarray, n_jobs: int | None = None) -> np.ndarray:
    """Every row's contribution of every feature (rows × features, float64; no bias column).

    ``X``: the rows as xgboost reads them (booster feature order, categories as their codes,
    NaN for missing), converted to float32 as xgboost does. Rows are split over ``n_jobs``
    threads (default :func:`segml.compute.n_threads`; one below
    :data:`segml.boosters.SINGLE_THREAD_ROWS` rows); each row is computed alone, so the
    result does not depend on the thread count.

    Examples
    --------
    >>> import xgboost as xgb
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> bst = xgb.train({"max_depth": 3}, xgb.DMatrix(X, label=X[:, 0] * X[:, 1]), 5)
    >>> ours = contributions(leaf_tables(bst), X)
    >>> theirs = bst.predict(xgb.DMatrix(X), pred_contribs=True)[:, :-1]
    >>> bool(np.allclose(ours, theirs, atol=1e-5))
    True
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != tables.n_features:
        raise ValueError(f"expected rows of {tables.n_features} features, got shape {X.shape}")
    out = np.zeros((X.shape[0], tables.n_features))
    workers = 1 if len(X) < SINGLE_THREAD_ROWS else n_threads(n_jobs)
    bounds = np.linspace(0, len(X), workers + 1).astype(int)
    kernel, t = _kernels()[1], tables

    def run(part: tuple[int, int]) -> None:
        a, b = part
        kernel(
            X[a:b], out[a:b], t.feature, t.threshold, t.default_left, t.is_cat, t.cat_start,
            t.cat_end, t.categories, t.tree_node, t.tree_leaf, t.depth, t.path_node,
            t.path_right, t.n_slots, t.slot_feature, t.table_start, t.table, t.max_nodes,
        )  # fmt: skip

    list(thread_map(run, list(zip(bounds[:-1], bounds[1:], strict=True)), workers))
    return out


_TABLES: weakref.WeakKeyDictionary[Any, dict[int | None, tuple[LeafTables, float] | None]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def table_contributions(
    booster: Any,
    d: Any,
    data: np.ndarray | None,
    iteration_range: tuple[int, int] | None = None,
) -> np.ndarray | None:
    """What ``booster.predict(d, pred_contribs=True, iteration_range=…)`` gives (float64,
    bias last), from the booster's leaf tables; None where xgboost must compute them.

    ``data``: the float array ``d`` was made of. xgboost's own TreeSHAP is kept for a
    booster on a GPU, for trees :func:`leaf_tables` does not read, and for an iteration range
    that does not start at the first tree. The tables (and the bias, from xgboost's TreeSHAP
    of one row) are made once per booster and kept while it lives.
    """
    if data is None or not len(data):
        return None
    start, stop = (0, 0) if iteration_range is None else iteration_range
    if start != 0:
        return None
    source = getattr(booster, "source", booster)  # a SharedBooster's own booster
    with _LOCK:
        made = _TABLES.setdefault(source, {})
        if stop not in made:
            made[stop] = _tables_and_bias(booster, source, d, iteration_range, stop)
        entry = made[stop]
    if entry is None:
        return None
    tables, bias = entry
    out = np.empty((len(data), tables.n_features + 1))
    out[:, :-1] = contributions(tables, data)
    out[:, -1] = bias
    return out


def _tables_and_bias(
    booster: Any, source: Any, d: Any, iteration_range: tuple[int, int] | None, stop: int
) -> tuple[LeafTables, float] | None:
    config = json.loads(source.save_config())["learner"].get("generic_param", {})
    if str(config.get("device", "cpu")).startswith("cuda") or xgb_device() == "cuda":
        return None
    tables = leaf_tables(source, stop or None)
    if tables is None:
        return None
    kw = {} if iteration_range is None else {"iteration_range": iteration_range}
    bias = float(booster.predict(d.slice([0]), pred_contribs=True, **kw)[0, -1])
    return tables, bias
