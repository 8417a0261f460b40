"""Section 3 of the pack: behavioural segments and their personas; corporate grades."""

from __future__ import annotations

from typing import Any

import pandas as pd

from segml.report.absent import not_available, run_warning
from segml.report.context import ReportContext
from segml.report.figures import grade_chart, segment_chart
from segml.report.fmt import money, num, pct
from segml.report.html import Section, bullets, figure, figures, note, table

__all__ = ["segments_section"]


def _persona(p: dict[str, Any]) -> str:
    if _share(p, "share") is None:
        return f"{p.get('name', p.get('segment'))}: {num(p.get('size'))} customers, not profiled."
    bits = [
        f"{pct(p.get('share'))} of {p.get('stratum', 'its')} customers and "
        f"{pct(p.get('value_share'))} of their value, median value {money(p.get('value_median'))} a year"
    ]
    if pd.notna(p.get("median:n_tx_365d")):
        bits.append(f"{num(round(p['median:n_tx_365d']))} transactions a year")
    if pd.notna(p.get("median:aum_last")):
        bits.append(f"assets under management {money(p['median:aum_last'])}")
    if pd.notna(p.get("mix:digital_share")):
        bits.append(f"{pct(p['mix:digital_share'])} of transactions digital")
    rates = {
        k.split(":", 1)[1].removeprefix("has_").replace("_", " "): v
        for k, v in p.items()
        if k.startswith("rate:") and pd.notna(v)
    }
    if rates:
        top = sorted(rates.items(), key=lambda kv: -kv[1])[:2]
        bits.append("most held: " + ", ".join(f"{k} ({pct(v)})" for k, v in top))
    return f"{p.get('name', p.get('segment'))}: " + "; ".join(bits) + "."


def _share(p: dict[str, Any], key: str) -> float | None:
    """A profile's number, None when missing or NaN (a segment the run did not profile)."""
    v = p.get(key)
    return None if v is None or pd.isna(v) else float(v)


def _segment_readings(prof: pd.DataFrame, sec: Section) -> None:
    """The most valuable segment; a note for each segment the run left without numbers."""
    recs = prof.to_dict("records")
    valued = [p for p in recs if _share(p, "value_share") is not None]
    text = (
        f"{len(recs)} behavioural segments, clustered separately per customer type on behaviour "
        "only (demographics describe them but are not clustered)."
    )
    if valued:
        top = max(valued, key=lambda p: _share(p, "value_share") or 0.0)
        text += (
            f" The most valuable, '{top.get('name')}', holds {pct(top.get('value_share'))} of its "
            f"type's value with {pct(top.get('share'))} of its customers."
        )
    sec.reading.append(text)
    for p in recs:
        if _share(p, "value_share") is None:
            sec.blocks.append(
                note(
                    f"Not available: no share or value for '{p.get('name')}' "
                    f"({num(p.get('size'))} {p.get('stratum', '')} customers): the run did not "
                    "profile it (a customer type too small to cluster is one segment)."
                )
            )


def _comparison(run: Any, sec: Section) -> None:
    """How much of the variance of log value the segments and the demographic cells explain."""
    comp = run.table("segment_comparison")
    if comp is None or not {"segmentation", "eta2_log_value"} <= set(comp.columns):
        return
    eta = dict(zip(comp["segmentation"], comp["eta2_log_value"], strict=True))
    n = dict(zip(comp["segmentation"], comp["n_segments"], strict=True))
    eps: dict = {}
    if "eps2_log_value" in comp.columns:  # runs before eps2 have eta2 only
        eps = dict(zip(comp["segmentation"], comp["eps2_log_value"], strict=True))

    def adjusted(name: str, words: str) -> str:
        return f" ({pct(eps[name])} {words})" if name in eps else ""

    if "behavioural" not in eta or "demographic" not in eta:
        return
    text = (
        f"The {num(n['behavioural'])} behavioural segments explain "
        f"{pct(eta['behavioural'])} of the variance of log value"
        f"{adjusted('behavioural', 'adjusted for the number of segments')}; "
    )
    if (n["demographic"] or 0) > 1:
        text += (
            f"{num(n['demographic'])} demographic cells (age band × income band × region) "
            f"explain {pct(eta['demographic'])}{adjusted('demographic', 'adjusted')}."
        )
    else:
        text += (
            "a comparison with demographic cells is not available: the data hold no age band, "
            "income band or region to form them."
        )
    sec.reading.append(text)


def _segments(ctx: ReportContext, sec: Section) -> None:
    run = ctx.run
    prof = run.table("segment_profiles")
    if prof is None:
        sec.reading.append(not_available(run, "segments"))
        return
    if "value_share" not in prof:
        prof = prof.assign(value_share=float("nan"))
    if "stratum" in prof:
        prof = prof.sort_values(["stratum", "value_share"], ascending=[True, False])
    recs = prof.to_dict("records")
    _segment_readings(prof, sec)
    _comparison(run, sec)
    fid = run.metric("explain.segments.surrogate_fidelity")
    if fid is not None:
        sec.reading.append(
            f"A surrogate classifier that explains the segments (and assigns new customers) "
            f"agrees with the clusters for {pct(fid, 1)} of held-out customers."
        )
        if fid < 0.9:
            sec.attention(f"segment surrogate fidelity is only {pct(fid, 1)}")
    names = [f"{p.get('name')} ({p.get('stratum', '')})" for p in recs]
    sec.blocks.append(
        figures(
            figure(
                segment_chart(
                    names,
                    [_share(p, "share") or 0.0 for p in recs],
                    [_share(p, "value_share") or 0.0 for p in recs],
                ),
                "Segments: share of customers and of value within their customer type",
            )
        )
    )
    sec.blocks.append("<h3>Personas</h3>" + bullets(_persona(p) for p in recs))
    cols = [
        ("name", "segment"),
        ("stratum", "customer type"),
        ("size", "customers"),
        ("share", "share of type"),
        ("value_share", "share of value"),
        ("value_median", "median value"),
        ("median:n_tx_365d", "transactions a year"),
        ("median:aum_last", "median AUM"),
        ("mix:digital_share", "digital share"),
        ("top:age_band", "most common age band"),
        ("top:income_band", "most common income"),
    ]
    cols = [c for c in cols if c[0] in prof.columns]
    sec.blocks.append(
        table(
            recs,
            cols,
            fmt={
                "share": pct,
                "value_share": pct,
                "value_median": money,
                "median:aum_last": money,
                "median:n_tx_365d": lambda v: num(None if pd.isna(v) else round(v)),
                "mix:digital_share": pct,
            },
        )
    )


def _grade_validation(run: Any, comp: dict[str, Any], sec: Section) -> None:
    """The out-of-time check of the grades against credit events, or why there is none."""
    if not comp or comp.get("skipped"):
        why = comp.get("skipped") or run_warning(run, "no labels: ")
        if not why and (run.config.get("grades") or {}).get("compare_model") is False:
            why = "grades.compare_model is off"
        sec.blocks.append(
            note(f"Not available: out-of-time grade validation — {why or 'the run has none'}.")
        )
        return
    ev = int(comp.get("n_eval_events") or 0)
    split = str(comp.get("split", "")).removeprefix("out of time: ")
    sec.reading.append(
        f"Out of time ({split}), the scorecard ranks credit events with AUC "
        f"{num(comp.get('auc_scorecard'), 2)}, the external credit rating alone "
        f"{num(comp.get('auc_rating'), 2)} and an xgboost model {num(comp.get('auc_model'), 2)},"
        f" on {num(comp.get('n_eval'))} clients with {ev} event(s)."
    )
    if ev == 0:
        sec.blocks.append(
            note(
                "Not available: grade AUCs — no credit event among the "
                f"{num(comp.get('n_eval'))} clients evaluated, so no ranking can be judged."
            )
        )
    elif ev < 20:
        ci = comp.get("auc_diff_ci") or [None, None]
        sec.attention(
            f"grade validation rests on {ev} credit event(s): the AUCs are uncertain "
            f"(95% interval of the model − scorecard difference {num(ci[0], 2)} to "
            f"{num(ci[1], 2)})"
        )


def _grades(ctx: ReportContext, sec: Section) -> None:
    run = ctx.run
    grades = run.table("grades")
    if grades is None or grades.empty:
        sec.blocks.append(note("No corporate client was graded in this run."))
        return
    card = run.json("scorecard") or {}
    order = [g for g, _ in card.get("grades", [])] or sorted(grades["grade"].astype(str).unique())
    counts = grades["grade"].astype(str).value_counts()
    comp = run.json("grading_comparison") or {}
    events = comp.get("events_by_grade") or {}
    rates = [events[g][1] / events[g][0] if g in events and events[g][0] else None for g in order]
    common = counts.idxmax()
    sec.reading.append(
        f"{len(grades):,} corporate clients are graded with the {card.get('name', 'corporate')} "
        f"scorecard (version {card.get('version', '?')}); {common} is the most common grade "
        f"({pct(counts.max() / len(grades))})."
    )
    _grade_validation(run, comp, sec)
    sec.blocks.append(
        figures(
            figure(
                grade_chart(order, [int(counts.get(g, 0)) for g in order], rates),
                "Corporate clients per grade and the credit-event rate seen in the evaluation",
            )
        )
    )
    rows = [
        {
            "grade": g,
            "clients": int(counts.get(g, 0)),
            "share": counts.get(g, 0) / len(grades),
            "eval": events.get(g, [None])[0],
            "events": events.get(g, [None, None])[1],
            "rate": r,
        }
        for g, r in zip(order, rates, strict=True)
    ]
    sec.blocks.append(
        table(
            rows,
            [
                ("grade", "grade"),
                ("clients", "clients graded now"),
                ("share", "share"),
                ("eval", "clients in evaluation"),
                ("events", "credit events"),
                ("rate", "event rate"),
            ],
            fmt={"share": pct, "rate": lambda v: pct(v, 1)},
        )
    )


def segments_section(ctx: ReportContext) -> Section:
    """Segments, their personas and value, the surrogate's fidelity, and corporate grades."""
    sec = Section("segments", "Segments, personas and corporate grades")
    _segments(ctx, sec)
    sec.blocks.append("<h3>Corporate grades</h3>")
    _grades(ctx, sec)
    return sec
