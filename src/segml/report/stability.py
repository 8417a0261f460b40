"""Section 6 of the pack: population stability against a reference run, and tier migration.

PSI (``segml.tiers.psi``: reference deciles as bins) compares this run's scores and main
features with the reference run's, on each run's tiered (active) customers. Missing values are
left out of the PSI and their shares shown beside it; a text or yes/no column is compared by
category shares with the same formula.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segml.features.catalogue import CATALOGUE
from segml.report.context import ReportContext
from segml.report.figures import heatmap, psi_chart
from segml.report.fmt import num, pct
from segml.report.html import Cell, Finding, Section, figure, figures, note, table
from segml.run.folder import RunFolder
from segml.tiers import psi, psi_label

__all__ = ["SCORES", "categorical_psi", "main_features", "psi_table", "stability_section"]

#: (label, table, column) of the scores compared between runs.
SCORES = (
    ("value score", "tiers", "value"),
    ("churn probability", "churn_scores", "churn_probability"),
    ("CLV", "clv", "clv"),
)
_NOT_FEATURES = {"customer_id", "is_active"}


def categorical_psi(reference: pd.Series, current: pd.Series, eps: float = 1e-4) -> float:
    """PSI over category shares: ``sum((q - p) ln(q / p))``, an absent category's share = eps."""
    p = reference.astype(str).value_counts(normalize=True)
    q = current.astype(str).value_counts(normalize=True)
    cats = p.index.union(q.index)
    p = p.reindex(cats, fill_value=0).to_numpy().clip(eps)
    q = q.reindex(cats, fill_value=0).to_numpy().clip(eps)
    return float(np.sum((q - p) * np.log(q / p)))


def main_features(run: RunFolder, k: int = 10) -> list[str]:
    """The ``k`` features that matter most: the value score's and churn risk's top drivers, alternately."""
    ex = run.json("explanations") or {}
    ranked = []
    for model in ("value", "churn"):
        imp = (ex.get(model) or {}).get("importance") or {}
        ranked.append(
            [c for c, _ in sorted(imp.items(), key=lambda kv: -kv[1]) if c not in _NOT_FEATURES]
        )
    out: list[str] = []
    for i in range(max(map(len, ranked), default=0)):
        for names in ranked:
            if i < len(names) and names[i] not in out:
                out.append(names[i])
    return out[:k]


def _measure(label: str, kind: str, ref: pd.Series, cur: pd.Series) -> dict[str, Any]:
    r, c = ref.dropna(), cur.dropna()
    row = {
        "measure": label,
        "kind": kind,
        "n_reference": len(r),
        "n_current": len(c),
        "missing_reference": 1 - len(r) / len(ref) if len(ref) else np.nan,
        "missing_current": 1 - len(c) / len(cur) if len(cur) else np.nan,
    }
    if not len(r) or not len(c):
        return {**row, "psi": np.nan, "label": "no data"}
    numeric = pd.api.types.is_numeric_dtype(r) and not pd.api.types.is_bool_dtype(r)
    value = (
        psi(r.to_numpy(dtype=float), c.to_numpy(dtype=float)) if numeric else categorical_psi(r, c)
    )
    return {**row, "psi": value, "label": psi_label(value)}


def psi_table(
    run: RunFolder, reference: RunFolder, features: list[str] | None = None
) -> pd.DataFrame:
    """PSI of the scores (:data:`SCORES`) and the main features between ``reference`` and ``run``.

    Parameters
    ----------
    run, reference : RunFolder
        Current and reference run.
    features : list of str, optional
        Feature columns (default :func:`main_features` of ``run``).

    Returns
    -------
    DataFrame
        ``measure``, ``kind`` (score or feature), ``psi``, ``label``, ``n_reference``,
        ``n_current``, ``missing_reference``, ``missing_current``.
    """
    rows = []
    for label, name, col in SCORES:
        a, b = reference.table(name), run.table(name)
        if a is not None and b is not None and col in a and col in b:
            rows.append(_measure(label, "score", a[col], b[col]))
    fa, fb = reference.active_features(), run.active_features()
    if fa is not None and fb is not None:
        for col in features if features is not None else main_features(run):
            if col in fa and col in fb:
                rows.append(_measure(col, "feature", fa[col], fb[col]))
    return pd.DataFrame(rows)


def _migration(ctx: ReportContext, sec: Section) -> None:
    run = ctx.run
    mig, counts = run.json("tier_migration"), run.table("tier_migration_counts")
    sec.blocks.append("<h3>Tier migration over the year before the as-of date</h3>")
    if not mig or counts is None:
        sec.blocks.append(
            note("The run has no tier migration (no features a year before the as-of date).")
        )
        return
    sec.reading.append(
        f"Tier migration: scored by this run's model at {mig.get('from')} and at "
        f"{run.run.get('as_of')}, {pct(mig.get('stay_rate'))} of the customers tiered at both "
        f"dates kept their tier, {pct(mig.get('upgrade_rate'), 1)} moved up and "
        f"{pct(mig.get('downgrade_rate'), 1)} down; {num(mig.get('n_new'))} are new and "
        f"{num(mig.get('n_lost'))} left. The value score's PSI between the dates is "
        f"{num(mig.get('psi'))} ({mig.get('psi_label')})."
    )
    matrix = counts.set_index(counts.columns[0])
    sec.blocks.append(
        figures(
            figure(
                heatmap(
                    matrix,
                    f"Customers by tier at {mig.get('from')} and {run.run.get('as_of')}",
                    f"tier at {run.run.get('as_of')}",
                    f"tier at {mig.get('from')}",
                ),
                "Tier migration matrix (rows: before; 'new': not tiered before; 'lost': not tiered now)",
            )
        )
    )


#: PSI bands: above MAJOR a major shift, from MODERATE a moderate one (segml.tiers.psi_label)
MAJOR, MODERATE = 0.25, 0.1


def _shift_findings(sec: Section, scores: pd.DataFrame, feats: pd.DataFrame) -> None:
    """Population shift (the features) apart from model change (a score that moved while the
    population did not): a retrained model that scores the same customers differently is not
    a population shift."""
    moved = feats[feats["psi"] > MAJOR]["measure"].tolist()
    stable = bool(len(feats)) and not (feats["psi"] >= MODERATE).any()
    if moved:
        sec.attention(f"major population shift (PSI > {MAJOR:g}) in {', '.join(moved)}")
    for r in scores[scores["psi"] > MAJOR].itertuples():
        if stable:
            sec.attention(
                f"model change: the {r.measure} distribution moved (PSI {num(r.psi)}) while no "
                f"main feature shifted (largest feature PSI {num(feats['psi'].max())}): the "
                "models score the same population differently, not a population shift"
            )
        else:
            sec.attention(f"major shift of {r.measure} (PSI {num(r.psi)}) with the population")
    if not moved and not (scores["psi"] > MAJOR).any() and (len(scores) or len(feats)):
        sec.ok("no score or main feature shifted majorly against the reference run")
    both = pd.concat([scores, feats])
    moderate = both[both["psi"].between(MODERATE, MAJOR)]["measure"].tolist()
    if moderate:
        sec.findings.append(
            Finding("note", f"moderate shift (PSI {MODERATE:g}–{MAJOR:g}) in {', '.join(moderate)}")
        )


def stability_section(ctx: ReportContext) -> Section:
    """PSI of scores and main features against the reference run, and the migration matrix."""
    sec = Section("stability", "Stability: population shift and tier migration")
    sec.data["reference_run"] = None if ctx.reference is None else ctx.reference.run_id
    sec.reading.append(f"Reference for the population stability index: {ctx.reference_note}.")
    if ctx.reference is None:
        sec.findings.append(
            Finding("note", "no reference run: population stability not assessed yet")
        )
    else:
        t = psi_table(ctx.run, ctx.reference)
        sec.data["psi"] = dict(zip(t["measure"], t["psi"], strict=True)) if len(t) else {}
        scores = t[t["kind"] == "score"]
        if len(scores):
            sec.reading.append(
                "PSI of the scores: "
                + "; ".join(f"{r.measure} {num(r.psi)} ({r.label})" for r in scores.itertuples())
                + "."
            )
        feats = t[t["kind"] == "feature"]
        if len(feats):
            worst = feats.sort_values("psi", ascending=False).iloc[0]
            sec.reading.append(
                f"Of the {len(feats)} main features, {int((feats['psi'] > 0.25).sum())} shifted "
                f"majorly and {int(feats['psi'].between(0.1, 0.25).sum())} moderately; the "
                f"largest shift is {worst.measure} ({num(worst.psi)})."
            )
        _shift_findings(sec, scores, feats)
        rows = [
            {
                **r,
                "psi": Cell(num(r["psi"]), "flag" if r["psi"] > 0.25 else ""),
                "what": CATALOGUE[r["measure"]].display if r["measure"] in CATALOGUE else "",
            }
            for r in t.to_dict("records")
        ]
        sec.blocks.append(
            figures(
                figure(
                    psi_chart(t["measure"].tolist(), t["psi"].fillna(0).tolist())
                    if len(t)
                    else None,
                    "PSI of scores and main features against the reference run",
                )
            )
        )
        sec.blocks.append(
            table(
                rows,
                [
                    ("measure", "score or feature"),
                    ("what", "meaning"),
                    ("kind", "kind"),
                    ("psi", "PSI"),
                    ("label", "shift"),
                    ("n_reference", "customers (reference)"),
                    ("n_current", "customers (this run)"),
                    ("missing_reference", "missing (reference)"),
                    ("missing_current", "missing (this run)"),
                ],
                fmt={
                    "missing_reference": lambda v: pct(v, 1),
                    "missing_current": lambda v: pct(v, 1),
                },
            )
        )
    _migration(ctx, sec)
    return sec
