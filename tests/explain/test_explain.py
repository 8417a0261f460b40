"""Explanations: exact additivity, agreement with shap and brute force, reason codes quoting the
customer's real values, thresholds, monotone constraints, churn/segment/grade explainers,
determinism; `segml explain` telling a customer the run did not tier from one it never saw."""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shap
import xgboost as xgb
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from segml.churn.model import ChurnModel
from segml.cli.main import app
from segml.explain import (
    AdditivityError,
    check_additivity,
    tree_contributions,
    treeshap_cost,
)
from segml.explain.models import (
    explain_churn,
    explain_grades,
    explain_segments,
    fit_segment_surrogate,
)
from segml.explain.reasons import feature_texts, format_value, reason_codes
from segml.explain.reference import ReasonReference
from segml.explain.thresholds import threshold_report, tier_thresholds
from segml.features.catalogue import CATALOGUE
from segml.grades import DEFAULT_SCORECARD, grade_corporates
from segml.tiers import CUSTOMER_PYRAMID, DEFAULT_POLICY
from segml.value import DEFAULT_MONOTONE, ValueScoreModel
from segml.value.selection import select_value_model


# ----------------------------------------------------------------------------- exactness
def test_base_plus_contributions_is_the_score_the_policy_uses(model, data, explained) -> None:
    score = model.predict(data["pop"])
    total = explained.base_value + explained.values.sum(axis=1)
    scale = max(1.0, np.abs(score).max())
    assert np.abs(total - score).max() <= 1e-6 * scale
    np.testing.assert_array_equal(explained.score, score)
    assert explained.additivity.passed and explained.additivity.rows == len(score)
    # a shap.Explanation: every shap plot works on it
    exp = explained.explanation
    assert isinstance(exp, shap.Explanation)
    assert exp.values.shape == (len(score), len(explained.feature_names))
    assert list(exp.instance_names) == list(data["pop"].customer_id)


def test_streaming_in_batches_gives_the_same_contributions(model, data, explained) -> None:
    parts = list(model.iter_explain(data["pop"], batch_size=37))
    assert len(parts) == math.ceil(len(data["pop"]) / 37)
    np.testing.assert_array_equal(np.vstack([p.values for p in parts]), explained.values)
    assert {p.base_value for p in parts} == {explained.base_value}


def test_accounting_lines_contribute_their_deviation_from_the_mean(model, data, explained) -> None:
    pop = data["pop"]
    tree = tree_contributions(model.booster, model.trees_._matrix(pop, fitting=False))[0]
    i = explained.feature_names.index("ecl_12m")
    j = model.trees_.feature_names_.index("ecl_12m")
    expected = tree[:, j] - (pop.ecl_12m - model.baseline_means_["ecl_12m"])
    np.testing.assert_allclose(explained.values[:, i], expected, rtol=0, atol=1e-6)


def test_contributions_agree_with_shap_tree_explainer(model, data) -> None:
    matrix = model.trees_._matrix(data["pop"], fitting=False)
    d = xgb.DMatrix(matrix, enable_categorical=True)
    ours, margin, _ = tree_contributions(model.booster, matrix, batch_size=50)
    theirs = shap.TreeExplainer(model.booster).shap_values(d)
    np.testing.assert_allclose(ours[:, :-1], theirs, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.sum(axis=1), margin, rtol=1e-6, atol=1e-3)


def _brute_force_shapley(booster: xgb.Booster, x: np.ndarray, names: list[str]) -> np.ndarray:
    """Exact path-dependent Shapley values by enumerating every feature subset."""
    trees = booster.trees_to_dataframe()
    nodes = {r.ID: r for r in trees.itertuples()}
    p = len(names)

    def expect(node_id: str, subset: frozenset[int]) -> float:
        r = nodes[node_id]
        if r.Feature == "Leaf":
            return float(r.Gain)
        f = names.index(r.Feature)
        if f in subset:
            nxt = r.Yes if x[f] < r.Split else r.No
            return expect(nxt, subset)
        cy, cn = nodes[r.Yes].Cover, nodes[r.No].Cover
        return (cy * expect(r.Yes, subset) + cn * expect(r.No, subset)) / (cy + cn)

    roots = [f"{t}-0" for t in sorted(trees.Tree.unique())]
    value = {
        s: sum(expect(root, frozenset(s)) for root in roots)
        for k in range(p + 1)
        for s in itertools.combinations(range(p), k)
    }
    phi = np.zeros(p)
    for i in range(p):
        for s, v in value.items():
            if i in s:
                continue
            w = math.factorial(len(s)) * math.factorial(p - len(s) - 1) / math.factorial(p)
            phi[i] += w * (value[tuple(sorted((*s, i)))] - v)
    return phi


def test_contributions_equal_brute_force_shapley_values() -> None:
    rng = np.random.default_rng(0)
    names = ["f0", "f1", "f2", "f3", "f4"]
    X = pd.DataFrame(rng.normal(size=(400, 5)), columns=names)
    y = 3 * X.f0 + X.f1 * X.f2 + np.where(X.f3 > 0, 2.0, -1.0) + rng.normal(size=400)
    booster = xgb.train({"max_depth": 3, "eta": 0.3, "base_score": 0.0},
                        xgb.DMatrix(X, label=y), 12)  # fmt: skip
    contrib, _, _ = tree_contributions(booster, X.iloc[:5])
    for row in range(5):
        brute = _brute_force_shapley(booster, X.iloc[row].to_numpy(), names)
        np.testing.assert_allclose(contrib[row, :-1], brute, rtol=1e-4, atol=1e-4)


def test_additivity_failure_is_an_error_naming_the_row() -> None:
    values = np.array([[1.0, 2.0], [0.5, 0.5]])
    assert check_additivity(1.0, values, np.array([4.0, 2.0])).passed
    with pytest.raises(AdditivityError, match="at row 1"):
        check_additivity(1.0, values, np.array([4.0, 2.1]))


# ----------------------------------------------------------------------------- behaviour
def test_more_balance_never_lowers_the_value_score(model, data) -> None:
    pop = data["pop"]
    assert '"monotone_constraints"' in model.booster.save_config()
    base = model.predict(pop)
    rng = np.random.default_rng(1)
    for col in DEFAULT_MONOTONE:
        richer = pop.copy()
        richer[col] = richer[col].fillna(0) + rng.uniform(0, 5e5, len(pop))
        assert (model.predict(richer) >= base - 1e-6).all(), col


def test_same_seed_same_model_and_contributions(model, data, explained) -> None:
    again = ValueScoreModel(max_depth=3, n_estimators=80, seed=3).fit(data["X"], data["y"])
    assert again.booster.save_raw("json") == model.booster.save_raw("json")
    np.testing.assert_array_equal(again.explain(data["pop"]).values, explained.values)
    loaded = ValueScoreModel.from_dict(model.to_dict())
    np.testing.assert_array_equal(loaded.explain(data["pop"]).values, explained.values)


def test_selection_picks_the_cheapest_model_within_tolerance(data) -> None:
    sel = select_value_model(data["X"], data["y"], depths=(1, 2, 4), tolerance=0.05,
                             seed=0, n_estimators=60)  # fmt: skip
    c = sel.candidates
    assert c["chosen"].sum() == 1
    chosen = c[c["chosen"]].iloc[0]
    assert chosen["mae"] <= 1.05 * c["mae"].min()
    assert chosen["cost"] == c[c["within_tolerance"]]["cost"].min()
    assert sel.params["max_depth"] == chosen["max_depth"]
    # the cost proxy grows with depth for the same number of trees
    small = treeshap_cost(xgb.train({"max_depth": 2}, xgb.DMatrix(data["X"][["nii_12m"]], label=data["y"]), 5))  # fmt: skip
    assert small["max_depth"] <= 2 and small["trees"] == 5


# ----------------------------------------------------------------------------- reason codes
def test_reason_codes_quote_the_customers_real_values(explained, data) -> None:
    pop = data["pop"]
    rc = reason_codes(explained, pop, k=4)
    assert len(rc) == len(pop) and list(rc.customer_id) == list(pop.customer_id)
    texts = {t.name: t for t in feature_texts(explained.feature_names)}
    checked = 0
    for i in range(0, len(pop), 7):
        for j in range(1, 5):
            phrase = rc.at[i, f"reason_{j}"]
            if phrase is None:
                continue
            display, rest = phrase.split(": ", 1)
            feature = next(n for n, t in texts.items() if t.display == display and n in pop)
            assert rest.startswith(format_value(pop.at[i, feature], texts[feature].unit))
            assert "to annual value" in rest
            checked += 1
    assert checked > 50
    # impacts are the summed group contributions, largest |impact| first
    imp = rc[[f"reason_{j}_impact" for j in range(1, 5)]].abs().to_numpy()
    assert (np.diff(imp, axis=1) <= 1e-9).all()


def test_reason_code_phrases_use_catalogue_names_units_and_groups() -> None:
    from segml.explain.result import VALUE_OUTPUT, build
    from segml.explain.treeshap import AdditivityReport

    names = ["bal_deposit_avg_3m", "bal_deposit_last", "ecl_12m", "has_mortgage", "my_column"]
    values = np.array([[6000.0, 2400.0, -9800.0, 0.0, 1.0]])
    exp = build(values, 100.0, np.array([100.0 + values.sum()]), np.zeros((1, 5)), names,
                np.array(["c1"]), VALUE_OUTPUT, AdditivityReport(1, 0.0, 0.0, 1e-6, True))  # fmt: skip
    raw = pd.DataFrame({"bal_deposit_avg_3m": [1.2e6], "bal_deposit_last": [1.25e6],
                        "ecl_12m": [12500.0], "has_mortgage": [0], "my_column": [3.5]})  # fmt: skip
    rc = reason_codes(exp, raw, k=4)
    assert rc.at[0, "reason_1"] == "expected credit loss: ¥12,500 a year (−¥9,800 to annual value)"
    assert rc.at[0, "reason_2"] == (
        f"{CATALOGUE['bal_deposit_avg_3m'].display}: ¥1.2M (+¥8,400 to annual value, "
        "incl. other deposit balance measures)"
    )
    assert rc.at[0, "reason_3"] == "my column: 3.5 (+¥1 to annual value)"
    assert rc.at[0, "reason_4"] is None  # a zero contribution is no reason
    assert rc.at[0, "reason_2_driver"] == "bal_deposit"
    assert format_value(0.62, "share") == "62%" and format_value(np.nan, "CNY") == "missing"


# one feature of every catalogue unit, a bank's own column, a flag, text and a category
_UNIT_FEATURES = ["nii_12m", "monetary_value", "has_mortgage", "digital_share", "recency",
                  "tenure_months", "n_tx_90d", "satisfaction_last", "tx_trend_90d", "fin_leverage",
                  "age", "employees", "my_column", "bal_deposit_avg_3m", "bal_deposit_last"]  # fmt: skip
_SPECIAL = [0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 0.05, 0.35, 0.125, 99.95, 999.5, 1234.5, 999_999.5,
            1e6, 999_950.0, 1e9 - 1, 1e9, 2.5e9, -1e6, 1e-7, -3e-5, 1e15, 1e300, -1e300,
            math.inf, -math.inf, math.nan]  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.data())
@pytest.mark.slow
def test_duckdb_writes_the_same_phrases_as_python(data) -> None:
    """The fast writer (DuckDB's format) and the definition (Python's) agree to the character
    on every unit, ties at every rounding position, zeros, huge, tiny and non-finite values,
    with and without a reference (its names, and "no <amount>" for a zero or missing one)."""
    from segml.explain.result import CHURN_OUTPUT, GRADE_OUTPUT, VALUE_OUTPUT, build
    from segml.explain.treeshap import AdditivityReport

    n = data.draw(st.integers(1, 40))
    number = st.one_of(
        st.sampled_from(_SPECIAL),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(10**7), 10**7).map(lambda i: i / 2),
        st.integers(-(10**6), 10**6).map(lambda i: i / 200),
    )
    draw = lambda: np.array(data.draw(st.lists(number, min_size=n, max_size=n)))  # noqa: E731
    raw = pd.DataFrame({c: draw() for c in _UNIT_FEATURES})
    raw["flag"] = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    raw["count_na"] = pd.array(data.draw(st.lists(st.one_of(st.none(), st.integers(-5000, 5000)), min_size=n, max_size=n)), dtype="Int64")  # fmt: skip
    raw["region"] = pd.Categorical(data.draw(st.lists(st.sampled_from(["Beijing", "Sichuan", None]), min_size=n, max_size=n)))  # fmt: skip
    raw["segment_text"] = data.draw(st.lists(st.sampled_from(["a", "b b"]), min_size=n, max_size=n))  # fmt: skip
    names = list(raw.columns)
    effect = st.one_of(st.sampled_from([0.0, 0.0, 1.0, -1.0, 0.5, -0.125, 2.5, 1e6, -1e9]),
                       st.floats(-1e10, 1e10, allow_nan=False))  # fmt: skip
    values = np.array(data.draw(st.lists(st.lists(effect, min_size=len(names), max_size=len(names)), min_size=n, max_size=n)))  # fmt: skip
    output = data.draw(st.sampled_from([VALUE_OUTPUT, CHURN_OUTPUT, GRADE_OUTPUT]))
    exp = build(values, 0.0, values.sum(axis=1), np.zeros(values.shape), names,
                np.array([f"c{i}" for i in range(n)]), output,
                AdditivityReport(n, 0.0, 0.0, 1e-6, True))  # fmt: skip
    k = data.draw(st.integers(1, 6))
    against = {}
    if data.draw(st.booleans()):  # a reference: typical contributions and values of two tiers
        finite = st.one_of(st.sampled_from([0.0, 0.0, 1.0, -0.5, 1e6]), st.floats(-1e9, 1e9))
        table = lambda: np.array(data.draw(st.lists(st.lists(finite, min_size=len(names), max_size=len(names)), min_size=3, max_size=3)))  # fmt: skip  # noqa: E731
        typical = table()
        typical[data.draw(st.lists(st.booleans(), min_size=3, max_size=3)), 0] = np.nan
        ref = ReasonReference(tuple(names), ("key", "most_important"), (1, 1, 2), (0.0, 0.0, 0.0), 0.0, table(), typical)  # fmt: skip
        tiers = data.draw(st.lists(st.sampled_from(["key", "most_important", None, "other"]), min_size=n, max_size=n))  # fmt: skip
        against = {"reference": ref, "tiers": tiers}
    py = reason_codes(exp, raw, k=k, engine="python", **against)
    pd.testing.assert_frame_equal(reason_codes(exp, raw, k=k, engine="duckdb", **against), py)
    # and the definition itself: every phrase quotes format_value of the customer's value
    for i in range(n):
        for j in range(1, k + 1):
            phrase, driver = py.at[i, f"reason_{j}"], py.at[i, f"reason_{j}_driver"]
            if isinstance(phrase, str):
                assert ": " in phrase and phrase.endswith(")") and isinstance(driver, str)


def test_reason_codes_on_a_large_table_use_duckdb_and_match(explained, data) -> None:
    pop = data["pop"]
    reps = -(-20_000 // (4 * len(pop)))  # past DUCKDB_MIN_PHRASES
    big = pd.concat([pop] * reps, ignore_index=True)
    from segml.explain.result import concat

    exp = concat([explained] * reps)
    fast = reason_codes(exp, big, k=4)  # auto: DuckDB
    pd.testing.assert_frame_equal(fast, reason_codes(exp, big, k=4, engine="python"))
    with pytest.raises(ValueError, match="engine must be"):
        reason_codes(exp, big, k=4, engine="spark")  # type: ignore[arg-type]


def test_explanation_tables_stream_to_parquet_as_the_frame(explained, tmp_path) -> None:
    explained.write_parquet(tmp_path / "streamed.parquet", rows_per_group=7)
    explained.frame().to_parquet(tmp_path / "frame.parquet", index=False)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "streamed.parquet"), pd.read_parquet(tmp_path / "frame.parquet")
    )


# ----------------------------------------------------------------------------- thresholds
@pytest.mark.parametrize("policy", [DEFAULT_POLICY, CUSTOMER_PYRAMID], ids=lambda p: p.name)
def test_thresholds_and_the_drivers_that_crossed_them(explained, policy) -> None:
    rep = threshold_report(explained, policy)
    s = explained.score
    assert (rep.tier_by_value.to_numpy() == policy.assign(s)).all()
    has_below = rep.threshold_below.notna()
    assert (s[has_below] >= rep.threshold_below[has_below] - 1e-9).all()
    has_above = rep.threshold_above.notna()
    assert (s[has_above] <= rep.threshold_above[has_above] + 1e-9).all()
    thr = tier_thresholds(s, policy)
    assert thr.customers.sum() == len(s)
    from segml.explain.reasons import group_contributions

    grouped, groups, *_ = group_contributions(explained.values, explained.feature_names)
    col = {g: i for i, g in enumerate(groups)}
    for i in np.flatnonzero(rep.lifted_by.notna().to_numpy())[:40]:
        drivers = rep.at[i, "lifted_by"].split(";")
        removed = sum(grouped[i, col[d]] for d in drivers)
        assert s[i] - removed < rep.at[i, "threshold_below"]
        assert all(grouped[i, col[d]] > 0 for d in drivers)
        if len(drivers) > 1:  # the fewest: one driver fewer is not enough
            assert s[i] - (removed - grouped[i, col[drivers[-1]]]) >= rep.at[i, "threshold_below"]


# ----------------------------------------------------------------------------- other models
def test_churn_explanation_folds_encoded_columns_and_adds_up() -> None:
    rng = np.random.default_rng(2)
    n = 600
    X = pd.DataFrame({
        "customer_id": np.arange(n),
        "balance": rng.lognormal(8, 1, n),
        "city": rng.choice([f"c{i}" for i in range(60)], n),  # high cardinality: encoded twice
        "segment": rng.choice(["a", "b"], n),
    })  # fmt: skip
    y = (rng.random(n) < 1 / (1 + np.exp(0.5 * (np.log(X.balance) - 8)))).astype(int)
    m = ChurnModel(n_estimators=60, early_stopping_rounds=20, random_state=0).fit(
        X.drop(columns="customer_id"), y
    )
    assert any(c.startswith("city__") for c in m.encoder_.columns_)
    exp = explain_churn(m, X)
    assert "city" in exp.feature_names and not any("__" in c for c in exp.feature_names)
    margin = m.booster_.predict(xgb.DMatrix(m.encoder_.transform(X), enable_categorical=True),
                                output_margin=True, iteration_range=(0, m.best_iteration_ + 1))  # fmt: skip
    np.testing.assert_allclose(exp.base_value + exp.values.sum(axis=1), margin, atol=1e-5)
    p = 1 / (1 + np.exp(-exp.score))
    np.testing.assert_allclose(p, m.predict_raw(X), atol=1e-6)


def test_segment_surrogate_reports_fidelity_and_explains_own_segment() -> None:
    rng = np.random.default_rng(4)
    n = 800
    X = pd.DataFrame({"customer_id": np.arange(n), "digital_share": rng.random(n),
                      "n_tx_90d": rng.poisson(10, n), "noise": rng.normal(size=n)})  # fmt: skip
    seg = np.where(X.digital_share > 0.6, "digital", np.where(X.n_tx_90d > 10, "busy", "quiet"))
    sur = fit_segment_surrogate(X, seg, ["digital_share", "n_tx_90d", "noise"], seed=0)
    assert sur.fidelity > 0.9 and sur.n_holdout == 200
    exp = explain_segments(sur, X, seg)
    own = np.asarray(exp.explanation.base_values) + exp.values.sum(axis=1)
    np.testing.assert_allclose(own, exp.score, atol=1e-4)
    digital = seg == "digital"
    i = exp.feature_names.index("digital_share")
    assert np.abs(exp.values[digital, i]).mean() > np.abs(exp.values[digital, 2]).mean()


def test_grade_explanation_splits_the_total_by_dimension(data) -> None:
    grades = grade_corporates(data["pop"], DEFAULT_SCORECARD)
    exp = explain_grades(grades, DEFAULT_SCORECARD)
    np.testing.assert_allclose(exp.base_value + exp.values.sum(axis=1), grades.score_total, atol=1e-9)  # fmt: skip
    assert exp.feature_names == [d.label for d in DEFAULT_SCORECARD.dimensions]
    raw = pd.DataFrame(exp.explanation.data, columns=exp.feature_names)
    rc = reason_codes(exp, raw, k=2)
    assert rc.reason_1.str.contains(r"to grade score\)$").all()
    assert re.match(r"^[a-z ]+: [\d.]+ \([+−]\d", rc.reason_1.iloc[0])


def test_the_explanation_budget_excludes_expensive_models(data) -> None:
    free = select_value_model(data["X"], data["y"], depths=(1, 6), tolerance=0.0, max_cost=None,
                              seed=0, n_estimators=60)  # fmt: skip
    cost6 = float(free.candidates.set_index("max_depth").at[6, "cost"])
    cost1 = float(free.candidates.set_index("max_depth").at[1, "cost"])
    assert cost1 < cost6
    tight = select_value_model(data["X"], data["y"], depths=(1, 6), tolerance=0.0,
                               max_cost=(cost1 + cost6) / 2, seed=0, n_estimators=60)  # fmt: skip
    c = tight.candidates.set_index("max_depth")
    assert not c.at[6, "within_budget"] and c.at[1, "chosen"] and tight.params["max_depth"] == 1
    nothing_fits = select_value_model(data["X"], data["y"], depths=(1, 6), tolerance=0.0,
                                      max_cost=1.0, seed=0, n_estimators=60)  # fmt: skip
    assert nothing_fits.candidates["within_budget"].all()  # then every candidate is judged


# ----------------------------------------------------------------------------- segml explain
AS_OF = "2023-06-30"


def _fake_run(tmp: Path, bank: Path, data_path: str, mapping: str | None = None) -> Path:
    """A run folder at ``AS_OF`` over ``bank`` as the pipeline leaves it: every customer who
    joined by then in ``features.parquet`` (``is_active``), the active ones explained."""
    customers = pd.read_parquet(bank / "customers.parquet")
    cid = next(c for c in customers.columns if c in ("customer_id", "cust"))
    opened = customers.open_date.astype(str) <= AS_OF
    closed = customers.close_date.notna() & (customers.close_date.astype(str) <= AS_OF)
    features = pd.DataFrame(
        {"customer_id": customers[cid][opened], "is_active": (~closed[opened]).astype(int)}
    )
    run = tmp / "runs" / "t-aaaaaaaaaaaa"
    run.mkdir(parents=True)
    features.to_parquet(run / "features.parquet")
    tiered = features[features.is_active == 1][["customer_id"]]
    tiered.to_parquet(run / "reason_codes.parquet")
    tiered.to_parquet(run / "explanations_value.parquet")
    record = {"run_id": "a" * 32, "as_of": AS_OF, "data_dir": data_path}
    (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
    data = {"source": "folder", "path": data_path, "mapping": mapping}
    (run / "config.yaml").write_text(json.dumps({"name": "t", "data": data}), encoding="utf-8")
    return run


def _explain(run: Path, customer: str, config: Path | None = None):
    args = ["explain", "--run-dir", str(run), "--customer", customer]
    r = CliRunner().invoke(app, args + (["--config", str(config)] if config else []))
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)
    return r.stderr


def test_explain_tells_an_untiered_customer_from_one_not_in_the_data(
    bank_copy: Path, tmp_path: Path
) -> None:
    customers = pd.read_parquet(bank_copy / "customers.parquet")
    late = customers[customers.open_date.astype(str) > AS_OF].iloc[0]
    gone = customers[customers.close_date.notna() & (customers.close_date.astype(str) <= AS_OF)]
    gone = gone.iloc[0]
    run = _fake_run(tmp_path, bank_copy, str(bank_copy))
    not_tiered = "is in the bank but was not tiered in this run"
    err = _explain(run, late.customer_id)
    assert f"customer {late.customer_id} {not_tiered}" in err
    assert f"the relationship began on {late.open_date}, after the as-of date {AS_OF}" in err
    err = _explain(run, gone.customer_id)
    assert f"customer {gone.customer_id} {not_tiered}" in err
    assert f"closed on {gone.close_date}, by the as-of date {AS_OF}" in err
    err = _explain(run, "C99999999")
    assert "customer C99999999 is not in this run's data" in err and not_tiered not in err
    assert "nor in the bank's customers table" in err and "ids look like 'C0" in err
    # the extract moved away: what the run folder says, and why the bank could not be checked
    shutil.rmtree(bank_copy)
    err = _explain(run, gone.customer_id)
    assert not_tiered in err and "closed" in err
    err = _explain(run, late.customer_id)
    assert "is not in this run's data" in err and "not in" in err and str(bank_copy) in err


def test_explain_reads_the_bank_through_the_runs_mapping(bank_copy: Path, tmp_path: Path) -> None:
    """The bank's own column names, a mapping and data paths relative to the project root."""
    project = tmp_path / "project"
    (project / "experiments" / "configs").mkdir(parents=True)
    extract = project / "extract"
    shutil.copytree(bank_copy, extract)
    customers = pd.read_parquet(extract / "customers.parquet")
    customers.rename(columns={"customer_id": "cust"}).to_parquet(extract / "customers.parquet")
    (project / "map.yaml").write_text("customers: {columns: {customer_id: cust}}\n")
    run = _fake_run(project, extract, "extract", mapping="map.yaml")
    late = customers[customers.open_date.astype(str) > AS_OF].iloc[0]
    err = _explain(run, late.customer_id, project / "experiments" / "configs" / "t.yaml")
    assert f"the relationship began on {late.open_date}" in err


def test_explain_on_a_run_without_explanations_says_why_and_gives_the_tier(
    bank_copy: Path, tmp_path: Path
) -> None:
    """A run whose tiers do not rank the value model's score has no reason codes: one line says
    why (the run's own words) and where the customer was tiered — never a guess at a setting."""
    run = _fake_run(tmp_path, bank_copy, str(bank_copy))
    tiered = pd.read_parquet(run / "reason_codes.parquet")
    for name in ("reason_codes", "explanations_value"):
        (run / f"{name}.parquet").unlink()
    tiered.assign(tier="key", value=1234.5).to_parquet(run / "tiers.parquet")
    customer = str(tiered.customer_id.iloc[0])
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    why = "the value model does not beat the naive forecast in validation (Spearman 0.50 vs 0.55)"
    record["value_measure"] = {"measure": "profit_12m", "description": "current annual profit",
                               "reason": f"tiers.value: auto; the value model ran; but {why}"}  # fmt: skip
    (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
    err = _explain(run, customer)
    assert err.count("\n") == 1, err  # one line
    assert err.startswith(f"error: run {run.name} has no model to explain, so no reason codes: "
                          f"the tiers rank profit_12m (current annual profit), not the value "
                          f"model's score: {why}")  # fmt: skip
    assert f"; customer {customer} is in tier key (profit_12m 1,234.50)" in err
    record["warnings"] = ["no value model: 12 active customers at 2022-06-30; the value model "
                          "needs 50"]  # fmt: skip
    (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
    err = _explain(run, "C99999999")
    assert (
        "so no reason codes: the run has no value model (12 active customers at 2022-06-30" in err
    )
    assert "C99999999" not in err  # not tiered: the reason alone
    config = json.loads((run / "config.yaml").read_text(encoding="utf-8"))
    (run / "config.yaml").write_text(json.dumps({**config, "explain": {"enabled": False}}))
    assert "so no reason codes: explain.enabled is off in the run's config" in _explain(
        run, customer
    )
