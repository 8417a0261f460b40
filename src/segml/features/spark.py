"""Run the feature definitions on Spark: the same SQL, transpiled from DuckDB by sqlglot.

Spark is optional (``pip install segml[spark]``, Java 17). A bank runs this on its cluster by
passing its own ``SparkSession``; :func:`spark_session` makes a local one for tests and laptops.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import sqlglot

from segml.contract import CONTRACT
from segml.features.build import feature_sql
from segml.features.spec import FeatureConfig
from segml.io import (
    TableMapping,
    cast_sql,
    locate_table,
    parquet_time_zones,
    quote,
    source_column,
)
from segml.tables import csv_separator

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

SPARK_TYPES = {
    "id": "STRING",
    "string": "STRING",
    "category": "STRING",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


def to_spark(sql: str) -> str:
    """Transpile a DuckDB query to Spark SQL."""
    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]


def spark_session(master: str = "local[2]", app: str = "segml") -> SparkSession:
    """A local SparkSession on loopback, in UTC, with the web UI off."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (UDFs, e.g. mlflow.pyfunc.spark_udf) run this interpreter, not `python3`
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.parquet.inferTimestampNTZ.enabled", "false")
        .getOrCreate()
    )


def register_bank(
    spark: SparkSession,
    folder: str | os.PathLike[str],
    mapping: Mapping[str, TableMapping] | None = None,
) -> tuple[str, ...]:
    """Register the contract's typed tables of ``folder`` as Spark temporary views.

    The folder should have passed :func:`segml.validate.validate_folder` (validation runs in
    DuckDB; Spark only computes). Optional tables the folder lacks become empty views.
    Returns the tables found.
    """
    folder, mapping = Path(folder), dict(mapping or {})
    found = []
    for name, spec in CONTRACT.items():
        m = mapping.get(name, TableMapping())
        files = locate_table(folder, name, m)
        if not files:
            cols = ", ".join(
                f"CAST(NULL AS {SPARK_TYPES[c.dtype]}) AS `{c.name}`" for c in spec.columns
            )
            spark.sql(f"SELECT {cols} WHERE FALSE").createOrReplaceTempView(name)
            continue
        paths = [str(f) for f in files]
        if all(f.suffix == ".parquet" for f in files):
            df = spark.read.parquet(*paths)
        else:
            reader = spark.read.option("header", True).option("inferSchema", False)
            df = reader.option("sep", csv_separator(files[0])).csv(paths)
        df.createOrReplaceTempView(f"src_{name}")
        zones = parquet_time_zones(files)
        parts = []
        for col in spec.columns:
            src = source_column(col.name, list(df.columns), m)
            raw = quote(src) if src in df.columns else "NULL"
            if src in zones and raw != "NULL":  # the wall-clock time written, as in DuckDB
                raw = f"from_utc_timestamp({raw}, '{zones[src]}')"
            if col.name in m.values and raw != "NULL":
                cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in m.values[col.name].items())
                raw = f"CASE CAST({raw} AS VARCHAR) {cases} ELSE CAST({raw} AS VARCHAR) END"
            parts.append(f"{to_spark(cast_sql(raw, col))} AS `{col.name}`")
        spark.sql(f"SELECT {', '.join(parts)} FROM src_{name}").createOrReplaceTempView(name)
        found.append(name)
    return tuple(found)


def build_features_spark(
    spark: SparkSession,
    folder: str | os.PathLike[str],
    as_of: dt.date | str,
    config: FeatureConfig | None = None,
    mapping: Mapping[str, TableMapping] | None = None,
) -> DataFrame:
    """The feature table at ``as_of`` computed by Spark from the same definitions as DuckDB."""
    as_of = dt.date.fromisoformat(str(as_of)[:10])
    register_bank(spark, folder, mapping)
    return spark.sql(to_spark(feature_sql(as_of, config)))


__all__ = ["build_features_spark", "register_bank", "spark_session", "to_spark"]
