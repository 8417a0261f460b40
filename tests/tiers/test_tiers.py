from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segml.data import load_bank
from segml.features import build_features
from segml.tiers import (
    ABC_POLICY,
    CUSTOMER_PYRAMID,
    DEFAULT_PLAYBOOKS,
    DEFAULT_POLICY,
    Condition,
    Playbook,
    TierPolicy,
    TierRule,
    abc_policy,
    assign_tiers,
    blend_value,
    calibrate_retention,
    concentration,
    customer_pyramid_policy,
    expected_loss,
    gini,
    lorenz_curve,
    playbooks_from_json,
    playbooks_to_json,
    psi,
    psi_label,
    pyramid_policy,
    retention_flags,
    retention_summary,
    retention_table,
    rules_from_json,
    rules_to_json,
    tier_migration,
    tier_table,
)

values = st.lists(st.floats(-1e6, 1e7, allow_nan=False), min_size=1, max_size=400)
POLICIES = (DEFAULT_POLICY, ABC_POLICY, CUSTOMER_PYRAMID)
policies = st.sampled_from(POLICIES)


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


# ----------------------------------------------------------------------------- policies
def _old_pyramid(v: np.ndarray) -> np.ndarray:
    """The version-1 TierPolicy.assign, kept to check DEFAULT_POLICY never changes."""
    n = len(v)
    order = np.argsort(-v, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    idx = np.searchsorted(np.array([0.01, 0.20, 0.50, 1.0]) + 1e-12, (rank + 1) / n)
    return np.array(["most_important", "key", "ordinary", "small"], dtype=object)[
        np.minimum(idx, 3)
    ]


@settings(max_examples=60, deadline=None)
@given(values)
def test_default_policy_keeps_its_version_1_results(v: list[float]) -> None:
    a = np.array(v)
    assert (DEFAULT_POLICY.assign(a) == _old_pyramid(a)).all()
    assert pyramid_policy() == DEFAULT_POLICY
    old = json.dumps(
        {
            "cutoffs": [0.01, 0.2, 0.5, 1.0],
            "name": "pyramid",
            "version": "1",
            "tiers": ["most_important", "key", "ordinary", "small"],
        }
    )
    assert TierPolicy.from_json(old) == DEFAULT_POLICY


@settings(max_examples=80, deadline=None)
@given(policies, values)
def test_every_customer_gets_exactly_one_tier_of_the_policy(p: TierPolicy, v: list[float]) -> None:
    tiers = p.assign(np.array(v))
    assert tiers.shape == (len(v),)
    assert set(tiers) <= set(p.labels)


@settings(max_examples=80, deadline=None)
@given(policies, values)
def test_tiers_are_monotone_in_value_for_every_kind(p: TierPolicy, v: list[float]) -> None:
    a = np.array(v)
    level = p.levels(a)
    order = np.argsort(-a, kind="stable")
    assert (np.diff(level[order]) >= 0).all()
    # strictly: a higher value never sits in a less valuable tier
    hi, lo = np.meshgrid(a, a, indexing="ij")
    lh, ll = np.meshgrid(level, level, indexing="ij")
    assert not ((hi > lo) & (lh > ll)).any()


@settings(max_examples=50, deadline=None)
@given(policies, values)
def test_assignment_is_deterministic(p: TierPolicy, v: list[float]) -> None:
    a = np.array(v)
    first = p.assign(a)
    assert (p.assign(a.copy()) == first).all()
    assert (TierPolicy.from_json(p.to_json()).assign(a) == first).all()


@st.composite
def any_policy(draw: st.DrawFn) -> TierPolicy:
    k = draw(st.integers(1, 6))
    cut = sorted(draw(st.lists(st.integers(1, 999), min_size=k - 1, max_size=k - 1, unique=True)))
    cutoffs = tuple(c / 1000 for c in cut) + (1.0,)
    names = tuple(
        draw(st.lists(st.text(min_size=1, max_size=8), min_size=k, max_size=k, unique=True))
    )
    kind = draw(st.sampled_from(["rank", "value_share", "rank_with_loss"]))
    loss = None
    if kind == "rank_with_loss":
        loss = draw(st.text(min_size=1, max_size=8).filter(lambda s: s not in names))
    version = draw(st.text(max_size=5))
    return TierPolicy(draw(st.text(max_size=10)), version, names, cutoffs, kind, loss)


@settings(max_examples=80, deadline=None)
@given(any_policy())
def test_every_policy_round_trips_through_json(p: TierPolicy) -> None:
    back = TierPolicy.from_json(p.to_json())
    assert back == p and back.labels == p.labels and hash(back) == hash(p)
    assert json.loads(p.to_json())["kind"] == p.kind


def test_policies_are_frozen_and_validated() -> None:
    with pytest.raises(AttributeError):
        DEFAULT_POLICY.cutoffs = (1.0,)  # type: ignore[misc]
    with pytest.raises(ValueError, match="loss_tier"):
        TierPolicy(kind="rank_with_loss")
    with pytest.raises(ValueError, match="loss_tier"):
        TierPolicy(loss_tier="lead")
    with pytest.raises(ValueError, match="unique"):
        TierPolicy(tiers=("a", "a"), cutoffs=(0.5, 1.0))
    with pytest.raises(ValueError, match="kind"):
        TierPolicy(kind="quantile")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sum to 1"):
        abc_policy(0.8, 0.3)
    with pytest.raises(ValueError, match="unknown"):
        TierPolicy.from_json('{"name": "x", "colour": "red"}')


def test_abc_shares_match_the_configured_cumulative_shares() -> None:
    v = np.array([3.0, 50.0, 0.0, 10.0, -7.0, 30.0, 2.0, 5.0])  # positive total 100
    tiers = abc_policy(0.80, 0.15).assign(v)
    assert tiers.tolist() == ["C", "A", "C", "B", "C", "A", "C", "B"]
    pos = np.clip(v, 0, None)
    share = {t: pos[tiers == t].sum() / pos.sum() for t in "ABC"}
    assert share == pytest.approx({"A": 0.80, "B": 0.15, "C": 0.05})
    # a Pareto population: A is the smallest top group that reaches 80% of positive value
    rng = np.random.default_rng(0)
    x = rng.pareto(1.2, 20_000) * 100 - 20
    t = ABC_POLICY.assign(x)
    p = np.clip(x, 0, None)
    a_share = p[t == "A"].sum() / p.sum()
    ab_share = p[np.isin(t, ["A", "B"])].sum() / p.sum()
    assert 0.80 <= a_share <= 0.80 + p[t == "A"].min() / p.sum() + 1e-12
    assert 0.95 <= ab_share <= 0.95 + p[t == "B"].min() / p.sum() + 1e-12
    assert (t[x <= 0] == "C").all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e6, allow_nan=False), min_size=1, max_size=300))
def test_abc_a_tier_is_the_smallest_top_group_reaching_its_share(v: list[float]) -> None:
    x = np.array(v)
    t = ABC_POLICY.assign(x)
    pos = np.clip(x, 0, None)
    if pos.sum() == 0:
        assert (t == "C").all()
        return
    in_a = pos[t == "A"]
    assert in_a.sum() / pos.sum() >= 0.80 - 1e-9
    assert (in_a.sum() - in_a.min()) / pos.sum() < 0.80 + 1e-9


@settings(max_examples=60, deadline=None)
@given(values)
def test_lead_tier_is_exactly_the_loss_makers(v: list[float]) -> None:
    x = np.array(v)
    t = CUSTOMER_PYRAMID.assign(x)
    assert ((t == "lead") == (x < 0)).all()
    profitable = t[x >= 0]
    if len(profitable):
        # ranks among profitable customers only
        ref = customer_pyramid_policy().assign(x[x >= 0])
        assert (profitable == ref).all()


# ----------------------------------------------------------------------------- assign_tiers
@settings(max_examples=40, deadline=None)
@given(
    policies,
    st.lists(st.floats(-1e5, 1e6, allow_nan=False), min_size=2, max_size=200, unique=True),
    st.randoms(use_true_random=False),
)
def test_customer_ids_never_change_a_customers_tier(p: TierPolicy, v: list[float], rnd) -> None:
    n = len(v)
    ids = [f"C{i:05d}" for i in range(n)]
    base = assign_tiers(pd.DataFrame({"customer_id": ids, "profit_12m": v}), p)
    # renaming and permuting the ids among rows leaves every row's tier as it was
    other = [f"X{i}" for i in rnd.sample(range(10 * n), n)]
    renamed = assign_tiers(pd.DataFrame({"customer_id": other, "profit_12m": v}), p)
    assert (renamed.tier.to_numpy() == base.tier.to_numpy()).all()
    # shuffling the rows moves each customer with their tier (values are distinct)
    perm = rnd.sample(range(n), n)
    df = pd.DataFrame({"customer_id": ids, "profit_12m": v}).iloc[perm]
    shuffled = assign_tiers(df, p).set_index("customer_id").tier
    assert (shuffled.loc[ids].to_numpy() == base.tier.to_numpy()).all()


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(8)],
            "profit_12m": [900.0, 500.0, 400.0, 300.0, 200.0, 100.0, 50.0, -10.0],
            "region": ["Beijing", "Hubei", "Hubei", "Beijing", None, "Hubei", "Beijing", "Hubei"],
            "industry": ["energy", None, "real_estate", None, "real_estate", None, None, None],
            "complaints_unresolved": [0, 1, 0, 0, 2, 0, 0, 1],
            "churn": [0.9, 0.1, 0.5, np.nan, 0.2, 0.9, 0.0, 0.99],
        }
    )


POL4 = pyramid_policy((0.25, 0.25, 0.5), ("gold", "silver", "bronze"), name="p3")
BOOKS = {
    t: Playbook(t != "bronze", "monthly", f"{t} desk", f"{t} pricing", f"save {t}", 0.5)
    for t in POL4.labels
}


def test_rules_apply_with_reasons_and_do_not_touch_others() -> None:
    df = _frame()
    rules = (
        TierRule("complaint", [("complaints_unresolved", ">", 0)], "flag"),
        TierRule("watch_industry", [("industry", "in", ["real_estate"])], "cap", "silver"),
        TierRule(
            "hubei_cap", [("region", "==", "Hubei"), ("profit_12m", ">=", 450)], "cap", "bronze"
        ),
        TierRule("beijing_floor", [Condition("region", "==", "Beijing")], "floor", "silver"),
        TierRule(
            "energy_set", {"column": "industry", "op": "==", "value": "energy"}, "set", "bronze"
        ),
    )
    out = assign_tiers(df, POL4, rules, BOOKS, churn_col="churn")
    by_value = ["gold", "gold", "silver", "silver", "bronze", "bronze", "bronze", "bronze"]
    assert out.tier_by_value.astype(str).tolist() == by_value
    assert out.reasons.tolist() == [
        ["beijing_floor", "energy_set"],
        ["complaint", "hubei_cap"],
        ["watch_industry"],
        ["beijing_floor"],
        ["complaint", "watch_industry"],  # missing region satisfies no condition
        [],
        ["beijing_floor"],
        ["complaint"],
    ]
    assert out.tier.astype(str).tolist() == [
        "bronze",  # floored at silver, then set to bronze: rules apply in order
        "bronze",  # capped
        "silver",  # cap at silver does not lower a silver
        "silver",
        "bronze",
        "bronze",
        "silver",  # floored
        "bronze",
    ]
    untouched = out.reasons.str.len() == 0
    assert (out.tier[untouched] == out.tier_by_value[untouched]).all()
    assert out.reason[untouched].eq("").all()
    assert "complaints_unresolved > 0" in out.reason[1] and "hubei_cap" in out.reason[1]
    # playbooks follow the final tier; retention only where churn risk is high
    assert out.channel.tolist() == [f"{t} desk" for t in out.tier.astype(str)]
    assert out.relationship_manager.tolist() == [t != "bronze" for t in out.tier.astype(str)]
    assert out.high_churn_risk.tolist() == [True, False, True, False, False, True, False, True]
    assert out.retention_action.fillna("-").tolist() == [
        "save bronze",
        "-",
        "save silver",
        "-",
        "-",
        "save bronze",
        "-",
        "save bronze",
    ]
    assert rules_from_json(rules_to_json(rules)) == rules
    assert playbooks_from_json(playbooks_to_json(BOOKS)) == BOOKS


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-1e4, 1e6, allow_nan=False), st.sampled_from(["R1", "R2", None])),
        min_size=1,
        max_size=150,
    ),
    st.sampled_from(["set", "cap", "floor", "flag"]),
    st.sampled_from(DEFAULT_POLICY.labels),
)
def test_a_rule_changes_only_the_customers_it_matches(
    rows: list[tuple[float, str | None]], action: str, tier: str
) -> None:
    df = pd.DataFrame(rows, columns=["profit_12m", "region"])
    df["customer_id"] = [f"C{i}" for i in range(len(df))]
    rule = TierRule("r1", [("region", "==", "R1")], action, None if action == "flag" else tier)
    out = assign_tiers(df, DEFAULT_POLICY, [rule])
    hit = (df.region == "R1").fillna(False).to_numpy()
    assert (out.reasons.map(len).to_numpy() == hit).all()
    assert (out.tier[~hit] == out.tier_by_value[~hit]).all()
    level = {t: i for i, t in enumerate(DEFAULT_POLICY.labels)}
    after = out.tier[hit].astype(str).map(level).to_numpy()
    before = out.tier_by_value[hit].astype(str).map(level).to_numpy()
    expected = {
        "set": np.full_like(before, level[tier]),
        "cap": np.maximum(before, level[tier]),
        "floor": np.minimum(before, level[tier]),
        "flag": before,
    }[action]
    assert (after == expected).all()


def test_conditions_are_data_not_code() -> None:
    df = _frame()
    with pytest.raises(ValueError, match="operator"):
        Condition("region", "__import__('os')", 1)
    with pytest.raises(ValueError, match="list"):
        Condition("region", "in", "Beijing")
    with pytest.raises(ValueError, match="literal"):
        Condition("profit_12m", ">", float("nan"))
    c = Condition("complaints_unresolved", ">", np.int64(0))
    assert type(c.value) is int and Condition(**c.to_dict()) == c
    with pytest.raises(KeyError, match="nope"):
        Condition("nope", "==", 1).evaluate(df)
    # a string literal is compared, never evaluated
    assert not Condition("region", "==", "__import__('os').getcwd()").evaluate(df).any()
    assert Condition("region", "not in", ["Hubei"]).evaluate(df).tolist() == [
        True,
        False,
        False,
        True,
        False,
        False,
        True,
        False,
    ]
    with pytest.raises(ValueError, match="not in"):
        assign_tiers(df, POL4, [TierRule("x", [("region", "==", "Hubei")], "cap", "platinum")])
    with pytest.raises(ValueError, match="unique"):
        rule = TierRule("x", [("region", "==", "Hubei")])
        assign_tiers(df, POL4, [rule, rule])
    with pytest.raises(ValueError, match="playbook"):
        assign_tiers(df, POL4, playbooks={"gold": BOOKS["gold"]})
    with pytest.raises(ValueError, match="unique"):
        assign_tiers(pd.concat([df, df]), POL4)
    with pytest.raises(ValueError, match="missing"):
        assign_tiers(df.assign(profit_12m=np.nan), POL4)


def test_tier_table_shares_and_playbooks() -> None:
    df = _frame()
    out = assign_tiers(df, POL4, playbooks=BOOKS)
    table = tier_table(out)
    assert table.tier.tolist() == ["gold", "silver", "bronze"]
    assert table.customers.tolist() == [2, 2, 4]
    assert table.customer_share.sum() == pytest.approx(1.0)
    assert table.value_share.sum() == pytest.approx(1.0)
    assert table.positive_value_share.sum() == pytest.approx(1.0)
    total = df.profit_12m.sum()
    assert table.value_share.tolist() == pytest.approx([1400 / total, 700 / total, 340 / total])
    assert table.median_value.tolist() == pytest.approx([700.0, 350.0, 75.0])
    assert table.channel.tolist() == ["gold desk", "silver desk", "bronze desk"]
    assert table.retention_action.tolist() == ["save gold", "save silver", "save bronze"]
    # default playbooks cover the built-in policies, and empty tiers still appear
    t2 = tier_table(assign_tiers(df.iloc[:3], CUSTOMER_PYRAMID))
    assert t2.tier.tolist() == ["platinum", "gold", "iron", "lead"]
    assert t2.customers.tolist()[-1] == 0
    assert set(DEFAULT_PLAYBOOKS) >= {t for p in POLICIES for t in p.labels}


# ----------------------------------------------------------------------------- retention
CAP = {"gold": 0.2, "silver": 0.1, "bronze": 0.05}
CAP_BOOKS = {
    t: replace(BOOKS[t], high_churn_risk=None, retention_capacity=CAP[t]) for t in POL4.labels
}


def _customers(n: int = 400, seed: int = 7) -> pd.DataFrame:
    """Skewed values with some loss-makers, churn probabilities around 9%, a few unknown."""
    rng = np.random.default_rng(seed)
    churn = rng.beta(1.0, 10.0, n)
    churn[rng.choice(n, 5, replace=False)] = np.nan
    return pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "profit_12m": rng.lognormal(7.0, 1.5, n) - 300.0,
            "churn": churn,
        }
    )


def test_retention_capacity_goes_to_the_highest_expected_loss_above_the_mean_risk() -> None:
    df = _customers()
    out = assign_tiers(df, POL4, playbooks=CAP_BOOKS, churn_col="churn")
    p, v = df.churn.to_numpy(), df.profit_12m.to_numpy()
    mean, el = np.nanmean(p), p * np.clip(v, 0, None)
    np.testing.assert_array_equal(expected_loss(p, v), el)
    flag, tiers = out.high_churn_risk.to_numpy(), out.tier.astype(str).to_numpy()
    books = playbooks_from_json(out.attrs["tier_playbooks"])
    for t in POL4.labels:
        mine = tiers == t
        eligible = mine & (np.nan_to_num(p) > mean) & (v > 0)
        k = int(np.floor(CAP[t] * mine.sum()))
        # by hand: the k largest expected losses among the eligible customers of the tier
        top = np.flatnonzero(eligible)[np.argsort(-el[eligible])][:k]
        assert sorted(np.flatnonzero(flag & mine)) == sorted(top), t
        assert 0 < len(top) == min(k, eligible.sum())
        # the recorded cut lies between the last customer in and the first one out
        out_el = el[eligible & ~flag]
        assert el[flag & mine].min() >= books[t].retention_loss_cut
        assert books[t].retention_loss_cut > (out_el.max() if len(out_el) else 0.0)
        assert books[t].retention_min_churn == pytest.approx(mean)
    assert not flag[np.isnan(p)].any()
    assert out.retention_action[flag].tolist() == [f"save {t}" for t in tiers[flag]]
    assert out.retention_action[~flag].isna().all()
    # the recorded rule, applied to one customer at a time, gives the same flags
    one = [retention_flags(tiers[i : i + 1], p[i : i + 1], v[i : i + 1], books)[0] for i in range(len(df))]  # fmt: skip
    assert one == flag.tolist()
    assert playbooks_from_json(playbooks_to_json(books)) == books
    with pytest.raises(ValueError, match="no calibrated cut"):
        retention_flags(tiers, p, v, CAP_BOOKS)
    assert not retention_flags(tiers, np.full(len(df), np.nan), v, CAP_BOOKS).any()


def test_a_fixed_threshold_stays_possible_and_old_playbooks_load() -> None:
    df = _customers()
    p = df.churn.to_numpy()
    # with a capacity, high_churn_risk is a floor
    floored = {t: replace(b, high_churn_risk=0.2) for t, b in CAP_BOOKS.items()}
    out = assign_tiers(df, POL4, playbooks=floored, churn_col="churn")
    flag = out.high_churn_risk.to_numpy()
    plain = assign_tiers(df, POL4, playbooks=CAP_BOOKS, churn_col="churn").high_churn_risk
    assert flag.any() and (p[flag] >= 0.2).all() and flag.sum() < plain.sum()
    # a playbook saved before capacities existed: the fixed threshold, as before
    old = {"relationship_manager": True, "contact_cadence": "monthly", "channel": "c",
           "pricing": "p", "retention_action": "call", "high_churn_risk": 0.3}  # fmt: skip
    book = playbooks_from_json(json.dumps({t: old for t in POL4.labels}))
    assert book["gold"].retention_capacity is None and not book["gold"].calibrated
    fixed = assign_tiers(df, POL4, playbooks=book, churn_col="churn")
    np.testing.assert_array_equal(fixed.high_churn_risk, np.nan_to_num(p) >= 0.3)
    assert playbooks_from_json(fixed.attrs["tier_playbooks"]) == book  # nothing to calibrate
    # neither a capacity nor a threshold: nobody; a capacity of 0: nobody
    never = {t: replace(b, retention_capacity=None) for t, b in CAP_BOOKS.items()}
    assert not assign_tiers(df, POL4, playbooks=never, churn_col="churn").high_churn_risk.any()
    zero = {t: replace(b, retention_capacity=0.0) for t, b in CAP_BOOKS.items()}
    none = assign_tiers(df, POL4, playbooks=zero, churn_col="churn")
    assert not none.high_churn_risk.any()
    assert playbooks_from_json(none.attrs["tier_playbooks"])["gold"].retention_loss_cut is None
    with pytest.raises(ValueError, match="retention_capacity must be"):
        Playbook(True, "m", "c", "p", "a", retention_capacity=1.5)
    with pytest.raises(ValueError, match="need a retention_capacity"):
        Playbook(True, "m", "c", "p", "a", 0.3, retention_min_churn=0.1)
    with pytest.raises(ValueError, match="retention_loss_cut must be"):
        Playbook(True, "m", "c", "p", "a", None, 0.1, 0.1, -1.0)
    with pytest.raises(ValueError, match="no customer has a churn probability"):
        assign_tiers(df.assign(churn=np.nan), POL4, playbooks=CAP_BOOKS, churn_col="churn")


def test_retention_table_numbers_by_hand() -> None:
    df = _frame()  # churn 0.9, 0.1, 0.5, NaN, 0.2, 0.9, 0.0, 0.99: mean 3.59 / 7
    caps = {"gold": 0.5, "silver": 0.5, "bronze": 0.25}  # 1 customer each
    books = {t: replace(BOOKS[t], high_churn_risk=None, retention_capacity=c) for t, c in caps.items()}  # fmt: skip
    out = assign_tiers(df, POL4, playbooks=books, churn_col="churn")
    # gold C0 (810 lost), silver nobody above the mean (C2 0.5, C3 unknown), bronze C5 (90);
    # C7 (0.99) loses money: nothing to lose
    assert out.customer_id[out.high_churn_risk].tolist() == ["C0", "C5"]
    table = retention_table(out).set_index("tier")
    assert table.customers.tolist() == [2, 2, 4]
    assert table.capacity_customers.tolist() == [1, 1, 1]
    assert table.eligible.tolist() == [1, 0, 1]
    assert table.flagged.tolist() == [1, 0, 1]
    assert table.loss_cut.tolist()[0] == pytest.approx(405.0)  # halfway to nobody (0)
    assert table.loss_cut.isna().tolist() == [False, True, False]
    assert table.loss_cut.tolist()[2] == pytest.approx(45.0)
    assert table.expected_loss.tolist() == pytest.approx([810 + 50, 200, 40 + 90])
    assert table.expected_loss_flagged.tolist() == pytest.approx([810, 0, 90])
    assert table.covered_share.tolist() == pytest.approx([810 / 860, 0.0, 90 / 130])
    assert table.flagged_churn_mean.tolist()[::2] == pytest.approx([0.9, 0.9])
    assert table.churn_floor.tolist() == pytest.approx([3.59 / 7] * 3)
    doc = retention_summary(out)
    json.dumps(doc, allow_nan=False)  # strict JSON
    assert doc["portfolio_mean_churn"] == pytest.approx(3.59 / 7)
    assert (doc["flagged"], doc["customers"]) == (2, 8)
    assert doc["tiers"][1]["flagged_churn_mean"] is None and doc["tiers"][1]["loss_cut"] is None
    # calibrate_retention leaves playbooks without a capacity as they are
    assert calibrate_retention(["gold"], [0.5], [1.0], {"gold": BOOKS["gold"]}) == {"gold": BOOKS["gold"]}  # fmt: skip


def test_blend_value() -> None:
    profit = np.array([100.0, -50.0, 10.0, 10.0])
    potential = np.array([0.0, 1000.0, 5.0, 500.0])
    only_profit = blend_value(profit, potential, weight=1.0)
    assert only_profit.tolist() == pytest.approx([0.875, 0.125, 0.5, 0.5])
    b = blend_value(profit, potential, weight=0.5)
    assert ((b > 0) & (b < 1)).all() and b[3] > b[2]
    money = blend_value(profit, potential, weight=0.7, scale="money")
    assert money.tolist() == pytest.approx(0.7 * profit + 0.3 * potential)
    with pytest.raises(ValueError, match="weight"):
        blend_value(profit, potential, weight=1.5)


# ----------------------------------------------------------------------------- concentration
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 500), st.floats(0.01, 1e6))
def test_gini_on_known_vectors(n: int, x: float) -> None:
    assert gini(np.full(n, x)) == pytest.approx(0.0, abs=1e-9)
    one = np.zeros(n)
    one[n // 2] = x
    assert gini(one) == pytest.approx((n - 1) / n)


@settings(max_examples=60, deadline=None)
@given(values)
def test_gini_is_one_minus_twice_the_area_under_the_lorenz_curve(v: list[float]) -> None:
    x = np.array(v)
    curve = lorenz_curve(x)
    assert curve.customer_share.iloc[0] == 0 and curve.customer_share.iloc[-1] == 1
    g = gini(x)
    if x.sum() <= 0:
        assert np.isnan(g)
        return
    assert curve.value_share.iloc[-1] == pytest.approx(1.0)
    y = curve.value_share.to_numpy()
    area = np.sum(np.diff(curve.customer_share) * (y[1:] + y[:-1]) / 2)
    assert g == pytest.approx(1 - 2 * area, abs=1e-7)
    gc = gini(x, negatives="clip")
    assert -1e-9 <= gc <= (len(x) - 1) / len(x) + 1e-9


def test_gini_with_loss_makers_can_exceed_one_and_is_reported_both_ways() -> None:
    assert gini(np.array([-1.0, 2.0])) == pytest.approx(1.5)
    assert gini(np.array([-1.0, 2.0]), negatives="clip") == pytest.approx(0.5)
    assert np.isnan(gini(np.array([-3.0, 2.0])))
    c = concentration(np.array([-1.0, 2.0, 0.0, 4.0]))
    assert c.loss_customer_share == 0.25 and c.loss_value == -1.0
    assert c.loss_value_ratio == pytest.approx(1 / 6)
    assert c.top_20pct_share == pytest.approx(4 / 5)


# ----------------------------------------------------------------------------- migration
def test_psi_is_zero_on_identical_and_major_on_shifted_distributions() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(size=5000)
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert psi(ref, rng.permutation(ref)) == pytest.approx(0.0, abs=1e-12)
    assert psi_label(psi(ref, rng.normal(size=5000))) == "stable"
    shifted = psi(ref, rng.normal(1.0, 1.0, 5000))
    assert shifted > 0.25 and psi_label(shifted) == "major"
    assert [psi_label(x) for x in (0.05, 0.1, 0.2, 0.25, 0.3)] == [
        "stable",
        "moderate",
        "moderate",
        "moderate",
        "major",
    ]
    assert np.isfinite(psi(np.zeros(100), np.ones(100)))  # empty bins use epsilon


def _random_assignments(rng: np.random.Generator, ids: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame({"customer_id": ids, "profit_12m": rng.lognormal(5, 2, len(ids)) - 50})
    return assign_tiers(df, CUSTOMER_PYRAMID)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_migration_matrix_sums(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = np.array([f"C{i}" for i in range(300)])
    before = _random_assignments(rng, rng.choice(pool, rng.integers(1, 200), replace=False))
    after = _random_assignments(rng, rng.choice(pool, rng.integers(1, 200), replace=False))
    m = tier_migration(before, after)
    tiers = list(CUSTOMER_PYRAMID.labels)
    c = m.counts
    assert c.index.tolist() == [*tiers, "new"] and c.columns.tolist() == [*tiers, "lost"]
    assert c.to_numpy().sum() == len(set(before.customer_id) | set(after.customer_id))
    assert (c.drop(index="new").sum(axis=1) == before.tier.value_counts()[tiers]).all()
    assert (c.drop(columns="lost").sum(axis=0) == after.tier.value_counts()[tiers]).all()
    assert c.loc["new", "lost"] == 0
    assert c.loc["new"].sum() == m.n_new and c["lost"].sum() == m.n_lost
    assert m.value_before.to_numpy().sum() == pytest.approx(before.value.sum())
    assert m.value_after.to_numpy().sum() == pytest.approx(after.value.sum())
    assert (m.value_before.loc["new"] == 0).all() and (m.value_after["lost"] == 0).all()
    if m.n_both:
        assert m.upgrade_rate + m.downgrade_rate + m.stay_rate == pytest.approx(1.0)
        assert m.n_both == c.drop(index="new", columns="lost").to_numpy().sum()
    rates = m.transition_rates().drop(index="new")
    assert np.allclose(rates.dropna().sum(axis=1), 1.0)
    assert m.psi >= 0 and m.psi_label in {"stable", "moderate", "major"}


def test_migration_counts_moves_by_hand() -> None:
    before = pd.DataFrame(
        {"customer_id": ["a", "b", "c", "d"], "tier": ["A", "B", "C", "A"], "value": [9.0, 5, 1, 8]}
    )
    after = pd.DataFrame(
        {"customer_id": ["a", "b", "c", "e"], "tier": ["B", "A", "C", "C"], "value": [6.0, 9, 1, 2]}
    )
    m = tier_migration(before, after, order=["A", "B", "C"])
    assert (m.upgrade_rate, m.downgrade_rate, m.stay_rate) == pytest.approx((1 / 3,) * 3)
    assert (m.n_both, m.n_new, m.n_lost) == (3, 1, 1)
    assert m.counts.loc["A", "B"] == 1 and m.counts.loc["A", "lost"] == 1
    assert m.counts.loc["new", "C"] == 1
    assert m.value_before.loc["A", "lost"] == 8 and m.value_after.loc["B", "A"] == 9
    with pytest.raises(ValueError, match="order"):
        tier_migration(before, after)


# ----------------------------------------------------------------------------- synthetic bank
AS_OF = dt.date(2024, 12, 31)


@pytest.fixture(scope="module")
def active(small_bank: Path) -> pd.DataFrame:
    f = build_features(load_bank(small_bank), AS_OF).to_pandas()
    truth = pd.read_parquet(small_bank / "ground_truth.parquet")
    keep = ["customer_id", "current_value_tier", "churn_probability"]
    return f[f.is_active == 1].merge(truth[keep], on="customer_id", validate="1:1")


def test_pyramid_on_the_small_bank_concentrates_value_and_matches_ground_truth(
    active: pd.DataFrame,
) -> None:
    out = assign_tiers(active, DEFAULT_POLICY, churn_col="churn_probability")
    table = tier_table(out).set_index("tier")
    top = ["most_important", "key"]
    assert table.customer_share[top].sum() == pytest.approx(0.20, abs=0.005)
    assert table.positive_value_share[top].sum() >= 0.80
    assert table.value_share[top].sum() >= 0.80
    # the same policy on the true trailing profit: measured 95% agreement on this bank
    agree = (out.tier.astype(str).to_numpy() == active.current_value_tier.to_numpy()).mean()
    assert agree >= 0.90
    level = {t: i for i, t in enumerate(DEFAULT_POLICY.labels)}
    gap = out.tier.astype(str).map(level) - active.current_value_tier.map(level).to_numpy()
    assert (gap.abs() <= 1).mean() >= 0.98
    c = concentration(out.value)
    assert 0.8 < c.gini_positive < 1.0 and c.gini >= c.gini_positive
    assert 0.0 < c.loss_customer_share < 0.5


def test_abc_and_customer_pyramid_on_the_small_bank(active: pd.DataFrame) -> None:
    abc = tier_table(assign_tiers(active, ABC_POLICY)).set_index("tier")
    assert 0.80 <= abc.positive_value_share["A"] < 0.95
    assert abc.customer_share["A"] < 0.20  # value is concentrated in few customers
    cp = assign_tiers(active, CUSTOMER_PYRAMID)
    assert ((cp.tier == "lead").to_numpy() == (active.profit_12m < 0).to_numpy()).all()
    rules = [
        TierRule("unresolved_complaint", [("complaints_unresolved", ">", 0)]),
        TierRule("watch_real_estate", [("industry", "==", "real_estate")], "cap", "iron"),
    ]
    ruled = assign_tiers(active, CUSTOMER_PYRAMID, rules)
    flagged = ruled.reasons.map(lambda r: "unresolved_complaint" in r).to_numpy()
    assert (flagged == (active.complaints_unresolved > 0).to_numpy()).all()
    capped = (active.industry == "real_estate").fillna(False).to_numpy()
    assert not ruled.tier[capped].isin(["platinum", "gold"]).any()
    assert (ruled.tier[~capped] == ruled.tier_by_value[~capped]).all()


def test_default_playbooks_flag_within_capacity_on_the_small_bank(active: pd.DataFrame) -> None:
    out = assign_tiers(active, CUSTOMER_PYRAMID, churn_col="churn_probability")
    table = retention_table(out).set_index("tier")
    assert table.rule.eq("capacity").all()
    assert table.capacity.tolist() == [0.2, 0.2, 0.1, 0.0]  # platinum, gold, iron, lead
    assert (table.flagged <= table.capacity_customers).all() and table.flagged.sum() > 0
    assert table.flagged["lead"] == 0  # loss-makers: no proactive retention
    flagged = out[out.high_churn_risk]
    assert (flagged.churn_risk > active.churn_probability.mean()).all()
    assert (flagged.value > 0).all()


def test_migration_between_two_dates_on_the_small_bank(
    small_bank: Path, active: pd.DataFrame
) -> None:
    f0 = build_features(load_bank(small_bank), dt.date(2023, 12, 31)).to_pandas()
    before = assign_tiers(f0[f0.is_active == 1], DEFAULT_POLICY)
    after = assign_tiers(active, DEFAULT_POLICY)
    m = tier_migration(before, after)
    assert m.counts.to_numpy().sum() == m.n_both + m.n_new + m.n_lost
    assert m.stay_rate > 0.7  # annual profit ranks are persistent
    assert m.psi_label in {"stable", "moderate"}


def test_plot_lorenz(active: pd.DataFrame) -> None:
    pytest.importorskip("matplotlib")
    from segml.tiers import plot_lorenz

    ax = plot_lorenz(active.profit_12m, label="profit_12m")
    assert len(ax.lines) == 3 and "Gini" in ax.get_legend_handles_labels()[1][0]
