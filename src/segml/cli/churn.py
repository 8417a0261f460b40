"""``segml churn train``: cross-validate the churn model on any customer table (CSV or Parquet).

:func:`churn_train_command` is a typer command function; ``segml.cli.main`` registers it. Exit codes
as the rest of the command line: 0 success; 1 the table cannot be read or trained on (the
message names the file, column or value); 2 bad usage (``--cv``, ``--search``, an existing
``--model-out``). Nothing is written unless ``--model-out`` is given and training succeeded.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from segml.jsonio import jsonable

__all__ = ["churn_train_command"]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _check_model_out(model_out: Path | None, table: Path) -> None:
    """Refuse ``--model-out`` before any work: the input, a file, a symbolic link loop, a
    folder that cannot be created or is not empty (ValueError naming the option)."""
    from segml.io import check_output_folder, check_output_path

    if model_out is None:
        return
    check_output_path(model_out, {"--table": table}, "--model-out")
    check_output_folder(model_out, "--model-out")
    if model_out.exists() and not _empty_dir(model_out):
        raise ValueError(f"--model-out {model_out} exists and is not an empty folder")


def churn_train_command(
    table: Annotated[
        Path, typer.Option("--table", help="Customer snapshot table, CSV or Parquet.")
    ],
    id: Annotated[str, typer.Option("--id", help="Identifier column (never a feature).")],
    target: Annotated[str, typer.Option("--target", help="Outcome column (two classes).")],
    positive: Annotated[
        str | None,
        typer.Option(help="Positive class of the target (needed for text with >2 values)."),
    ] = None,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="Column not to use (repeatable).")
    ] = None,
    cv: Annotated[int, typer.Option("--cv", help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed (same seed: same result).")] = 0,
    search: Annotated[
        int, typer.Option(help="Random hyper-parameter candidates per fold (0: defaults).")
    ] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    model_out: Annotated[
        Path | None,
        typer.Option(help="Also fit on all rows and save the model in this new folder."),
    ] = None,
) -> None:
    """Train and cross-validate the churn model on TABLE; report AUC, PR AUC, Brier per fold."""
    from segml.churn.crossval import fit_table_model, train_table
    from segml.io import atomic_output_dir, output_error
    from segml.tables import read_table

    if cv < 2:
        raise _fail(f"--cv must be at least 2, got {cv}", 2)
    if search < 0:
        raise _fail(f"--search must be 0 or more, got {search}", 2)
    try:
        _check_model_out(model_out, table)
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    try:
        df = read_table(table, text=[id])
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    drops = list(drop or [])
    # keep stdout for the one JSON object: anything a library prints goes to stderr
    redirect = contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext()
    try:
        with redirect:
            result = train_table(
                df, id, target, positive, drops, cv=cv, seed=seed, search=search, source=str(table)
            )
            model = None
            if model_out is not None:
                model = fit_table_model(df, id, target, positive, drops, seed=seed, search=search)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    info = result.to_dict()
    if model is not None and model_out is not None:
        try:
            with atomic_output_dir(model_out, overwrite=True) as tmp:
                model.save(tmp)
        except OSError as exc:  # a full disk: named, and no half-written folder is left
            raise _fail(str(output_error(exc, model_out))) from exc
        info["model_out"] = str(model_out)
    if json_out:
        typer.echo(json.dumps(jsonable(info, other=None), indent=2))
    else:
        typer.echo(result.summary())
        for f in result.folds:
            typer.echo(
                f"  fold {f['fold']}: ROC AUC {f['roc_auc']:.4f}  PR AUC {f['pr_auc']:.4f}  "
                f"Brier {f['brier']:.4f}  trees {f['best_iteration'] + 1}  {f['calibration']}"
            )
        if model_out is not None:
            typer.echo(f"saved the model fitted on all rows to {model_out}")
