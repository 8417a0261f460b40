"""The ``segml`` command line: synth, validate, convert, features, run.

Exit codes: 0 success; 1 the data or the run failed (the message says where); 2 bad usage or
configuration.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from segml.run.config import RunConfig

app = typer.Typer(
    name="segml",
    help="Bank customer segmentation and tiering: data contract, synthetic bank, pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def parse_date(value: str, option: str) -> dt.date:
    """An ISO date (``2024-12-31``) given to ``option``; ValueError naming the option if not."""
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{option} must be a date written YYYY-MM-DD, got {value!r}") from None


def _echo_json(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Output folder (created; refused if not empty).")],
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed: identical tables).")] = 42,
    start: Annotated[str, typer.Option(help="First day of the history.")] = "2021-01-01",
    as_of: Annotated[
        str, typer.Option(help="As-of month end; the label window follows.")
    ] = "2024-12-31",
    label_months: Annotated[int, typer.Option(min=1, help="Months in the label window.")] = 12,
    corporate_share: Annotated[float, typer.Option(help="Share of corporate clients.")] = 0.08,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Write a synthetic bank (contract tables + ground_truth.parquet) to OUT."""
    from segml.io import check_output_folder, output_error
    from segml.synth import SynthConfig, generate

    try:
        check_output_folder(out, "--out")
        cfg = SynthConfig(
            customers=customers,
            seed=seed,
            start=parse_date(start, "--start"),
            as_of=parse_date(as_of, "--as-of"),
            label_months=label_months,
            corporate_share=corporate_share,
        )
        cfg.calendar  # noqa: B018 - validates the dates
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    try:
        result = generate(cfg, out, overwrite=overwrite)
    except FileExistsError as exc:
        raise _fail(str(exc), 2) from exc
    except OSError as exc:  # a full disk, a quota: nothing half-written is left
        raise _fail(str(output_error(exc, out))) from exc
    info = {"out": str(result.out), "seconds": round(result.seconds, 2), "rows": result.row_counts}
    if json_out:
        _echo_json(info)
    else:
        typer.echo(f"wrote {out} in {result.seconds:.1f} s")
        for k, v in result.row_counts.items():
            typer.echo(f"  {k:22s} {v:>12,}")


@app.command()
def validate(
    folder: Annotated[Path, typer.Argument(help="Folder of contract tables (Parquet or CSV).")],
    mapping: Annotated[Path | None, typer.Option(help="YAML mapping of your names.")] = None,
    reference_date: Annotated[
        str | None, typer.Option(help="Dates after it are 'in the future' (default today).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache",
            help="Check every rule even if these files were validated before (see SEGML_NO_CACHE).",
        ),
    ] = False,
) -> None:
    """Check FOLDER against the bank data contract (exit 1 if any rule is broken)."""
    from segml.io import load_mapping
    from segml.validate import validate_folder

    try:
        maps = load_mapping(mapping, option="--mapping") if mapping else None
        ref = parse_date(reference_date, "--reference-date") if reference_date else None
    except (ValueError, KeyError, OSError) as exc:
        raise _fail(str(exc), 2) from exc
    report = validate_folder(folder, maps, ref, cache=not no_cache)
    if json_out:
        _echo_json({**report.to_dict(), "cached": report.cached})
    else:
        typer.echo(report.summary(), err=not report.ok)
        if report.cached:
            note = "(from the validation cache: the files are unchanged since checked; --no-cache)"
            typer.echo(note, err=not report.ok)
    if not report.ok:
        raise typer.Exit(1)


class Source(StrEnum):
    """Data sources that ``segml convert`` maps onto the contract."""

    cdnow = "cdnow"
    online_retail = "online-retail"
    berka = "berka"


def _convert_source(
    source: Source, out: Path, path: Path | None, mapping: Path | None, overwrite: bool
) -> None:
    """Run the adapter of ``source``; it writes ``out`` (tables and dataset.json) or nothing."""
    from segml import loaders

    if source is Source.cdnow:
        loaders.cdnow_to_bank(out, overwrite=overwrite, path=path)
    elif source is Source.online_retail:
        loaders.online_retail_to_bank(out, path=path, overwrite=overwrite, mapping=mapping)
    else:
        loaders.berka_to_bank(out, berka_dir=path, overwrite=overwrite)


@app.command()
def convert(
    source: Annotated[Source, typer.Argument(help="Which public data set to convert.")],
    out: Annotated[Path, typer.Option(help="Output folder for the contract tables.")],
    path: Annotated[
        Path | None,
        typer.Option(
            help="Input: the CDNOW text file (default: the sample lifetimes ships), the Online "
            "Retail CSV or the folder of Berka .asc files (default: ../shared/data)."
        ),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="online-retail: YAML naming your headers for the loader's columns, "
            "'columns: {InvoiceNo: BillNo, CustomerID: Kunde}'."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Map a public data set (CDNOW, UCI Online Retail, Berka) onto the contract in OUT.

    Also writes OUT/dataset.json (kind, source file, SHA-256, load report); prints the report.

    Exit 1: malformed input (file, column, lines named); 2: bad --path, --out, --mapping.
    """
    from segml.io import OutputError, check_output_folder, check_output_path
    from segml.loaders.common import cli_message
    from segml.loaders.dataset import read_dataset_record, record_summary
    from segml.loaders.online_retail import load_column_mapping

    try:
        if mapping is not None and source is not Source.online_retail:
            raise ValueError(f"--mapping applies to online-retail only, not to {source.value}")
        load_column_mapping(mapping, option="--mapping")  # read again by the loader
        check_output_path(out, {"--path": path, "--mapping": mapping})
        check_output_folder(out, "--out")
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    try:
        _convert_source(source, out, path, mapping, overwrite)
    except (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
        raise _fail(cli_message(str(exc)), 2) from exc
    except ValueError as exc:
        raise _fail(cli_message(str(exc))) from exc
    except OutputError as exc:  # a full disk, a quota: nothing half-written is left
        raise _fail(str(exc)) from exc
    except OSError as exc:  # e.g. a folder that cannot be written
        raise _fail(f"cannot convert {source.value} into {out}: {exc}") from exc
    record = read_dataset_record(out) or {}
    if json_out:
        _echo_json({"out": str(out), "dataset": record})
    else:
        typer.echo(f"wrote {out}")
        if record:
            typer.echo(record_summary(record))


def _features_config(config: Path | None, engine: str | None, mapping: Path | None) -> RunConfig:
    """The config ``segml features`` runs with; its mapping (``--mapping`` or data.mapping) read.

    Raises
    ------
    ValueError
        Naming the option: a config or mapping that cannot be read (YAML errors with the line),
        or does not fit.
    """
    from segml.io import load_mapping
    from segml.run.config import RunConfig, load_config

    cfg = load_config(config, option="--config") if config else RunConfig()
    if engine:
        cfg = cfg.model_copy(update={"features": cfg.features.model_copy(update={"engine": engine})})  # fmt: skip
    if mapping is not None or cfg.data.mapping:  # read again by load_bank: checked here first
        load_mapping(mapping or cfg.data.mapping, "--mapping" if mapping else "data.mapping")
    return cfg


def _check_features_outputs(
    out: Path, labels_out: Path | None, given: dict[str, Path | None]
) -> None:
    """Refuse ``--out`` / ``--labels-out`` before any work (ValueError naming the option)."""
    from segml.io import check_output_file, check_output_path

    for option, path in (("--out", out), ("--labels-out", labels_out)):
        if path is None:
            continue
        if path.suffix.lower() not in (".parquet", ".pq"):
            raise ValueError(f"{option} must end in .parquet (it is written as Parquet): {path}")
        check_output_path(path, given, option)
        check_output_file(path, option)
    if labels_out is not None and labels_out.resolve() == out.resolve():
        raise ValueError(f"--labels-out and --out are the same file: {out}")


@app.command()
def features(
    data: Annotated[Path, typer.Option(help="Folder of contract tables.")],
    as_of: Annotated[str, typer.Option(help="As-of date: only records known then are used.")],
    out: Annotated[Path, typer.Option(help="Output Parquet file (one row per customer).")],
    config: Annotated[
        Path | None, typer.Option(help="Run config whose features/labels/data sections apply.")
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help="YAML mapping of your names.")] = None,
    engine: Annotated[str | None, typer.Option(help="duckdb (default) or spark.")] = None,
    labels_out: Annotated[
        Path | None, typer.Option(help="Also write labels from the window after --as-of.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Build the point-in-time customer feature table at AS_OF (see docs/features.md)."""
    from segml.data import load_bank
    from segml.features import write_features
    from segml.io import output_error
    from segml.run.stages.features import features_stage
    from segml.run.stages.labels import labels_for_run
    from segml.validate import ContractError

    try:
        cfg = _features_config(config, engine, mapping)
        date = parse_date(as_of, "--as-of")
        _check_features_outputs(out, labels_out, {"--data": data, "--config": config, "--mapping": mapping})  # fmt: skip
    except ValueError as exc:  # ConfigError too
        raise _fail(str(exc), 2) from exc
    if cfg.features.engine not in ("duckdb", "spark"):
        raise _fail(f"--engine must be duckdb or spark, got {cfg.features.engine!r}", 2)
    try:
        bank = load_bank(data, mapping or cfg.data.mapping, cfg.data.reference_date)
    except ContractError as exc:
        raise _fail(f"the data break the contract\n{exc}") from exc
    labels = None
    if labels_out:  # labels first: a window past the data fails before anything is written
        try:
            labels = labels_for_run(bank, date, cfg)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
    warnings = []
    last = bank.last_transaction_date()
    if last is not None and date > last:
        warnings.append(
            f"--as-of {date} is after the last transaction ({last}): the days between "
            "count as inactivity in every window"
        )
        typer.echo(f"warning: {warnings[-1]}", err=True)
    table = features_stage(bank, date, cfg)
    written = None
    try:  # both files or neither: a full disk leaves nothing half-written
        written = write_features(table, out)
        if labels_out and labels is not None:
            write_features(labels, labels_out)
    except OSError as exc:
        if written is not None:
            written.unlink(missing_ok=True)
        raise _fail(str(output_error(exc, labels_out if written else out))) from exc
    info: dict[str, object] = {
        "out": str(out),
        "rows": table.num_rows,
        "columns": table.num_columns,
        "warnings": warnings,
    }
    if labels_out and labels is not None:
        info["labels_out"], info["label_rows"] = str(labels_out), labels.num_rows
    if json_out:
        _echo_json(info)
    else:
        typer.echo(f"wrote {out}: {table.num_rows:,} customers × {table.num_columns} features")
        if labels_out:
            typer.echo(f"wrote {labels_out}: {info['label_rows']:,} customers")


@app.command()
def run(
    config: Annotated[Path, typer.Option(help="Run config (YAML).")] = Path(
        "experiments/configs/default.yaml"
    ),
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config key: --set synthetic.customers=500"),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(help="Where features are computed: duckdb or spark (features.engine)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    reuse: Annotated[
        bool,
        typer.Option(
            "--reuse",
            help="Reuse the newest finished run of the same resolved config and data in "
            "output.dir instead of computing a new one (nothing is tracked or registered).",
        ),
    ] = False,
) -> None:
    """Run the main job (data to the exported model), tracked in MLflow."""
    from segml.compute import DeviceError
    from segml.explain.treeshap import AdditivityError
    from segml.io import OutputError
    from segml.run.config import ConfigError, load_config, parse_overrides, project_root
    from segml.run.state import Terminated
    from segml.tiers.measure import ValueMeasureError
    from segml.validate import ContractError

    try:
        overrides = parse_overrides(set_ or [], "--set")
        if engine is not None:
            overrides["features.engine"] = engine
        cfg = load_config(config, overrides, option="--config")
    except ConfigError as exc:
        raise _fail(str(exc), 2) from exc
    root = project_root(config)
    if reuse and _reused_run(cfg, root, json_out):
        return
    from segml.progress import reporting
    from segml.run.pipeline import run_pipeline

    def progress(msg: str) -> None:  # stderr, so --json keeps stdout for its one object
        typer.echo(msg if msg.startswith(" ") else f"· {msg}", err=True)

    # keep stdout for the one JSON object: anything a library prints goes to stderr
    redirect = contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext()
    try:
        with redirect, reporting(progress):
            result = run_pipeline(cfg, root, config.resolve(), progress)
    except ContractError as exc:
        raise _fail(f"the data break the contract\n{exc}") from exc
    except ConfigError as exc:  # e.g. output.dir: checked before the run starts
        raise _fail(str(exc), 2) from exc
    except (FileNotFoundError, FileExistsError, DeviceError, OutputError) as exc:
        raise _fail(str(exc)) from exc  # OutputError: a full disk, named with its path
    except AdditivityError as exc:
        raise _fail(f"an explanation does not add up; the run is marked FAILED\n{exc}") from exc
    except ValueMeasureError as exc:  # the tiers would mislead: the message says the fix
        raise _fail(f"{exc}\nThe run is marked FAILED and no model was registered.") from exc
    except (KeyboardInterrupt, Terminated) as exc:  # SIGINT / SIGTERM: the run cleaned up
        signum = getattr(exc, "signum", signal.SIGINT)
        raise _fail(
            f"the run was stopped by {signal.Signals(signum).name}: its MLflow run is marked "
            "FAILED, any model version it registered is withdrawn, no output folder was written",
            128 + signum,
        ) from None
    except Exception as exc:  # a defect: one line here, the traceback in the run's error.txt
        if os.environ.get("SEGML_TRACEBACK"):
            raise
        raise _fail(
            f"the run failed: {type(exc).__name__}: {exc}\nIts MLflow run (if it started) is "
            "marked FAILED with the traceback as artifact error.txt; SEGML_TRACEBACK=1 prints "
            "it here. If the data are not the cause, please report it."
        ) from exc
    if json_out:  # strict JSON: a metric that could not be computed (NaN) is null
        from segml.jsonio import jsonable

        _echo_json(jsonable(result.to_dict()))
    else:
        typer.echo(result.summary())


def _reused_run(cfg: RunConfig, root: Path, json_out: bool) -> bool:
    """Report the finished run ``segml run --reuse`` reuses (:mod:`segml.run.reuse`); False
    when there is none and the run must be computed."""
    from segml.jsonio import jsonable
    from segml.run.reuse import find_reusable_run, reused_result

    folder = find_reusable_run(cfg, root)
    if folder is None:
        typer.echo("· no finished run of this config and data to reuse: running it", err=True)
        return False
    typer.echo(
        f"reusing run {folder.run_id} ({folder.path}): same config and data, nothing tracked "
        "or registered; run without --reuse (make demo FORCE=1) to compute it again",
        err=json_out,
    )
    result = reused_result(folder)
    if json_out:  # the object `segml run --json` printed for that run, from its run.json
        _echo_json(jsonable(folder.run))
    elif result is not None:
        typer.echo(result.summary())
    return True


def _register_segment() -> None:
    from segml.cli.segments import segment_command

    app.command(
        "segment",
        help="Cluster ANY customer table (CSV/Parquet) into named behavioural segments.",
    )(segment_command)


_register_segment()


def _register_models() -> None:
    from segml.cli.clv import clv_fit_command

    clv = typer.Typer(help="Customer lifetime value on ANY transaction log.", no_args_is_help=True)
    clv.command(
        "fit",
        help="Fit BG/NBD (or Pareto/NBD, MBG/NBD) + Gamma-Gamma; validate on a holdout period.",
    )(clv_fit_command)
    app.add_typer(clv, name="clv")
    try:
        from segml.cli.churn import churn_train_command
    except ImportError:  # pragma: no cover - the churn command is optional while it lands
        return
    churn = typer.Typer(help="Churn models on ANY customer snapshot table.", no_args_is_help=True)
    churn.command("train", help="Train and cross-validate an xgboost churn model.")(
        churn_train_command
    )
    app.add_typer(churn, name="churn")


_register_models()


def _register_explain() -> None:
    from segml.cli.explain import explain_command

    app.command(
        "explain",
        help="One customer's tier, score, thresholds and reason codes from a finished run.",
    )(explain_command)


_register_explain()


def _register_serving() -> None:
    from segml.cli.serving import promote_command, score_command

    app.command("score", help="Score a Parquet feature table with the exported model.")(
        score_command
    )
    app.command("promote", help="Move the champion alias to a reviewed model version.")(
        promote_command
    )


_register_serving()


def _register_report() -> None:
    from segml.cli.report import report_command

    app.command(
        "report",
        help="Write a run's model-review pack: one self-contained HTML file, logged to the run.",
    )(report_command)


_register_report()


def main() -> None:  # pragma: no cover - console entry point
    """Entry point for ``python -m segml``."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
