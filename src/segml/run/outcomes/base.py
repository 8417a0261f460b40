"""What every view of a finished run's tiering steps shares (the step's folder, figures,
tables and metrics, :class:`segml.outcome.Metrics`), and the error for a step the run did not
produce. The model steps read back as the libraries' own outcomes
(:class:`segml.clv.ClvOutcome` …) over :class:`segml.run.folder.StepFiles`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from segml.outcome import Metrics
from segml.run.folder import RunFolder

__all__ = ["Metrics", "StepNotInRunError"]


class StepNotInRunError(LookupError):
    """The run did not produce this step's outputs; the message names the step and why."""

    def __init__(self, step: str, message: str):
        self.step = step
        super().__init__(message)


@dataclass(frozen=True)
class _Step:
    """A view of one step's outputs in a run folder."""

    folder: RunFolder
    step: str

    @property
    def metrics(self) -> Metrics:
        """The step's metrics (``run.json``), without the step prefix."""
        return Metrics(self.folder.metrics).under(self.step)

    @property
    def figure_dir(self) -> Path:
        """The folder of the step's figures (``figures/<step>``; may not exist)."""
        return self.folder.path / "figures" / self.step

    def figures(self) -> list[Path]:
        """The step's PNG figures, sorted by name."""
        return sorted(self.figure_dir.rglob("*.png")) if self.figure_dir.is_dir() else []

    def _table(self, name: str) -> pd.DataFrame:
        df = self.folder.table(name)
        return pd.DataFrame() if df is None else df

    def _doc(self, name: str) -> dict[str, Any]:
        doc = self.folder.json(name)
        return doc if isinstance(doc, dict) else {}
