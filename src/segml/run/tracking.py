"""MLflow tracking for segml runs: one parent run per pipeline run, one nested run per stage.

By default the store is embedded: a SQLite database ``experiments/mlflow.db`` with artifacts in
``experiments/artifacts`` under the project root, so nothing has to be started. The
``MLFLOW_TRACKING_URI`` environment variable (a bank's tracking server) wins over the config.
Nothing is configured at import time; the tracking URI is set when a run starts.
"""

from __future__ import annotations

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
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from segml.progress import collect_steps, rss_mb
from segml.run.config import RunConfig, TrackingConfig
from segml.run.lineage import TextPseudonymizer, pseudonym_key
from segml.run.state import (
    Terminated,
    as_stop,
    host_name,
    process_alive,
    process_tags,
    signals_held,
    signals_raise,
)

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
        self.stage_memory_mb: dict[str, dict[str, Any]] = {}
        #: runs of dead processes this run marked FAILED as it started
        self.recovered_runs: list[str] = []
        #: (model name, version, alias) to set once the run has ended FINISHED
        self.deferred_aliases: list[tuple[str, str, str]] = []
        #: pseudonymises customer ids in what is logged (``tracking.pseudonymize``), else None
        self.private: TextPseudonymizer | None = None

    def redact(self, text: str) -> str:
        """``text`` with customer ids pseudonymised when the run's tracking asks for it."""
        return self.private(text) if self.private is not None else text

    def know_ids(self, ids: Any) -> None:
        """Teach the pseudonymizer the bank's customer ids (no-op without pseudonymisation)."""
        if self.private is not None:
            self.private = self.private.with_ids(ids)

    def defer_alias(self, name: str, version: str, alias: str) -> None:
        """Point ``alias`` at ``name``/``version`` once the run has ended FINISHED."""
        self.deferred_aliases.append((name, str(version), alias))

    def set_deferred_aliases(self) -> None:
        """Set the deferred aliases (the run has FINISHED); if that fails, fail the run."""
        try:
            for name, ver, alias in self.deferred_aliases:
                self.client.set_registered_model_alias(name, alias, ver)
        except BaseException as exc:
            self.client.set_tag(self.run_id, "error", self.redact(_short(exc)))
            self.client.set_terminated(self.run_id, "FAILED")
            withdrawn = withdraw_versions(self.client, self.run_id)
            if withdrawn:
                self.client.set_tag(self.run_id, "segml.withdrawn_versions", ", ".join(withdrawn))
            raise

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
                    mlflow.set_tag("error", self.redact(_short(exc)))
                    raise
                finally:
                    secs = time.perf_counter() - t0
                    self.stage_seconds[name] = secs
                    steps.rss_mb["end"] = rss_mb()
                    steps.rss_mb["peak"] = max(steps.peak_mb, steps.rss_mb["end"])
                    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
                    self.stage_memory_mb[name] = {
                        "end": steps.rss_mb["end"],
                        "peak": steps.rss_mb["peak"],
                        "peak_so_far": peak,
                        "steps": dict(steps.step_peak_mb),
                    }
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
    flag, package versions, the seed and the process (host, pid) that runs it. Before it starts,
    runs of this store left RUNNING by a process of this host that no longer lives are marked
    FAILED (:func:`mark_dead_runs`). While it is active SIGTERM fails the run like Ctrl-C does.
    Whichever way it fails, the model versions it registered are deleted
    (:func:`withdraw_versions`); the aliases it asked for (:meth:`Tracker.defer_alias`) are set
    only after the run has ended FINISHED.
    """
    uri = tracking_uri(cfg.tracking, root)
    # telemetry is off from ``import segml`` on (segml/__init__.py), before MLflow loads
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in logs
    mlflow.set_tracking_uri(uri)
    # the registry is this store's unless MLFLOW_REGISTRY_URI names another: never one an earlier
    # call left set in this process (the run's versions would be registered, and withdrawn, there)
    registry = os.environ.get("MLFLOW_REGISTRY_URI") or uri
    mlflow.set_registry_uri(registry)
    client = MlflowClient(uri, registry_uri=registry)
    recovered = mark_dead_runs(client)
    exp = client.get_experiment_by_name(cfg.tracking.experiment)
    if exp is None:
        location = artifact_root(root) if uri.startswith("sqlite:") else None
        exp_id = client.create_experiment(cfg.tracking.experiment, artifact_location=location)
    else:
        exp_id = exp.experiment_id
    tags = {**git_state(root), **package_versions(), **process_tags(), "segml.config_name": cfg.name}  # fmt: skip
    if config_path is not None:
        tags["segml.config_path"] = str(config_path)
    key = pseudonym_key() if cfg.tracking.pseudonymize else None
    with signals_raise(), mlflow.start_run(experiment_id=exp_id, run_name=cfg.name, tags=tags) as run:  # fmt: skip
        tracker = Tracker(client, run.info.run_id, uri, exp_id)
        tracker.recovered_runs = recovered
        tracker.private = TextPseudonymizer(key) if key is not None else None
        try:
            mlflow.log_params({k: str(v) for k, v in cfg.to_flat_dict().items()})
            mlflow.log_dict(cfg.model_dump(mode="json"), "config.json")
            yield tracker
        except BaseException as exc:
            stop = as_stop(exc)  # a signal that a library reported as its own error
            with signals_held():
                _record_failure(tracker, stop)
            if stop is not exc:
                raise stop from exc
            raise  # leaving the ``with`` block with an exception marks the run FAILED
    with signals_held():
        tracker.set_deferred_aliases()


def _record_failure(tracker: Tracker, exc: BaseException) -> None:
    """Tag the error, withdraw the run's model versions and log ``error.txt`` (active run)."""
    mlflow.set_tag("error", tracker.redact(_short(exc)))
    if isinstance(exc, KeyboardInterrupt | Terminated):
        mlflow.set_tag("segml.killed", f"{_short(exc)} (pid {os.getpid()})")
    try:
        withdrawn = withdraw_versions(tracker.client, tracker.run_id)
    except Exception as err:  # never hide the run's own error
        withdrawn = []
        mlflow.set_tag("segml.withdraw_error", tracker.redact(_short(err)))
    if withdrawn:
        mlflow.set_tag("segml.withdrawn_versions", ", ".join(withdrawn))
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "error.txt"
        p.write_text(tracker.redact("".join(traceback.format_exception(exc))), encoding="utf-8")
        mlflow.log_artifact(str(p))


def run_tree(client: MlflowClient, run_id: str) -> list[str]:
    """``run_id`` and the ids of its nested (stage) runs."""
    run = client.get_run(run_id)
    children = client.search_runs(
        [run.info.experiment_id],
        f"tags.mlflow.parentRunId = '{run_id}'",
        run_view_type=ViewType.ALL,
        max_results=1000,
    )
    return [run_id, *(c.info.run_id for c in children)]


def withdraw_versions(client: MlflowClient, run_id: str) -> list[str]:
    """Delete the registered model versions a failed run made (their aliases go with them).

    A run that fails after registering its model (e.g. its outputs cannot be written) must not
    leave a version that ``segml promote`` could make the champion. The model is logged under
    the run's ``export`` stage, a nested run: versions of the run and of every nested run are
    deleted. Returns ``name/version`` of each version deleted.
    """
    ids = ", ".join(f"'{i}'" for i in run_tree(client, run_id))
    deleted = []
    for mv in client.search_model_versions(f"run_id IN ({ids})"):
        client.delete_model_version(mv.name, mv.version)
        deleted.append(f"{mv.name}/{mv.version}")
    return deleted


def mark_dead_runs(client: MlflowClient) -> list[str]:
    """Mark FAILED the runs left RUNNING by segml processes of this host that are gone.

    A killed run (SIGKILL, power loss, a closed notebook kernel) cannot end itself. Its stage
    runs are marked FAILED with it, it is tagged ``segml.killed`` and its model versions are
    withdrawn. Runs of live processes and of other hosts are left alone. Returns their ids.
    """
    host = host_name().replace("'", "")
    exps = [e.experiment_id for e in client.search_experiments()]
    if not exps:
        return []
    stale = client.search_runs(
        exps,
        f"attributes.status = 'RUNNING' and tags.`segml.host` = '{host}'",
        max_results=1000,
    )
    marked = []
    for run in stale:
        pid, start = run.data.tags.get("segml.pid", ""), run.data.tags.get("segml.pid_start")
        if not pid.isdigit() or process_alive(int(pid), start):
            continue
        why = f"killed: process {pid} on {host} ended without finishing the run"
        client.set_tag(run.info.run_id, "segml.killed", why)
        client.set_tag(run.info.run_id, "error", why)
        withdrawn = withdraw_versions(client, run.info.run_id)
        if withdrawn:
            client.set_tag(run.info.run_id, "segml.withdrawn_versions", ", ".join(withdrawn))
        for rid in run_tree(client, run.info.run_id)[1:]:
            if client.get_run(rid).info.status == "RUNNING":
                client.set_terminated(rid, "FAILED")
        client.set_terminated(run.info.run_id, "FAILED")
        marked.append(run.info.run_id)
    return marked


def run_status(uri: str, run_id: str) -> str:
    """Status (FINISHED, FAILED, ...) of a run in a store."""
    return MlflowClient(uri).get_run(run_id).info.status
