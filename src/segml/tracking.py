"""MLflow tracking for segml runs: one parent run per pipeline run, one nested run per stage.

By default the store is embedded: a SQLite database ``experiments/mlflow.db`` with artifacts in
``experiments/artifacts`` under the project root, so nothing has to be started. The
``MLFLOW_TRACKING_URI`` environment variable (a bank's tracking server) wins over the config.
Nothing is configured at import time; the tracking URI is set when a run starts.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from segml.config import RunConfig, TrackingConfig
from segml.progress import collect_steps, rss_mb

PACKAGES = ("segml", "numpy", "pandas", "pyarrow", "duckdb", "mlflow", "lifetimes", "pydantic")


def tracking_uri(cfg: TrackingConfig, root: Path) -> str:
    """The tracking URI: ``MLFLOW_TRACKING_URI``, else the config's, else the embedded store."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    if cfg.uri:
        return cfg.uri
    return f"sqlite:///{(root / 'experiments' / 'mlflow.db').resolve()}"


def artifact_root(root: Path) -> str:
    """Artifact location for experiments created in the embedded store."""
    return (root / "experiments" / "artifacts").resolve().as_uri()


def git_state(root: Path) -> dict[str, str]:
    """Commit and dirty flag of the project checkout ("unknown" outside git)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
            )
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": commit or "unknown",
        "git_dirty": "unknown" if status is None else str(bool(status)).lower(),
    }


def package_versions() -> dict[str, str]:
    """Versions of the packages a run depends on."""
    out = {}
    for p in PACKAGES:
        try:
            out[f"version.{p}"] = version(p)
        except PackageNotFoundError:
            out[f"version.{p}"] = "absent"
    return out


class Tracker:
    """A live parent run; :meth:`stage` opens a nested run per pipeline stage."""

    def __init__(self, client: MlflowClient, run_id: str, uri: str, experiment_id: str):
        self.client = client
        self.experiment_id = experiment_id
        self.run_id = run_id
        self.tracking_uri = uri
        self.stage_seconds: dict[str, float] = {}
        self.step_seconds: dict[str, dict[str, float]] = {}
        #: resident memory as each stage ended, and the process's peak by then (MB)
        self.stage_memory_mb: dict[str, dict[str, float]] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[StageRun]:
        """A nested run for one stage; its duration is logged, a failure marks it FAILED."""
        with mlflow.start_run(run_name=name, nested=True, experiment_id=self.experiment_id) as run:
            mlflow.set_tag("segml.stage", name)
            t0 = time.perf_counter()
            with collect_steps() as steps:
                try:
                    yield StageRun(run.info.run_id)
                except BaseException as exc:
                    # leaving the ``with`` block with an exception marks the nested run FAILED
                    mlflow.set_tag("error", _short(exc))
                    raise
                finally:
                    secs = time.perf_counter() - t0
                    self.stage_seconds[name] = secs
                    steps.rss_mb["end"] = rss_mb()
                    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
                    self.stage_memory_mb[name] = {"end": steps.rss_mb["end"], "peak_so_far": peak}
                    if steps:
                        self.step_seconds[name] = dict(steps)
                        mlflow.log_metrics({f"seconds.{k}": v for k, v in steps.items()})
                    mlflow.log_metrics({f"rss_mb.{k}": v for k, v in steps.rss_mb.items()})
                    mlflow.log_metric("seconds", secs)
                    self.client.log_metric(self.run_id, f"stage_seconds.{name}", secs)


class StageRun:
    """Logging helpers bound to the active (nested) run."""

    def __init__(self, run_id: str):
        self.run_id = run_id

    def metrics(self, values: Mapping[str, float]) -> None:
        """Log numeric metrics (non-numbers are skipped)."""
        mlflow.log_metrics(
            {
                k: float(v)
                for k, v in values.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
        )

    def params(self, values: Mapping[str, Any]) -> None:
        """Log parameters (values are stringified)."""
        mlflow.log_params({k: str(v)[:6000] for k, v in values.items()})

    def json(self, obj: Any, name: str) -> None:
        """Log a JSON artifact."""
        mlflow.log_dict(obj, name)

    def figures(
        self,
        folder: str | os.PathLike[str],
        artifact_path: str = "figures",
        skip: tuple[str, ...] = (),
    ) -> None:
        """Log every PNG under ``folder`` (nothing if it does not exist) but names with ``skip``."""
        root = Path(folder)
        if root.is_dir():
            for png in sorted(root.rglob("*.png")):
                if any(s in png.name for s in skip):
                    continue
                rel = png.parent.relative_to(root).as_posix()
                mlflow.log_artifact(
                    str(png), artifact_path if rel == "." else f"{artifact_path}/{rel}"
                )

    def artifact(self, path: str | os.PathLike[str], folder: str | None = None) -> None:
        """Log a file as an artifact."""
        mlflow.log_artifact(str(path), folder)


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:4000]


@contextmanager
def tracked_run(cfg: RunConfig, root: Path, config_path: Path | None = None) -> Iterator[Tracker]:
    """Start the parent run of a pipeline run; mark it FAILED (with the error) if anything fails.

    Logs the resolved config (as parameters and as ``config.json``), the git commit and dirty
    flag, package versions and the seed.
    """
    uri = tracking_uri(cfg.tracking, root)
    # a bank's runs stay in the bank: no usage telemetry unless the user asked for it
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in logs
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(cfg.tracking.experiment)
    if exp is None:
        location = artifact_root(root) if uri.startswith("sqlite:") else None
        exp_id = client.create_experiment(cfg.tracking.experiment, artifact_location=location)
    else:
        exp_id = exp.experiment_id
    tags = {**git_state(root), **package_versions(), "segml.config_name": cfg.name}
    if config_path is not None:
        tags["segml.config_path"] = str(config_path)
    with mlflow.start_run(experiment_id=exp_id, run_name=cfg.name, tags=tags) as run:
        tracker = Tracker(client, run.info.run_id, uri, exp_id)
        try:
            mlflow.log_params({k: str(v) for k, v in cfg.to_flat_dict().items()})
            mlflow.log_dict(cfg.model_dump(mode="json"), "config.json")
            yield tracker
        except BaseException as exc:
            mlflow.set_tag("error", _short(exc))
            try:
                withdrawn = withdraw_versions(client, tracker.run_id)
            except Exception as err:  # never hide the run's own error
                withdrawn = []
                mlflow.set_tag("segml.withdraw_error", _short(err))
            if withdrawn:
                mlflow.set_tag("segml.withdrawn_versions", ", ".join(withdrawn))
            with tempfile.TemporaryDirectory() as tmp:
                p = Path(tmp) / "error.txt"
                p.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
                mlflow.log_artifact(str(p))
            raise  # leaving the ``with`` block with an exception marks the run FAILED


def withdraw_versions(client: MlflowClient, run_id: str) -> list[str]:
    """Delete the registered model versions a failed run made (their aliases go with them).

    A run that fails after registering its model (e.g. its outputs cannot be written) must not
    leave a version that ``segml promote`` could make the champion. Returns ``name/version``
    of each version deleted.
    """
    deleted = []
    for mv in client.search_model_versions(f"run_id = '{run_id}'"):
        client.delete_model_version(mv.name, mv.version)
        deleted.append(f"{mv.name}/{mv.version}")
    return deleted


def run_status(uri: str, run_id: str) -> str:
    """Status (FINISHED, FAILED, ...) of a run in a store."""
    return MlflowClient(uri).get_run(run_id).info.status


def dump_json(obj: Any, path: Path, sort_keys: bool = True) -> None:
    """Write ``obj`` as stable, indented JSON (``sort_keys=False`` keeps an order that means
    something, e.g. stages in the order they ran)."""
    path.write_text(json.dumps(obj, indent=2, sort_keys=sort_keys, default=str), encoding="utf-8")
