"""The run's output folder, written once at the end: every step's tables, documents and
figures, the features and labels, the resolved config, and ``run.json`` (the
:class:`~segml.run.result.RunResult`). :mod:`segml.run.folder` reads it back.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path

import yaml

from segml.features import write_features
from segml.run.context import RunContext
from segml.run.result import RunResult
from segml.run.stages.features import label_metrics
from segml.run.tracking import dump_json

__all__ = ["exported_model", "run_result", "write_outputs"]


def exported_model(ctx: RunContext) -> dict[str, str] | None:
    """URI, name, version and alias of the model the export step registered."""
    info = ctx.document("export", "model_info.json")
    if info is None:
        return None
    return {k: str(info[k]) for k in ("model_uri", "name", "version", "alias", "run_id")}


def run_result(ctx: RunContext, out: Path) -> RunResult:
    """What the run did (``run.json``): where things are, metrics, timings and warnings."""
    tracker, features = ctx.tracker, ctx.features
    return RunResult(
        run_id=tracker.run_id,
        tracking_uri=tracker.tracking_uri,
        output_dir=str(out),
        data_dir=str(ctx.folder),
        as_of=str(ctx.as_of),
        status="FINISHED",
        metrics={
            **({} if ctx.profile is None else ctx.profile.metrics()),
            **(
                {}
                if features is None
                else {"features.rows": features.num_rows, "features.columns": features.num_columns}
            ),
            **({} if ctx.labels is None else label_metrics(ctx.labels)),
            **{f"{k}.{m}": v for k, r in ctx.results.items() for m, v in r.metrics.items()},
        },
        stage_seconds=dict(tracker.stage_seconds),
        step_seconds=dict(tracker.step_seconds),
        stage_memory_mb=dict(tracker.stage_memory_mb),
        warnings=ctx.warnings,
        model=exported_model(ctx),
        value_measure=ctx.document("tiers", "value_measure.json"),
    )


def write_outputs(ctx: RunContext, tmp: Path, result: RunResult) -> None:
    """Write the run's outputs into ``tmp`` (the folder takes its final name afterwards).

    What a step table did not make (features, labels, the validated bank, the profile) is
    not written.
    """
    for res in ctx.results.values():
        for name, df in res.tables.items():
            df.to_parquet(tmp / f"{name}.parquet", index=False)
        for name, path in res.files.items():
            shutil.move(path, tmp / f"{name}.parquet")
        for name, doc in res.documents.items():
            dump_json(doc, tmp / name)
    if ctx.features is not None:
        write_features(ctx.features, tmp / "features.parquet")
    if any(ctx.figures.rglob("*.png")):
        shutil.copytree(ctx.figures, tmp / "figures")
    if ctx.labels is not None:
        write_features(ctx.labels, tmp / "labels.parquet")
    config = yaml.safe_dump(ctx.cfg.model_dump(mode="json"), sort_keys=False)
    (tmp / "config.yaml").write_text(config, encoding="utf-8")
    if ctx.bank is not None:
        dump_json(ctx.bank.report.to_dict(), tmp / "validation.json")
    if ctx.profile is not None:
        dump_json(asdict(ctx.profile), tmp / "data_profile.json")
    # run.json and the tracked copy are made before the folder takes its name: a run that
    # fails or is stopped before it ends leaves no output folder
    dump_json(result.to_dict(), tmp / "run.json", sort_keys=False)  # stages in run order
