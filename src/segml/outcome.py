"""Typed outcomes of the libraries: what one fit made, held in memory or read from a run's folder.

A library's fit (:func:`segml.clv.fit_clv`, :func:`segml.churn.fit_churn`,
:func:`segml.value.fit_value`) returns an :class:`Outcome` subclass (``ClvOutcome``,
``ChurnOutcome``, ``ValueOutcome``) whose properties and methods read its named tables,
JSON documents and metrics: ``scores``, ``evaluation``, ``params()``, ``plot_…(ax)``. The same
class reads a finished run's folder (:func:`segml.open_run`): an outcome does not care where its
:class:`Outputs` live. What a fit made is an :class:`InMemory`; a run writes its tables,
documents and metrics to the run folder unchanged, under the same names.

Examples
--------
>>> m = Metrics({"clv.params.r": 0.24, "clv.params.alpha": 3.1, "churn.test.roc_auc": 0.8})
>>> m.under("clv.params").to_dict()
{'r': 0.24, 'alpha': 3.1}
>>> m.get("churn.test.roc_auc"), m.get("value.test.spearman")
(0.8, None)
>>> out = Outcome(InMemory(tables={"scores": pd.DataFrame({"x": [1]})}, metrics={"n": 1.0}))
>>> out.metrics.get("n"), out.table("scores").shape, out.document("missing")
(1.0, (1, 1), {})
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

__all__ = ["InMemory", "Metrics", "Outcome", "Outputs"]


class Metrics:
    """Flat metrics, ``section.name -> value``, read by name.

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
        """The metric ``name``, or ``default`` when it was not computed."""
        return self._values.get(name, default)

    def value(self, name: str) -> float:
        """The metric ``name``.

        Raises
        ------
        KeyError
            Naming the metric and the closest names there are.
        """
        if name in self._values:
            return self._values[name]
        head = name.split(".")[0]
        near = [k for k in self._values if k.startswith(head)][:8]
        raise KeyError(f"no metric {name!r}" + (f"; e.g. {near}" if near else ""))

    def under(self, prefix: str) -> Metrics:
        """The metrics below ``prefix`` (``"clv.params"``), with the prefix dropped."""
        p = prefix.rstrip(".") + "."
        return Metrics({k[len(p) :]: v for k, v in self._values.items() if k.startswith(p)})

    def names(self) -> list[str]:
        """Every metric name, in order."""
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


class Outputs(Protocol):
    """Where an outcome's named tables, documents, metrics and figures are.

    :class:`InMemory` (a fit's) and a run folder's view of one step
    (:class:`segml.run.folder.StepFiles`) implement it.
    """

    @property
    def metrics(self) -> Mapping[str, float]:
        """The outcome's flat metrics, without a step prefix."""
        ...

    @property
    def figure_dir(self) -> Path | None:
        """The folder of the outcome's PNG figures, if any."""
        ...

    def table(self, name: str) -> pd.DataFrame | None:
        """Table ``name`` (``"clv"``), or None."""
        ...

    def json(self, name: str) -> Any:
        """JSON document ``name`` (``"clv_evaluation"``, ``.json`` optional), or None."""
        ...


def _json_name(name: str) -> str:
    return name if name.endswith(".json") else f"{name}.json"


@dataclass
class InMemory:
    """What one fit made, in memory: tables by name, JSON documents by file name
    (``"clv_evaluation.json"``), flat metrics, and the folder its figures were written to."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    figure_dir: Path | None = None

    def table(self, name: str) -> pd.DataFrame | None:
        """Table ``name``, or None."""
        return self.tables.get(name)

    def json(self, name: str) -> Any:
        """Document ``name`` (``.json`` optional), or None."""
        return self.documents.get(_json_name(name))


class Outcome:
    """The base of the libraries' typed outcomes.

    Parameters
    ----------
    outputs : Outputs
        Where the outcome's tables, documents, metrics and figures are.
    models : mapping, optional
        Fitted models held in memory (a fit's); an outcome read from a run folder loads them
        from their documents when asked.
    """

    def __init__(self, outputs: Outputs, models: Mapping[str, Any] | None = None):
        self.outputs = outputs
        self._models: dict[str, Any] = dict(models or {})

    @property
    def metrics(self) -> Metrics:
        """The outcome's flat metrics (``metrics.get("holdout.purchases.spearman")``)."""
        return Metrics(self.outputs.metrics)

    @property
    def figure_dir(self) -> Path | None:
        """The folder of the outcome's figures (None: none were written)."""
        return self.outputs.figure_dir

    def figures(self) -> list[Path]:
        """The outcome's PNG figures, sorted by name."""
        d = self.figure_dir
        return sorted(d.rglob("*.png")) if d is not None and d.is_dir() else []

    def table(self, name: str) -> pd.DataFrame:
        """Table ``name`` (an empty frame when there is none)."""
        df = self.outputs.table(name)
        return pd.DataFrame() if df is None else df

    def document(self, name: str) -> dict[str, Any]:
        """JSON document ``name`` (an empty dict when there is none)."""
        doc = self.outputs.json(name)
        return doc if isinstance(doc, dict) else {}

    def models(self) -> dict[str, Any]:
        """The fitted models held in memory, by name (empty for an outcome read back)."""
        return dict(self._models)

    def __repr__(self) -> str:
        where = "in memory" if isinstance(self.outputs, InMemory) else "from a run folder"
        return f"{type(self).__name__}({where}, {len(self.metrics)} metrics)"
