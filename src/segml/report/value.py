"""Section 2 of the pack: value concentration (Lorenz, Gini, tier value shares) and the tiers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from segml.report.context import ReportContext
from segml.report.figures import lorenz_chart, tier_share_chart
from segml.report.fmt import money, num, pct
from segml.report.html import Section, figure, figures, note, table

__all__ = ["measure_block", "positive_top_share", "value_measure", "value_section"]


def value_measure(ctx: ReportContext) -> dict[str, Any]:
    """The run's value measure and its check (``run.json``, else ``value_measure.json``)."""
    return ctx.run.run.get("value_measure") or ctx.run.json("value_measure") or {}


def measure_block(ctx: ReportContext, sec: Section) -> None:
    """What the tiers rank, why, and how it agrees with observed behaviour, per tier."""
    vm = value_measure(ctx)
    if not vm:
        return
    check = vm.get("check") or {}
    sec.reading.append(
        f"The tiers rank {vm.get('measure')}: {vm.get('description')}. It was chosen because "
        f"{vm.get('reason')}; the data are a {str(vm.get('data_kind', '?')).replace('_', ' ')} "
        f"({vm.get('data_kind_source', '?')}) and profit follows the "
        f"{str(vm.get('economics', '?')).replace('_', ' ')} economics."
    )
    observed = check.get("observed") or {}
    figures = "; ".join(
        f"Spearman {num(r.get('spearman'), 2)} with {r.get('what')}" for r in observed.values()
    )
    if check.get("passed"):
        sec.ok(f"the value measure agrees with observed behaviour ({figures})")
        sec.reading.append(f"Check against observed behaviour: passed ({figures}).")
    elif check.get("passed") is False:
        problems = "; ".join(check.get("problems") or [])
        sec.attention(f"the value measure {vm.get('measure')} disagrees with observed behaviour: {problems}")  # fmt: skip
        sec.reading.append(f"Check against observed behaviour: FAILED ({figures}).")
    else:
        sec.reading.append(f"Check against observed behaviour: skipped ({check.get('skipped')}).")
    rows = [
        {"tier": t, **{k: r.get("tier_share", {}).get(t) for k, r in observed.items()},
         **{f"{k}_mean": r.get("tier_mean", {}).get(t) for k, r in observed.items()}}
        for t in ctx.run.tier_labels
    ]  # fmt: skip
    if observed and rows:
        cols = [("tier", "tier")] + [(k, f"share of {r.get('what')}") for k, r in observed.items()]
        cols += [(f"{k}_mean", f"per customer: {r.get('what')}") for k, r in observed.items()]
        fmt = {k: (lambda v: pct(v, 1)) for k in observed} | {f"{k}_mean": money for k in observed}
        sec.blocks.append(
            table(
                rows, cols, fmt=fmt, caption="Observed value by tier (tier by value, before rules)"
            )
        )


def positive_top_share(values: np.ndarray, q: float) -> tuple[int, float]:
    """How many customers the top ``q`` are (``ceil(q·n)``) and their share of positive value."""
    v = np.sort(np.asarray(values, dtype=float))[::-1]
    k = max(1, math.ceil(q * len(v)))
    pos = np.clip(v, 0, None)
    total = pos.sum()
    return k, float(pos[:k].sum() / total) if total > 0 else float("nan")


def _rule_text(policy: dict[str, Any], i: int, tier: str) -> str:
    kind, cut = policy.get("kind", "rank"), list(policy.get("cutoffs") or [])
    if tier == policy.get("loss_tier"):
        return "value below 0 (loss-makers)"
    lo = 0.0 if i == 0 else cut[i - 1]
    hi = cut[i] if i < len(cut) else 1.0
    if kind == "value_share":
        return f"cumulative share of positive value before the customer in [{lo:.0%}, {hi:.0%})"
    who = "customers with value ≥ 0" if kind == "rank_with_loss" else "customers"
    return f"ranked {lo:.0%}–{hi:.0%} of {who} by value"


def _ranges(ctx: ReportContext) -> dict[str, dict[str, Any]]:
    """Each tier's range of the ranked value: the explained thresholds, else ``tiers.parquet``
    (a run whose tiers rank another measure than the value score has no explanations)."""
    run = ctx.run
    thresholds = ((run.json("explanations") or {}).get("value") or {}).get("thresholds", [])
    tiers = run.table("tiers")
    if thresholds or tiers is None or not {"tier_by_value", "value"} <= set(tiers.columns):
        return {t["tier"]: t for t in thresholds}
    by = tiers.groupby(tiers["tier_by_value"].astype(str))["value"].agg(["min", "max"])
    return {str(k): {"min_score": r["min"], "max_score": r["max"]} for k, r in by.iterrows()}


def _tier_rows(ctx: ReportContext) -> list[dict[str, Any]]:
    run = ctx.run
    policy = run.json("tier_policy") or {}
    tt = run.table("tier_table")
    ranges = _ranges(ctx)
    rows = []
    by_tier = {} if tt is None else {str(r["tier"]): r for r in tt.to_dict("records")}
    for i, tier in enumerate(run.tier_labels):
        rec = by_tier.get(tier, {})
        r = ranges.get(tier, {})
        rows.append(
            {
                "tier": tier,
                "rule": _rule_text(policy, i, tier),
                "scores": f"{money(r.get('min_score'))} to {money(r.get('max_score'))}"
                if r
                else "–",
                "customers": rec.get("customers"),
                "customer_share": rec.get("customer_share"),
                "positive_value_share": rec.get("positive_value_share"),
                "value_share": rec.get("value_share"),
                "median_value": rec.get("median_value"),
                "rm": rec.get("relationship_manager"),
                "cadence": rec.get("contact_cadence"),
                "retention": rec.get("retention_action"),
                "high_risk": rec.get("high_churn_risk"),
            }
        )
    return rows


def _rules(ctx: ReportContext, tiers: pd.DataFrame, sec: Section) -> None:
    rules = ctx.run.json("tier_rules") or []
    changed = int((tiers["tier"].astype(str) != tiers["tier_by_value"].astype(str)).sum())
    if not rules:
        sec.reading.append("No override rules are configured: every tier is the value tier.")
        return
    reasons = tiers["reasons"].fillna("").astype(str).str.split(";")
    rows = []
    for r in rules:
        cond = " and ".join(f"{c['column']} {c['op']} {c['value']}" for c in r.get("when", []))
        hits = int(reasons.map(lambda rs, n=r["name"]: n in rs).sum())
        rows.append(
            {
                "name": r["name"],
                "when": cond,
                "action": r.get("action"),
                "tier": r.get("tier"),
                "matched": hits,
            }
        )
    sec.reading.append(
        f"{len(rules)} override rule(s) changed the tier of {changed:,} customers "
        f"({pct(changed / len(tiers), 1)}); matches of 'flag' rules are recorded, not acted on."
    )
    sec.blocks.append(
        table(
            rows,
            [
                ("name", "rule"),
                ("when", "condition"),
                ("action", "action"),
                ("tier", "target tier"),
                ("matched", "customers matched"),
            ],
            caption="Override rules",
        )
    )


def value_section(ctx: ReportContext) -> Section:
    """Lorenz curve, Gini, tier value shares, the tier definitions and the override rules."""
    run = ctx.run
    sec = Section("concentration", "Value concentration and tier definitions")
    tiers = run.table("tiers")
    if tiers is None:
        sec.reading.append("The run has no tiers (tiers.parquet is missing).")
        sec.attention("the run wrote no tiers")
        return sec
    measure_block(ctx, sec)
    values = tiers["value"].to_numpy(dtype=float)
    conc = run.json("concentration") or {}
    k20, pos20 = positive_top_share(values, 0.2)
    k1, pos1 = positive_top_share(values, 0.01)
    sec.data.update(top20_positive_share=pos20, top1_positive_share=pos1)
    sec.reading.append(
        f"The top 20% of customers ({k20:,} of {len(values):,}) hold {pct(pos20)} of positive "
        f"value ({pct(conc.get('top_20pct_share'))} of the net total); the top 1% ({k1:,}) hold "
        f"{pct(pos1)}."
    )
    sec.reading.append(
        f"The Gini coefficient of positive-clipped value is {num(conc.get('gini_positive'), 2)} "
        f"(0: everyone equal, 1: one customer holds everything); with losses as they are it is "
        f"{num(conc.get('gini'), 2)}. {pct(conc.get('loss_customer_share'))} of tiered customers "
        f"lose money and together give back {pct(conc.get('loss_value_ratio'), 1)} of the "
        f"positive value."
    )
    rows = _tier_rows(ctx)
    measure = value_measure(ctx).get("measure") or "value_score"
    ranked = "the value score" if measure == "value_score" else measure
    parts = [
        f"{r['tier']} {pct(r['customer_share'], 1)} of customers, {pct(r['positive_value_share'])} of positive value"
        for r in rows
        if r["customers"] is not None
    ]
    if parts:
        sec.reading.append("By tier: " + "; ".join(parts) + ".")
    empty = [r["tier"] for r in rows if r["customers"] == 0]
    if empty:
        sec.attention(f"tier(s) {', '.join(empty)} hold no customer")
    sec.blocks.append(
        figures(
            figure(
                lorenz_chart(values, pos20),
                f"Lorenz curve of {ranked}, clipped at 0 (tiered customers)",
            ),
            figure(
                tier_share_chart(
                    [r["tier"] for r in rows],
                    [r["customer_share"] or 0 for r in rows],
                    [r["positive_value_share"] or 0 for r in rows],
                ),
                "Share of customers and of positive value per tier",
            ),
        )
    )
    policy = run.json("tier_policy") or {}
    sec.blocks.append("<h3>Tier definitions</h3>")
    sec.blocks.append(
        note(
            f"Policy {policy.get('name', '?')} version {policy.get('version', '?')} "
            f"(kind {policy.get('kind', '?')}); score ranges are those of this run "
            + (
                "(the exported model tiers a new customer by these thresholds). "
                if run.model
                else "(the run exported no model). "
            )
            + "A customer is flagged for retention "
            "when the churn probability is at or above the tier's high-risk threshold."
        )
    )
    sec.blocks.append(
        table(
            rows,
            [
                ("tier", "tier"),
                ("rule", "policy rule"),
                ("scores", f"{measure.replace('_', ' ')} range (CNY/year)"),
                ("customers", "customers"),
                ("customer_share", "share of customers"),
                ("positive_value_share", "share of positive value"),
                ("value_share", "share of net value"),
                ("median_value", "median value"),
                ("rm", "relationship manager"),
                ("cadence", "contact cadence"),
                ("retention", "retention action"),
                ("high_risk", "high churn risk ≥"),
            ],
            fmt={
                "customer_share": lambda v: pct(v, 1),
                "positive_value_share": lambda v: pct(v, 1),
                "value_share": lambda v: pct(v, 1),
                "median_value": money,
            },
        )
    )
    _rules(ctx, tiers, sec)
    return sec
