"""What a run leaves: ``run.json`` (the :class:`~segml.run.result.RunResult`) and the contents
of its output folder, gathered from the run's context; :class:`segml.run.folder.RunFolder`
writes them, once, at the end, and reads them back.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from segml.run.context import RunContext
from segml.run.folder import RunContents, RunFolder
from segml.run.result import RunResult
from segml.run.stages.features import label_metrics

__all__ = ["exported_model", "run_contents", "run_result", "write_outputs"]


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


def run_contents(ctx: RunContext, result: RunResult) -> RunContents:
    """What the run's folder holds: every step's tables, documents and figures, the features
    and labels, the validation report, the profile, the resolved config and ``run.json``.

    What a step table did not make (features, labels, the validated bank, the profile) is
    not written.
    """
    out = RunContents(record=result.to_dict(), config=ctx.cfg.model_dump(mode="json"))
    for res in ctx.results.values():
        out.tables |= res.tables
        out.files |= res.files
        out.documents |= res.documents
    if ctx.features is not None and "features" not in out.files:  # a step table that wrote none
        out.arrow["features"] = ctx.features
    if ctx.labels is not None:
        out.arrow["labels"] = ctx.labels
    out.figures = ctx.figures
    if ctx.bank is not None:
        out.documents["validation.json"] = ctx.bank.report.to_dict()
    if ctx.profile is not None:
        out.documents["data_profile.json"] = asdict(ctx.profile)
    return out


def write_outputs(ctx: RunContext, tmp: Path, result: RunResult) -> RunFolder:
    """Write the run's outputs into ``tmp`` (the folder takes its final name afterwards):
    :meth:`RunFolder.write` of :func:`run_contents`. A run that fails or is stopped before it
    ends leaves no output folder: ``run.json`` and the tracked copy are made first."""
    return RunFolder.write(tmp, run_contents(ctx, result))
