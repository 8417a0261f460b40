"""What every view of a finished run's step shares: the run's metrics behind named accessors,
the step's folder, figures and tables, and the error for a step the run did not produce.

Examples
--------
>>> m = Metrics({"clv.params.r": 0.24, "clv.params.alpha": 3.1, "churn.test.roc_auc": 0.8})
>>> m.under("clv.params").to_dict()
{'r': 0.24, 'alpha': 3.1}
>>> m.get("churn.test.roc_auc"), m.get("value.test.spearman")
(0.8, None)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from segml.run.folder import RunFolder

if TYPE_CHECKING:
    pass

__all__ = ["Metrics", "StepNotInRunError"]


class StepNotInRunError(LookupError):
    """The run did not produce this step's outputs; the message names the step and why."""

    def __init__(self, step: str, message: str):
        self.step = step
        super().__init__(message)


class Metrics:
    """A run's (or a step's) flat metrics, ``section.name -> value``, read by name.

    Parameters
    ----------
    values : mapping
        ``"clv.holdout.purchases.spearman" -> 0.71`` …; non-numbers are left out.
    """

    def __init__(self, values: Mapping[str, Any]):
        self._values: dict[str, float] = {}
        for k, v in values.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                self._values[str(k)] = float(v)

    def get(self, name: str, default: float | None = None) -> float | None:
        """The metric ``name``, or ``default`` when the run did not compute it."""
        return self._values.get(name, default)

    def value(self, name: str) -> float:
        """The metric ``name``.

        Raises
        ------
        KeyError
            Naming the metric and the closest names the run has.
        """
        if name in self._values:
            return self._values[name]
        head = name.split(".")[0]
        near = [k for k in self._values if k.startswith(head)][:8]
        raise KeyError(f"no metric {name!r} in this run" + (f"; e.g. {near}" if near else ""))

    def under(self, prefix: str) -> Metrics:
        """The metrics below ``prefix`` (``"clv.params"``), with the prefix dropped."""
        p = prefix.rstrip(".") + "."
        return Metrics({k[len(p) :]: v for k, v in self._values.items() if k.startswith(p)})

    def names(self) -> list[str]:
        """Every metric name, in the run's order."""
        return list(self._values)

    def finite(self) -> Metrics:
        """The metrics with a finite value (NaN and infinities left out)."""
        return Metrics({k: v for k, v in self._values.items() if math.isfinite(v)})

    def to_dict(self) -> dict[str, float]:
        """A plain ``name -> value`` copy (e.g. to log with MLflow)."""
        return dict(self._values)

    def to_series(self, name: str = "value") -> pd.Series:
        """The metrics as a Series indexed by name."""
        return pd.Series(self._values, name=name, dtype=float)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Metrics({len(self)} values)"


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
