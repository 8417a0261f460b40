"""The synthetic bank: determinism, realism (Pareto, losses, personas) and its ground truth."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from segml.cli.main import app
from segml.synth import MANIFEST, SynthConfig, generate
from segml.synth import events as synth_events
from segml.synth.generator import TABLES
from segml.tiers import DEFAULT_POLICY
from segml.validate import validate_folder


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4,000-customer bank: large enough for stable shares, about two seconds to make."""
    out = tmp_path_factory.mktemp("synth") / "bank"
    generate(SynthConfig(customers=4000, seed=3), out)
    return out


@pytest.fixture(scope="module")
def truth(bank: Path) -> pd.DataFrame:
    return pd.read_parquet(bank / "ground_truth.parquet")


def q(bank: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect()
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM '{bank / (t + '.parquet')}'")
    return con.execute(sql).df()


# ----------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_tables(small_bank: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(SynthConfig(customers=600, seed=11, chunk_size=250), again)
    for t in TABLES:
        a = pq.read_table(small_bank / f"{t}.parquet")
        b = pq.read_table(again / f"{t}.parquet")
        assert a.equals(b), t


def test_other_seed_gives_other_tables(small_bank: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate(SynthConfig(customers=600, seed=12, chunk_size=250), other)
    a = pq.read_table(small_bank / "transactions.parquet")
    b = pq.read_table(other / "transactions.parquet")
    assert not a.equals(b)


def test_chunks_stream_into_one_consistent_bank(small_bank: Path) -> None:
    # 600 customers in chunks of 250: ids continue across chunks and the bank is valid
    report = validate_folder(small_bank)
    assert report.ok, report.summary()
    assert report.row_counts["customers"] == 600
    ids = pd.read_parquet(small_bank / "customers.parquet").customer_id
    assert ids.is_unique and ids.iloc[0] == "C00000000" and ids.iloc[-1] == "C00000599"
    manifest = json.loads((small_bank / MANIFEST).read_text())
    assert manifest["row_counts"]["customers"] == 600
    assert manifest["calendar"]["as_of"] == "2024-12-31"


# ----------------------------------------------------------------------------- realism
def test_bank_is_valid_and_has_every_table(bank: Path) -> None:
    report = validate_folder(bank)
    assert report.ok, report.summary()
    assert set(report.row_counts) == set(TABLES) - {"ground_truth"}
    assert all(n > 0 for n in report.row_counts.values())


def test_history_spans_more_than_three_years_before_as_of(bank: Path) -> None:
    first, last = q(bank, "SELECT min(timestamp), max(timestamp) FROM transactions").iloc[0]
    assert first.date() <= dt.date(2021, 1, 31)
    assert (dt.date(2024, 12, 31) - first.date()).days > 3 * 365
    assert dt.date(2025, 12, 1) <= last.date() <= dt.date(2025, 12, 31)


def test_corporate_clients_are_a_minority_with_industries_and_financials(bank: Path) -> None:
    c = pd.read_parquet(bank / "customers.parquet")
    corp = c[c.customer_type == "corporate"]
    assert 0.04 < len(corp) / len(c) < 0.12
    assert corp.industry.notna().all() and corp.industry.nunique() >= 8
    assert c.loc[c.customer_type == "retail", "industry"].isna().all()
    fin = pd.read_parquet(bank / "corporate_financials.parquet")
    assert set(fin.customer_id) <= set(corp.customer_id)
    assert fin.groupby("customer_id").fiscal_year.nunique().median() >= 4
    assert c.region.nunique() == 8


def test_value_is_heavy_tailed_like_a_real_bank(truth: pd.DataFrame) -> None:
    active = truth[truth.active_at_as_of]
    for col in ("profit_trailing_12m", "next_12m_profit"):
        v = np.sort(active[col].to_numpy())[::-1]
        top20 = v[: len(v) // 5].sum() / v.sum()
        loss = (v < 0).mean()
        assert 0.8 <= top20 <= 1.5, (col, top20)
        assert 0.2 <= loss <= 0.4, (col, loss)


def test_product_mix_depends_on_persona(bank: Path, truth: pd.DataFrame) -> None:
    held = q(bank, "SELECT customer_id, product FROM accounts")
    mortgage = set(held.customer_id[held["product"] == "mortgage"])
    by = truth.assign(m=truth.customer_id.isin(mortgage)).groupby("persona").m.mean()
    assert by["mortgage_family"] > 0.8
    assert by.drop("mortgage_family").max() < 0.35
    wealth = set(held.customer_id[held["product"] == "wealth_fund"])
    wf = truth.assign(w=truth.customer_id.isin(wealth)).groupby("persona").w.mean()
    assert wf.idxmax() == "affluent_investor"


def test_personas_overlap_rather_than_separate_trivially(bank: Path, truth: pd.DataFrame) -> None:
    # the set of products a customer holds is shared by several personas for most customers
    held = q(bank, "SELECT customer_id, string_agg(DISTINCT product, ',' ORDER BY product) AS p FROM accounts GROUP BY 1")  # fmt: skip
    t = truth.merge(held, on="customer_id")
    personas_per_pattern = t.groupby("p").persona.nunique()
    shared = t.p.map(personas_per_pattern) > 1
    assert shared.mean() > 0.8
    # and activity levels of neighbouring personas overlap
    n_tx = q(bank, "SELECT customer_id, count(*) AS n FROM transactions WHERE kind NOT IN ('fee','salary','pension','loan_repayment') GROUP BY 1")  # fmt: skip
    t = truth.merge(n_tx, on="customer_id", how="left").fillna({"n": 0})
    a = t.n[t.persona == "mass_salaried"]
    b = t.n[t.persona == "digital_young"]
    assert a.quantile(0.75) > b.quantile(0.25)


def test_digital_personas_use_digital_channels(bank: Path, truth: pd.DataFrame) -> None:
    ch = q(bank, "SELECT customer_id, avg((channel IN ('mobile','online'))::INT) AS digital, avg((channel = 'branch')::INT) AS branch FROM transactions WHERE channel <> 'system' GROUP BY 1")  # fmt: skip
    t = truth.merge(ch, on="customer_id").groupby("persona")[["digital", "branch"]].median()
    assert t.loc["digital_young", "digital"] > 0.5
    assert t.loc["senior_branch", "branch"] > 0.4
    assert t.loc["senior_branch", "digital"] < 0.15


# ----------------------------------------------------------------------------- ground truth
def test_ground_truth_has_the_documented_columns(truth: pd.DataFrame) -> None:
    need = {
        "customer_id",
        "persona",
        "churn_probability",
        "churned",
        "next_12m_profit",
        "value_tier",
    }
    assert need <= set(truth.columns)
    assert truth.customer_id.is_unique
    active = truth[truth.active_at_as_of]
    assert active.churn_probability.between(0, 1).all()
    assert truth.loc[~truth.active_at_as_of, "churn_probability"].isna().all()


def test_churn_probability_is_the_frozen_hazard_over_the_window(truth: pd.DataFrame) -> None:
    a = truth[truth.active_at_as_of]
    np.testing.assert_allclose(a.churn_probability, -np.expm1(-12 * a.hazard_monthly), rtol=1e-12)


def test_realised_churn_matches_true_probability(truth: pd.DataFrame) -> None:
    a = truth[truth.active_at_as_of]
    p, y = a.churn_probability.to_numpy(), a.churned.astype(bool).to_numpy()
    # the realised count lies within 4 sd of its expectation under the true probabilities
    assert abs(y.sum() - p.sum()) < 4 * np.sqrt((p * (1 - p)).sum())
    # and the true probability ranks churners: AUC well above chance
    order = np.argsort(p)
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    auc = (ranks[y].sum() - y.sum() * (y.sum() + 1) / 2) / (y.sum() * (~y).sum())
    assert auc > 0.65


def test_churn_is_all_accounts_closed_in_the_label_window(bank: Path, truth: pd.DataFrame) -> None:
    c = pd.read_parquet(bank / "customers.parquet").merge(truth, on="customer_id")
    c["close_date"] = pd.to_datetime(c.close_date)
    churned = c[c.churned.fillna(False).astype(bool)]
    assert (churned.close_date > pd.Timestamp("2024-12-31")).all()
    assert (churned.close_date <= pd.Timestamp("2025-12-31")).all()
    stay = c[c.active_at_as_of & ~c.churned.fillna(False).astype(bool)]
    assert stay.close_date.isna().all()
    still_open = q(bank, "SELECT count(*) AS n FROM accounts a JOIN customers c USING (customer_id) WHERE c.close_date IS NOT NULL AND (a.close_date IS NULL OR a.close_date > c.close_date)")  # fmt: skip
    assert still_open.n.iloc[0] == 0


def test_complaints_raise_attrition(bank: Path, truth: pd.DataFrame) -> None:
    unresolved = q(bank, "SELECT customer_id, count(*) AS k FROM interactions WHERE kind = 'complaint' AND NOT resolved AND timestamp <= TIMESTAMP '2024-12-31 23:59:59' GROUP BY 1")  # fmt: skip
    a = (
        truth[truth.active_at_as_of]
        .merge(unresolved, on="customer_id", how="left")
        .fillna({"k": 0})
    )
    assert a.churn_probability[a.k > 0].mean() > 1.3 * a.churn_probability[a.k == 0].mean()


def test_value_tier_follows_the_default_policy(truth: pd.DataFrame) -> None:
    a = truth[truth.active_at_as_of]
    expected = DEFAULT_POLICY.assign(a.next_12m_profit.to_numpy())
    assert (a.value_tier.to_numpy() == expected).all()
    share = a.value_tier.value_counts(normalize=True)
    assert share["small"] == pytest.approx(0.5, abs=0.01)
    assert share["most_important"] == pytest.approx(0.01, abs=0.005)
    assert truth.loc[~truth.active_at_as_of, "value_tier"].isna().all()


# ----------------------------------------------------------------------------- command line
def test_cli_synth_writes_a_bank_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli_bank"
    r = runner.invoke(
        app, ["synth", "--customers", "40", "--seed", "5", "--out", str(out), "--json"]
    )
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["rows"]["customers"] == 40
    assert (out / "ground_truth.parquet").is_file()
    r = runner.invoke(app, ["synth", "--customers", "40", "--out", str(out)])
    assert r.exit_code == 2
    assert "not empty" in r.output


def test_failed_generation_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(synth_events, "interactions", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        generate(SynthConfig(customers=30, seed=1), tmp_path / "half")
    assert list(tmp_path.iterdir()) == []
