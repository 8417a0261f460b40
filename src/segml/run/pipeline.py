"""The main job, ``segml run``: data, validation, profile, features, labels, CLV, churn, value,
tiers, segments, grades, explanations, export.

:func:`run_pipeline` checks the paths, opens the tracked run and walks the declared step table
(:data:`segml.run.steps.STEPS`) with the runner (:mod:`segml.run.runner`); the output folder is
written once, at the end (:mod:`segml.run.outputs`). The pipeline reads only the contract
tables; the synthetic bank's ground truth is never opened here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from segml.compute import device_default, require_device, thread_default
from segml.io import (
    atomic_output_dir,
    check_can_create,
    check_output_path,
    load_mapping,
    remove_stale_temporaries,
)
from segml.run.config import ConfigError, RunConfig, resolve
from segml.run.context import Progress, RunContext
from segml.run.lineage import copy_pseudonymized
from segml.run.outputs import run_result, write_outputs
from segml.run.result import RunResult
from segml.run.runner import Step, run_steps
from segml.run.steps import STEPS
from segml.run.tracking import Tracker, tracked_run

__all__ = ["check_run_paths", "run_output_dir", "run_pipeline"]


# ----------------------------------------------------------------------------- the run
def check_run_paths(cfg: RunConfig, root: Path, out_base: Path) -> None:
    """Refuse, before any work, a ``data.mapping`` that cannot be read and an ``output.dir``
    that cannot hold the run's outputs.

    The output folder must be creatable and writable, and may not be (or lie inside) the bank's
    data folder nor the synthetic cache: a run never writes into its inputs.

    Raises
    ------
    segml.run.config.ConfigError
        Naming ``output.dir`` and the obstacle.
    """
    inputs = {"data.path": resolve(root, cfg.data.path) if cfg.data.source != "synthetic" else None,
              "data.mapping": resolve(root, cfg.data.mapping),
              "synthetic.cache_dir": resolve(root, cfg.synthetic.cache_dir)
              if cfg.data.source == "synthetic" else None}  # fmt: skip
    if inputs["data.mapping"] is not None:
        try:
            load_mapping(inputs["data.mapping"])
        except ValueError as exc:
            raise ConfigError(f"data.mapping: {exc}") from None
    try:
        check_output_path(out_base, inputs, option="output.dir", new_entries=True)
        if out_base.exists() and not out_base.is_dir():
            raise ValueError(f"output.dir {out_base} is a file, not a folder")
        check_can_create(out_base, "output.dir")
        if out_base.is_dir() and not os.access(out_base, os.W_OK | os.X_OK):
            raise ValueError(f"output.dir {out_base} cannot be written: no permission")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def run_output_dir(out_base: Path, name: str, run_id: str) -> Path:
    """The run's output folder ``<output.dir>/<name>-<run id>``, checked to lie inside it.

    Raises
    ------
    segml.run.config.ConfigError
        When the name would lead elsewhere (the config refuses such names already).
    """
    out = out_base / f"{name}-{run_id[:12]}"
    if out.resolve().parent != out_base.resolve():
        raise ConfigError(f"name {name!r}: the run's folder {out} would not lie in output.dir")
    return out


def remove_temporaries(cfg: RunConfig, root: Path, out_base: Path) -> list[str]:
    """Remove temporary folders that killed runs left where this run writes."""
    folders = [out_base]
    if cfg.data.source == "synthetic":
        folders.append(resolve(root, cfg.synthetic.cache_dir))
    return [f"{f / n}" for f in folders if f is not None for n in remove_stale_temporaries(f)]


def log_outputs(tracker: Tracker, folder: Path, private_figures: tuple[str, ...]) -> None:
    """Log the run's output folder as artifacts ``outputs/`` (pseudonymised when asked)."""
    if tracker.private is None:
        tracker.client.log_artifacts(tracker.run_id, str(folder), "outputs")
        return
    with tempfile.TemporaryDirectory(prefix="segml-outputs-") as tmp:
        copy_pseudonymized(folder, Path(tmp), tracker.private.key, private_figures, tracker.private)  # fmt: skip
        tracker.client.log_artifacts(tracker.run_id, tmp, "outputs")


def run_pipeline(
    cfg: RunConfig,
    root: Path,
    config_path: Path | None = None,
    progress: Progress | None = None,
    steps: tuple[Step, ...] = STEPS,
) -> RunResult:
    """Run the main job described by ``cfg``; paths are resolved against ``root``.

    ``steps``: the step table to run (default: :data:`segml.run.steps.STEPS`).

    Raises
    ------
    segml.validate.ContractError
        If the data break the contract (the MLflow run is marked FAILED, nothing is written
        to the output folder).
    """
    require_device(cfg.compute.device)
    if cfg.value.device is not None:
        require_device(cfg.value.device, "value.device")
    out_base = resolve(root, cfg.output.dir)
    assert out_base is not None
    check_run_paths(cfg, root, out_base)
    cleaned = remove_temporaries(cfg, root, out_base)
    with (
        thread_default(cfg.compute.threads),
        device_default(cfg.compute.device),
        tracked_run(cfg, root, config_path) as tracker,
        tempfile.TemporaryDirectory(prefix="segml-run-") as scratch,
    ):
        ctx = RunContext(cfg, root, tracker, Path(scratch), say=progress or (lambda _msg: None))
        ctx.warnings = [f"removed {n} left by a killed run" for n in cleaned] + [
            f"run {r} was left RUNNING by a process that is gone: marked FAILED (killed)"
            for r in tracker.recovered_runs
        ]
        run_steps(ctx, steps)
        out = run_output_dir(out_base, cfg.name, tracker.run_id)
        with atomic_output_dir(out) as tmp:
            result = run_result(ctx, out)
            write_outputs(ctx, tmp, result)
            log_outputs(tracker, tmp, ctx.private_figures)
    return result
