"""Reason codes against a stated reference, the typical customer of the value tier: they add up
from the tier's reference value, the median customer of each tier reads as typical of it, no
phrase claims that a zero or missing amount added value, and the exported model writes the same
codes as the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segml.explain.formatting import AMOUNT_UNITS, feature_texts
from segml.explain.reasons import reason_codes, reason_list
from segml.explain.reference import (
    ReasonReference,
    typical_customers,
)
from segml.explain.result import VALUE_OUTPUT, build
from segml.explain.thresholds import tier_thresholds
from segml.explain.treeshap import AdditivityReport
from segml.tiers import DEFAULT_POLICY

IMPACTS = [f"reason_{j}_impact" for j in range(1, 5)]


@pytest.fixture(scope="module")
def tiered(explained, data) -> tuple[np.ndarray, ReasonReference]:
    tiers = DEFAULT_POLICY.assign(explained.score)
    return tiers, typical_customers(explained, data["pop"], tiers, list(DEFAULT_POLICY.labels))


def _median_customer(score: np.ndarray, ids: np.ndarray, mask: np.ndarray) -> int:
    """The customer of ``mask`` whose score is closest to their median (ties: the first id)."""
    rows = np.flatnonzero(mask)
    gap = np.abs(score[rows] - np.median(score[rows]))
    return int(rows[np.lexsort((ids[rows].astype(str), gap))[0]])


def _claims_a_zero_amount_added_value(phrase: str, units: dict[str, str]) -> bool:
    """``"<amount>: ¥0 a year (+…"``, ``"<amount>: 0 (+…"`` or ``"<amount>: missing (+…"``."""
    if ": " not in phrase or phrase.startswith("no "):
        return False
    display, rest = phrase.split(": ", 1)
    value, _, effect = rest.partition(" (")
    zero = value in ("¥0", "¥0 a year", "0", "0 persons", "missing")
    return units.get(display) in AMOUNT_UNITS and zero and effect.startswith("+")


def test_codes_add_up_from_the_reference_value_of_the_tier(explained, tiered) -> None:
    tiers, ref = tiered
    assert ref.tiers == tuple(t for t in DEFAULT_POLICY.labels if (tiers == t).any())
    assert sum(ref.customers[:-1]) == ref.customers[-1] == len(explained)
    rel = ref.relative(explained, tiers)
    scale = max(1.0, np.abs(explained.score).max())
    assert np.abs(rel.base_values + rel.values.sum(axis=1) - explained.score).max() <= 1e-9 * scale  # fmt: skip
    for i, t in enumerate(ref.tiers):  # the typical customer's value lies inside its tier
        s = explained.score[tiers == t]
        assert s.min() <= ref.reference_values[i] <= s.max(), t
        assert ref.median_score[i] == pytest.approx(np.median(s))
    # the reference travels as JSON, exactly
    back = ReasonReference.from_dict(json.loads(json.dumps(ref.to_dict())))
    np.testing.assert_array_equal(back.contributions, ref.contributions)
    np.testing.assert_array_equal(back.values, ref.values)
    assert (back.tiers, back.customers, back.base_value) == (ref.tiers, ref.customers, ref.base_value)  # fmt: skip
    with pytest.raises(ValueError, match="other features"):
        ref.relative(build(explained.values[:, 1:], 0.0, explained.score, explained.data[:, 1:],
                           explained.feature_names[1:], explained.ids, VALUE_OUTPUT,
                           explained.additivity), tiers)  # fmt: skip


def test_the_median_customer_of_each_tier_reads_as_typical(explained, data, tiered) -> None:
    """Every tier's median customer: its phrases name the tier's typical customer, none claims
    that a zero amount added value, its codes are smaller than against the mean customer and
    its score is near the reference value. In a tier of many customers its codes are also no
    larger than the tier's middle customer's and small beside the tier's spread of scores (a
    handful of top customers has no typical composition: 4 here)."""
    tiers, ref = tiered
    pop = data["pop"]
    rc = reason_codes(explained, pop, k=4, reference=ref, tiers=tiers)
    against_mean = reason_codes(explained, pop, k=4)
    units = {t.display: t.unit for t in feature_texts(explained.feature_names)}
    ids = pop.customer_id.to_numpy()
    assert sum(n >= 50 for n in ref.customers[:-1]) >= 3
    for i, t in enumerate(ref.tiers):
        mask = tiers == t
        m = _median_customer(explained.score, ids, mask)
        phrases = reason_list(rc.iloc[m])
        name = f"the typical {t.replace('_', ' ')} customer"
        assert phrases and all(name in p for p in phrases), phrases
        assert not any(_claims_a_zero_amount_added_value(p, units) for p in phrases), phrases
        size = rc.loc[m, IMPACTS].abs().sum()
        assert size < against_mean.loc[m, IMPACTS].abs().sum(), (t, phrases)
        s = explained.score[mask]
        spread = np.subtract(*np.percentile(s, [75, 25]))
        assert abs(explained.score[m] - ref.reference_values[i]) <= spread, t
        if mask.sum() >= 50:
            assert size <= 0.25 * against_mean.loc[m, IMPACTS].abs().sum(), (t, phrases)
            assert size <= np.median(rc.loc[mask, IMPACTS].abs().sum(axis=1)), (t, phrases)
            assert size <= spread, (t, phrases)


def test_no_phrase_claims_that_a_zero_amount_added_value(explained, data, tiered) -> None:
    tiers, ref = tiered
    rc = reason_codes(explained, data["pop"], k=6, reference=ref, tiers=tiers)
    units = {t.display: t.unit for t in feature_texts(explained.feature_names)}
    phrases = [p for j in range(1, 7) for p in rc[f"reason_{j}"] if isinstance(p, str)]
    assert len(phrases) > 1000
    assert not [p for p in phrases if _claims_a_zero_amount_added_value(p, units)]
    assert any(p.startswith("no ") and ", unlike the typical " in p for p in phrases)
    against_mean = reason_codes(explained, data["pop"], k=6)  # what the reference fixed
    old = [p for j in range(1, 7) for p in against_mean[f"reason_{j}"] if isinstance(p, str)]
    assert any(_claims_a_zero_amount_added_value(p, units) for p in old)


def _reference(names: list[str], contributions: list[float], typical: list[float]) -> ReasonReference:  # fmt: skip
    rows = np.array([contributions, np.zeros(len(names))])
    values = np.array([typical, np.full(len(names), np.nan)])
    return ReasonReference(tuple(names), ("key",), (10, 30), (5000.0, 900.0), 100.0, rows, values)


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_a_zero_amount_reads_as_none_unlike_the_typical_customer_or_is_left_out(engine) -> None:
    names = ["ecl_12m", "fee_income_12m", "bal_lending_last", "n_tx_90d", "nii_12m"]
    # against the mean: ECL 0 "adds" 2,500; the typical key customer's contributions
    values = np.array([[2500.0, 40.0, 500.0, -150.0, 4000.0]] * 2)
    ref = _reference(names, [500.0, -10.0, 200.0, -50.0, 1000.0], [2000.0, 0.0, 5e5, 12.0, 9000.0])  # fmt: skip
    exp = build(values, 100.0, 100.0 + values.sum(axis=1), np.zeros(values.shape), names,
                np.array(["c1", "c2"]), VALUE_OUTPUT, AdditivityReport(2, 0.0, 0.0, 1e-6, True))  # fmt: skip
    raw = pd.DataFrame({"ecl_12m": [0.0, 0.0], "fee_income_12m": [0.0, 0.0],
                        "bal_lending_last": [np.nan, np.nan], "n_tx_90d": [0.0, 0.0],
                        "nii_12m": [12000.0, 12000.0]})  # fmt: skip
    rc = reason_codes(exp, raw, k=5, engine=engine, reference=ref, tiers=["key", "other"])
    assert reason_list(rc.iloc[0]) == [
        "net interest and AUM income: ¥12,000 a year (+¥3,000 to annual value vs the typical key customer)",
        "no expected credit loss (¥0 a year, unlike the typical key customer: +¥2,000 to annual value)",
        "no lending balance last month on record (unlike the typical key customer: +¥300 to annual value)",
        "transactions in 90 days: 0 (−¥100 to annual value vs the typical key customer)",
    ]  # no fee income, like the typical key customer: left out, though it contributes +¥50
    assert rc.at[0, "reason_5"] is None and "fee_income_12m" not in set(rc.iloc[0])
    # another tier: all tiered customers, whose typical values are unknown here (left out)
    assert reason_list(rc.iloc[1]) == [
        "net interest and AUM income: ¥12,000 a year (+¥4,000 to annual value vs the typical customer)",
        "transactions in 90 days: 0 (−¥150 to annual value vs the typical customer)",
    ]
    np.testing.assert_allclose(rc.loc[0, IMPACTS].to_numpy(float), [3000.0, 2000.0, 300.0, -100.0])


def test_the_exported_model_writes_the_runs_reason_codes(model, explained, data, tiered, tmp_path: Path) -> None:  # fmt: skip
    from segml.serving.bundle import TieringBundle

    tiers, ref = tiered
    pop = data["pop"]
    in_run = reason_codes(explained, pop, k=4, reference=ref, tiers=tiers)
    thresholds = tier_thresholds(explained.score, DEFAULT_POLICY)["min_score"].tolist()
    bundle = TieringBundle(value_model=model, policy=DEFAULT_POLICY, thresholds=thresholds, reason_reference=ref)  # fmt: skip
    assert bundle.reason_reference is ref
    loaded = TieringBundle.load(bundle.save(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "reason_reference.json").is_file()
    served = loaded.predict(pop)
    same = served.tier_by_value.to_numpy() == tiers
    assert same.mean() > 0.97  # ties at a threshold aside
    for j in range(1, 5):
        assert served[f"reason_{j}"][same].fillna("-").tolist() == in_run[f"reason_{j}"][same].fillna("-").tolist()  # fmt: skip
    # without a reference the exported model writes the codes against the base value, as before
    plain = TieringBundle(value_model=model, policy=DEFAULT_POLICY, thresholds=thresholds)
    assert plain.reason_reference is None
    before = reason_codes(explained, pop, k=4)
    assert plain.predict(pop.head(20)).reason_1.tolist() == before.reason_1.head(20).tolist()


def test_segml_explain_says_what_the_codes_are_measured_against(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from segml.cli.main import app

    names = ["ecl_12m", "nii_12m"]
    ref = _reference(names, [-500.0, 1000.0], [2000.0, 9000.0])
    run = tmp_path / "t-aaaaaaaaaaaa"
    run.mkdir()
    phrase = "no expected credit loss (¥0 a year, unlike the typical key customer: +¥500 to annual value)"  # fmt: skip
    pd.DataFrame({"customer_id": ["c1"], "tier": ["key"], "tier_by_value": ["key"],
                  "value_score": [1234.0], "threshold_below": [1000.0], "threshold_above": [np.nan],
                  "margin_below": [234.0], "gap_to_next": [np.nan], "lifted_by": ["nii_12m"],
                  "held_back_by": [None], "override_reason": [""], "decision": ["annual value"],
                  "reason_1": [phrase]}).to_parquet(run / "reason_codes.parquet")  # fmt: skip
    pd.DataFrame({"customer_id": ["c1"], "value_score": [1234.0], "base_value": [100.0],
                  "ecl_12m": [0.0], "nii_12m": [1134.0]}).to_parquet(run / "explanations_value.parquet")  # fmt: skip
    (run / "explanations.json").write_text(json.dumps({"value": {"reason_reference": ref.to_dict()}}))  # fmt: skip
    args = ["explain", "--run-dir", str(run), "--customer", "c1"]
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 0, text.output
    assert "reasons, vs the typical key customer (annual value ¥600, from 10 customers):\n" in text.output  # fmt: skip
    assert f"  1. {phrase}" in text.output
    d = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    assert d["reference"]["name"] == "the typical key customer"
    assert d["reference"]["reference_value"] == 600.0 and d["reference"]["customers"] == 10
    (run / "explanations.json").unlink()  # a run from before the reference: as it was
    assert "\nreasons:\n" in CliRunner().invoke(app, args).output
