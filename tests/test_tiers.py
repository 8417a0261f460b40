"""The default tier policy used by the synthetic bank's ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segml.tiers import DEFAULT_POLICY, TierPolicy

values = st.lists(st.floats(-1e6, 1e7, allow_nan=False), min_size=1, max_size=400)


@settings(max_examples=60, deadline=None)
@given(values)
def test_every_value_gets_one_tier_and_tiers_are_monotone(v: list[float]) -> None:
    tiers = DEFAULT_POLICY.assign(np.array(v))
    assert len(tiers) == len(v) and set(tiers) <= set(DEFAULT_POLICY.tiers)
    rank = {t: i for i, t in enumerate(DEFAULT_POLICY.tiers)}
    order = np.argsort(-np.array(v), kind="stable")
    levels = [rank[t] for t in tiers[order]]
    assert levels == sorted(levels)  # a more valuable customer is never in a lower tier


def test_pyramid_shares() -> None:
    tiers = DEFAULT_POLICY.assign(np.arange(10_000.0))
    share = {t: (tiers == t).mean() for t in DEFAULT_POLICY.tiers}
    assert share == {"most_important": 0.01, "key": 0.19, "ordinary": 0.30, "small": 0.50}


def test_policy_round_trips_through_json_and_rejects_bad_input() -> None:
    assert TierPolicy.from_json(DEFAULT_POLICY.to_json()) == DEFAULT_POLICY
    with pytest.raises(ValueError, match="NaN"):
        DEFAULT_POLICY.assign(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="cutoffs"):
        TierPolicy(tiers=("a", "b"), cutoffs=(0.5, 0.9))
