"""Figures of explanations (segml.explain.plots): PNGs written, table and example choices exact."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from segml.explain import plots as P
from segml.explain.result import VALUE_OUTPUT, ModelExplanation, build
from segml.explain.treeshap import AdditivityReport
from segml.value import ValueScoreModel

ORDER = ["top", "middle", "bottom"]
COLUMNS = ["bal_deposit_avg_3m", "bal_deposit_last", "n_tx_90d", "fee_income_12m", "has_mortgage"]


@pytest.fixture(autouse=True)
def _no_open_figures():
    before = len(plt.get_fignums())
    yield
    assert len(plt.get_fignums()) == before == 0


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 240
    dep = rng.lognormal(10, 1.2, n)
    X = pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(n)],
            "bal_deposit_avg_3m": dep,
            "bal_deposit_last": dep * rng.uniform(0.7, 1.3, n),
            "n_tx_90d": rng.poisson(20, n).astype(float),
            "fee_income_12m": rng.gamma(2.0, 300.0, n),
            "has_mortgage": rng.integers(0, 2, n).astype(float),
        }
    )
    X.loc[::17, "n_tx_90d"] = np.nan  # missing values are drawn too
    return X


@pytest.fixture(scope="module")
def exp(frame: pd.DataFrame) -> ModelExplanation:
    rng = np.random.default_rng(4)
    y = (
        0.01 * frame.bal_deposit_avg_3m
        + frame.fee_income_12m
        + 500 * frame.has_mortgage
        + rng.normal(0, 50, len(frame))
    )
    model = ValueScoreModel(baseline={}, max_depth=2, n_estimators=20, n_jobs=1)
    return model.fit(frame, y).explain(frame)


@pytest.fixture(scope="module")
def tiers(exp: ModelExplanation) -> np.ndarray:
    rank = np.argsort(np.argsort(-exp.score, kind="stable"), kind="stable")
    return np.asarray(ORDER, dtype=object)[np.minimum(rank * 3 // len(exp), 2)]


def _assert_pngs(paths: list[Path]) -> None:
    assert paths
    for p in paths:
        assert p.suffix == ".png" and p.stat().st_size > 1000
        img = mpimg.imread(p)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_plot_global(exp: ModelExplanation, tmp_path: Path) -> None:
    paths = P.plot_global(exp, tmp_path / "figs", max_display=4)
    assert [p.name for p in paths] == ["value_score_beeswarm.png", "value_score_importance.png"]
    _assert_pngs(paths)


def test_even_rows_are_deterministic_and_spread() -> None:
    rows = P._even_rows(12_345, 5_000)
    assert len(rows) == 5_000 and rows[0] == 0 and rows[-1] < 12_345
    assert np.all(np.diff(rows) >= 2)
    np.testing.assert_array_equal(rows, P._even_rows(12_345, 5_000))
    np.testing.assert_array_equal(P._even_rows(7, 5_000), np.arange(7))


def test_tier_driver_table_groups_facets(exp: ModelExplanation, tiers: np.ndarray) -> None:
    table = P.tier_driver_table(exp, tiers, ORDER, top=10)
    assert list(table.columns) == ORDER
    assert "deposit balance" in table.index  # both deposit windows summed into one row
    assert len(table) == len(set(table.index)) == 4  # 5 features, 4 groups
    names = exp.feature_names
    v = exp.values
    dep = v[:, names.index("bal_deposit_avg_3m")] + v[:, names.index("bal_deposit_last")]
    fee = v[:, names.index("fee_income_12m")]
    for tier in ORDER:
        m = tiers == tier
        assert table.loc["deposit balance", tier] == pytest.approx(dep[m].mean())
        assert table.loc["fee income", tier] == pytest.approx(fee[m].mean())
    # rows ranked by overall mean |grouped contribution|
    overall = {"deposit balance": np.abs(dep).mean(), "fee income": np.abs(fee).mean()}
    first = max(overall, key=overall.get)
    assert list(table.index).index(first) < list(table.index).index(min(overall, key=overall.get))
    assert len(P.tier_driver_table(exp, tiers, ORDER, top=2)) == 2
    empty = P.tier_driver_table(exp, tiers, [*ORDER, "none"])
    assert empty["none"].isna().all()


def test_plot_tier_drivers(exp: ModelExplanation, tiers: np.ndarray, tmp_path: Path) -> None:
    path = P.plot_tier_drivers(exp, tiers, ORDER, tmp_path)
    assert path.name == "value_score_tier_drivers.png"
    _assert_pngs([path])
    with pytest.raises(ValueError, match="tiers"):
        P.plot_tier_drivers(exp, tiers[:-1], ORDER, tmp_path)


def test_plot_dependence(exp: ModelExplanation, tmp_path: Path) -> None:
    paths = P.plot_dependence(exp, tmp_path, top=2)
    top2 = list(exp.mean_abs().index[:2])
    assert [p.name for p in paths] == [f"value_score_dependence_{f}.png" for f in top2]
    _assert_pngs(paths)


def test_example_customers_picks_the_median() -> None:
    score = np.array([5.0, 1.0, 9.0, 3.0, 7.0, 100.0, 2.0, 4.0, 3.0])
    tiers = np.array(["a", "a", "a", "a", "a", "b", "c", "c", "c"], dtype=object)
    got = P.example_customers(score, tiers, ["a", "b", "c", "d"])
    assert got == {"a": [0], "b": [5], "c": [8], "d": []}  # medians 5, 100, 3
    # even count: median 3.5 is between rows 3 (3.0) and 7 (4.0): tie broken by row order
    two = P.example_customers([3.0, 4.0, 1.0, 9.0], ["x"] * 4, ["x"], per_tier=2)
    assert two == {"x": [0, 1]}
    assert P.example_customers(score, tiers, ["a"], per_tier=3) == {"a": [0, 3, 4]}
    assert P.example_customers(score, list(tiers), ["a", "c"]) == {"a": [0], "c": [8]}
    with pytest.raises(ValueError):
        P.example_customers(score[:-1], tiers, ["a"])


def test_plot_waterfalls(exp: ModelExplanation, tiers: np.ndarray, tmp_path: Path) -> None:
    picks = P.example_customers(exp.score, tiers, ORDER)
    paths = P.plot_waterfalls(exp, tiers, ORDER, tmp_path, max_display=4)
    expected = [f"value_score_waterfall_{t}_{exp.ids[picks[t][0]]}.png" for t in ORDER]
    assert [p.name for p in paths] == expected
    _assert_pngs(paths)
    assert len(P.plot_waterfalls(exp, tiers, ORDER[:1], tmp_path / "two", per_tier=2)) == 2
    for t in ORDER:  # the median customer of the tier
        s = exp.score[tiers == t]
        chosen = exp.score[picks[t][0]]
        assert np.abs(chosen - np.median(s)) == pytest.approx(np.abs(s - np.median(s)).min())


def test_built_explanation_with_unknown_columns(tmp_path: Path) -> None:
    values = np.array([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]])
    report = AdditivityReport(3, 0.0, 5.0, 1e-6, True)
    exp = build(
        values, 2.0, 2.0 + values.sum(axis=1), np.ones((3, 2)), ["own col/x", "bal_deposit_last"],
        np.array(["A/1", "B", "C"]), VALUE_OUTPUT, report,
    )  # fmt: skip
    tiers = ["hi", "lo", "lo"]
    plt.ion()  # shap's waterfall turns interactive mode off; the session's mode is kept
    try:
        paths = P.plot_dependence(exp, tmp_path, top=1) + P.plot_waterfalls(
            exp, tiers, ["hi"], tmp_path
        )
        assert plt.isinteractive()
    finally:
        plt.ioff()
    assert [p.name for p in paths] == [
        "value_score_dependence_bal_deposit_last.png",
        "value_score_waterfall_hi_A_1.png",
    ]
    _assert_pngs(paths)


def test_a_beeswarm_of_heavy_tailed_contributions_is_clipped_to_show_the_spread():
    """A few very large customers would flatten every other point onto 0: the axis spans the
    central 99 % and says how many values sit at its edges."""
    import shap

    from segml.explain.plots import _clipped

    rng = np.random.default_rng(0)
    values = rng.normal(0, 100, (1000, 3))
    values[:5, 0] = 1e7  # five huge customers
    shown = shap.Explanation(values=values, data=values, feature_names=["a", "b", "c"])
    out, n = _clipped(shown)
    assert n >= 5 and out.values.max() < 1e4 and out.values.shape == values.shape
    inside = (values > out.values.min()) & (values < out.values.max())
    assert np.array_equal(out.values[inside], values[inside]) and n == (~inside).sum()
    calm, none = _clipped(shap.Explanation(values=values[5:], data=values[5:], feature_names=["a", "b", "c"]))  # fmt: skip
    assert none == 0 and calm.values is not None and np.array_equal(calm.values, values[5:])
