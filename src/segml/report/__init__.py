"""The model-review pack: one self-contained HTML file per run (``segml report``).

Built from a finished run's output folder and the MLflow registry only — nothing is
re-trained — for a model review meeting that reads it without Python: purpose and data, value
concentration and tiers, segments and grades, model validation, explanations, stability,
fairness, champion against challenger, and the model card. See docs/report.md.
"""

from segml.report.build import (
    SECTIONS,
    ReviewPack,
    build_report,
    default_out,
    log_report,
    write_report,
)
from segml.run.folder import RunFolder, RunNotFoundError, latest_run, locate_run

__all__ = [
    "SECTIONS",
    "ReviewPack",
    "RunFolder",
    "RunNotFoundError",
    "build_report",
    "default_out",
    "latest_run",
    "locate_run",
    "log_report",
    "write_report",
]
