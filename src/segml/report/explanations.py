"""Section 5 of the pack: global drivers, per-tier drivers and example reason codes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segml.features.catalogue import CATALOGUE
from segml.report.absent import not_available, why_absent
from segml.report.context import ReportContext
from segml.report.figures import embed_png
from segml.report.fmt import money, num, pct
from segml.report.html import Section, figure, figures, note, table
from segml.run.folder import RunFolder

__all__ = ["driver_importance", "explanations_section"]


def _group(column: str) -> str:
    from segml.explain.reasons import group_display

    doc = CATALOGUE.get(column)
    return group_display(doc.group if doc is not None else column)


def driver_importance(contributions: pd.DataFrame, fixed: tuple[str, ...]) -> pd.DataFrame:
    """Mean absolute contribution per driver group (facets of one thing summed per customer).

    Parameters
    ----------
    contributions : DataFrame
        One row per customer, one column per feature (plus the ``fixed`` columns).
    fixed : tuple of str
        Columns that are not contributions (id, score, base value).

    Returns
    -------
    DataFrame
        ``driver``, ``mean_abs`` and ``share`` (of the sum over drivers), largest first.
    """
    cols = [c for c in contributions.columns if c not in fixed]
    numeric = contributions[cols].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    grouped = numeric.T.groupby([_group(c) for c in cols]).sum().T
    imp = grouped.abs().mean().sort_values(ascending=False)
    total = imp.sum()
    return pd.DataFrame(
        {
            "driver": imp.index,
            "mean_abs": imp.to_numpy(),
            "share": imp.to_numpy() / total if total > 0 else np.nan,
        }
    )


def _examples(codes: pd.DataFrame, tiers: list[str]) -> list[dict[str, Any]]:
    rows = []
    for tier in tiers:
        part = codes[codes["tier"].astype(str) == tier]
        if part.empty:
            continue
        med = part["value_score"].median()
        pick = (
            part.assign(_d=(part["value_score"] - med).abs())
            .sort_values(["_d", "customer_id"])
            .iloc[0]
        )
        reasons = [
            pick[f"reason_{i}"] for i in range(1, 5) if isinstance(pick.get(f"reason_{i}"), str)
        ]
        rows.append(
            {
                "tier": tier,
                "score": pick["value_score"],
                "reasons": " · ".join(reasons),
                "churn": pick.get("churn_reason_1"),
                "decision": pick.get("decision"),
            }
        )
    return rows


def explanations_section(ctx: ReportContext) -> Section:
    """What drives the value score and churn risk, overall and per tier, and example reasons."""
    run = ctx.run
    sec = Section("explanations", "Explanations: drivers and reason codes")
    ex = run.json("explanations")
    contrib = run.table("explanations_value")
    if not ex or contrib is None:
        sec.reading.append(not_available(run, "explain"))
        sec.attention(f"the run has no explanations of its tiers: {why_absent(run, 'explain')}")
        return sec
    imp = driver_importance(contrib, ("customer_id", "value_score", "base_value"))
    _value_reading(sec, ex.get("value") or {}, imp)
    drivers = run.table("tier_drivers")
    _tier_reading(sec, drivers, run.tier_labels if drivers is not None else [])
    churn = run.table("explanations_churn")
    cimp = (
        driver_importance(churn, ("customer_id", "churn_margin", "base_value"))
        if churn is not None
        else None
    )
    if cimp is not None and len(cimp) >= 3:
        sec.reading.append(f"Churn risk is driven most by {', '.join(cimp.driver.head(3))}.")
    sec.blocks += _global_driver_blocks(run, imp, cimp)
    sec.blocks += _tier_driver_blocks(run, drivers)
    sec.blocks += _reason_code_blocks(run)
    return sec


def _value_reading(sec: Section, value: dict[str, Any], imp: pd.DataFrame) -> None:
    """Say that the value score's contributions add up, and which drivers weigh most."""
    add = value.get("additivity") or {}
    sec.reading.append(
        f"Every value score is explained exactly: the average customer's {money(value.get('base_value'))} "
        f"plus one contribution per feature (TreeSHAP); over {num(add.get('rows'))} customers the "
        f"largest gap between the sum and the score is ¥{num(add.get('max_abs_error'), 4)}, "
        f"{'within' if add.get('passed') else 'OUTSIDE'} the tolerance."
    )
    if add and not add.get("passed"):
        sec.attention("the value score's explanations do not add up to the score")
    if len(imp) >= 3:
        top3 = imp.head(3)
        sec.reading.append(
            f"{top3.driver.iloc[0]} accounts for {pct(top3.share.iloc[0])} of the mean absolute "
            f"contribution; the top three drivers ({', '.join(top3.driver)}) for "
            f"{pct(top3.share.sum())}."
        )


def _tier_reading(sec: Section, drivers: pd.DataFrame | None, labels: list[str]) -> None:
    """Name the driver that lifts the top tier's score and the one that holds the lowest down."""
    filled = [t for t in labels if t in drivers and drivers[t].notna().any()]  # not an empty tier
    if len(filled) >= 2:
        first, last = filled[0], filled[-1]
        up = drivers.loc[drivers[first].idxmax()]
        down = drivers.loc[drivers[last].idxmin()]
        sec.reading.append(
            f"In {first}, {up['driver']} lifts the score most ({money(up[first])} a year on "
            f"average); in {last}, {down['driver']} holds it down most ({money(down[last])})."
        )


def _global_driver_blocks(
    run: RunFolder, imp: pd.DataFrame, cimp: pd.DataFrame | None
) -> list[str]:
    """The value score's importance and beeswarm figures and the top drivers' tables."""
    blocks = ["<h3>Global drivers</h3>"]
    blocks.append(
        figures(
            figure(
                embed_png(run.figure("explain/value_score_importance.png")),
                "Value score: mean |contribution| per driver",
            ),
            figure(
                embed_png(run.figure("explain/value_score_beeswarm.png")),
                "Value score: contribution per customer and feature value",
            ),
        )
    )
    tables = [("Value score (CNY/year)", imp, money)]
    if cimp is not None:
        tables.append(("Churn risk (log-odds)", cimp, lambda v: num(v, 3)))
    for caption, t, f in tables:
        blocks.append(
            table(
                t.head(10).to_dict("records"),
                [("driver", "driver"), ("mean_abs", "mean |contribution|"), ("share", "share")],
                fmt={"mean_abs": f, "share": pct},
                caption=caption,
            )
        )
    return blocks


def _tier_driver_blocks(run: RunFolder, drivers: pd.DataFrame | None) -> list[str]:
    """The per-tier driver figures (value score, churn risk) and the per-tier table."""
    churn_fig = embed_png(run.figure("explain/churn_margin_importance.png"))
    blocks = ["<h3>Drivers per tier</h3>"]
    blocks.append(
        figures(
            figure(
                embed_png(run.figure("explain/value_score_tier_drivers.png")),
                "Mean contribution per driver and tier",
            ),
            figure(churn_fig, "Churn risk: mean |contribution| per driver") if churn_fig else "",
        )
    )
    if drivers is not None:
        tier_cols = [t for t in run.tier_labels if t in drivers]
        blocks.append(
            table(
                drivers.to_dict("records"),
                [("driver", "driver")] + [(t, t) for t in tier_cols],
                fmt=dict.fromkeys(tier_cols, money),
                caption="Mean contribution to the value score per tier (CNY/year)",
            )
        )
    return blocks


def _reason_code_blocks(run: RunFolder) -> list[str]:
    """One example customer's reason codes per tier (the one nearest the tier's median)."""
    codes = run.table("reason_codes")
    blocks = ["<h3>Example reason codes</h3>"]
    if codes is None:
        return [*blocks, note("The run has no reason codes.")]
    blocks.append(
        note(
            "For each tier, the customer whose score is closest to the tier's median; customer "
            "ids are left out of the pack (segml explain --customer gives any customer's)."
        )
    )
    blocks.append(
        table(
            _examples(codes, run.tier_labels),
            [
                ("tier", "tier"),
                ("score", "value score"),
                ("reasons", "reason codes"),
                ("churn", "first churn reason"),
                ("decision", "decision"),
            ],
            fmt={"score": money},
        )
    )
    return blocks
