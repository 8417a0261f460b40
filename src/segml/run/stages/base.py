"""What a step of ``segml run`` hands over: tables, documents, metrics and fitted models."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from segml.outcome import Outcome

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

    @classmethod
    def of(cls, outcome: Outcome) -> StageResult:
        """What a step keeps of a library's outcome held in memory: its tables, documents,
        metrics and models, under their own names (the run folder's file names)."""
        from segml.outcome import InMemory

        outputs = outcome.outputs
        if not isinstance(outputs, InMemory):
            raise TypeError(f"{type(outcome).__name__} was read back, not fitted: nothing to keep")
        return cls(
            tables=dict(outputs.tables),
            documents=dict(outputs.documents),
            metrics=dict(outputs.metrics),
            models=outcome.models(),
        )
