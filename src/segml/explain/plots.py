"""Figures of a model explanation for the model-review meeting, written as PNG files.

:func:`plot_global` (shap beeswarm and mean-|contribution| bar), :func:`plot_tier_drivers`
(heatmap of :func:`tier_driver_table`: mean contribution of the top facet groups per tier),
:func:`plot_dependence` (shap scatter of the top features) and :func:`plot_waterfalls` (shap
waterfall of each tier's median customers, :func:`example_customers`) write files named after
the output (``value_score_beeswarm.png``) and return their paths. Features carry catalogue
display names and units; point clouds are thinned to :data:`MAX_POINTS` evenly spaced rows.

Figures are drawn with pyplot (shap's plots need it) with interactive mode off, rendered to PNG
by Agg and closed at once: nothing is shown. Agg is selected when no backend has been chosen
yet; a backend the session chose (a notebook's) is left alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shap

from segml.explain.reasons import feature_texts, format_value, group_contributions
from segml.explain.result import ModelExplanation
from segml.money import signed_compact

__all__ = ["MAX_POINTS", "example_customers", "plot_dependence", "plot_global", "plot_tier_drivers", "plot_waterfalls", "tier_driver_table"]  # fmt: skip

#: Most customers drawn in a beeswarm or dependence plot (evenly spaced rows beyond that).
MAX_POINTS = 5_000
DPI = 110
PathLike = str | os.PathLike[str]


def _pyplot() -> Any:
    import matplotlib

    try:  # matplotlib < 3.10 cannot tell whether a backend was chosen: keep what it resolves
        unset = matplotlib.get_backend(auto_select=False) is None
    except TypeError:
        unset = False
    if unset:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def _figure(path: Path) -> Iterator[Any]:
    """A fresh current pyplot figure, saved to ``path`` on success and always closed."""
    plt = _pyplot()
    before = set(plt.get_fignums())
    with plt.ioff():  # shap's waterfall switches interactive mode off for good; restored here
        fig = plt.figure()
        try:
            yield fig
            fig.savefig(path, format="png", dpi=DPI, bbox_inches="tight")
        finally:
            plt.close(fig)
            for num in set(plt.get_fignums()) - before:  # any figure shap opened on its own
                plt.close(num)


def _folder(folder: PathLike) -> Path:
    (out := Path(folder)).mkdir(parents=True, exist_ok=True)
    return out


def _safe(text: object) -> str:
    """``text`` usable in a file name."""
    return re.sub(r"[^\w.-]+", "_", str(text)).strip("_") or "_"


def _even_rows(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """At most ``limit`` evenly spaced row indices of ``n`` rows (all of them when fewer)."""
    if n <= limit:
        return np.arange(n)
    return np.arange(limit) * n // limit


def _unit(unit: str) -> str:
    return f" ({unit})" if unit else ""


def _money_ticks(axis: Any, unit: str) -> None:
    """``100k``, ``1.5M`` tick labels on an axis in CNY (no ``1e6`` offset, no crowding)."""
    if unit.startswith("CNY"):
        from matplotlib.ticker import EngFormatter

        axis.set_major_formatter(EngFormatter(sep=""))


def _display_names(names: list[str]) -> list[str]:
    """Catalogue display names, made unique by appending the column name where they clash."""
    shown = [t.display for t in feature_texts(names)]
    counts = pd.Series(shown).value_counts()
    return [s if counts[s] == 1 else f"{s} ({n})" for s, n in zip(shown, names, strict=True)]


def _displayed(exp: ModelExplanation, rows: np.ndarray) -> shap.Explanation:
    """``rows`` of the explanation with display names as feature names."""
    return shap.Explanation(
        values=exp.values[rows],
        base_values=exp.base_values[rows],
        data=exp.data[rows],
        feature_names=_display_names(exp.feature_names),
        instance_names=list(exp.ids[rows]),
        output_names=exp.output.label,
    )


#: A beeswarm's axis spans the central 99 % of the contributions (0.5th to 99.5th percentile)
#: when the extremes would stretch it more than ``CLIP_STRETCH`` times: otherwise a few very
#: large customers flatten every other point onto 0. Clipped points are drawn at the edge.
CLIP_QUANTILES, CLIP_STRETCH = (0.005, 0.995), 3.0


def _clipped(shown: shap.Explanation) -> tuple[shap.Explanation, int]:
    """``shown`` with its contributions clipped to :data:`CLIP_QUANTILES` when the extremes
    stretch the axis (:data:`CLIP_STRETCH`); the number of values clipped."""
    v = np.asarray(shown.values, dtype=float)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return shown, 0
    lo, hi = np.quantile(finite, CLIP_QUANTILES)
    if hi - lo <= 0 or (finite.max() - finite.min()) <= CLIP_STRETCH * (hi - lo):
        return shown, 0
    n = int(((v < lo) | (v > hi)).sum())
    out = shap.Explanation(
        values=np.clip(v, lo, hi), base_values=shown.base_values, data=shown.data,
        feature_names=shown.feature_names, instance_names=shown.instance_names,
        output_names=shown.output_names,
    )  # fmt: skip
    return out, n


def _check(exp: ModelExplanation, tiers: Any = None) -> np.ndarray | None:
    if len(exp) == 0:
        raise ValueError("the explanation has no customers to plot")
    if tiers is None:
        return None
    t = np.asarray(tiers, dtype=object)
    if t.shape != (len(exp),):
        raise ValueError(f"tiers has shape {t.shape} but the explanation {len(exp)} rows")
    return t


def plot_global(exp: ModelExplanation, folder: PathLike, max_display: int = 15) -> list[Path]:
    """Global importance: a beeswarm and a bar of mean |contribution| per feature.

    Parameters
    ----------
    exp : ModelExplanation
    folder : path
        Output folder (created, as for every function here).
    max_display : int
        Features shown; the rest are summed into one row.

    Returns
    -------
    list of Path
        ``<output.name>_beeswarm.png`` (at most :data:`MAX_POINTS` evenly spaced customers) and
        ``<output.name>_importance.png`` (every customer).
    """
    _check(exp)
    out = _folder(folder)
    spec, n = exp.output, len(exp)
    rows = _even_rows(n)
    shown = f"{len(rows):,} evenly spaced of {n:,}" if len(rows) < n else f"{n:,}"
    bee = out / f"{spec.name}_beeswarm.png"
    size = (8, 0.4 * min(max_display, len(exp.feature_names)) + 1.5)
    with _figure(bee) as fig:
        fig.set_size_inches(*size)
        ax = fig.add_subplot()
        displayed, clipped = _clipped(_displayed(exp, rows))
        shap.plots.beeswarm(displayed, max_display=max_display, ax=ax, plot_size=None, show=False)
        note = f" (axis: central 99%; {clipped:,} values at its edges)" if clipped else ""
        ax.set_xlabel(f"contribution to {spec.label}{_unit(spec.unit)}{note}")
        _money_ticks(ax.xaxis, spec.unit)
        ax.set_title(f"Contributions to {spec.label}{_unit(spec.unit)}, {shown} customers")
    bar = out / f"{spec.name}_importance.png"
    with _figure(bar) as fig:
        fig.set_size_inches(*size)
        ax = fig.add_subplot()
        mean = shap.Explanation(np.abs(exp.values).mean(axis=0), feature_names=_display_names(exp.feature_names))  # fmt: skip
        shap.plots.bar(mean, max_display=max_display, ax=ax, show=False)
        ax.set_xlabel(f"mean |contribution| to {spec.label}{_unit(spec.unit)}")
        _money_ticks(ax.xaxis, spec.unit)
        ax.set_title(f"Feature importance for {spec.label}{_unit(spec.unit)}, {n:,} customers")
    return [bee, bar]


def tier_driver_table(
    exp: ModelExplanation, tiers: Any, order: Sequence[str], top: int = 10
) -> pd.DataFrame:
    """Mean contribution of the top facet groups, per tier.

    Contributions are summed by facet group (:func:`~segml.explain.reasons.group_contributions`:
    every deposit-balance window counts as "deposit balance"); the ``top`` groups with the
    largest mean |grouped contribution| over all customers are kept, largest first.

    Parameters
    ----------
    exp : ModelExplanation
    tiers : array-like of str
        Tier of each row of ``exp``.
    order : sequence of str
        Tiers to show, in column order (a tier without customers gets NaN).
    top : int
        Groups kept.

    Returns
    -------
    DataFrame
        Index: group display names (``driver``); columns: ``order`` (``tier``); values: mean
        contribution in the output's unit.
    """
    t = _check(exp, tiers)
    grouped, _, displays, _, _ = group_contributions(exp.values, exp.feature_names)
    rank = np.argsort(-np.abs(grouped).mean(axis=0), kind="stable")[: max(int(top), 0)]
    table = pd.DataFrame(
        {tier: grouped[t == tier][:, rank].mean(axis=0) if (t == tier).any() else np.nan
         for tier in order},
        index=pd.Index([displays[g] for g in rank], name="driver"),
    )  # fmt: skip
    table.columns = pd.Index(list(order), name="tier")
    return table


def _norm(vals: np.ndarray) -> Any:
    """Symmetric colour scale, logarithmic beyond the smaller values (contributions are heavy-tailed)."""
    from matplotlib.colors import SymLogNorm

    a = np.abs(vals[np.isfinite(vals)])
    lim = float(a.max()) if len(a) and a.max() > 0 else 1.0
    small = float(np.percentile(a, 25)) if len(a) else 0.0
    return SymLogNorm(linthresh=max(small, lim * 1e-4), vmin=-lim, vmax=lim, base=10)


def plot_tier_drivers(
    exp: ModelExplanation, tiers: Any, order: Sequence[str], folder: PathLike, top: int = 10
) -> Path:
    """Heatmap of :func:`tier_driver_table`, each cell annotated with its mean contribution.

    Parameters
    ----------
    exp : ModelExplanation
    tiers : array-like of str
        Tier of each row of ``exp``.
    order : sequence of str
        Tiers, in column order.
    folder : path
    top : int
        Facet groups shown, by overall mean |contribution|.

    Returns
    -------
    Path
        ``<output.name>_tier_drivers.png``.
    """
    table = tier_driver_table(exp, tiers, order, top)
    t = np.asarray(tiers, dtype=object)
    spec = exp.output
    path = _folder(folder) / f"{spec.name}_tier_drivers.png"
    vals = table.to_numpy(dtype=float)
    norm = _norm(vals)
    with _figure(path) as fig:
        fig.set_size_inches(4.5 + 1.5 * max(len(order), 1), 1.6 + 0.45 * max(len(table), 1))
        ax = fig.add_subplot()
        img = ax.imshow(vals, cmap="RdBu_r", norm=norm, aspect="auto")
        for (i, j), v in np.ndenumerate(vals):
            dark = np.isfinite(v) and abs(float(norm(v)) - 0.5) > 0.3
            ax.text(j, i, signed_compact(v), ha="center", va="center", fontsize=9,
                    color="white" if dark else "black")  # fmt: skip
        ax.set_xticks(range(len(order)), [f"{o}\n(n={int((t == o).sum()):,})" for o in order])
        ax.set_yticks(range(len(table)), list(table.index))
        ax.xaxis.tick_top()
        bar = fig.colorbar(img, ax=ax, shrink=0.8)
        bar.set_label(f"mean contribution to {spec.label}{_unit(spec.unit)}")
        ax.set_title(f"Drivers of {spec.label} by tier: mean contribution{_unit(spec.unit)}", pad=12)  # fmt: skip
    return path


def plot_dependence(exp: ModelExplanation, folder: PathLike, top: int = 4) -> list[Path]:
    """shap dependence (scatter) plots of the ``top`` features by mean |contribution|.

    At most :data:`MAX_POINTS` evenly spaced customers are drawn; the x axis carries the
    catalogue display name and unit.

    Parameters
    ----------
    exp : ModelExplanation
    folder : path
    top : int
        Features plotted.

    Returns
    -------
    list of Path
        ``<output.name>_dependence_<feature>.png`` per feature, most important first.
    """
    _check(exp)
    out = _folder(folder)
    spec = exp.output
    names = exp.feature_names
    texts = feature_texts(names)
    rows = _even_rows(len(exp))
    shown = _displayed(exp, rows)
    paths = []
    for name in exp.mean_abs().index[: max(int(top), 0)]:
        j = names.index(name)
        path = out / f"{spec.name}_dependence_{_safe(name)}.png"
        with _figure(path) as fig:
            fig.set_size_inches(7, 5)
            ax = fig.add_subplot()
            shap.plots.scatter(shown[:, j], ax=ax, show=False)
            ax.set_xlabel(f"{texts[j].display}{_unit(texts[j].unit)}")
            ax.set_ylabel(f"contribution to {spec.label}{_unit(spec.unit)}")
            _money_ticks(ax.xaxis, texts[j].unit)
            _money_ticks(ax.yaxis, spec.unit)
            ax.set_title(f"{texts[j].display}, {len(rows):,} customers")
        paths.append(path)
    return paths


def example_customers(
    score: Any, tiers: Any, order: Sequence[str], per_tier: int = 1
) -> dict[str, list[int]]:
    """Row indices of each tier's median customers.

    Parameters
    ----------
    score, tiers : array-like
        Score and tier label per row.
    order : sequence of str
        Tiers, in output order.
    per_tier : int
        Customers per tier.

    Returns
    -------
    dict of str to list of int
        Per tier in ``order``, the ``per_tier`` rows whose score is closest to the tier's median
        score, closest first (ties by row order); an empty list for a tier without customers.
    """
    s = np.asarray(score, dtype=float)
    t = np.asarray(tiers, dtype=object)
    if s.shape != t.shape or s.ndim != 1:
        raise ValueError(f"score {s.shape} and tiers {t.shape} must be aligned 1-d arrays")
    if per_tier < 1:
        raise ValueError(f"per_tier must be at least 1, got {per_tier}")
    out: dict[str, list[int]] = {}
    for tier in order:
        idx = np.flatnonzero(t == tier)
        if not len(idx):
            out[tier] = []
            continue
        dist = np.abs(s[idx] - np.median(s[idx]))
        out[tier] = [int(i) for i in idx[np.argsort(dist, kind="stable")[:per_tier]]]
    return out


def plot_waterfalls(
    exp: ModelExplanation,
    tiers: Any,
    order: Sequence[str],
    folder: PathLike,
    per_tier: int = 1,
    max_display: int = 10,
) -> list[Path]:
    """shap waterfalls of each tier's median customer(s) (:func:`example_customers`).

    Features are labelled with their display names and the customer's values in their units.

    Parameters
    ----------
    exp : ModelExplanation
    tiers, order, per_tier
        As for :func:`example_customers` (``exp.score`` is the score).
    folder : path
    max_display : int
        Features shown; the rest are summed into one bar.

    Returns
    -------
    list of Path
        ``<output.name>_waterfall_<tier>_<customer_id>.png``, tiers in ``order``.
    """
    _check(exp, tiers)
    out = _folder(folder)
    spec = exp.output
    texts = feature_texts(exp.feature_names)
    paths = []
    for tier, rows in example_customers(exp.score, tiers, order, per_tier).items():
        for i in rows:
            one = _displayed(exp, np.array([i]))[0]
            one.display_data = np.array(
                [format_value(float(v), x.unit) for v, x in zip(one.data, texts, strict=True)],
                dtype=object,
            )
            cid = exp.ids[i]
            path = out / f"{spec.name}_waterfall_{_safe(tier)}_{_safe(cid)}.png"
            with _figure(path) as fig:
                shap.plots.waterfall(one, max_display=max_display, show=False)
                fig.axes[0].set_xlabel(f"{spec.label}{_unit(spec.unit)}", labelpad=24)
                _money_ticks(fig.axes[0].xaxis, spec.unit)
                fig.suptitle(f"{tier}: customer {cid}")
            paths.append(path)
    return paths
