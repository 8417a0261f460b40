"""Generate the synthetic bank: contract tables plus ground truth, streamed chunk by chunk.

Customers are generated in fixed-size chunks, each with its own random stream derived from
``(seed, chunk index)``, and every table is appended to its Parquet file chunk by chunk, so
memory stays bounded by one chunk whatever the bank's size. The same configuration always
writes identical tables.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from segml.economics import DEFAULT_ECONOMICS, BankEconomics
from segml.io import atomic_output_dir
from segml.synth.calendar import Calendar
from segml.synth.chunk import chunk_tables, date_array
from segml.synth.population import NEVER, draw_population
from segml.tiers import DEFAULT_POLICY, TierPolicy

TABLES = (
    "customers",
    "accounts",
    "balances",
    "transactions",
    "interactions",
    "corporate_financials",
    "ground_truth",
)
MANIFEST = "synth_manifest.json"
#: Bump when a change alters the tables a configuration produces (cached banks are then remade).
GENERATOR_VERSION = "2"


@dataclass(frozen=True)
class SynthConfig:
    """Size, seed and calendar of a synthetic bank.

    Parameters
    ----------
    customers : int
        Number of customers.
    seed : int
        Random seed; the same config writes identical tables.
    start : date
        First day of the transaction history.
    as_of : date
        Month end at which features are taken; ground truth describes the label window after it.
    label_months : int
        Length of the label window (the data end there).
    corporate_share : float
        Expected share of corporate clients.
    chunk_size : int
        Customers generated at a time (bounds memory; part of the random stream's definition).
    """

    customers: int = 10_000
    seed: int = 42
    start: dt.date = dt.date(2021, 1, 1)
    as_of: dt.date = dt.date(2024, 12, 31)
    label_months: int = 12
    corporate_share: float = 0.08
    chunk_size: int = 20_000

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("customers must be at least 1")
        if not 0 <= self.corporate_share < 1:
            raise ValueError("corporate_share must be in [0, 1)")
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")

    @property
    def calendar(self) -> Calendar:
        """The monthly calendar of this bank."""
        return Calendar(self.start, self.as_of, self.label_months)


@dataclass
class SynthResult:
    """Where the bank was written, how many rows each table has, and how long it took."""

    out: Path
    row_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class _Writers:
    """One Parquet writer per table, opened on first write."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def write(self, name: str, table: pa.Table) -> None:
        if name not in self.writers:
            self.writers[name] = pq.ParquetWriter(self.folder / f"{name}.parquet", table.schema)
            self.rows[name] = 0
        self.writers[name].write_table(table, row_group_size=1_000_000)
        self.rows[name] += table.num_rows

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


def _ground_truth(parts: list[dict[str, np.ndarray]], policy: TierPolicy) -> pa.Table:
    g = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    active = g.pop("active_at_as_of")
    tier = np.full(len(active), None, dtype=object)
    tier[active] = policy.assign(g["next_12m_profit"][active])
    current = np.full(len(active), None, dtype=object)
    current[active] = policy.assign(g["profit_trailing_12m"][active])
    churn_day = g.pop("churn_date_day")
    has_churn = churn_day < NEVER
    return pa.table(
        {
            "customer_id": pa.array(g["customer_id"], pa.string()),
            "customer_type": pa.array(g["customer_type"], pa.string()),
            "persona": pa.array(g["persona"], pa.string()),
            "active_at_as_of": pa.array(active),
            "churn_probability": pa.array(g["churn_probability"], mask=~active),
            "churned": pa.array(g["churned"], mask=~active),
            "churn_date": date_array(np.where(has_churn, churn_day, 0), ~has_churn),
            "hazard_monthly": pa.array(g["hazard_monthly"], mask=~active),
            "pd": pa.array(g["pd"]),
            "profit_trailing_12m": pa.array(np.round(g["profit_trailing_12m"], 2), mask=~active),
            "next_12m_profit": pa.array(np.round(g["next_12m_profit"], 2), mask=~active),
            "value_tier": pa.array(tier, pa.string()),
            "current_value_tier": pa.array(current, pa.string()),
        }
    )


def generate(
    config: SynthConfig,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    economics: BankEconomics = DEFAULT_ECONOMICS,
    policy: TierPolicy = DEFAULT_POLICY,
    progress: Callable[[int, int], None] | None = None,
) -> SynthResult:
    """Write a synthetic bank to ``out``: the contract tables, ground truth and a manifest.

    Parameters
    ----------
    config : SynthConfig
        Size, seed and calendar.
    out : path
        Output folder; written atomically (all tables or none). An existing non-empty folder
        is refused unless ``overwrite``.
    economics : BankEconomics
        Unit economics that define the customers' true profit.
    policy : TierPolicy
        Policy for the true ``value_tier`` (by true profit over the label window).
    progress : callable, optional
        Called as ``progress(chunks_done, chunks_total)``.

    Returns
    -------
    SynthResult
    """
    t_start = time.perf_counter()
    cal = config.calendar
    n_chunks = -(-config.customers // config.chunk_size)
    offsets = {"accounts": 0, "transactions": 0, "interactions": 0}
    truth_parts: list[dict[str, np.ndarray]] = []
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        writers = _Writers(tmp)
        try:
            for k in range(n_chunks):
                first = k * config.chunk_size
                n = min(config.chunk_size, config.customers - first)
                rng = np.random.default_rng([config.seed, k])
                pop = draw_population(rng, first, n, config.corporate_share, cal)
                tables, truth = chunk_tables(pop, cal, rng, economics, offsets)
                for name, table in tables.items():
                    writers.write(name, table)
                truth_parts.append(truth)
                if progress:
                    progress(k + 1, n_chunks)
            writers.write("ground_truth", _ground_truth(truth_parts, policy))
        finally:
            writers.close()
        manifest = {
            "generator": "segml.synth",
            "generator_version": GENERATOR_VERSION,
            "config": {
                k: str(v) if isinstance(v, dt.date) else v for k, v in asdict(config).items()
            },
            "calendar": {
                "history_start": str(cal.start),
                "as_of": str(cal.as_of),
                "label_window": [str(cal.as_of + dt.timedelta(days=1)), str(cal.end)],
                "data_end": str(cal.end),
            },
            "tier_policy": json.loads(policy.to_json()),
            "row_counts": writers.rows,
            "note": "ground_truth.parquet is for evaluation only; the pipeline never reads it.",
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return SynthResult(Path(out), dict(writers.rows), time.perf_counter() - t_start)
