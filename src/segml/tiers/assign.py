"""Assign tiers to a feature table and summarise them in a tier table.

:func:`assign_tiers` ranks a value column with a :class:`~segml.tiers.policy.TierPolicy`,
applies the :class:`~segml.tiers.rules.TierRule` overrides, and attaches each tier's service
:class:`~segml.tiers.playbooks.Playbook`; :func:`tier_table` summarises the result per tier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from segml.tiers.playbooks import (
    DEFAULT_PLAYBOOKS,
    PLAYBOOK_COLUMNS,
    Playbook,
    playbooks_from_json,
    playbooks_to_json,
)
from segml.tiers.policy import TierPolicy
from segml.tiers.retention import calibrate_retention, retention_flags
from segml.tiers.rules import TierRule, apply_rules, rules_to_json

#: Playbook fields copied onto every customer's row.
SERVICE_COLUMNS: tuple[str, ...] = ("relationship_manager", "contact_cadence", "channel", "pricing")


def _resolve_playbooks(
    labels: Sequence[str], playbooks: Mapping[str, Playbook] | None
) -> dict[str, Playbook | None]:
    if playbooks is None:
        return {t: DEFAULT_PLAYBOOKS.get(t) for t in labels}
    missing = [t for t in labels if t not in playbooks]
    if missing:
        raise ValueError(f"no playbook for tier(s) {missing}")
    return {t: playbooks[t] for t in labels}


def assign_tiers(
    features_df: pd.DataFrame | pa.Table,
    policy: TierPolicy,
    rules: Sequence[TierRule] = (),
    playbooks: Mapping[str, Playbook] | None = None,
    value_col: str = "profit_12m",
    churn_col: str | None = None,
    *,
    id_col: str = "customer_id",
) -> pd.DataFrame:
    """Tier every customer: by value, then the rules, with the tier's playbook.

    Parameters
    ----------
    features_df : pandas.DataFrame or pyarrow.Table
        One row per customer (e.g. from :func:`segml.features.build_features`, usually
        filtered to active customers). Must hold ``id_col``, ``value_col``, the columns the
        rules use and ``churn_col`` if given.
    policy : TierPolicy
        Maps the value score to tiers.
    rules : sequence of TierRule
        Overrides applied in order after the value tier.
    playbooks : mapping of str to Playbook, optional
        Playbook per tier; every tier of the policy needs one. ``None`` uses
        :data:`~segml.tiers.playbooks.DEFAULT_PLAYBOOKS` (tiers without a default get none).
    value_col : str
        Value score: ``profit_12m`` (current annual profit), a predicted CLV column, or a
        blend from :func:`~segml.tiers.value.blend_value`. NaN is rejected.
    churn_col : str, optional
        Calibrated churn probability (0–1). When given, the playbooks' retention capacities
        are sized on these customers (:func:`~segml.tiers.retention.calibrate_retention`: the
        capacity goes to the highest expected loss ``P(churn) × max(value, 0)`` above the
        mean probability) and the output has ``churn_risk``, ``high_churn_risk`` (flagged for
        retention by the tier's playbook: :func:`~segml.tiers.retention.retention_flags`) and
        ``retention_action`` (the playbook's action where flagged, else None).
    id_col : str
        Customer key; must be unique.

    Returns
    -------
    pandas.DataFrame
        In input order: ``customer_id``, ``value``, ``tier_by_value``, ``tier`` (both ordered
        categoricals whose categories run from the most to the least valuable tier),
        ``reasons`` (list of the names of the rules that applied), ``reason`` (their reasons
        joined by ``"; "``), the service columns ``relationship_manager``,
        ``contact_cadence``, ``channel``, ``pricing``, and the churn columns above. ``attrs``
        hold the policy, rules and playbooks as JSON (``tier_policy``, ``tier_rules``,
        ``tier_playbooks``: with ``churn_col``, calibrated on these customers).
    """
    df = features_df.to_pandas() if isinstance(features_df, pa.Table) else features_df
    for c in (id_col, value_col, *([churn_col] if churn_col else [])):
        if c not in df.columns:
            raise KeyError(f"column {c!r} not in the feature table")
    ids = df[id_col]
    if ids.isna().any() or not ids.is_unique:
        raise ValueError(f"{id_col} must be unique and non-null")
    value = df[value_col].to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(value).any():
        raise ValueError(f"{value_col} has {int(np.isnan(value).sum())} missing value(s)")
    labels = policy.labels
    by_value = policy.levels(value)
    level, names, reasons = apply_rules(by_value, df, rules, labels)
    book = _resolve_playbooks(labels, playbooks)

    dtype = pd.CategoricalDtype(list(labels), ordered=True)
    lab = np.asarray(labels, dtype=object)
    out = pd.DataFrame(
        {
            "customer_id": ids.to_numpy(),
            "value": value,
            "tier_by_value": pd.Categorical(lab[by_value], dtype=dtype),
            "tier": pd.Categorical(lab[level], dtype=dtype),
            "reasons": names,
            "reason": reasons,
        }
    ).rename(columns={"customer_id": id_col})
    tiers = lab[level]
    if churn_col:
        risk = df[churn_col].to_numpy(dtype=float, na_value=np.nan)
        book = calibrate_retention(tiers, risk, value, book)
        high = retention_flags(tiers, risk, value, book)
    pbs = [book[t] for t in labels]

    def per_tier(field: str, missing: object = None) -> np.ndarray:
        return np.array([getattr(p, field) if p else missing for p in pbs], dtype=object)

    for c in SERVICE_COLUMNS:
        out[c] = per_tier(c)[level].tolist()
    if churn_col:
        out["churn_risk"] = risk
        out["high_churn_risk"] = high
        out["retention_action"] = np.where(high, per_tier("retention_action")[level], None).tolist()
    out.attrs["tier_policy"] = policy.to_json()
    out.attrs["tier_rules"] = rules_to_json(rules)
    out.attrs["tier_playbooks"] = playbooks_to_json({t: p for t, p in book.items() if p})
    return out


def tier_table(
    assignments: pd.DataFrame,
    playbooks: Mapping[str, Playbook] | None = None,
    *,
    by: str = "tier",
    value_col: str = "value",
) -> pd.DataFrame:
    """Per tier: customers, value and the playbook.

    Parameters
    ----------
    assignments : pandas.DataFrame
        Output of :func:`assign_tiers` (or any frame with ``by`` and ``value_col``).
    playbooks : mapping of str to Playbook, optional
        Playbooks to show; ``None`` takes those saved in ``assignments.attrs`` by
        :func:`assign_tiers`, else :data:`~segml.tiers.playbooks.DEFAULT_PLAYBOOKS`.
    by : str
        ``"tier"`` (after rules) or ``"tier_by_value"``.
    value_col : str
        Value column.

    Returns
    -------
    pandas.DataFrame
        One row per tier (every category, most valuable first, for categorical tiers):
        ``tier``, ``customers``, ``customer_share``, ``value_sum``, ``value_share`` (of the
        net total value: shares sum to 1, and a tier's share exceeds 1 or is negative when
        loss-makers pull the total down), ``positive_value_share`` (of the sum of positive
        values), ``mean_value``, ``median_value``, then the playbook fields.
    """
    t, v = assignments[by], assignments[value_col].astype(float)
    g = v.groupby(t, observed=False, sort=True)
    total, pos_total, n = float(v.sum()), float(v.clip(lower=0).sum()), len(v)
    table = pd.DataFrame(
        {
            "customers": g.size(),
            "value_sum": g.sum(),
            "positive_value": v.clip(lower=0).groupby(t, observed=False, sort=True).sum(),
            "mean_value": g.mean(),
            "median_value": g.median(),
        }
    )
    table.index.name = "tier"
    table = table.reset_index()
    table["customer_share"] = table.customers / n if n else np.nan
    table["value_share"] = table.value_sum / total if total != 0 else np.nan
    table["positive_value_share"] = table.positive_value / pos_total if pos_total > 0 else np.nan
    if playbooks is None:
        saved = assignments.attrs.get("tier_playbooks")
        playbooks = playbooks_from_json(saved) if saved else DEFAULT_PLAYBOOKS
    tiers = table.tier.astype(str)
    for c in PLAYBOOK_COLUMNS:
        table[c] = [getattr(playbooks[x], c) if x in playbooks else None for x in tiers]
    cols = ["tier", "customers", "customer_share", "value_sum", "value_share"]
    cols += ["positive_value_share", "mean_value", "median_value", *PLAYBOOK_COLUMNS]
    return table[cols]
