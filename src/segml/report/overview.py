"""Section 1 of the pack: purpose, data and period, population, exclusions, data quality."""

from __future__ import annotations

import datetime as dt
from typing import Any

from segml.dates import shift_months
from segml.report.absent import run_warning
from segml.report.context import ReportContext
from segml.report.figures import population_chart
from segml.report.fmt import num, pct
from segml.report.html import (
    Cell,
    Section,
    bullets,
    columns,
    figure,
    figures,
    keyvalues,
    note,
    table,
)
from segml.report.value import value_measure
from segml.run.result import shorten

__all__ = ["overview_section"]

#: How the run's warning of a failed value check begins (``tiers.value_check: warn``).
MEASURE_WARNING = "tiers: value measure check failed"


def _int(x: Any) -> int | None:
    return None if x is None else int(x)


def _population(ctx: ReportContext) -> list[tuple[str, int]]:
    run, m = ctx.run, ctx.run.metrics
    as_of = run.run.get("as_of", "the as-of date")
    steps: list[tuple[str, int | None]] = [
        ("customers in the data", _int(m.get("rows.customers"))),
        (f"active at {as_of}: tiered", _int(m.get("customers.active_at_as_of"))),
        ("with an observed outcome (labels)", _int(m.get("labels.rows"))),
        ("churn test snapshot", _int(m.get("churn.test.n"))),
        ("CLV: with purchase history", _int(m.get("clv.with_purchase_history"))),
        (
            "in a behavioural segment",
            None if run.table("segments") is None else len(run.table("segments")),
        ),  # type: ignore[arg-type]
        ("explained (reason codes)", _int(m.get("explain.explained"))),
        ("corporate clients graded", _int(m.get("grades.graded"))),
    ]
    return [(label, n) for label, n in steps if n is not None]


def _left_out_customers(m: dict[str, float]) -> list[dict[str, Any]]:
    """Customers the run does not tier: joined after the as-of date, or closed by it."""
    rows: list[dict[str, Any]] = []
    total, active = m.get("rows.customers"), m.get("customers.active_at_as_of")
    known = m.get("features.rows", total)  # customers who joined by the as-of date
    if total is not None and known is not None and total > known:
        rows.append(
            {
                "what": "customers whose relationship began after the as-of date",
                "n": int(total - known),
                "why": "not tiered, scored or explained: the run looks at the bank as of that date",
            }
        )
    if known is not None and active is not None:
        rows.append(
            {
                "what": "customers whose relationship closed before the as-of date",
                "n": int(known - active),
                "why": "not tiered, scored or explained: tiers serve open relationships",
            }
        )
    return rows


def _exclusions(ctx: ReportContext) -> list[dict[str, Any]]:
    run, m, cfg = ctx.run, ctx.run.metrics, ctx.run.config
    rows = _left_out_customers(m)
    kinds = (cfg.get("features") or {}).get("exclude_kinds")
    if kinds:
        rows.append(
            {
                "what": f"transaction kinds {', '.join(kinds)}",
                "n": None,
                "why": "not initiated by the customer: left out of behaviour features and CLV",
            }
        )
    if m.get("clv.customers") is not None and m.get("clv.with_purchase_history") is not None:
        rows.append(
            {
                "what": "active customers without a purchase before the as-of date",
                "n": int(m["clv.customers"] - m["clv.with_purchase_history"]),
                "why": "CLV from the population averages, not from their own history",
            }
        )
    ex = ((run.json("clv_evaluation") or {}).get("spend_model") or {}).get("exclusions") or {}
    if ex.get("no_repeat_purchase") is not None:
        rows.append(
            {
                "what": "customers without a repeat purchase or with non-positive spend",
                "n": int(ex.get("no_repeat_purchase", 0)) + int(ex.get("non_positive_spend", 0)),
                "why": "left out of the Gamma-Gamma spend fit (it needs repeat buyers)",
            }
        )
    churn = run.json("churn_metrics") or {}
    if churn.get("excluded_columns"):
        rows.append(
            {
                "what": "column(s) " + ", ".join(churn["excluded_columns"]),
                "n": None,
                "why": "excluded from the churn model's inputs by configuration",
            }
        )
    seg = run.json("segments") or {}
    demo = sorted(c for c, why in (seg.get("excluded") or {}).items() if "demographic" in str(why))
    if demo:
        rows.append(
            {
                "what": "column(s) " + ", ".join(demo),
                "n": None,
                "why": "demographic: kept apart from the segment clustering (profiles only)",
            }
        )
    retail = (run.json("data_profile") or {}).get("customers_by_type", {}).get("retail")
    if retail is not None and m.get("grades.graded") is not None:
        rows.append(
            {
                "what": "retail customers",
                "n": int(retail),
                "why": "corporate grades apply to corporate clients only",
            }
        )
    grades = run.table("grades")
    if grades is not None and "no_statement" in grades:
        rows.append(
            {
                "what": "graded corporate clients without a financial statement",
                "n": int(grades["no_statement"].astype(bool).sum()),
                "why": "graded on the dimensions they have; missing ones score neutral",
            }
        )
    return rows


def _quality(ctx: ReportContext, sec: Section) -> list[str]:
    report = ctx.run.json("validation") or {}
    issues = report.get("issues") or []
    errors = [i for i in issues if i.get("severity") == "error"]
    warns = [i for i in issues if i.get("severity") != "error"]
    blocks = []
    counts = report.get("row_counts") or {}
    status = "passed" if report.get("ok", True) and not errors else "FAILED"
    sec.reading.append(
        f"Data quality: the {len(counts)} contract tables ({sum(counts.values()):,} rows) "
        f"{status} validation with {len(errors)} error(s) and {len(warns)} warning(s)."
    )
    if errors:
        sec.attention(f"data validation reports {len(errors)} error(s)")
    elif warns:
        sec.attention(f"data validation reports {len(warns)} warning(s)")
    else:
        sec.ok("the data pass every rule of the data contract")
    rows = [{"table": t, "rows": n} for t, n in counts.items()]
    blocks.append(table(rows, [("table", "contract table"), ("rows", "rows")], caption="Rows read"))
    if issues:
        blocks.append(
            table(
                [
                    {
                        **i,
                        "severity": Cell(
                            i.get("severity", ""), "flag" if i.get("severity") == "error" else ""
                        ),
                    }
                    for i in issues
                ],
                [
                    ("severity", "severity"),
                    ("table", "table"),
                    ("column", "column"),
                    ("rule", "rule"),
                    ("message", "message"),
                    ("count", "rows"),
                ],
                caption="Data-quality issues",
            )
        )
    warnings = ctx.run.run.get("warnings") or []
    others = [w for w in warnings if not w.startswith(MEASURE_WARNING)]  # that one: above
    if others:
        first = shorten(others[0], 160)  # at a word boundary
        more = f" (and {len(others) - 1} more)" if len(others) > 1 else ""
        sec.attention(f"the run raised a warning{more}: {first}")
    if warnings:
        blocks.append("<h3>Warnings raised by the run</h3>" + bullets(warnings))
    return blocks


def overview_section(ctx: ReportContext) -> Section:
    """Purpose, data and period, population, exclusions and the data-quality summary."""
    run, m, cfg, card = ctx.run, ctx.run.metrics, ctx.run.config, ctx.card
    sec = Section("purpose", "Purpose, data, population and data quality")
    profile = run.json("data_profile") or {}
    as_of = str(run.run.get("as_of", ""))
    policy = run.json("tier_policy") or {}
    active = m.get("customers.active_at_as_of")
    vm = value_measure(ctx)
    message = (vm.get("check") or {}).get("message")
    if message:  # tiers.value_check: warn let a failed check through: the first point
        sec.attention(f"the tiers rank a value measure that failed its check: {message}")
    by = f"{vm['measure']} ({vm.get('description')})" if vm else "next year's value"
    sec.reading.append(
        f"{card.title}: this pack reviews run {run.short_id} (config {cfg.get('name', '?')}), "
        f"which puts the {num(active)} customers active at {as_of} into the tiers "
        f"{', '.join(run.tier_labels) or '–'} of the {policy.get('name', '?')} policy "
        f"(version {policy.get('version', '?')}) by {by}."
    )
    by_type = profile.get("customers_by_type") or {}
    horizon = int((cfg.get("labels") or {}).get("horizon_months", 12))
    first, last = (
        str(profile.get("transactions_first", ""))[:10],
        str(profile.get("transactions_last", ""))[:10],
    )
    try:
        end = shift_months(dt.date.fromisoformat(as_of), horizon).isoformat()
    except ValueError:
        end = "?"
    no_labels = run_warning(run, "no labels: ")
    sec.reading.append(
        f"The data hold {num(m.get('rows.customers'))} customers "
        f"({', '.join(f'{num(v)} {k}' for k, v in by_type.items())}) and "
        f"{num(m.get('rows.transactions'))} transactions from {first} to {last}. Models see only "
        f"records known by {as_of} ({num(m.get('history_months_to_as_of'))} months of history); "
        + (
            f"outcomes (profit, churn, spend) come from the {horizon} months after it, to {end}."
            if not no_labels
            else f"no outcome after it is tested: {no_labels}."
        )
    )
    total = m.get("rows.customers")
    if total and active is not None:
        sec.reading.append(
            f"{pct(active / total)} of customers have an open relationship at {as_of} and are "
            f"tiered; the {num(total - active)} others are excluded (table below)."
        )
    data = cfg.get("data") or {}
    labels = cfg.get("labels") or {}
    pairs = [
        ("intended use", card.intended_use),
        ("data source", f"{data.get('source', '?')}: {run.run.get('data_dir', '?')}"),
        (
            "data fingerprint (digest of the contract files)",
            ctx.registry.parent_params.get("data.fingerprint", "–"),
        ),
        ("history", f"{first} to {as_of} (features); {last} is the last record"),
        ("as-of date", as_of),
        (
            "outcome window",
            f"{horizon} months after the as-of date, to {end}"
            + (" (not in the data: no outcome is tested)" if no_labels else ""),
        ),
        ("churn definition", f"{labels.get('churn_definition', '?')}"),
        ("tiered population", f"{num(active)} customers active at {as_of}"),
    ]
    sec.blocks.append(keyvalues(pairs, caption="Purpose, data and period"))
    steps = _population(ctx)
    regions = profile.get("customers_by_region") or {}
    region_table = (
        table(
            [{"region": k, "customers": v} for k, v in regions.items()],
            caption="Customers by region (all in the data)",
        )
        if set(regions) - {"(none)"}
        else note("Not available: customers by region — the data hold no region for any customer.")
        if regions
        else ""
    )
    sec.blocks.append(
        columns(
            figures(
                figure(
                    population_chart(steps) if steps else None,
                    "How many customers each step of the run covers",
                )
            ),
            region_table,
        )
    )
    sec.blocks.append("<h3>Exclusions</h3>")
    sec.blocks.append(
        table(_exclusions(ctx), [("what", "left out"), ("n", "customers"), ("why", "why")])
    )
    sec.blocks.append("<h3>Data quality</h3>")
    sec.blocks += _quality(ctx, sec)
    if not profile:
        sec.blocks.append(note("The run has no data_profile.json."))
    return sec
