"""Point-in-time features: correctness in time, hand-checked values, lifetimes' RFM, labels."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lifetimes.utils import summary_data_from_transaction_data
from typer.testing import CliRunner

from segml.cli.main import app
from segml.data import load_bank
from segml.features import build_features, feature_columns
from segml.features.catalogue import CATALOGUE, CONDITIONAL_FEATURES
from segml.features.labels import build_labels
from segml.features.spec import NON_CUSTOMER_KINDS

AS_OF = dt.date(2024, 12, 31)
MID = dt.date(2024, 6, 30)


@pytest.fixture(scope="module")
def features(small_bank: Path) -> pd.DataFrame:
    return build_features(load_bank(small_bank), AS_OF).to_pandas()


def test_one_row_per_known_customer_and_every_column_documented(
    small_bank: Path, features: pd.DataFrame
) -> None:
    customers = pd.read_parquet(small_bank / "customers.parquet")
    known = customers[pd.to_datetime(customers.open_date) <= pd.Timestamp(AS_OF)]
    assert features.customer_id.tolist() == sorted(known.customer_id)
    assert list(features.columns) == feature_columns(AS_OF)
    assert set(features.columns) == set(CATALOGUE) - set(CONDITIONAL_FEATURES)  # a bank's


def test_same_bank_gives_identical_features(small_bank: Path, features: pd.DataFrame) -> None:
    again = build_features(load_bank(small_bank), AS_OF).to_pandas()
    pd.testing.assert_frame_equal(features, again, check_exact=True)  # to the bit


@pytest.mark.slow
def test_parallel_builds_agree_to_the_bit(tmp_path: Path) -> None:
    """A bank large enough for DuckDB to aggregate on several threads: money and gap sums are
    exact, so every build gives the same bits (double sums moved in the last bits)."""
    from segml.synth import SynthConfig, generate

    generate(SynthConfig(customers=4000, seed=11), tmp_path / "bank")
    builds = []
    for _ in range(3):
        bank = load_bank(tmp_path / "bank")
        bank.con.execute("SET threads = 4")
        builds.append(build_features(bank, AS_OF).to_pandas())
    for again in builds[1:]:
        pd.testing.assert_frame_equal(builds[0], again, check_exact=True)


def _truncate(src: Path, dst: Path, t: dt.date) -> None:
    """Write the bank as an extract taken at ``t`` would have been: nothing after ``t``."""
    dst.mkdir()
    t_next = pd.Timestamp(t) + pd.Timedelta(days=1)
    ts = pd.Timestamp(t)
    c = pd.read_parquet(src / "customers.parquet")
    c = c[pd.to_datetime(c.open_date) <= ts]
    c.loc[pd.to_datetime(c.close_date) > ts, "close_date"] = None
    a = pd.read_parquet(src / "accounts.parquet")
    a = a[pd.to_datetime(a.open_date) <= ts]
    a.loc[pd.to_datetime(a.close_date) > ts, "close_date"] = None
    b = pd.read_parquet(src / "balances.parquet")
    month_end = t_next.to_period("M").start_time  # months complete by t end before it
    b = b[pd.to_datetime(b.month) < month_end]
    tx = pd.read_parquet(src / "transactions.parquet")
    tx = tx[tx.timestamp < t_next]
    i = pd.read_parquet(src / "interactions.parquet")
    i = i[i.timestamp < t_next].copy()
    late = i.resolved_at >= t_next
    i.loc[late, "resolved"] = False
    i.loc[late, "resolved_at"] = pd.NaT
    f = pd.read_parquet(src / "corporate_financials.parquet")
    f = f[pd.to_datetime(f.report_date) <= ts]
    for name, df in {"customers": c, "accounts": a, "balances": b, "transactions": tx, "interactions": i, "corporate_financials": f}.items():  # fmt: skip
        schema = pq.read_schema(src / f"{name}.parquet")
        pq.write_table(
            pa.Table.from_pandas(df, schema=schema, preserve_index=False), dst / f"{name}.parquet"
        )


@pytest.mark.parametrize("t", [MID, AS_OF])
def test_later_data_never_changes_a_feature(small_bank: Path, tmp_path: Path, t: dt.date) -> None:
    # features from the full history (which runs a year past t) equal features from an
    # extract that ends at t: nothing recorded after t leaks in
    _truncate(small_bank, tmp_path / "cut", t)
    full = build_features(load_bank(small_bank), t).to_pandas()
    cut = build_features(load_bank(tmp_path / "cut"), t).to_pandas()
    pd.testing.assert_frame_equal(full, cut, check_exact=False, rtol=1e-12)


def test_rfm_matches_lifetimes(small_bank: Path, features: pd.DataFrame) -> None:
    tx = pd.read_parquet(small_bank / "transactions.parquet")
    tx = tx[~tx.kind.isin(NON_CUSTOMER_KINDS)]
    want = summary_data_from_transaction_data(
        tx, "customer_id", "timestamp", "amount", observation_period_end=str(AS_OF), freq="D"
    ).sort_index()
    got = features.set_index("customer_id").loc[want.index]
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-9, atol=1e-9, err_msg=col)


def test_profit_tracks_the_true_profit(small_bank: Path, features: pd.DataFrame) -> None:
    truth = pd.read_parquet(small_bank / "ground_truth.parquet")
    m = features.merge(truth[truth.active_at_as_of], on="customer_id")
    assert m.profit_12m.corr(m.profit_trailing_12m, method="spearman") > 0.9
    # retail customers without loans or relationship managers: the same definition, exactly
    plain = m[(m.customer_type_x == "retail") & (m.bal_lending_avg_12m == 0) & (m.persona != "affluent_investor")]  # fmt: skip
    np.testing.assert_allclose(plain.profit_12m, plain.profit_trailing_12m, atol=0.02)


def test_a_banks_own_economics_from_the_run_config(
    small_bank: Path, features: pd.DataFrame
) -> None:
    """features.economics changes the profit features it names, and only those."""
    from segml.run.config import RunConfig

    def build(economics: dict) -> pd.DataFrame:
        cfg = RunConfig.model_validate({"features": {"economics": economics}})
        fcfg = cfg.features.feature_config()
        return build_features(load_bank(small_bank), AS_OF, fcfg).to_pandas()

    base = features.set_index("customer_id")
    own = build({"spread": {"mortgage": 0.02}, "account_cost_retail": 8.0}).set_index("customer_id")
    more = build({"spread": {"mortgage": 0.03}}).set_index("customer_id")
    # income is linear in the mortgage spread: 1% -> 2% adds what 2% -> 3% adds
    step = own.nii_12m - base.nii_12m
    np.testing.assert_allclose(more.nii_12m - own.nii_12m, step, atol=1e-6)
    holders = set(
        pd.read_parquet(small_bank / "accounts.parquet").query("product == 'mortgage'").customer_id
    )
    assert (step[step.index.isin(holders)] >= 0).all() and step.max() > 0
    assert (step[~step.index.isin(holders)] == 0).all()  # no mortgage: the same income
    retail = base.customer_type == "retail"
    np.testing.assert_allclose(own.account_cost_12m[retail], 2 * base.account_cost_12m[retail])
    np.testing.assert_array_equal(own.account_cost_12m[~retail], base.account_cost_12m[~retail])
    np.testing.assert_array_equal(own.fee_income_12m, base.fee_income_12m)
    with pytest.raises(ValueError, match=r"features\.economics\.spread\.mortgag: unknown product"):
        RunConfig.model_validate({"features": {"economics": {"spread": {"mortgag": 0.02}}}})
    with pytest.raises(ValueError, match=r"features\.economics\.lgd\.mortgage must be in \[0, 1\]"):
        RunConfig.model_validate({"features": {"economics": {"lgd": {"mortgage": 1.5}}}})


# ----------------------------------------------------------------------------- hand-made bank
def _tiny_bank(folder: Path) -> None:
    folder.mkdir()
    d = pd.Timestamp
    pd.DataFrame(
        {
            "customer_id": ["A", "B", "Z"],
            "customer_type": ["retail", "corporate", "retail"],
            "open_date": [d("2023-01-10").date(), d("2022-05-01").date(), d("2025-02-01").date()],
            "close_date": [None, None, None],
            "birth_year": [1990, None, 1980],
        }
    ).to_parquet(folder / "customers.parquet")
    pd.DataFrame(
        {
            "account_id": ["A1", "A2", "B1", "Z1"],
            "customer_id": ["A", "A", "B", "Z"],
            "product": ["current_account", "credit_card", "corporate_loan", "current_account"],
            "open_date": [
                d("2023-01-10").date(),
                d("2024-11-01").date(),
                d("2022-05-01").date(),
                d("2025-02-01").date(),
            ],  # fmt: skip
            "close_date": [None, d("2024-12-20").date(), None, None],
        }
    ).to_parquet(folder / "accounts.parquet")
    pd.DataFrame(
        {
            "account_id": ["A1"] * 3 + ["B1"] * 2,
            "month": [
                d(m).date()
                for m in ("2024-10-01", "2024-11-01", "2024-12-01", "2024-11-01", "2024-12-01")
            ],  # fmt: skip
            "avg_balance": [100.0, 200.0, 600.0, 1000.0, 1000.0],
        }
    ).to_parquet(folder / "balances.parquet")
    rows = [  # customer A: active on 2024-12-01 (twice), 12-10, 12-31; one fee; one after t
        ("A", "A1", "2024-12-01 09:00", 10.0, "mobile", "transfer_out"),
        ("A", "A1", "2024-12-01 18:00", 30.0, "branch", "cash_deposit"),
        ("A", "A1", "2024-12-10 12:00", 50.0, "online", "bill_payment"),
        ("A", "A1", "2024-12-31 23:59", 70.0, "atm", "cash_withdrawal"),
        ("A", "A1", "2024-12-28 00:00", 5.0, "system", "fee"),
        ("A", "A1", "2025-01-01 00:00", 999.0, "mobile", "transfer_out"),
        ("B", "B1", "2024-03-01 10:00", 500.0, "online", "transfer_in"),
        ("Z", "Z1", "2025-02-02 10:00", 1.0, "pos", "card_payment"),
    ]
    pd.DataFrame(
        {
            "transaction_id": [str(i) for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "account_id": [r[1] for r in rows],
            "timestamp": [d(r[2]) for r in rows],
            "amount": [r[3] for r in rows],
            "direction": ["debit"] * len(rows),
            "channel": [r[4] for r in rows],
            "kind": [r[5] for r in rows],
        }
    ).to_parquet(folder / "transactions.parquet")
    pd.DataFrame(
        {
            "interaction_id": ["1", "2", "3", "4"],
            "customer_id": ["A", "A", "A", "A"],
            "timestamp": [d("2024-06-01"), d("2024-12-15"), d("2024-11-01"), d("2024-12-20")],
            "kind": ["complaint", "complaint", "survey", "survey"],
            "score": [None, None, 9.0, 4.0],
            "resolved": [True, True, None, None],
            "resolved_at": [d("2024-06-03"), d("2025-01-05"), pd.NaT, pd.NaT],
        }
    ).to_parquet(folder / "interactions.parquet")
    pd.DataFrame(
        {
            "customer_id": ["B", "B", "B"],
            "fiscal_year": [2022, 2023, 2024],
            "report_date": [
                d("2023-04-30").date(),
                d("2024-04-30").date(),
                d("2025-04-30").date(),
            ],  # fmt: skip
            "revenue": [800.0, 1000.0, 5000.0],
            "total_assets": [2000.0, 2000.0, 9000.0],
            "total_liabilities": [500.0, 800.0, 100.0],
            "current_assets": [400.0, 600.0, 100.0],
            "current_liabilities": [200.0, 300.0, 100.0],
            "net_income": [50.0, 100.0, 900.0],
            "days_past_due": [0, 30, 0],
        }
    ).to_parquet(folder / "corporate_financials.parquet")


def test_hand_checked_values(tmp_path: Path) -> None:
    _tiny_bank(tmp_path / "tiny")
    f = build_features(load_bank(tmp_path / "tiny"), AS_OF).to_pandas().set_index("customer_id")
    assert list(f.index) == ["A", "B"]  # Z joins after t
    a, b = f.loc["A"], f.loc["B"]
    # RFM over active days 12-01 (40), 12-10 (50), 12-31 (70); the fee is not activity
    assert (a.frequency, a.recency, a["T"]) == (2, 30, 30)
    assert a.monetary_value == pytest.approx(60.0)
    assert a.n_tx_30d == 2 and a.amount_30d == pytest.approx(120.0)  # 12-02 … 12-31
    assert a.n_tx_90d == 4 and a.amount_90d == pytest.approx(160.0)
    assert a.digital_share == pytest.approx(0.5) and a.branch_share == pytest.approx(0.25)
    assert a.gap_mean_days == pytest.approx(15.0)
    # balances: months Oct-Dec are complete at 2024-12-31
    assert a.bal_deposit_last == 600 and a.bal_deposit_avg_3m == pytest.approx(300.0)
    assert a.bal_deposit_peak_12m == 600
    # the card closed on 12-20: not held at t
    assert (a.has_current_account, a.has_credit_card, a.n_products) == (1, 0, 1)
    # one complaint resolved in June; the December one is resolved only in 2025
    assert (a.complaints_total, a.complaints_unresolved) == (2, 1)
    assert a.days_since_last_complaint == 16 and a.satisfaction_last == 4.0
    assert a.satisfaction_avg_365d == pytest.approx(6.5)
    assert a.fee_income_12m == pytest.approx(5.0)
    # corporate: FY2024 is reported only in April 2025, so FY2023 is the latest known
    assert b.fin_revenue == 1000 and b.fin_leverage == pytest.approx(0.4)
    assert b.fin_current_ratio == pytest.approx(2.0) and b.fin_roa == pytest.approx(0.05)
    assert b.fin_revenue_growth == pytest.approx(0.25) and b.fin_days_past_due == 30
    assert b.days_since_last_tx == (pd.Timestamp(AS_OF) - pd.Timestamp("2024-03-01")).days
    assert b.frequency == 0 and a.age == 34 and np.isnan(b.age)


# ----------------------------------------------------------------------------- labels
def test_labels_come_from_the_window_after_t_and_match_ground_truth(small_bank: Path) -> None:
    bank = load_bank(small_bank)
    labels = build_labels(bank, AS_OF).to_pandas()
    truth = pd.read_parquet(small_bank / "ground_truth.parquet")
    m = labels.merge(truth, on="customer_id")
    assert len(labels) == truth.active_at_as_of.sum() == len(m)
    assert (m.churned_x == m.churned_y.astype(int)).all()
    assert m.holdout_profit.corr(m.next_12m_profit) > 0.8
    inactive = build_labels(bank, AS_OF, definition="inactivity").to_pandas()
    assert (
        inactive.churned >= labels.churned
    ).all() and inactive.churned.sum() > labels.churned.sum()
    with pytest.raises(ValueError, match="runs past the data"):
        build_labels(bank, dt.date(2025, 3, 31))


def test_cli_features_writes_the_table_and_nothing_on_error(
    small_bank: Path, tmp_path: Path
) -> None:
    out, lab = tmp_path / "f.parquet", tmp_path / "l.parquet"
    args = ["features", "--data", str(small_bank), "--as-of", "2024-12-31", "--out", str(out)]
    r = CliRunner().invoke(app, [*args, "--labels-out", str(lab), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["rows"] == pq.read_metadata(out).num_rows
    assert info["columns"] == len(CATALOGUE) - len(CONDITIONAL_FEATURES)
    assert pq.read_metadata(lab).num_rows == info["label_rows"]
    late = ["features", "--data", str(small_bank), "--as-of", "2025-06-30"]
    r = CliRunner().invoke(app, [*late, "--out", str(tmp_path / "g.parquet"), "--labels-out", str(tmp_path / "m.parquet")])  # fmt: skip
    assert r.exit_code == 1 and "runs past the data" in r.output
    assert not (tmp_path / "g.parquet").exists() and not (tmp_path / "m.parquet").exists()
    # never into the bank's own folder (a contract table there would be lost); dates named
    before = sorted((p.name, p.stat().st_mtime_ns) for p in small_bank.iterdir())
    into = ["features", "--data", str(small_bank), "--as-of", "2024-12-31"]
    r = CliRunner().invoke(app, [*into, "--out", str(small_bank / "customers.parquet")])
    assert r.exit_code == 2 and "is inside the input folder --data" in r.output
    assert sorted((p.name, p.stat().st_mtime_ns) for p in small_bank.iterdir()) == before
    r = CliRunner().invoke(app, [*into, "--out", str(out), "--labels-out", str(out)])
    assert r.exit_code == 2 and "--labels-out and --out are the same file" in r.output
    bad = ["features", "--data", str(small_bank), "--as-of", "31/12/2024", "--out", str(out)]
    r = CliRunner().invoke(app, bad)
    assert r.exit_code == 2 and "--as-of must be a date written YYYY-MM-DD" in r.output
    r = CliRunner().invoke(app, [*into[:-1], "2024-12-31", "--out", str(tmp_path / "f.csv")])
    assert r.exit_code == 2 and "--out must end in .parquet" in r.output
    r = CliRunner().invoke(app, [*into[:-1], "2027-06-30", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    (warning,) = json.loads(r.stdout)["warnings"]
    assert warning.startswith("--as-of 2027-06-30 is after the last transaction")
