"""Typed views of what each step of a finished ``segml run`` wrote: metrics, scores, evaluations.

Each view reads the run's folder (:class:`segml.run.folder.RunFolder`) lazily: a table is read
when it is first asked for. :class:`Metrics` is the run's flat metrics behind named accessors;
:class:`ClvOutcome`, :class:`ChurnOutcome`, :class:`ValueOutcome`, :class:`TiersOutcome`,
:class:`SegmentsOutcome`, :class:`GradesOutcome` and :class:`ExplanationsOutcome` are the
steps' results (the model steps' are the libraries' own outcomes, :mod:`segml.outcome`, read
from the folder). :func:`segml.open_run` hands them out, and raises :class:`StepNotInRunError`
(with the run's own reason) for a step the run did not produce.
"""

from segml.run.outcomes.base import Metrics, StepNotInRunError
from segml.run.outcomes.models import ChurnOutcome, ClvOutcome, ValueOutcome
from segml.run.outcomes.tiering import (
    ExplanationsOutcome,
    GradesOutcome,
    MigrationSummary,
    SegmentsOutcome,
    TiersOutcome,
)

__all__ = [
    "ChurnOutcome",
    "ClvOutcome",
    "ExplanationsOutcome",
    "GradesOutcome",
    "Metrics",
    "MigrationSummary",
    "SegmentsOutcome",
    "StepNotInRunError",
    "TiersOutcome",
    "ValueOutcome",
]
