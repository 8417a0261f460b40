"""Build the customer feature table at an as-of date: one SQL definition, DuckDB or Spark.

:func:`feature_sql` composes the families into one query (in DuckDB's dialect);
:func:`build_features` runs it on a validated bank in DuckDB, out of core over the Parquet
files; :mod:`segml.features.spark` runs the same query, transpiled by sqlglot, on Spark.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segml.columns import DEMOGRAPHIC
from segml.contract import CONTRACT
from segml.data import BankData
from segml.economics import data_kind
from segml.features.families import ALL_FAMILIES, Family, profit_sql
from segml.features.spec import AsOf, FeatureConfig, date_lit
from segml.io import atomic_file

AGE_BANDS = ((25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"))


def _base_sql(a: AsOf) -> tuple[str, tuple[str, ...]]:
    t = date_lit(a.t)
    age = f"({a.t.year} - birth_year)"
    band = " ".join(f"WHEN {age} < {hi} THEN '{name}'" for hi, name in AGE_BANDS)
    sql = f"""SELECT customer_id, customer_type,
        CASE WHEN close_date IS NULL OR close_date > {t} THEN 1 ELSE 0 END AS is_active,
        CAST(date_diff('day', open_date, {t}) AS DOUBLE) / 30.4375 AS tenure_months,
        region, gender, {age} AS age,
        CASE WHEN birth_year IS NULL THEN NULL {band} ELSE '65+' END AS age_band,
        income_band, occupation, industry, employees
        FROM customers WHERE open_date <= {t}"""
    cols = ("customer_type", "is_active", "tenure_months", *DEMOGRAPHIC, "industry", "employees")
    return sql, cols


def families(as_of: dt.date, config: FeatureConfig | None = None) -> list[Family]:
    """Every feature family at ``as_of``, in output order."""
    cfg, a = config or FeatureConfig(), AsOf(as_of)
    return [f for make in ALL_FAMILIES for f in make(a, cfg)]


def feature_sql(as_of: dt.date, config: FeatureConfig | None = None) -> str:
    """The whole feature query at ``as_of`` (DuckDB dialect, portable subset).

    The result has one row per customer whose relationship began on or before ``as_of``,
    keyed and ordered by ``customer_id``.
    """
    a = AsOf(as_of)
    base, base_cols = _base_sql(a)
    fams = families(as_of, config)
    profit = profit_sql(config or FeatureConfig())
    ctes = [f"base AS ({base})"] + [f"f_{f.name} AS ({f.sql})" for f in fams]
    select = ["base.customer_id"] + [f"base.{c}" for c in base_cols]
    joins = []
    for f in fams:
        for c in f.columns:
            ref = f'f_{f.name}."{c}"'
            select.append(
                f'COALESCE({ref}, {f.fill[c]}) AS "{c}"' if c in f.fill else f'{ref} AS "{c}"'
            )
        joins.append(f"LEFT JOIN f_{f.name} ON f_{f.name}.customer_id = base.customer_id")
    body = f"SELECT {', '.join(select)} FROM base {' '.join(joins)}"
    return (
        f"WITH {', '.join(ctes)} SELECT x.*, {profit} AS profit_12m FROM ({body}) x "
        "ORDER BY x.customer_id"
    )


def feature_columns(as_of: dt.date, config: FeatureConfig | None = None) -> list[str]:
    """Output columns of :func:`feature_sql`, in order."""
    _, base_cols = _base_sql(AsOf(as_of))
    out = ["customer_id", *base_cols]
    for f in families(as_of, config):
        out += list(f.columns)
    return [*out, "profit_12m"]


def ensure_optional_tables(con: duckdb.DuckDBPyConnection, present: tuple[str, ...]) -> None:
    """Create empty typed views for optional contract tables the bank does not have."""
    types = {
        "id": "VARCHAR",
        "string": "VARCHAR",
        "category": "VARCHAR",
        "int": "BIGINT",
        "float": "DOUBLE",
        "bool": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMP",
    }
    for name, spec in CONTRACT.items():
        if name in present:
            continue
        cols = ", ".join(f'CAST(NULL AS {types[c.dtype]}) AS "{c.name}"' for c in spec.columns)
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {cols} WHERE FALSE")


def for_bank(bank: BankData, config: FeatureConfig | None = None) -> FeatureConfig:
    """``config`` with its economics resolved for ``bank``: ``economics.kind: auto`` becomes
    the kind of the data (``dataset.json``, else inferred: :func:`segml.economics.data_kind`),
    so a purchase log is valued by the margin on its purchases and a bank by its economics."""
    cfg = config or FeatureConfig()
    if cfg.economics.kind != "auto":
        return cfg
    ensure_optional_tables(bank.con, bank.tables)
    kind, _ = data_kind(bank.folder, bank.con)
    return replace(cfg, economics=cfg.economics.for_data(kind))


def build_features(
    bank: BankData,
    as_of: dt.date | str,
    config: FeatureConfig | None = None,
    *,
    engine: str = "duckdb",
    spark_master: str = "local[*]",
) -> pa.Table:
    """The feature table at ``as_of`` from a validated bank, computed in DuckDB (or Spark).

    Parameters
    ----------
    bank : BankData
        From :func:`segml.data.load_bank`.
    as_of : date
        Only records known on this date are used (timestamps before the following midnight,
        balance months completed by then, statements reported by then).
    config : FeatureConfig, optional
        Windows, excluded kinds, channels and economics (``economics.kind: auto`` follows the
        data: :func:`for_bank`).
    engine : {"duckdb", "spark"}
        ``"spark"``: the same SQL runs on Spark (:mod:`segml.features.spark`, master
        ``spark_master``) and the result takes DuckDB's column types.

    Returns
    -------
    pyarrow.Table
        One row per customer known at ``as_of`` (see docs/features.md for every column).
        :class:`segml.features.snapshots.Snapshots` keeps the tables it built for reuse.
    """
    as_of = dt.date.fromisoformat(str(as_of)[:10])
    ensure_optional_tables(bank.con, bank.tables)
    config = for_bank(bank, config)
    sql = feature_sql(as_of, config)
    if engine == "spark":
        return _on_spark(bank, as_of, config, sql, spark_master)
    return bank.con.sql(sql).to_arrow_table()


def _on_spark(
    bank: BankData, as_of: dt.date, config: FeatureConfig | None, sql: str, master: str
) -> pa.Table:
    """The feature table computed by Spark, cast to the types DuckDB gives the same SQL."""
    from segml.features.spark import build_features_spark, spark_session

    schema = bank.con.sql(f"SELECT * FROM ({sql}) LIMIT 0").to_arrow_table().schema
    sdf = build_features_spark(spark_session(master), bank.folder, as_of, config, bank.mapping)
    frame = sdf.toPandas()
    return pa.Table.from_pandas(frame[schema.names], preserve_index=False).cast(schema)


def write_features(table: pa.Table, out: str | os.PathLike[str]) -> Path:
    """Write a feature table to Parquet atomically (temporary file, then rename)."""
    with atomic_file(out) as tmp:
        pq.write_table(table, tmp)
    return Path(out)


def active(features: pd.DataFrame) -> pd.DataFrame:
    """Customers whose relationship is open at the as-of date (the tiered population)."""
    return features[features["is_active"] == 1].reset_index(drop=True)
