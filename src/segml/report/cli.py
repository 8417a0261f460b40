"""``segml report``: write a run's model-review pack and log it to the run.

:func:`report_command` is a typer command; ``segml.cli`` registers it. The run is found by
``--run-id`` (an MLflow run id or a prefix of at least 6 characters) in the config's
``output.dir``, or is the latest finished run there (``--latest``, the default). Exit codes:
0 success; 1 the run (or the reference run) is not found, or the pack could not be logged
(the message says which; nothing is written when the run is not found); 2 bad usage.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["report_command"]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def report_command(
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="MLflow run id of a `segml run` (or a prefix).")
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="The most recent finished run (the default).")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output HTML file (default: <project>/reports/review_<run id[:12]>.html)."
        ),
    ] = None,
    reference_run: Annotated[
        str | None,
        typer.Option(
            "--reference-run",
            help="Run to measure stability against (default: the champion's run).",
        ),
    ] = None,
    config: Annotated[Path, typer.Option(help="Config whose output.dir holds the runs.")] = Path(
        "experiments/configs/default.yaml"
    ),
    log: Annotated[
        bool, typer.Option("--log/--no-log", help="Log the pack to the run in MLflow (report/).")
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Write the model-review pack (one self-contained HTML file) of a finished run."""
    from segml.config import ConfigError, load_config, project_root, resolve
    from segml.report.run_folder import RunNotFoundError, latest_run, locate_run

    if run_id and latest:
        raise _fail("give --run-id or --latest, not both", 2)
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise _fail(str(exc), 2) from exc
    root = project_root(config)
    runs = resolve(root, cfg.output.dir)
    assert runs is not None
    try:
        run = locate_run(run_id, runs) if run_id else latest_run(runs)
    except RunNotFoundError as exc:
        raise _fail(str(exc)) from exc

    from segml.report.build import build_report, default_out, log_report, write_report

    target = out if out is not None else default_out(root, run)
    # keep stdout for the one JSON object: anything a library prints goes to stderr
    redirect = contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext()
    try:
        with redirect:
            pack = build_report(run, runs, reference_run=reference_run)
    except RunNotFoundError as exc:
        raise _fail(f"reference run: {exc}") from exc
    path = write_report(pack, target).resolve()
    logged = None
    if log:
        try:
            with redirect:
                logged = log_report(pack, path)
        except Exception as exc:
            raise _fail(f"wrote {path} but could not log it to run {pack.run_id}: {exc}") from exc
    summary = pack.summary()
    if json_out:
        typer.echo(
            json.dumps({"path": str(path), **summary, "logged_to": logged}, indent=2, default=str)
        )
        return
    n = len(summary["attention"])
    typer.echo(
        f"review pack of run {pack.run_id}: {len(summary['sections'])} sections, "
        f"{n} point(s) need attention (listed at the top of the pack)"
    )
    if logged:
        typer.echo(f"logged to {logged}")
    typer.echo(f"wrote {path}")
