"""What a step of ``segml run`` hands over: tables, documents, metrics and fitted models."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["StageResult"]


@dataclass
class StageResult:
    """Tables to write (name -> DataFrame), JSON documents, metrics and models of one stage."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Tables the stage already wrote (name -> Parquet file in a scratch folder), moved into
    #: the run's outputs with the others: large tables need not stay in memory until then.
    files: dict[str, Path] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    #: Fitted models later stages use (e.g. the explanations); kept in memory, not written.
    models: dict[str, Any] = field(default_factory=dict)
