"""Views of the model steps of a finished run: they read back as the libraries' own outcomes
(:class:`segml.clv.ClvOutcome`, :class:`segml.churn.ChurnOutcome`,
:class:`segml.value.ValueOutcome`) over :class:`segml.run.folder.StepFiles`."""

from __future__ import annotations

from segml.churn.outcome import ChurnOutcome
from segml.clv.outcome import ClvOutcome
from segml.value.outcome import ValueOutcome

__all__ = ["ChurnOutcome", "ClvOutcome", "ValueOutcome"]
