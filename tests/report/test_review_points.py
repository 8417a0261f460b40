"""The pack's points for review list an unusable model first, with what it feeds."""

from __future__ import annotations

from html import unescape
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from segml.report.html import Section, render_page
from segml.report.validation import validation_section
from segml.run.folder import RunContents, RunFolder

#: a demo run's spend rows: the hurdle model 8,600 times off, the others sound
SPEND = {
    "hurdle": {"n": 100, "actual_total": 5.93e10, "predicted_total": 5.10e14,
               "aggregate_error": 8608.9, "mae": 3.5e10, "rmse": 4.2e12, "spearman": 0.87,
               "gini_normalised": 0.99, "decile_mape": 864.4},
    "tweedie": {"n": 100, "actual_total": 5.93e10, "predicted_total": 6.1e10,
                "aggregate_error": 0.03, "mae": 1.11e6, "rmse": 1.3e7, "spearman": 0.88,
                "gini_normalised": 0.9, "decile_mape": 0.2},
    "naive_calibration_rate": {"n": 100, "actual_total": 5.93e10, "predicted_total": 6.0e10,
                               "aggregate_error": 0.01, "mae": 1.24e6, "rmse": 1.5e7,
                               "spearman": 0.869, "gini_normalised": 0.9, "decile_mape": 0.3},
}  # fmt: skip


def _folder(tmp_path, spend: dict, measure: str = "value_score") -> RunFolder:
    metrics = {f"clv.holdout.spend.{m}.{k}": v for m, row in spend.items() for k, v in row.items()}
    out = tmp_path / "run"
    out.mkdir()
    record = {"run_id": "cd" * 16, "metrics": metrics, "value_measure": {"measure": measure}}
    contents = RunContents(
        record=record,
        config={"name": "t"},
        documents={"clv_config.json": {"model": "bgnbd", "window": ["2025-01-01", "2025-12-31"]}},
        tables={"tiers": pd.DataFrame({"customer_id": ["a"], "tier": ["key"]})},
    )
    return RunFolder.write(out, contents)


def _first_points(sec: Section) -> list[str]:
    return [f.text for f in sec.findings if f.first]


def test_an_absurd_model_is_the_first_point_and_says_it_feeds_nothing(tmp_path):
    sec = validation_section(SimpleNamespace(run=_folder(tmp_path, SPEND)))  # type: ignore[arg-type]
    first = _first_points(sec)
    assert len(first) == 1, first  # the hurdle model only: Tweedie and the naive are sound
    text = first[0]
    assert text.startswith("CLV: the xgboost hurdle spend model is unusable on the holdout")
    assert "a total of ¥510.0T against ¥59.3B actual (860,890%)" in text
    assert "its MAE is 35,000,000,000 against 1,240,000 for the best naive forecast" in text
    assert "deciles are 86,440% off" in text
    assert "feed no score or tier" in text
    # listed before every other point of the pack, whatever section raised them
    other = Section("purpose", "Purpose")
    other.attention("the model card names no owner")
    page = unescape(render_page("t", [], [other, sec]))
    points = page[page.index('<section id="summary">') :]
    assert points.index("is unusable on the holdout") < points.index("names no owner")


def test_an_absurd_model_the_tiers_rank_is_said_to_spoil_the_tiers(tmp_path):
    spend = {"tweedie": {**SPEND["tweedie"], "aggregate_error": -0.97, "mae": 2e7,
                         "decile_mape": 0.5}, "naive_calibration_rate": SPEND["naive_calibration_rate"]}  # fmt: skip
    folder = _folder(tmp_path, spend, measure="supervised_value")
    sec = validation_section(SimpleNamespace(run=folder))  # type: ignore[arg-type]
    (text,) = _first_points(sec)
    assert "its MAE is 20,000,000 against 1,240,000" in text  # 16 times the naive's
    assert "a total of" not in text  # 97 % under: within ±100 %, not a reason by itself
    assert "'supervised_value', which the tiers rank: do not use this run's tiers" in text


def test_sound_models_raise_no_first_point(tmp_path):
    spend = {k: v for k, v in SPEND.items() if k != "hurdle"}
    sec = validation_section(SimpleNamespace(run=_folder(tmp_path, spend)))  # type: ignore[arg-type]
    assert _first_points(sec) == []


def test_the_lorenz_legend_shows_the_headline_gini():
    """One Gini on the page: the curve of value clipped at 0 and the section's headline Gini
    (``gini_positive``) agree, even with loss-makers that push the raw Gini above 1."""
    import numpy as np
    from matplotlib.figure import Figure

    from segml.tiers import plot_lorenz
    from segml.tiers.concentration import concentration

    rng = np.random.default_rng(3)
    values = np.concatenate([rng.lognormal(8, 2, 900), -rng.lognormal(9, 1, 100)])
    conc = concentration(values)
    assert conc.gini > 1.0  # the raw Gini the legend used to show
    ax = Figure().add_subplot()
    plot_lorenz(np.clip(values, 0, None), ax, label="value score, clipped at 0")
    legend = ax.get_legend().get_texts()[0].get_text()
    assert legend == f"value score, clipped at 0 (Gini {conc.gini_positive:.2f})"


def test_a_change_within_the_tolerance_is_the_same_not_worse():
    from segml.report.champion import TOLERANCE_BOUNDED, metric_deltas

    champion = {"value.test.spearman": 0.8123, "value.test.mae": 1000.0, "churn.test.roc_auc": 0.80}  # fmt: skip
    current = {"value.test.spearman": 0.8122, "value.test.mae": 1009.0, "churn.test.roc_auc": 0.79}  # fmt: skip
    rows = {r["key"]: r for r in metric_deltas(current, champion)}
    assert rows["value.test.spearman"]["better"] is None  # −1e-4: the same
    assert rows["value.test.mae"]["better"] is None  # +0.9 %: within 1 %
    assert rows["churn.test.roc_auc"]["better"] is False  # −0.01 > 0.005
    assert abs(rows["churn.test.roc_auc"]["delta"]) > TOLERANCE_BOUNDED
    worse = metric_deltas({"value.test.mae": 1020.0}, {"value.test.mae": 1000.0})
    assert worse[0]["better"] is False  # +2 % MAE


def test_a_score_that_moved_on_a_stable_population_is_a_model_change():
    from segml.report.stability import _shift_findings

    scores = pd.DataFrame({"measure": ["churn_probability", "value_score"], "psi": [0.896, 0.01]})
    stable = pd.DataFrame({"measure": ["balance_mean", "tenure_months"], "psi": [0.007, 0.002]})
    sec = Section("stability", "Stability")
    _shift_findings(sec, scores, stable)
    (point,) = [f.text for f in sec.findings if f.level == "attention"]
    assert point.startswith("model change: the churn_probability distribution moved (PSI 0.896)")
    assert "largest feature PSI 0.007" in point and "population shift" not in point.split(":")[0]
    moved = pd.DataFrame({"measure": ["balance_mean", "tenure_months"], "psi": [0.4, 0.002]})
    sec = Section("stability", "Stability")
    _shift_findings(sec, scores, moved)
    texts = [f.text for f in sec.findings if f.level == "attention"]
    assert texts == [
        "major population shift (PSI > 0.25) in balance_mean",
        "major shift of churn_probability (PSI 0.896) with the population",
    ]
    sec = Section("stability", "Stability")
    _shift_findings(sec, scores.assign(psi=[0.01, 0.02]), stable)
    assert [f.level for f in sec.findings] == ["ok"]


def test_a_model_that_moves_with_its_seed_is_flagged(tmp_path):
    from segml.stability import seed_stability

    moved = seed_stability(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.2, 2.4, 3.6, 4.8]))
    assert moved == pytest.approx({"total_change": 0.2, "spearman": 1.0})
    spend = dict(SPEND)
    folder = _folder(tmp_path, {k: v for k, v in spend.items() if k != "hurdle"})
    folder.run["metrics"] |= {
        "clv.stability.spend.tweedie.total_change": 0.2, "clv.stability.spend.tweedie.spearman": 0.97,
        "clv.stability.spend.hurdle.total_change": 0.01, "clv.stability.spend.hurdle.spearman": 0.99,
        "churn.stability.total_change": 0.02, "churn.stability.spearman": 0.85,
        "value.stability.total_change": 0.001, "value.stability.spearman": 0.995,
        "value.stability.tier_agreement": 0.97,
    }  # fmt: skip
    sec = validation_section(SimpleNamespace(run=folder))  # type: ignore[arg-type]
    unstable = [f.text for f in sec.findings if "unstable across seeds" in f.text]
    assert unstable == [
        "CLV: the xgboost Tweedie spend model is unstable across seeds: refitted with the next "
        "seed, its predicted total moves by 20.0% and the two rankings correlate at 0.97 "
        "(limits: 10%, 0.9)",
        "Churn: the churn model is unstable across seeds: refitted with the next seed, its "
        "expected number of churners moves by 2.0% and the two rankings correlate at 0.85 (limits: 10%, "
        "0.9)",
    ]
    # the value model beyond the limits: named with the share of customers that keep their tier
    folder.run["metrics"] |= {"value.stability.spearman": 0.8, "value.stability.tier_agreement": 0.71}  # fmt: skip
    sec = validation_section(SimpleNamespace(run=folder))  # type: ignore[arg-type]
    value = [f.text for f in sec.findings if f.text.startswith("Value: the value score model is unstable")]  # fmt: skip
    assert len(value) == 1 and "71.0% of customers keep their tier" in value[0], value
