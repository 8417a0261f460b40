"""``segml report``: write a run's model-review pack and log it to the run.

:func:`report_command` is a typer command; ``segml.cli.main`` registers it. The run is found by
``--run-id`` (an MLflow run id or a prefix of at least 6 characters) in the config's
``output.dir``, or is the latest finished run there of the config's ``name`` (``--latest``, the
default: another config's run in a shared ``output.dir`` is never picked). A run without
a folder is looked up in the tracking store, so a failed run is reported as failed, with its
stage and error. Exit codes: 0 success; 1 the run (or the reference run) is not found or
failed, or the pack could not be logged (the message says which; nothing is written when the
run is not found); 2 bad usage, among it an ``--out`` that is a folder, an existing file
(without ``--overwrite``) or one of the run's inputs — checked before the pack is built.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from segml.run.config import RunConfig
    from segml.run.folder import RunFolder

__all__ = ["check_report_out", "report_command"]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _run_inputs(run: RunFolder, root: Path, config: Path) -> dict[str, Path | None]:
    """What a pack must never be written over: the run's data, mapping, folder, store, config."""
    from segml.run.config import resolve

    data = run.config.get("data") or {}
    folder = run.run.get("data_dir") or (
        data.get("path") if data.get("source", "folder") == "folder" else None
    )
    mapping = data.get("mapping")
    uri = str(run.run.get("tracking_uri") or "")
    store = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    return {
        "data.path": resolve(root, str(folder)) if folder else None,  # the run's data
        "data.mapping": resolve(root, str(mapping)) if mapping else None,
        "run folder": run.path,
        "tracking store": store,
        "--config": config,
    }


def check_report_out(
    out: Path, inputs: dict[str, Path | None], *, overwrite: bool, given: bool = True
) -> None:
    """Refuse a review-pack path before any work: checked before the pack is built.

    Parameters
    ----------
    out : Path
        Where the pack would be written.
    inputs : dict
        The run's inputs by description (data folder, mapping, run folder, tracking store,
        config): never written over, not even with ``overwrite``.
    overwrite : bool
        Replace an existing file (``--overwrite``).
    given : bool, default True
        ``out`` came from ``--out``; the default path (the run's own earlier pack) may be
        replaced without ``overwrite``.

    Raises
    ------
    ValueError
        Naming ``--out`` and the path: a folder, an existing file without ``overwrite``, one of
        the inputs (or inside an input folder or another run's folder), or a path that cannot
        be created.
    """
    from segml.io import check_can_create, check_output_path
    from segml.run.folder import RUN_JSON

    option = "--out" if given else "the default --out"
    if out.is_dir():
        raise ValueError(
            f"{option} {out} is a folder: give a file path, e.g. {out / 'review.html'}"
        )
    check_output_path(out, inputs, option=option)
    for above in Path(out).expanduser().resolve().parents:
        if (above / RUN_JSON).is_file():
            raise ValueError(
                f"{option} {out} is inside the run folder {above}: segml never writes over a "
                "run's outputs; choose another path"
            )
    if given and (out.exists() or out.is_symlink()) and not overwrite:
        raise ValueError(f"{option} {out} exists: pass --overwrite to replace it")
    check_can_create(out, option)


def _store_note(cfg: RunConfig, root: Path, run_id: str, runs: Path) -> str | None:
    """What the tracking store of ``cfg`` says about a run that has no folder."""
    from segml.run.folder import tracked_run_note
    from segml.run.tracking import tracking_uri

    return tracked_run_note(tracking_uri(cfg.tracking, root), run_id, runs)


def _find_run(
    cfg: RunConfig, root: Path, config: Path, run_id: str | None, *, say: bool
) -> RunFolder:
    """The run ``--run-id`` names in the config's ``output.dir``, else the config's latest.

    The latest run is the newest finished one of the config's ``name`` (never another
    config's run that shares the folder); which one it is goes to stdout (``say``) or stderr.

    Raises
    ------
    typer.Exit
        1, naming the run, or the folder and the config's name when it has no finished run.
    """
    from segml.run.config import resolve
    from segml.run.folder import NoRunFolderError, RunNotFoundError, latest_run, locate_run

    runs = resolve(root, cfg.output.dir)
    assert runs is not None
    try:
        run = locate_run(run_id, runs) if run_id else latest_run(runs, cfg.name)
    except NoRunFolderError as exc:
        assert run_id is not None
        raise _fail(_store_note(cfg, root, run_id, runs) or str(exc)) from exc
    except RunNotFoundError as exc:
        hint = "" if run_id else f": run `segml run --config {config}` first, or give --run-id"
        raise _fail(f"{exc}{hint}") from exc
    if not run_id:
        typer.echo(f"latest finished run of config {cfg.name!r} in {runs}: {run.path.name} "
                   f"(run {run.run_id})", err=not say)  # fmt: skip
    return run


def report_command(
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="MLflow run id of a `segml run` (or a prefix).")
    ] = None,
    latest: Annotated[
        bool,
        typer.Option(
            "--latest", help="The config's most recent finished run (by its name; the default)."
        ),
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
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out file.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Write the model-review pack (one self-contained HTML file) of a finished run."""
    from segml.io import output_error
    from segml.jsonio import jsonable
    from segml.run.config import ConfigError, load_config, project_root, resolve
    from segml.run.folder import NoRunFolderError, RunNotFoundError

    if run_id and latest:
        raise _fail("give --run-id or --latest, not both", 2)
    try:
        cfg = load_config(config, option="--config")
    except ConfigError as exc:
        raise _fail(str(exc), 2) from exc
    root = project_root(config)
    runs = resolve(root, cfg.output.dir)
    assert runs is not None
    run = _find_run(cfg, root, config, run_id, say=not json_out)

    from segml.report.build import build_report, default_out, log_report, write_report

    target = out if out is not None else default_out(root, run)
    try:  # before any work: nothing the user gave is written over, nothing half-written
        check_report_out(
            target, _run_inputs(run, root, config), overwrite=overwrite, given=out is not None
        )
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    # keep stdout for the one JSON object: anything a library prints goes to stderr
    redirect = contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext()
    try:
        with redirect:
            pack = build_report(run, runs, reference_run=reference_run)
    except NoRunFolderError as exc:
        assert reference_run is not None
        note = _store_note(cfg, root, reference_run, runs)
        raise _fail(f"reference run: {note or exc}") from exc
    except RunNotFoundError as exc:
        raise _fail(f"reference run: {exc}") from exc
    try:
        path = write_report(pack, target).resolve()
    except OSError as exc:  # a full disk: named, and the file left as it was
        raise _fail(str(output_error(exc, target))) from exc
    logged = None
    if log:
        try:
            with redirect:
                logged = log_report(pack, path)
        except Exception as exc:
            raise _fail(f"wrote {path} but could not log it to run {pack.run_id}: {exc}") from exc
    summary: dict[str, Any] = pack.summary()
    if json_out:  # strict JSON: a PSI or ratio that could not be computed is null, not NaN
        doc = jsonable({"path": str(path), **summary, "logged_to": logged})
        typer.echo(json.dumps(doc, indent=2, allow_nan=False))
        return
    n = len(summary["attention"])
    typer.echo(
        f"review pack of run {pack.run_id}: {len(summary['sections'])} sections, "
        f"{n} point(s) need attention (listed at the top of the pack)"
    )
    if logged:
        typer.echo(f"logged to {logged}")
    typer.echo(f"wrote {path}")
