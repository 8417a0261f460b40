"""Why a run has no output of a stage: :mod:`segml.run.absent`, where the run's readers find it.

Kept here so the review pack's modules import it as before.
"""

from __future__ import annotations

from segml.run.absent import WARNING_PREFIX, not_available, run_warning, why_absent

__all__ = ["WARNING_PREFIX", "not_available", "run_warning", "why_absent"]
