"""Features and labels at a date, for one bank and one feature configuration.

Tier migration, CLV, churn, the value model and the grading comparison all train on the
features of earlier dates (a year, two years before the as-of date) and the labels of the
window after them. :class:`Snapshots` is the one place that builds them: it holds the
validated bank, the feature configuration and the engine, keeps the tables it built (the same
date is asked for by several steps), and says how far back the history reaches.
:class:`~segml.data.BankData` stays a plain validated connection.

Kept in memory, three snapshots of a 1M-customer bank hold ~2.2 GB for the whole run. Given a
``store`` folder, each table is written there once as an uncompressed Arrow file and every
request gets it memory-mapped: a table costs memory only while a caller holds it, and only for
the pages it reads.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segml.compute import give_back_memory
from segml.data import BankData
from segml.dates import add_months, months_before
from segml.features.build import build_features
from segml.features.labels import ChurnDefinition, build_labels
from segml.features.spec import FeatureConfig

__all__ = ["FEATURE_CACHE_SIZE", "LABEL_CACHE_SIZE", "Snapshots", "join_labels"]

#: Feature tables kept for reuse (the as-of date, a year and two years before it).
FEATURE_CACHE_SIZE = 3
#: Label tables kept (small: one row per customer, a few columns).
LABEL_CACHE_SIZE = 6


def _remember(store: dict[Any, Any], key: Any, value: Any, size: int) -> Any:
    """Keep ``value`` under ``key``, dropping the oldest entries beyond ``size``."""
    while len(store) >= size:
        store.pop(next(iter(store)))
    store[key] = value
    return value


def join_labels(
    features: pa.Table, labels: pa.Table, columns: list[str], rows: np.ndarray | None = None
) -> tuple[np.ndarray, pa.Table]:
    """Which customers of ``features`` (of its ``rows``) ``labels`` has, and their labels:
    pandas' one-to-one inner merge on ``customer_id``, without copying the features (a 1M
    snapshot is ~1 GB), so that :func:`segml.compute.sample_table` converts only the rows it
    keeps.

    Returns
    -------
    (ndarray, pyarrow.Table)
        The positions in ``features`` of the labelled customers, in ``features``' order (the
        merge's), and ``labels``' ``columns`` aligned with them.

    Raises
    ------
    ValueError
        When ``labels`` repeats a customer, or a label column is already a feature.

    Examples
    --------
    >>> f = pa.table({"customer_id": ["a", "b", "c"], "x": [1.0, 2.0, 3.0]})
    >>> lab = pa.table({"customer_id": ["c", "a"], "churned": [1, 0]})
    >>> rows, y = join_labels(f, lab, ["churned"])
    >>> rows.tolist(), y.to_pydict()
    ([0, 2], {'churned': [0, 1]})
    """
    clash = [c for c in columns if c in features.column_names]
    if clash:
        raise ValueError(f"label column(s) {clash} are also feature columns")
    ids = labels.column("customer_id").combine_chunks()
    if pc.count_distinct(ids, mode="all").as_py() != len(ids):
        raise ValueError("the labels table has more than one row for some customer_id")
    key = features.column("customer_id")
    base = np.arange(len(key)) if rows is None else np.asarray(rows, dtype=np.int64)
    if rows is not None:
        key = key.take(pa.array(base))
    pos = pc.index_in(key, value_set=ids.cast(key.type))
    found = pc.is_valid(pos)
    at = base[found.to_numpy(zero_copy_only=False)]
    return at, labels.select(columns).take(pos.filter(found))


class Snapshots:
    """Features and labels at any date of one bank, built once and kept for reuse.

    Parameters
    ----------
    bank : BankData
        From :func:`segml.data.load_bank`.
    config : FeatureConfig, optional
        Windows, excluded kinds, channels and economics of every table built (default: segml's).
    engine : {"duckdb", "spark"}
        Where features are computed (:func:`segml.features.build_features`).
    spark_master : str
        The Spark master when ``engine`` is ``"spark"``.
    store : Path, optional
        Keep the feature tables as Arrow files in this folder (created when needed) and hand
        out memory-mapped tables, instead of keeping the last :data:`FEATURE_CACHE_SIZE` in
        memory. The caller owns the folder: :meth:`release` forgets the files, it does not
        delete them (a table handed out may still map one).

    Examples
    --------
    >>> import datetime as dt
    >>> from segml.data import load_bank
    >>> snaps = Snapshots(load_bank("data/raw/synthetic/bank"))  # doctest: +SKIP
    >>> t0 = snaps.months_before(dt.date(2024, 12, 31), 12)  # doctest: +SKIP
    >>> train = snaps.frame(t0).merge(snaps.labels(t0, 12).to_pandas())  # doctest: +SKIP
    """

    def __init__(
        self,
        bank: BankData,
        config: FeatureConfig | None = None,
        *,
        engine: str = "duckdb",
        spark_master: str = "local[*]",
        store: Path | str | None = None,
    ):
        self.bank = bank
        self.config = config or FeatureConfig()
        self.engine = engine
        self.spark_master = spark_master
        self.store = None if store is None else Path(store)
        self._features: dict[dt.date, pa.Table] = {}
        self._files: dict[dt.date, Path] = {}
        self._labels: dict[tuple[Any, ...], pa.Table] = {}

    @classmethod
    def of(cls, source: BankData | Snapshots, config: FeatureConfig | None = None) -> Snapshots:
        """``source`` itself when it is a :class:`Snapshots`, else snapshots of that bank."""
        return source if isinstance(source, Snapshots) else cls(source, config)

    @cached_property
    def history_start(self) -> dt.date | None:
        """The day of the bank's first transaction (None when there is none)."""
        return self.bank.first_transaction_date()

    @staticmethod
    def months_before(as_of: dt.date, months: int) -> dt.date:
        """The snapshot date ``months`` before ``as_of``, month ends kept
        (:func:`segml.dates.months_before`)."""
        return months_before(as_of, months)

    def reaches_back(self, day: dt.date, months: int) -> bool:
        """Whether the history holds at least ``months`` months before ``day``."""
        start = self.history_start
        return start is not None and start <= add_months(day, -months)

    def features(self, as_of: dt.date | str) -> pa.Table:
        """The feature table at ``as_of`` (:func:`segml.features.build_features`), built once."""
        day = dt.date.fromisoformat(str(as_of)[:10])
        if day in self._features:
            return self._features[day]
        if day in self._files:
            return _mapped(self._files[day])
        self.bank.release_memory()  # what earlier queries left: the build starts from less
        table = build_features(self.bank, day, self.config, engine=self.engine,
                               spark_master=self.spark_master)  # fmt: skip
        # DuckDB keeps a build's working memory for reuse (~2 GB at 1M customers) while the
        # run holds the table it made: give it back before the next step allocates its own
        self.bank.release_memory()
        if self.store is None:
            return _remember(self._features, day, table, FEATURE_CACHE_SIZE)
        self._files[day] = _write_arrow(table, self.store / f"features_{day.isoformat()}.arrow")
        del table
        return _mapped(self._files[day])

    def frame(self, as_of: dt.date | str) -> pd.DataFrame:
        """:meth:`features` as a pandas DataFrame.

        With a ``store`` the frame owns its memory: pandas shares a string column's buffers
        with the table, and a column of a table read from an Arrow file is a slice of its
        record batch's body, so one such column would keep the whole file (~0.7 GB at 1M
        customers) resident for as long as the frame lives. The string columns are copied
        out of the mapping first (:func:`_own_buffers`).
        """
        table = self.features(as_of)
        day = dt.date.fromisoformat(str(as_of)[:10])
        if day in self._files:
            table = _own_buffers(table)
        frame = table.to_pandas()
        del table
        give_back_memory()
        return frame

    def labels(
        self,
        as_of: dt.date | str,
        horizon_months: int = 12,
        definition: ChurnDefinition = "closure",
        inactivity_days: int = 90,
        runoff_share: float = 0.5,
    ) -> pa.Table:
        """Labels of the window after ``as_of`` (:func:`segml.features.labels.build_labels`),
        built once.

        Raises
        ------
        ValueError
            When the data end before the window does.
        """
        day = dt.date.fromisoformat(str(as_of)[:10])
        key = (day, horizon_months, definition, inactivity_days, float(runoff_share))
        if key in self._labels:
            return self._labels[key]
        table = build_labels(self.bank, day, horizon_months, definition, inactivity_days,
                             self.config, runoff_share=runoff_share)  # fmt: skip
        self.bank.release_memory()
        return _remember(self._labels, key, table, LABEL_CACHE_SIZE)

    def release(self) -> None:
        """Drop the kept tables, forget the stored files and give DuckDB's buffers back
        (:meth:`BankData.release_memory`)."""
        self._features.clear()
        self._files.clear()
        self._labels.clear()
        self.bank.release_memory()

    @property
    def kept(self) -> int:
        """How many feature and label tables are kept now (in memory or in the store)."""
        return len(self._features) + len(self._files) + len(self._labels)


def _write_arrow(table: pa.Table, path: Path) -> Path:
    """``table`` as an uncompressed Arrow IPC file (written aside, then renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with pa.OSFile(str(part), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    part.replace(path)
    return path


def _own_buffers(table: pa.Table) -> pa.Table:
    """``table`` with each column pandas would share (strings, binaries, dictionaries, nested
    types) copied into buffers of its own; the fixed-width columns, which ``to_pandas``
    copies anyway, as they are."""
    cols = [
        pa.chunked_array([pa.concat_arrays(col.chunks)], type=col.type)
        if _shared_by_pandas(col.type) and col.num_chunks
        else col
        for col in table.columns
    ]
    return pa.Table.from_arrays(cols, schema=table.schema)


def _shared_by_pandas(kind: pa.DataType) -> bool:
    t = pa.types
    return (t.is_string(kind) or t.is_large_string(kind) or t.is_binary(kind)
            or t.is_large_binary(kind) or t.is_dictionary(kind) or t.is_nested(kind)
            or kind in (pa.string_view(), pa.binary_view()))  # fmt: skip


def _mapped(path: Path) -> pa.Table:
    """The table in the Arrow file ``path``, memory-mapped (zero copy: pages load when read
    and are given back with the last reference to the table)."""
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()
