"""Section 7 of the pack: outcome rates by gender and age band, and protected model inputs.

**Outcomes** per tiered customer: *favourable* — a place in the first two tiers of the policy;
*adverse* — the lowest tier. Both are judged by the four-fifths rule. The *retention flag*
(``high_churn_risk``: the tier playbook's retention rule, among the highest expected losses of
the tier within its capacity; docs/tiers.md) is shown per group beside the group's mean churn
probability and **not judged**: it gives a customer retention effort (a call, an offer), so it
is not adverse, and it is aimed by risk, so a group that churns less is rightly flagged less
often — a raw rate ratio would flag that as a disparity.

**Four-fifths rule**: per attribute, each group's *selection rate* is its rate of the
favourable outcome, or its rate of avoiding the adverse one (``1 − rate``); its ratio is that
rate over the highest selection rate among the judged groups, and a ratio below 0.8 is
flagged. Groups with fewer than :data:`MIN_GROUP` customers are shown but neither judged nor
used as the reference. Customers without the attribute (corporate clients have no gender or
age) are left out of that attribute's table.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from segml.features.catalogue import DEMOGRAPHIC_FEATURES
from segml.report.context import ReportContext
from segml.report.figures import ratio_chart
from segml.report.fmt import pct, ratio
from segml.report.html import Cell, Section, figure, figures, note, table
from segml.run.folder import RunFolder

__all__ = [
    "ATTRIBUTES",
    "FOUR_FIFTHS",
    "JUDGED",
    "MIN_GROUP",
    "OUTCOMES",
    "fairness_section",
    "four_fifths",
    "outcome_frame",
    "protected_inputs",
]

ATTRIBUTES = ("gender", "age_band")
FOUR_FIFTHS = 0.8
MIN_GROUP = 30
#: outcome key → (label, favourable?); ``None``: shown per group, not judged
OUTCOMES: dict[str, tuple[str, bool | None]] = {
    "top_tiers": ("top two tiers", True),
    "lowest_tier": ("lowest tier", False),
    "churn_flag": ("retention flag", None),
}
#: the outcomes the four-fifths rule judges
JUDGED = {k: v for k, v in OUTCOMES.items() if v[1] is not None}


def outcome_frame(tiers: pd.DataFrame, features: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """One row per tiered customer: the attributes and a boolean column per outcome.

    Parameters
    ----------
    tiers : DataFrame
        ``tiers.parquet`` (``customer_id``, ``tier``, and ``high_churn_risk`` and
        ``churn_risk`` when the run has a churn model).
    features : DataFrame
        ``features.parquet`` (``customer_id`` and the attributes).
    labels : list of str
        Tiers from the most to the least valuable.
    """
    attrs = [a for a in ATTRIBUTES if a in features]
    df = tiers[["customer_id", "tier"]].merge(
        features[["customer_id", *attrs]], on="customer_id", how="left"
    )
    tier = df["tier"].astype(str)
    df["top_tiers"] = tier.isin(labels[:2])
    flag = (
        tiers["high_churn_risk"]
        if "high_churn_risk" in tiers
        else pd.Series(False, index=tiers.index)
    )
    df["churn_flag"] = flag.fillna(False).astype(bool).to_numpy()
    df["lowest_tier"] = tier == labels[-1]
    if "churn_risk" in tiers:  # the calibrated churn probability the flag was aimed by
        df["churn_probability"] = pd.to_numeric(tiers["churn_risk"]).to_numpy()
    return df


def four_fifths(
    frame: pd.DataFrame,
    attribute: str,
    *,
    min_group: int = MIN_GROUP,
    threshold: float = FOUR_FIFTHS,
) -> pd.DataFrame:
    """Rates, ratios and flags per group of ``attribute`` (see the module docstring).

    Returns
    -------
    DataFrame
        ``attribute``, ``group``, ``n``, ``judged``, per outcome ``<key>_rate`` and per judged
        outcome ``<key>_ratio``, ``<key>_flag`` and ``<key>_best`` (the best-treated judged
        group); ``churn_probability`` (the group's mean) when ``frame`` has it.
    """
    sub = frame[frame[attribute].notna()]
    grouped = sub.groupby(sub[attribute].astype(str), sort=True)
    out = pd.DataFrame({"attribute": attribute, "n": grouped.size()})
    out["judged"] = out["n"] >= min_group
    if "churn_probability" in sub:
        out["churn_probability"] = grouped["churn_probability"].mean()
    for key, (_, favourable) in OUTCOMES.items():
        rate = grouped[key].mean()
        if favourable is None:
            out[f"{key}_rate"] = rate
            continue
        selection = rate if favourable else 1 - rate
        judged = selection[out["judged"]]
        best = judged.max() if len(judged) else float("nan")
        out[f"{key}_best"] = judged.idxmax() if len(judged) else None
        out[f"{key}_rate"] = rate
        out[f"{key}_ratio"] = selection / best if best > 0 else float("nan")
        out[f"{key}_flag"] = out["judged"] & (out[f"{key}_ratio"] < threshold)
    return out.rename_axis("group").reset_index()


def protected_inputs(run: RunFolder) -> list[dict[str, Any]]:
    """Which protected attributes each model reads (yes/no per model), from the run's files."""
    value = set((run.json("value_model") or {}).get("feature_names") or [])
    roles = (((run.json("churn_model") or {}).get("encoder")) or {}).get("roles") or {}
    churn = {c for c, r in roles.items() if r != "dropped"}
    surrogate = set(((run.json("explanations") or {}).get("segments") or {}).get("features") or [])
    kept_apart = {
        c
        for c, why in ((run.json("segments") or {}).get("excluded") or {}).items()
        if "demographic" in str(why)
    }
    rules = {c["column"] for r in (run.json("tier_rules") or []) for c in r.get("when", [])}
    have = {
        "value model": bool(value),
        "churn model": bool(roles),
        "segment surrogate": bool(surrogate),
    }
    rows = []
    for attr in DEMOGRAPHIC_FEATURES:
        row: dict[str, Any] = {"attribute": attr}
        for label, cols in (
            ("value model", value),
            ("churn model", churn),
            ("segment surrogate", surrogate),
        ):
            row[label] = (attr in cols) if have[label] else None
        row["segment clusters"] = (
            False if attr in kept_apart else (attr in surrogate) if surrogate else None
        )
        row["tier rules"] = attr in rules
        rows.append(row)
    return rows


def _flagged(frame: pd.DataFrame) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    out = []
    for attr, part in frame.groupby("attribute", sort=False):
        for key in JUDGED:
            hit = part[part[f"{key}_flag"]]
            if len(hit):
                out.append(((str(attr), key), hit))
    return out


def _yes(v: Any) -> Cell:
    if v is None:
        return Cell("not in run", "muted")
    return Cell("yes", "flag") if v else Cell("no", "ok")


def fairness_section(ctx: ReportContext) -> Section:
    """Four-fifths ratios of tier and churn-flag rates by gender and age band; protected inputs."""
    run = ctx.run
    sec = Section("fairness", "Fairness: outcomes by gender and age band")
    tiers, features = run.table("tiers"), run.table("features")
    labels = run.tier_labels
    if tiers is None or features is None or len(labels) < 2:
        sec.reading.append("The run has no tiers or no features to assess.")
        return sec
    frame = outcome_frame(tiers, features, labels)
    sec.reading.append(
        f"Favourable outcome: a place in the top two tiers ({', '.join(labels[:2])}); adverse: the "
        f"lowest tier ({labels[-1]}). Each group's rate of the favourable outcome, or of avoiding "
        f"the adverse one, is divided by the best-treated group's; a ratio below {FOUR_FIFTHS} "
        f"breaks the four-fifths rule. Groups of fewer than {MIN_GROUP} customers are shown but not "
        "judged. The retention flag (retention effort aimed at the tier's highest expected losses) "
        "is shown beside each group's mean churn probability and not judged: it is not adverse, "
        "and a group that churns less is rightly flagged less often."
    )
    results = []
    for attr in ATTRIBUTES:
        ff = _attribute_blocks(sec, frame, attr)
        if ff is not None:
            results.append(ff)
    if results:
        _four_fifths_findings(sec, pd.concat(results, ignore_index=True))
    _protected_inputs_findings(sec, run)
    return sec


def _attribute_blocks(sec: Section, frame: pd.DataFrame, attr: str) -> pd.DataFrame | None:
    """Add one attribute's rate table (or why there is none); its four-fifths frame, if any."""
    if attr not in frame:
        sec.blocks.append(note(f"Not available: the features have no {attr} column."))
        return None
    if not frame[attr].notna().any():
        sec.blocks.append(
            note(
                f"Not available: the data hold no {attr.replace('_', ' ')} for any tiered customer."
            )
        )
        return None
    ff = four_fifths(frame, attr)
    if ff.empty:
        sec.blocks.append(note(f"Not available: no {attr} group could be judged."))
        return None
    missing = int(frame[attr].isna().sum())
    sec.blocks.append(f"<h3>By {attr.replace('_', ' ')}</h3>")
    if missing:
        sec.blocks.append(
            note(
                f"{missing:,} tiered customers have no {attr} (corporate clients) and are left out."
            )
        )
    sec.blocks.append(_rates_table(ff))
    return ff


def _rates_table(ff: pd.DataFrame) -> str:
    """Per group of one attribute: customers, and each outcome's rate and four-fifths ratio."""
    cols: list[tuple[str, str]] = [("group", "group"), ("n", "customers")]
    rows = []
    for r in ff.to_dict("records"):
        row: dict[str, Any] = {
            "group": r["group"],
            "n": r["n"] if r["judged"] else Cell(f"{r['n']} (not judged)", "muted"),
        }
        for key in OUTCOMES:
            row[f"{key}_rate"] = r[f"{key}_rate"]
            if key not in JUDGED:
                continue
            row[f"{key}_ratio"] = Cell(
                ratio(r[f"{key}_ratio"]),
                "flag" if r[f"{key}_flag"] else ("" if r["judged"] else "muted"),
                "below four-fifths" if r[f"{key}_flag"] else "",
            )
        rows.append(row)
    for key, (label, _) in OUTCOMES.items():
        cols += [(f"{key}_rate", f"{label}: rate")] + ([(f"{key}_ratio", "ratio")] if key in JUDGED else [])  # fmt: skip
    fmt = {f"{k}_rate": lambda v: pct(v, 1) for k in OUTCOMES}
    if "churn_probability" in ff:
        for row, p in zip(rows, ff["churn_probability"], strict=True):
            row["churn_probability"] = p
        cols.append(("churn_probability", "mean churn probability"))
        fmt["churn_probability"] = lambda v: pct(v, 1)
    return table(rows, cols, fmt=fmt)


def _four_fifths_findings(sec: Section, allr: pd.DataFrame) -> None:
    """Name every group below four-fifths (or say none is), and put the ratio chart first."""
    sec.data["fairness"] = allr.to_dict("records")
    n_flags = 0
    for (attr, key), part in _flagged(allr):
        label = JUDGED[key][0]
        groups = ", ".join(
            f"{g} {ratio(v)}" for g, v in zip(part["group"], part[f"{key}_ratio"], strict=True)
        )
        text = (
            f"'{label}' by {attr.replace('_', ' ')}: {groups} (against "
            f"{part[f'{key}_best'].iloc[0]}, the best-treated group)"
        )
        sec.reading.append(f"Below four-fifths — {text}.")
        sec.attention(f"four-fifths rule broken for {text}")
        n_flags += len(part)
    if not n_flags:
        sec.reading.append("No judged group falls below four-fifths of the best-treated group.")
        sec.ok("every judged gender and age-band group is within the four-fifths rule")
    sec.blocks.insert(
        0,
        figures(
            figure(
                ratio_chart(allr, {k: v[0] for k, v in JUDGED.items()}, FOUR_FIFTHS),
                "Ratio of each group's rate to the best-treated group's (favourable, or avoiding the adverse)",
                wide=True,
            )
        ),
    )


def _protected_inputs_findings(sec: Section, run: RunFolder) -> None:
    """Which models read a protected attribute: the reading, the flags and the table."""
    inputs = protected_inputs(run)
    models = ("value model", "churn model", "segment surrogate", "segment clusters", "tier rules")
    used = {m: [r["attribute"] for r in inputs if r[m]] for m in models}
    text = "; ".join(f"{m}: {', '.join(v) if v else 'none'}" for m, v in used.items())
    sec.reading.append(f"Protected attributes read as inputs — {text}.")
    if not used["value model"] and not used["tier rules"]:
        sec.reading.append(
            "The value model and the tier rules, which set the tiers, read none of them directly:"
            " gaps in tier rates follow differences in value between the groups (and any proxy "
            "of an attribute among the features); the meeting judges them against the intended "
            "use."
        )
    for m in ("value model", "churn model", "segment surrogate", "tier rules"):
        if used[m]:
            sec.attention(f"the {m} reads protected attribute(s) {', '.join(used[m])}")
    sec.blocks.append("<h3>Protected attributes as model inputs</h3>")
    sec.blocks.append(
        table(
            [{k: (v if k == "attribute" else _yes(v)) for k, v in r.items()} for r in inputs],
            [("attribute", "attribute"), *[(m, m) for m in models]],
        )
    )
