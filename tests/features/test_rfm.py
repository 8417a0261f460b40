"""segml.features.rfm against lifetimes' summary_data_from_transaction_data (the oracle), to 1e-9."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import duckdb
import hypothesis.strategies as st
import lifetimes
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from lifetimes.datasets import load_transaction_data
from lifetimes.utils import summary_data_from_transaction_data as lifetimes_summary

import segml.features.rfm as rfm
import segml.features.rfm_source as rfm_source
import segml.features.rfm_stream as rfm_stream
from segml.features.rfm import SUPPORTED_FREQS, rfm_sql, rfm_summary

CDNOW = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_sample.txt"
ENGINES = ["stream", "sql"]


def oracle(df: pd.DataFrame, *args: object, **kw: object) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lifetimes_summary(df, *args, **kw).sort_index()


def assert_same(ours: pd.DataFrame, theirs: pd.DataFrame, index_dtype: bool = True) -> None:
    if not index_dtype:
        theirs = theirs.set_axis(theirs.index.astype(ours.index.dtype), axis=0)
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-9, atol=1e-12)


def synthetic(
    seed: int, n: int = 3000, customers: int = 300, string_ids: bool = True
) -> pd.DataFrame:
    """Heavy and light customers, same-day repeats, one-purchase customers, exact duplicates."""
    rng = np.random.default_rng(seed)
    w = rng.gamma(0.5, size=customers)
    cust = rng.choice(customers, size=n, p=w / w.sum())
    start = np.datetime64("2020-12-28T00:00:00", "s")  # a Monday, so week edges get exercised
    secs = rng.integers(0, 400 * 86400, size=n)
    secs[: n // 10] = secs[n // 10 : n // 5] + rng.integers(-3600, 3600, size=n // 10)  # same day
    ts = (start + np.maximum(secs, 0)).astype("datetime64[us]")
    amount = np.round(rng.lognormal(3, 1, size=n) * rng.choice([1, 1, 1, -1], size=n), 2)
    ids = np.char.add("C", np.char.zfill(cust.astype(str), 5)) if string_ids else cust + 10**6
    df = pd.DataFrame({"cid": ids, "ts": ts, "amount": amount})
    singles = pd.DataFrame(
        {"cid": ["Z1", "Z2"] if string_ids else [1, 2], "ts": ts[:2], "amount": [5.0, 7.0]}
    )
    return pd.concat([df, df.iloc[:50], singles], ignore_index=True)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    cols = ["master_id", "customer_id", "date", "n_cds", "amount"]
    df = pd.read_csv(CDNOW, sep=r"\s+", header=None, names=cols)
    return df.assign(day=pd.to_datetime(df["date"].astype(str), format="%Y%m%d"))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("freq", ["D", "W"])
def test_cdnow_matches_lifetimes(cdnow: pd.DataFrame, freq: str, engine: str) -> None:
    args = (cdnow, "customer_id", "date", "amount", "%Y%m%d")
    ours = rfm_summary(*args, freq=freq, engine=engine)
    assert_same(ours, oracle(*args, freq=freq))
    assert len(ours) == 2357 and ours.index.is_monotonic_increasing


@pytest.mark.parametrize("engine", ENGINES)
def test_cdnow_calibration_setup(cdnow: pd.DataFrame, engine: str, tmp_path: Path) -> None:
    kw = dict(observation_period_end="1997-09-30", freq="D", freq_multiplier=7)
    ours = rfm_summary(cdnow, "customer_id", "day", "amount", engine=engine, **kw)
    assert_same(ours, oracle(cdnow, "customer_id", "day", "amount", **kw))
    # the same with integer YYYYMMDD dates: lifetimes applies datetime_format to the end too
    kw["observation_period_end"] = "19970930"
    ours2 = rfm_summary(cdnow, "customer_id", "date", "amount", "%Y%m%d", engine=engine, **kw)
    assert_same(ours2, ours)
    cdnow.drop(columns="day").to_parquet(tmp_path / "cdnow.parquet")  # DuckDB's strptime
    path = tmp_path / "cdnow.parquet"
    assert_same(
        rfm_summary(path, "customer_id", "date", "amount", "%Y%m%d", engine=engine, **kw), ours
    )


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("freq", ["D", "W", "h"])
def test_example_transactions(freq: str, engine: str) -> None:
    df = load_transaction_data()
    for end in (None, "2014-06-15"):
        ours = rfm_summary(df, "id", "date", freq=freq, observation_period_end=end, engine=engine)
        assert_same(ours, oracle(df, "id", "date", freq=freq, observation_period_end=end))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("string_ids", [True, False])
@pytest.mark.parametrize("freq", ["D", "W", "h"])
def test_synthetic_logs(seed: int, string_ids: bool, freq: str) -> None:
    df = synthetic(seed, string_ids=string_ids)
    for kw in (
        {},
        {"monetary_value_col": "amount", "include_first_transaction": True},
        {"monetary_value_col": "amount", "observation_period_end": "2021-07-04 13:00"},
        {"observation_period_end": pd.Timestamp("2021-03-01"), "freq_multiplier": 7},
        {"monetary_value_col": "amount", "freq_multiplier": 2.5, "include_first_transaction": True},
    ):
        theirs = oracle(df, "cid", "ts", freq=freq, **kw)
        for engine in ENGINES:
            assert_same(rfm_summary(df, "cid", "ts", freq=freq, engine=engine, **kw), theirs)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 6),
            st.integers(0, 40 * 24 * 60),
            st.floats(-1e3, 1e3, allow_nan=False).map(lambda x: round(x, 2)),
        ),
        min_size=1,
        max_size=60,
    ),
    freq=st.sampled_from(["D", "W", "h"]),
    include_first=st.booleans(),
    end_offset=st.one_of(st.none(), st.integers(0, 40 * 24 * 60)),
)
def test_random_logs(rows: list, freq: str, include_first: bool, end_offset: int | None) -> None:
    cid, minutes, amount = map(list, zip(*rows, strict=True))
    start = pd.Timestamp("2022-02-26 18:00")
    df = pd.DataFrame({"cid": cid, "ts": start + pd.to_timedelta(minutes, "min"), "m": amount})
    end = None if end_offset is None else start + pd.Timedelta(minutes=end_offset)
    kw = dict(freq=freq, include_first_transaction=include_first, observation_period_end=end)
    theirs = oracle(df, "cid", "ts", "m", **kw)
    for engine in ENGINES:
        assert_same(rfm_summary(df, "cid", "ts", "m", engine=engine, **kw), theirs)


@pytest.mark.parametrize("string_ids", [True, False])
def test_input_kinds_agree(tmp_path: Path, string_ids: bool) -> None:
    df = synthetic(7, string_ids=string_ids)
    path = tmp_path / "log.parquet"
    df.to_parquet(path)
    kw = dict(freq="W", observation_period_end="2021-09-01")
    ref = rfm_summary(df, "cid", "ts", "amount", **kw)
    assert_same(ref, oracle(df, "cid", "ts", "amount", **kw))
    con = duckdb.connect()
    for source in (path, str(path), str(tmp_path / "*.parquet"), tmp_path, pa.Table.from_pandas(df),
                   con.read_parquet(str(path))):  # fmt: skip
        for engine in ENGINES:
            assert_same(rfm_summary(source, "cid", "ts", "amount", engine=engine, **kw), ref)


def test_text_dates_and_lexicographic_default_end(tmp_path: Path) -> None:
    iso = pd.DataFrame(
        {"c": [1, 1, 2, 2], "d": ["2020-01-01", "2020-01-05", "2020-01-02", "2020-02-01"]}
    )
    assert_same(rfm_summary(iso, "c", "d"), oracle(iso, "c", "d"))
    # lifetimes takes the default end as the max of the raw column: for text, the lexicographic
    # max, so '12/31/2019' wins and the 2020 rows are dropped. We reproduce that.
    us = pd.DataFrame(
        {"c": [1, 1, 2], "d": ["12/31/2019", "01/05/2020", "01/02/2020"], "m": [5.0, 1, 2]}
    )
    assert_same(rfm_summary(us, "c", "d", "m"), oracle(us, "c", "d", "m"))
    assert list(rfm_summary(us, "c", "d", "m").index) == [1]
    iso.to_parquet(tmp_path / "iso.parquet")  # text dates read by DuckDB
    assert_same(rfm_summary(tmp_path / "iso.parquet", "c", "d"), oracle(iso, "c", "d"))


def test_timezones_nanoseconds_and_fine_freqs() -> None:
    ts = pd.to_datetime(["2021-03-01 23:59:59.999999900", "2021-03-02 00:00:00.000000100",
                         "2021-03-07 23:59:59.999999999", "2021-03-08 00:00:00"], format="ISO8601").astype("datetime64[ns]")  # fmt: skip
    df = pd.DataFrame({"c": ["a", "a", "b", "b"], "t": ts, "m": [1.0, 2.0, 3.0, 4.0]})
    for freq in ("D", "W", "h", "s", "ms", "us"):
        assert_same(rfm_summary(df, "c", "t", "m", freq=freq), oracle(df, "c", "t", "m", freq=freq))
    tz = df.assign(t=df["t"].dt.tz_localize("US/Eastern"))
    assert_same(rfm_summary(tz, "c", "t", "m"), oracle(tz, "c", "t", "m"))
    utc = pa.array(tz["t"].dt.tz_convert(None).to_numpy()).cast(pa.timestamp("ns", "US/Eastern"))
    table = pa.table({"c": df["c"].tolist(), "t": utc, "m": df["m"].to_numpy()})
    assert_same(rfm_summary(table, "c", "t", "m", freq="h"), oracle(tz, "c", "t", "m", freq="h"))


def test_nan_amounts_count_as_zero_like_pandas_sum() -> None:
    df = pd.DataFrame({"c": [1, 1, 1, 2, 2], "t": pd.to_datetime(["2020-01-01", "2020-01-02",
                       "2020-01-02", "2020-01-01", "2020-01-03"]), "m": [1.0, np.nan, 4.0, 2.0, np.nan]})  # fmt: skip
    for engine in ENGINES:
        assert_same(rfm_summary(df, "c", "t", "m", engine=engine), oracle(df, "c", "t", "m"))
        arrow = pa.Table.from_pandas(df)  # NaN stays NaN in Arrow (not NULL)
        assert_same(rfm_summary(arrow, "c", "t", "m", engine=engine), oracle(df, "c", "t", "m"))


@pytest.mark.parametrize("dtype", ["int32", "int64", "str", "object", "category"])
def test_index_keeps_the_id_dtype(dtype: str) -> None:
    df = synthetic(3, n=400, customers=40, string_ids=False)
    df["cid"] = df["cid"].astype(str if dtype in ("str", "object", "category") else dtype)
    df["cid"] = df["cid"].astype(dtype)
    for engine in ENGINES:
        ours = rfm_summary(df, "cid", "ts", "amount", engine=engine)
        theirs = oracle(df, "cid", "ts", "amount")
        assert ours.index.name == "cid" and ours.index.dtype == theirs.index.dtype
        assert dtype == "object" or ours.index.dtype == df["cid"].dtype
        assert_same(ours, theirs)


def test_sparse_integer_ids_and_budget_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    df = synthetic(5, string_ids=False).assign(cid=lambda d: d["cid"] * 10**12)  # not dense
    theirs = oracle(df, "cid", "ts", "amount")
    assert_same(rfm_summary(df, "cid", "ts", "amount", engine="stream"), theirs)
    monkeypatch.setattr(rfm, "BITMAP_BUDGET", 1000)
    assert_same(rfm_summary(df, "cid", "ts", "amount"), theirs)  # auto falls back to SQL
    with pytest.raises(ValueError, match="BITMAP_BUDGET"):
        rfm_summary(df, "cid", "ts", "amount", engine="stream")


@pytest.mark.parametrize("string_ids", [True, False])
def test_flag_bits_and_many_groups_match_lifetimes(
    monkeypatch: pytest.MonkeyPatch, string_ids: bool
) -> None:
    """A budget that holds ~50 customers as bytes but all as bits: text ids switch from bytes to
    bits mid-stream, dense ids start in bits; small groups run the prefetching worker."""
    df = synthetic(8, string_ids=string_ids)
    df = df if string_ids else df[df["cid"] > 2]  # ids 1, 2 would make the range sparse
    monkeypatch.setattr(rfm, "BITMAP_BUDGET", 20_000)
    monkeypatch.setattr(rfm_stream, "_GROUP_ROWS", 16)
    for kw in ({}, {"include_first_transaction": True, "observation_period_end": "2021-09-01"}):
        theirs = oracle(df, "cid", "ts", "amount", **kw)
        assert_same(rfm_summary(df, "cid", "ts", "amount", engine="stream", **kw), theirs)
    monkeypatch.setattr(rfm, "BITMAP_BUDGET", 2_000)  # not even as bits: auto falls back to SQL
    assert_same(rfm_summary(df, "cid", "ts", "amount"), oracle(df, "cid", "ts", "amount"))


def test_parquet_bounds_from_statistics_or_a_scan_agree(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    df = synthetic(9)
    df.to_parquet(tmp_path / "log.parquet")
    theirs = oracle(df, "cid", "ts", "amount", freq="W")
    for stats in (True, False):  # bounds from the row groups' statistics, or from a scan
        if not stats:
            monkeypatch.setattr(rfm_source, "_parquet_bounds", lambda *a: None)
        for engine in ENGINES:
            ours = rfm_summary(
                tmp_path / "log.parquet", "cid", "ts", "amount", freq="W", engine=engine
            )
            assert_same(ours, theirs, index_dtype=False)


def test_nothing_before_the_end_gives_an_empty_frame() -> None:
    df = synthetic(1, n=100, customers=10)
    out = rfm_summary(df, "cid", "ts", "amount", observation_period_end="2000-01-01")
    assert out.empty and list(out.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert out.index.name == "cid" and (out.dtypes == "float64").all()
    assert rfm_summary(df.iloc[:0], "cid", "ts").empty


def test_rfm_sql_runs_in_duckdb_and_transpiles_to_spark() -> None:
    import sqlglot

    df = synthetic(4)
    kw = dict(observation_period_end="2021-08-31", freq="W", freq_multiplier=2,
              include_first_transaction=False)  # fmt: skip
    sql = rfm_sql("SELECT * FROM log", "cid", "ts", "amount", **kw)
    con = duckdb.connect()
    con.register("log", df)
    got = con.sql(sql).df().set_index("cid")
    assert_same(got, oracle(df, "cid", "ts", "amount", **kw), index_dtype=False)
    spark = sqlglot.transpile(sql, read="duckdb", write="spark")[0]
    assert "DATE_DIFF" not in spark.upper().replace("DATEDIFF", "") and "//" not in spark
    assert "(SELECT MAX(period) FROM tx)" in rfm_sql("log", "cid", "ts")  # default: latest period


@pytest.mark.spark
@pytest.mark.slow
def test_rfm_sql_transpiled_to_spark_matches_lifetimes() -> None:
    pytest.importorskip("pyspark", reason="pyspark is not installed (extra: spark)")
    if shutil.which("java") is None:
        pytest.skip("Java is not installed")
    import sqlglot

    from segml.features.spark import spark_session

    spark = spark_session()  # local; left running for test_spark.py, which stops it
    df = synthetic(4)
    spark.createDataFrame(df).createOrReplaceTempView("rfm_log")
    kw = dict(observation_period_end="2021-08-31", freq="W", freq_multiplier=2)
    sql = sqlglot.transpile(
        rfm_sql("rfm_log", "cid", "ts", "amount", **kw), read="duckdb", write="spark"
    )
    got = spark.sql(sql[0]).toPandas().set_index("cid")
    assert_same(got, oracle(df, "cid", "ts", "amount", **kw), index_dtype=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customer_id_col": "nope"}, r"no column\(s\) \['nope'\]"),
        ({"monetary_value_col": "amt"}, r"no column\(s\) \['amt'\]"),
        ({"freq": "M"}, "freq='M' is not supported"),
        ({"freq": "H"}, "freq='H' is not supported \\(lifetimes fails"),
        ({"freq_multiplier": 0}, "freq_multiplier must be a positive number"),
        ({"engine": "spark"}, "engine must be"),
        ({"monetary_value_col": "label"}, "monetary column 'label' has type VARCHAR"),
        ({"observation_period_end": "not a date"}, "observation_period_end 'not a date'"),
    ],
)
def test_clear_errors(kwargs: dict, message: str) -> None:
    df = pd.DataFrame({"cid": [1, 2], "ts": pd.to_datetime(["2020-01-01", "2020-01-02"]),
                       "amount": [1.0, 2.0], "label": ["a", "b"]})  # fmt: skip
    args = {"customer_id_col": "cid", "datetime_col": "ts"} | kwargs
    with pytest.raises(ValueError, match=message):
        rfm_summary(df, **args)


def test_clear_errors_on_bad_values(tmp_path: Path) -> None:
    base = pd.DataFrame({"cid": ["a", "b", "c"], "ts": ["2020-01-01", "2020-01-02", "2020-01-03"]})
    with pytest.raises(ValueError, match="customer id column 'cid' has 1 null"):
        rfm_summary(base.assign(cid=["a", None, "c"]), "cid", "ts")
    with pytest.raises(ValueError, match="datetime column 'ts' has 1 null"):
        rfm_summary(base.assign(ts=["2020-01-01", None, "2020-01-03"]), "cid", "ts")
    with pytest.raises(ValueError, match="column 'ts' could not be parsed"):
        rfm_summary(base.assign(ts=["2020-01-01", "soon", "2020-01-03"]), "cid", "ts")
    path = tmp_path / "bad.parquet"
    base.assign(ts=["2020-01-01", "soon", "2020-01-03"]).to_parquet(path)
    with pytest.raises(ValueError, match="'ts' has 1 values that are not dates, e.g. 'soon'"):
        rfm_summary(path, "cid", "ts")
    with pytest.raises(ValueError, match=r"no column\(s\) \['when'\]"):
        rfm_summary(path, "cid", "when")
    with pytest.raises(FileNotFoundError):
        rfm_summary(tmp_path / "missing.parquet", "cid", "ts")


def _awkward_arrow(ids: str, dates: str, amounts: str) -> pa.Table:
    """An Arrow log of the given id, date and amount types, with NaN and null amounts."""
    df = synthetic(11, n=600, customers=60)
    codes = pd.factorize(df["cid"])[0]
    ts = pa.array(df["ts"].to_numpy())
    date_cols = {
        "date32": ts.cast(pa.timestamp("s")).cast(pa.date32()),
        "s": ts.cast(pa.timestamp("s"), safe=False),
        "ms": ts.cast(pa.timestamp("ms"), safe=False),
        "us": ts,
    }
    m = df["amount"].to_numpy().copy()
    m[::37] = np.nan
    amount_cols = {
        "float64": pa.array(m, mask=np.arange(len(m)) % 41 == 0),
        "float32": pa.array(m.astype(np.float32)),
        "int32": pa.array(np.nan_to_num(m).astype(np.int32)),
    }
    id_cols = {
        "string": pa.array(df["cid"].tolist(), pa.string()),
        "large_string": pa.array(df["cid"].tolist(), pa.large_string()),
        "int16": pa.array(codes + 5, pa.int16()),  # dense
        "uint64": pa.array(codes.astype(np.uint64) * 10**9 + 7, pa.uint64()),  # sparse
    }
    return pa.table({"c": id_cols[ids], "t": date_cols[dates], "m": amount_cols[amounts]})


@pytest.mark.parametrize(
    ("ids", "dates", "amounts"),
    [
        ("string", "us", "float64"),
        ("large_string", "s", "float32"),
        ("int16", "date32", "int32"),
        ("uint64", "ms", "float64"),
        ("int16", "us", "float64"),
    ],
)
@pytest.mark.parametrize("parquet", [False, True])
def test_arrow_logs_are_read_without_duckdb_and_match_its_reading(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    ids: str,
    dates: str,
    amounts: str,
    parquet: bool,
) -> None:
    """An Arrow log or Parquet file of plain types is numbered in numpy, not DuckDB; the summary
    equals DuckDB's reading of the same table, exactly. ("s" and finer do not fit the flags: both fall back to
    SQL, whose threads may add a period's amounts in any order, so those agree to 1e-9.)"""
    table = _awkward_arrow(ids, dates, amounts)
    relation = duckdb.connect().from_arrow(table)
    if parquet:  # six row groups: six dictionaries of text ids to unify
        pq.write_table(table, tmp_path / "log.parquet", row_group_size=100)
        table = tmp_path / "log.parquet"
        relation = duckdb.connect().read_parquet(str(table))
    cases = [{"freq": f} for f in SUPPORTED_FREQS] + [
        {"observation_period_end": "2021-06-30", "include_first_transaction": True},
        {"freq": "W", "observation_period_end": "2021-03-01"},
    ]
    for kw in cases:
        theirs = rfm_summary(relation, "c", "t", "m", **kw)
        streamed = kw.get("freq", "D") in ("D", "W", "h")
        with monkeypatch.context() as m:
            if streamed:
                m.setattr(rfm_source, "_connection", lambda: pytest.fail("DuckDB was used"))
            ours = rfm_summary(table, "c", "t", "m", **kw)
        pd.testing.assert_frame_equal(ours, theirs, check_exact=streamed, rtol=1e-9)
        if "observation_period_end" not in kw:
            assert len(ours) == len(set(relation.fetch_arrow_table().column("c").to_pylist()))
    if parquet:  # a file above NATIVE_PARQUET_ROWS is read by DuckDB
        monkeypatch.setattr(rfm_stream, "NATIVE_PARQUET_ROWS", 10)
        assert rfm_stream.native_reader(table, ("c", "t", "m")) is None
        pd.testing.assert_frame_equal(
            rfm_summary(table, "c", "t", "m"),
            rfm_summary(relation, "c", "t", "m"),
            check_exact=True,
        )


def test_fine_periods_beyond_int32_fall_back_to_sql() -> None:
    """Milliseconds over 40 days number more periods than int32 holds: few customers fit the
    flags, but the streaming engine numbers periods in int32, so it must leave them to SQL."""
    df = pd.DataFrame({"c": ["a", "a", "b"], "m": [1.0, 2.0, 3.0],
                       "t": pd.to_datetime(["2020-01-01", "2020-02-10", "2020-01-05"])})  # fmt: skip
    theirs = oracle(df, "c", "t", "m", freq="ms")
    assert_same(rfm_summary(df, "c", "t", "m", freq="ms"), theirs)
    assert_same(rfm_summary(duckdb.connect().from_df(df), "c", "t", "m", freq="ms"), theirs, False)


def test_nan_amounts_in_parquet_count_as_zero(tmp_path: Path) -> None:
    """Parquet statistics leave NaN out; DuckDB must not conclude from them that there is none."""
    df = pd.DataFrame({"c": ["a", "a", "a", "b"], "m": [1.0, np.nan, 2.0, 3.0],
                       "t": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-01"])})  # fmt: skip
    theirs = oracle(df, "c", "t", "m")
    table = pa.Table.from_pandas(df, preserve_index=False)
    path = tmp_path / "log.parquet"
    pq.write_table(table, path)  # read natively (numpy)
    ns = tmp_path / "ns.parquet"  # nanosecond dates: read by DuckDB
    pq.write_table(table.set_column(2, "t", table.column("t").cast(pa.timestamp("ns"))), ns)
    con = duckdb.connect()
    for source in (path, ns, con.read_parquet(str(path)), con.read_parquet(str(ns))):
        for engine in ENGINES:
            assert_same(rfm_summary(source, "c", "t", "m", engine=engine), theirs, False)
