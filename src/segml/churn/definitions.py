"""When a churn definition cannot train a model: the definitions that would, with their rates.

A churn model needs churners and stayers at its training snapshot. On a short or quiet history
the default definition (``closure``: the customer closed every account) can find none — the
partial Berka file has no closures at all — and the run should not stop at "one class" without
saying what to do. :func:`one_class_message` labels the same snapshot under the other
definitions and names those that give both classes.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

import pandas as pd
import pyarrow.compute as pc

from segml.data import BankData
from segml.features.labels import ChurnDefinition, label_window
from segml.features.snapshots import Snapshots
from segml.features.spec import FeatureConfig

__all__ = ["ALTERNATIVES", "one_class_message"]

#: Definitions tried when the configured one gives a single class: (definition, inactivity days).
ALTERNATIVES: tuple[tuple[str, int | None], ...] = (
    ("closure", None), ("inactivity", 90), ("inactivity", 180), ("balance_runoff", None),
)  # fmt: skip


def _definition(definition: str, inactivity: int | None) -> str:
    return f"{definition}, {inactivity} days" if definition == "inactivity" else definition


def one_class_message(
    bank: BankData | Snapshots,
    frame: pd.DataFrame,
    t: dt.date,
    horizon: int,
    definition: str,
    inactivity: int,
    runoff: float,
    config: FeatureConfig | None,
) -> str:
    """Why a snapshot cannot train a churn model (one class), and the definitions that would.

    Each of :data:`ALTERNATIVES` other than the configured definition is labelled at the same
    snapshot (an inactivity period longer than the label window is left out: it would count
    what a shorter one counts); those with both classes are named with their churn rates, so
    that the user can choose one (``labels.churn_definition``, ``labels.inactivity_days``)
    knowing what it counts.
    """
    churned = int(frame["churned"].sum())
    what = "only churners" if churned == len(frame) else "no churner"
    text = (
        f"{_definition(definition, inactivity if definition == 'inactivity' else None)} finds "
        f"{what} in the {horizon} months after {t} ({churned:,} of {len(frame):,} customers)"
    )
    start, end = label_window(t, horizon)
    ok = []
    for alt, days in ALTERNATIVES:
        same = alt == definition and (alt != "inactivity" or days == inactivity)
        if same or (days is not None and days > (end - start).days + 1):
            continue
        try:
            lab = Snapshots.of(bank, config).labels(t, horizon, cast(ChurnDefinition, alt),
                                                    days or inactivity, runoff)  # fmt: skip
        except ValueError:  # e.g. balance_runoff without balances
            continue
        rate = float(pc.mean(lab["churned"]).as_py() or 0.0) if lab.num_rows else 0.0
        if 0.0 < rate < 1.0:
            ok.append(f"{_definition(alt, days)} ({rate:.1%} churn)")
    if ok:
        return (
            f"{text}; definitions that would train one: {'; '.join(ok)} "
            "(labels.churn_definition, labels.inactivity_days)"
        )
    return f"{text}, and no other definition has both churners and stayers either"
