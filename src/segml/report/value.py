"""Section 2 of the pack: value concentration (Lorenz, Gini, tier value shares), the tiers and
who their retention playbooks flag (``retention.json``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from segml.report.context import ReportContext
from segml.report.figures import lorenz_chart, tier_share_chart
from segml.report.fmt import is_number, money, num, pct
from segml.report.html import Section, figure, figures, note, table

__all__ = [
    "LOW_COVERAGE",
    "measure_block",
    "positive_top_share",
    "retention_block",
    "value_measure",
    "value_section",
]

#: A tier whose retention flags cover less than this share of its expected loss is a point for
#: review (the capacity, the probability floor or the value measure may not fit the tier).
LOW_COVERAGE = 0.2


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


def _who(rec: dict[str, Any]) -> str:
    """Who a tier's playbook flags for retention (a saved tier table's row)."""
    cap, fixed = rec.get("retention_capacity"), rec.get("high_churn_risk")
    if is_number(cap):
        floor = f", P(churn) ≥ {num(fixed, 2)}" if is_number(fixed) else ""
        return f"top {pct(cap)} by expected loss, P(churn) above the mean{floor}"
    return f"P(churn) ≥ {num(fixed, 2)}" if is_number(fixed) else "nobody"


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
                "who": _who(rec),
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
            + "The last column says whom each tier's playbook flags for retention."
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
                ("who", "flagged for retention"),
            ],
            fmt={
                "customer_share": lambda v: pct(v, 1),
                "positive_value_share": lambda v: pct(v, 1),
                "value_share": lambda v: pct(v, 1),
                "median_value": money,
            },
        )
    )
    retention_block(ctx, sec)
    _rules(ctx, tiers, sec)
    return sec


def _retention_points(sec: Section, rows: list[dict[str, Any]]) -> None:
    """Points for review: a tier with capacity that flags nobody, flags that cover little."""
    fine = True
    for r in rows:
        cap, n = r.get("capacity_customers"), r.get("flagged") or 0
        if is_number(r.get("capacity")) and r["capacity"] > 0 and n == 0:
            fine = False
            why = (
                "the tier is too small for its capacity"
                if not cap
                else f"{r.get('eligible') or 0:,} customer(s) above the probability floor with value"
            )
            sec.attention(
                f"retention: tier {r['tier']} has capacity for {cap or 0:,} customer(s) but flags "
                f"nobody ({why}); its expected loss is {money(r.get('expected_loss'))}"
            )
        elif n and is_number(r.get("covered_share")) and r["covered_share"] < LOW_COVERAGE:
            fine = False
            sec.attention(
                f"retention: the {n:,} customer(s) flagged in tier {r['tier']} cover only "
                f"{pct(r['covered_share'])} of its expected loss (under {pct(LOW_COVERAGE)})"
            )
    shares = [r["covered_share"] for r in rows if r.get("flagged") and is_number(r.get("covered_share"))]  # fmt: skip
    if fine and shares:
        sec.ok(
            f"retention flags cover {pct(min(shares))}–{pct(max(shares))} of each flagging "
            "tier's expected loss"
        )


def _retention_texts(r: dict[str, Any]) -> dict[str, str]:
    """A retention row's capacity (share and customers, or the fixed threshold) and the
    P(churn) range of its flagged customers, as text."""
    if is_number(r.get("capacity")):
        capacity = f"{pct(r['capacity'])} ({r.get('capacity_customers') or 0:,})"
    elif r.get("rule") == "fixed threshold":
        capacity = f"none: P(churn) ≥ {num(r.get('churn_floor'), 2)}"
    else:
        capacity = "none"
    lo, hi = r.get("flagged_churn_min"), r.get("flagged_churn_max")
    return {"capacity_text": capacity,
            "churn_range": f"{pct(lo, 1)}–{pct(hi, 1)}" if is_number(lo) else "–"}  # fmt: skip


def retention_block(ctx: ReportContext, sec: Section) -> None:
    """Per tier: customers, capacity, flagged, their churn, the cut, the expected loss covered."""
    doc = ctx.run.json("retention")
    if not doc or not doc.get("tiers"):
        return
    sec.data.update(retention_flagged=doc.get("flagged"))
    flagged, customers = doc.get("flagged") or 0, doc.get("customers") or 0
    mean = doc.get("portfolio_mean_churn")
    rule = (
        "Each tier's playbook flags the churn probabilities at or above its fixed threshold."
        if mean is None
        else "Each tier's playbook has a capacity — the share of its customers the bank can "
        "work — given to the customers with the highest expected loss, P(churn) × value (a "
        "value below 0 counts as 0), among those whose churn probability is above the "
        f"portfolio's mean ({pct(mean, 1)}); each tier's expected-loss cut is this run's, and "
        "the exported model applies it unchanged."
    )
    sec.reading.append(
        f"Retention: {flagged:,} of {customers:,} tiered customers "
        f"({pct(flagged / customers if customers else None, 1)}) are flagged. {rule}"
    )
    sec.blocks.append("<h3>Retention</h3>")
    rows = [{**r, **_retention_texts(r)} for r in doc["tiers"]]
    _retention_points(sec, rows)
    sec.blocks.append(
        table(
            rows,
            [
                ("tier", "tier"),
                ("customers", "customers"),
                ("capacity_text", "capacity"),
                ("eligible", "above the floor"),
                ("flagged", "flagged"),
                ("flagged_churn_mean", "mean P(churn) of flagged"),
                ("churn_range", "P(churn) of flagged"),
                ("loss_cut", "expected-loss cut"),
                ("expected_loss", "tier expected loss"),
                ("covered_share", "share covered"),
            ],
            fmt={
                "flagged_churn_mean": lambda v: pct(v, 1),
                "loss_cut": money,
                "expected_loss": money,
                "covered_share": lambda v: pct(v, 1),
            },
            caption="Retention flags per tier (expected loss = P(churn) × max(value, 0))",
        )
    )
