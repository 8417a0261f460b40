"""Open a finished ``segml run`` by its id and study it: :func:`open_run` and :class:`FinishedRun`.

A finished run left a folder ``<output.dir>/<name>-<run id[:12]>`` (tables, documents, the
resolved ``config.yaml``, ``run.json``, figures) and a record in the MLflow store (status,
parameters, tags, nested stage runs). :func:`open_run` finds the folder
(:func:`segml.run.folder.locate_run`) and returns a :class:`FinishedRun`, whose properties
are typed views of each step's results (:mod:`segml.run.outcomes`). Nothing is recomputed;
a step the run did not produce raises :class:`segml.run.outcomes.StepNotInRunError` with the
run's own reason (:func:`segml.run.absent.why_absent`).

Examples
--------
>>> import segml
>>> run = segml.open_run("latest", config="experiments/configs/small.yaml")  # doctest: +SKIP
>>> run.as_of, run.metrics.get("churn.test.roc_auc")  # doctest: +SKIP
(datetime.date(2024, 12, 31), 0.81)
>>> run.clv.holdout()  # doctest: +SKIP
>>> run.tier_table  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from segml.run.absent import why_absent
from segml.run.config import ConfigError, RunConfig, load_config, project_root, resolve
from segml.run.folder import (
    NoRunFolderError,
    RunFolder,
    StepFiles,
    latest_run,
    locate_run,
    tracked_run_note,
)
from segml.run.outcomes import (
    ChurnOutcome,
    ClvOutcome,
    ExplanationsOutcome,
    GradesOutcome,
    Metrics,
    SegmentsOutcome,
    StepNotInRunError,
    TiersOutcome,
    ValueOutcome,
)
from segml.run.store import TrackedRun, read_tracked_run

__all__ = ["FinishedRun", "StepNotInRunError", "open_run"]

#: The config :func:`open_run` reads ``output.dir`` and the tracking store from by default.
DEFAULT_CONFIG = "experiments/configs/default.yaml"

#: Step -> the file whose presence says the run produced it.
STEP_FILES = {
    "labels": "labels.parquet",
    "clv": "clv.parquet",
    "churn": "churn_scores.parquet",
    "value": "value_scores.parquet",
    "tiers": "tiers.parquet",
    "segments": "segments.parquet",
    "grades": "grades.parquet",
    "explain": "reason_codes.parquet",
    "export": "model_info.json",
}


class FinishedRun:
    """A finished ``segml run``, read from its folder and its MLflow record.

    Parameters
    ----------
    folder : RunFolder
        The run's output folder.
    tracking_uri : str, optional
        The store to read the run's record from (default: the one ``run.json`` names).

    Notes
    -----
    Tables are read when first asked for and kept. Step views (``clv``, ``churn``, ``value``,
    ``tiering``, ``segments``, ``grades``, ``explanations``) raise
    :class:`~segml.run.outcomes.StepNotInRunError` for a step the run did not produce.
    """

    def __init__(self, folder: RunFolder, tracking_uri: str | None = None):
        self.folder = folder
        self.tracking_uri = tracking_uri or str(folder.run.get("tracking_uri") or "")

    # ------------------------------------------------------------------ identity
    @property
    def run_id(self) -> str:
        """The MLflow id of the pipeline run."""
        return self.folder.run_id

    @property
    def short_id(self) -> str:
        """The first 12 characters of the run id (as in the folder name)."""
        return self.folder.short_id

    @property
    def path(self) -> Path:
        """The run's output folder."""
        return self.folder.path

    @property
    def name(self) -> str:
        """The run's name (the config's ``name``)."""
        return self.config.name

    @property
    def status(self) -> str:
        """The MLflow status of the run (``run.json``'s when the store cannot be read)."""
        tracked = self.tracked
        return tracked.status if tracked is not None else str(self.folder.run.get("status", ""))

    @property
    def as_of(self) -> dt.date:
        """The as-of date: features use records up to it, labels come after it."""
        return dt.date.fromisoformat(str(self.folder.run["as_of"])[:10])

    @property
    def data_dir(self) -> Path:
        """The bank's folder the run read (contract tables)."""
        return Path(str(self.folder.run.get("data_dir", "")))

    @cached_property
    def config(self) -> RunConfig:
        """The resolved :class:`RunConfig` of the run (its ``config.yaml``)."""
        try:
            return RunConfig.model_validate(self.folder.config)
        except ValueError as exc:
            raise ConfigError(f"{self.path / 'config.yaml'}: {exc}") from None

    @property
    def warnings(self) -> list[str]:
        """The warnings the run recorded, in order."""
        return [str(w) for w in self.folder.run.get("warnings") or []]

    @cached_property
    def metrics(self) -> Metrics:
        """Every metric of the run, ``step.name -> value`` (``metrics.get("churn.test.roc_auc")``,
        ``metrics.under("clv")``)."""
        return Metrics(self.folder.metrics)

    @property
    def stage_seconds(self) -> dict[str, float]:
        """Seconds each step took."""
        return {str(k): float(v) for k, v in (self.folder.run.get("stage_seconds") or {}).items()}

    @cached_property
    def tracked(self) -> TrackedRun | None:
        """The MLflow record: status, times, parameters, tags, nested stage runs (None: the
        store cannot be read or lacks the run)."""
        return read_tracked_run(self.tracking_uri, self.run_id)

    # ------------------------------------------------------------------ steps
    def steps(self) -> list[str]:
        """The steps whose outputs the run wrote (``clv``, ``churn``, ``value``, ``tiers`` …)."""
        return [s for s, f in STEP_FILES.items() if (self.path / f).is_file()]

    def has(self, step: str) -> bool:
        """True when the run wrote the outputs of ``step``."""
        return step in self.steps()

    def _need(self, step: str) -> None:
        if not self.has(step):
            why = why_absent(self.folder, step)
            raise StepNotInRunError(step, f"run {self.short_id} has no {step} results: {why}")

    @property
    def features(self) -> pd.DataFrame:
        """The feature table at the as-of date (every customer known then)."""
        return self.folder.table("features")  # type: ignore[return-value]

    def active_features(self) -> pd.DataFrame:
        """The feature rows of the customers active at the as-of date (the tiered population)."""
        return self.folder.active_features()  # type: ignore[return-value]

    @property
    def labels(self) -> pd.DataFrame:
        """Outcomes in the window after the as-of date (churn, holdout purchases, spend, profit)."""
        self._need("labels")
        return self.folder.table("labels")  # type: ignore[return-value]

    @property
    def profile(self) -> dict[str, Any]:
        """The bank's profile at the as-of date (row counts, mix, history)."""
        return self.folder.json("data_profile") or {}

    @property
    def validation(self) -> dict[str, Any]:
        """The contract validation report of the bank's tables."""
        return self.folder.json("validation") or {}

    @property
    def clv(self) -> ClvOutcome:
        """The CLV step's scores, evaluation and parameters."""
        self._need("clv")
        return ClvOutcome(StepFiles(self.folder, "clv"))

    @property
    def churn(self) -> ChurnOutcome:
        """The churn step's scores, metrics and calibration."""
        self._need("churn")
        return ChurnOutcome(StepFiles(self.folder, "churn"))

    @property
    def value(self) -> ValueOutcome:
        """The value score model's scores, selection candidates and validation."""
        self._need("value")
        return ValueOutcome(StepFiles(self.folder, "value"))

    @property
    def tiering(self) -> TiersOutcome:
        """The tiers step: policy, rules, measure, concentration, migration."""
        self._need("tiers")
        return TiersOutcome(self.folder, "tiers")

    @property
    def tiers(self) -> pd.DataFrame:
        """Per tiered customer: value, tier by value, tier, reasons and playbook."""
        return self.tiering.assignments

    @property
    def tier_table(self) -> pd.DataFrame:
        """Per tier: customers, value, shares and the service playbook."""
        return self.tiering.table

    @property
    def segments(self) -> SegmentsOutcome:
        """The behavioural segments with their profiles and names."""
        self._need("segments")
        return SegmentsOutcome(self.folder, "segments")

    @property
    def grades(self) -> GradesOutcome:
        """The corporate grades and the scorecard's comparison with xgboost."""
        self._need("grades")
        return GradesOutcome(self.folder, "grades")

    @property
    def explanations(self) -> ExplanationsOutcome:
        """Reason codes, contributions and tier drivers of the value score."""
        self._need("explain")
        return ExplanationsOutcome(self.folder, "explain")

    @property
    def reason_codes(self) -> pd.DataFrame:
        """Per tiered customer: the reasons for the tier, in words."""
        return self.explanations.reason_codes

    @property
    def model(self) -> dict[str, Any]:
        """The exported model's record (name, version, alias, URI, thresholds)."""
        self._need("export")
        return self.folder.json("model_info") or {}

    def figures(self, step: str | None = None) -> list[Path]:
        """The run's PNG figures (of one step's folder, ``clv``, ``churn``, ``explain``)."""
        base = self.path / "figures" / (step or "")
        return sorted(base.rglob("*.png")) if base.is_dir() else []

    # ------------------------------------------------------------------ text
    def describe(self) -> str:
        """One line: run, status, as-of date, steps and warnings."""
        return (
            f"run {self.short_id} ({self.name}, {self.status}) as of {self.as_of}: "
            f"{', '.join(self.steps())}; {len(self.warnings)} warning(s); {self.path}"
        )

    def __repr__(self) -> str:
        return f"FinishedRun({self.run_id!r}, path={str(self.path)!r})"


def _config(
    config: str | os.PathLike[str] | RunConfig | None, root: Path | None
) -> tuple[RunConfig, Path]:
    """The config whose ``output.dir`` holds the runs, and the project root."""
    if isinstance(config, RunConfig):
        return config, root or project_root()
    if config is None:
        base = root or project_root()
        path = base / DEFAULT_CONFIG
        return (load_config(path) if path.is_file() else RunConfig()), base
    base = root or project_root(config)
    path = resolve(base, os.fspath(config))
    assert path is not None
    return load_config(path, option="config"), base


def open_run(
    run_id: str = "latest",
    *,
    config: str | os.PathLike[str] | RunConfig | None = None,
    root: Path | None = None,
) -> FinishedRun:
    """Open a finished ``segml run`` by its id, or the latest one.

    Parameters
    ----------
    run_id : str
        The MLflow run id (or a prefix of at least 6 characters), or ``"latest"``: the most
        recently finished run of the config's ``name`` in ``output.dir`` (another config's
        runs there are skipped).
    config : path or RunConfig, optional
        The config whose ``output.dir`` holds the run folders and whose tracking store holds
        the run (``MLFLOW_TRACKING_URI`` wins, as for ``segml run``); default
        ``experiments/configs/default.yaml`` under ``root``.
    root : Path, optional
        Project root for relative paths (default: from the config file, else the working
        directory).

    Returns
    -------
    FinishedRun

    Raises
    ------
    segml.run.folder.RunNotFoundError
        When no finished run matches; for an id without a folder the message says what the
        tracking store knows (a failed, stopped or still running run).
    segml.run.config.ConfigError
        When the config cannot be read.

    Examples
    --------
    >>> import segml
    >>> cfg = "experiments/configs/small.yaml"
    >>> run = segml.open_run("86b06bc6f1c3", config=cfg)  # doctest: +SKIP
    >>> run.churn.metrics_table()  # doctest: +SKIP
    >>> run.segments.profiles  # doctest: +SKIP
    >>> segml.open_run("latest").describe()  # doctest: +SKIP
    'run 86b06bc6f1c3 (small, FINISHED) as of 2024-12-31: labels, clv, churn, …'
    """
    from segml.run.tracking import tracking_uri

    cfg, base = _config(config, root)
    runs = resolve(base, cfg.output.dir)
    assert runs is not None
    uri = tracking_uri(cfg.tracking, base)
    if run_id.strip().lower() == "latest":
        return FinishedRun(latest_run(runs, cfg.name))
    try:
        return FinishedRun(locate_run(run_id, runs))
    except NoRunFolderError as exc:  # the tracking store may know why: a failed run
        note = tracked_run_note(uri, run_id, runs)
        raise NoRunFolderError(note or str(exc)) from exc
