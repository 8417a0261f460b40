"""The same feature definitions on Spark (local mode) give the same table as on DuckDB."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segml.data import load_bank
from segml.features import build_features

pytestmark = [pytest.mark.spark, pytest.mark.slow]  # a Spark session: each test takes over 5 s
pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (extra: spark)")
if shutil.which("java") is None:
    pytest.skip("Java is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def spark():
    from segml.features.spark import spark_session

    session = spark_session()
    yield session
    session.stop()


def assert_same_table(duck: pd.DataFrame, spark_df: pd.DataFrame) -> None:
    assert list(spark_df.columns) == list(duck.columns)
    spark_df = spark_df.sort_values("customer_id").reset_index(drop=True)
    assert spark_df.customer_id.tolist() == duck.customer_id.tolist()
    for col in duck.columns:
        a, b = duck[col], spark_df[col]
        if a.dtype.kind in "fiub" or b.dtype.kind in "fiub":
            a, b = a.astype(float), pd.to_numeric(b).astype(float)
            assert (a.isna() == b.isna()).all(), col
            np.testing.assert_allclose(
                a[a.notna()], b[b.notna()], rtol=1e-9, atol=1e-9, err_msg=col
            )
        else:
            assert (a.astype(object).fillna("<NA>") == b.astype(object).fillna("<NA>")).all(), col


@pytest.mark.parametrize("as_of", [dt.date(2024, 6, 30), dt.date(2024, 12, 31)])
def test_spark_features_equal_duckdb_features(spark, small_bank: Path, as_of: dt.date) -> None:
    from segml.features.spark import build_features_spark

    duck = build_features(load_bank(small_bank), as_of).to_pandas()
    on_spark = build_features_spark(spark, small_bank, as_of).toPandas()
    assert_same_table(duck, on_spark)


def test_zone_aware_timestamps_read_alike_on_spark(spark, small_bank: Path, tmp_path: Path) -> None:
    """Parquet timestamps stored with a zone: both engines take the wall-clock time written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from segml.features.spark import build_features_spark

    bank = tmp_path / "bank"
    shutil.copytree(small_bank, bank)
    table = pq.read_table(bank / "transactions.parquet")
    naive = table.column("timestamp").to_pandas()
    utc = pd.DatetimeIndex(naive).tz_localize("Asia/Shanghai").tz_convert(None).as_unit("us")
    zoned = pa.array(utc.to_numpy(), pa.timestamp("us", tz="Asia/Shanghai"))
    i = table.column_names.index("timestamp")
    pq.write_table(table.set_column(i, "timestamp", zoned), bank / "transactions.parquet")
    as_of = dt.date(2024, 12, 31)
    duck = build_features(load_bank(bank), as_of).to_pandas()
    assert_same_table(duck, build_features(load_bank(small_bank), as_of).to_pandas())
    assert_same_table(duck, build_features_spark(spark, bank, as_of).toPandas())


@pytest.mark.slow
def test_segml_run_on_spark_equals_the_duckdb_run(tmp_path: Path) -> None:
    """`segml run --engine spark`: every feature table of the run comes from Spark."""
    import json

    from support import make_project, segml

    cfg = make_project(tmp_path / "p", customers=200)
    # no churn model: it alone needs a third snapshot (two horizons back), one more Spark job
    # of the same SQL; the tiers, the value model and its explanations still use two dates
    no_churn = ("--set", "churn.enabled=false")
    duck = segml("run", "--config", str(cfg), "--json", *no_churn)
    assert duck.returncode == 0, duck.stderr
    on_spark = segml("run", "--config", str(cfg), "--engine", "spark", "--json", *no_churn)
    assert on_spark.returncode == 0, on_spark.stderr
    a, b = (Path(json.loads(r.stdout)["output_dir"]) for r in (duck, on_spark))
    assert (b / "config.yaml").read_text().count("engine: spark") == 1
    fa, fb = pd.read_parquet(a / "features.parquet"), pd.read_parquet(b / "features.parquet")
    assert list(fa.dtypes) == list(fb.dtypes)  # Spark's result takes DuckDB's types
    assert_same_table(fa, fb)
    ta, tb = pd.read_parquet(a / "tiers.parquet"), pd.read_parquet(b / "tiers.parquet")
    assert (ta.tier.to_numpy() == tb.tier.to_numpy()).mean() > 0.98
    np.testing.assert_allclose(ta.value, tb.value, rtol=1e-6, atol=1e-3)
    assert (b / "reason_codes.parquet").is_file() and (b / "scores.parquet").is_file()
