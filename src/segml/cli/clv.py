"""``segml clv fit``: CLV of any transaction log (CSV or Parquet), evaluated on a holdout.

:func:`clv_fit_command` is a typer command function; ``segml.cli.main`` registers it. Exit codes as
the rest of the command line: 0 success; 1 the log cannot be read or modelled (the message
names the file, column and values: CSV rows by their line in the file, the header being line
1; Parquet rows by 0-based position); 2 bad usage (``--freq``, ``--model``,
``--freq-multiplier``, ``--out`` suffix, an output path that is the input or cannot be written,
``--figures`` naming a file). Outputs are checked before the fit and nothing is written unless
the whole fit succeeds. Warnings (refunds, time zones, Gamma-Gamma without a mean) go to stderr
and into the JSON's ``warnings``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from segml.clv.adapter import PURCHASE_PARAMS
from segml.clv.holdout import LOG_FREQS
from segml.io import (
    OutputError,
    atomic_file,
    check_output_file,
    check_output_path,
    output_error,
)
from segml.tables import read_table, row_labels

if TYPE_CHECKING:
    from segml.clv.api import ClvHoldoutResult

OUT_SUFFIXES = {".csv", ".parquet"}


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def check_outputs(
    transactions: Path, out: Path | None, save_model: Path | None, figures: Path | None
) -> None:
    """Check every output option before any work.

    Raises
    ------
    ValueError
        Naming the option: it would write over ``--transactions`` (or ``--out`` over
        ``--save-model``), its folder cannot be created or written, or ``--figures`` is a file.
    """
    inputs: dict[str, Path | None] = {"--transactions": transactions}
    for option, path in (("--out", out), ("--save-model", save_model)):
        if path is None:
            continue
        check_output_path(path, inputs, option=option)
        check_output_file(path, option)
    if out is not None and save_model is not None:
        try:
            check_output_path(save_model, {"--out": out}, option="--save-model")
        except ValueError:
            raise ValueError(
                f"--save-model {save_model} and --out {out} are the same file: give two names"
            ) from None
    if figures is not None:
        from segml.clv.plots import FIGURE_NAMES, check_figures_dir  # matplotlib: only if needed

        if not figures.is_dir():  # a folder holding the input is fine: only PNGs are written
            check_output_path(figures, inputs, option="--figures")
        for name in FIGURE_NAMES:
            check_output_path(figures / name, inputs, option="--figures")
        check_figures_dir(figures, "--figures")


def _figure_stamps(figures: Path | None) -> dict[str, tuple[int, int] | None]:
    """Inode and modification time of each figure file already in ``figures``."""
    if figures is None:
        return {}
    from segml.clv.plots import FIGURE_NAMES

    def stamp(path: Path) -> tuple[int, int] | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns

    return {name: stamp(figures / name) for name in FIGURE_NAMES}


def _remove_new_figures(figures: Path | None, before: dict[str, tuple[int, int] | None]) -> None:
    """Remove the figure files this command wrote (new or changed since ``before``)."""
    now = _figure_stamps(figures)
    for name, was in before.items():
        if figures is not None and now[name] not in (None, was):
            (figures / name).unlink(missing_ok=True)


def summary_text(info: dict[str, Any]) -> str:
    """A few readable lines of the result."""
    p = ", ".join(f"{k}={v:.4g}" for k, v in info["params"].items())
    h = info["holdout"]
    pm, vm = h["purchases"], h["value"]
    lines = [
        f"{info['model']} + Gamma-Gamma on {info['customers']:,} customers "
        f"({info['repeat_buyers']:,} repeat buyers), time unit {info['time_unit']['name']}",
        f"parameters: {p}",
        f"holdout {h['length']:g} {h['unit']}s — purchases: actual {pm['actual_total']:,.0f}, "
        f"predicted {pm['predicted_total']:,.1f} ({pm['aggregate_error']:+.1%}), "
        f"MAE {pm['mae']:.3f}, RMSE {pm['rmse']:.3f}, Spearman {pm['spearman']:.3f}",
        f"  value: actual {vm['actual_total']:,.2f}, predicted {vm['predicted_total']:,.2f} "
        f"({vm['aggregate_error']:+.1%}), normalised Gini {vm['gini_normalised']:.3f}, "
        f"decile MAPE {vm['decile_mape']:.1%}",
    ]
    base = h.get("baselines", {})
    for key, name in base.get("names", {}).items():
        bp, bv = base["purchases"][key], base["value"][key]
        lines.append(
            f"  naive ({name}): purchases MAE {bp['mae']:.3f}, RMSE {bp['rmse']:.3f}, Spearman "
            f"{bp['spearman']:.3f}; value MAE {bv['mae']:,.2f}, RMSE {bv['rmse']:,.2f}, "
            f"Spearman {bv['spearman']:.3f}"
        )
    lines += [f"  {v['verdict']}" for v in h.get("verdicts", {}).values()]
    undefined = info["excluded"]["undefined_spend"]
    if undefined["customers"]:
        lines.append(
            f"  {undefined['customers']:,} customers without an expected spend (value and CLV "
            f"empty, left out of the value metrics): {undefined['reason']}"
        )
    amounts = info["data"].get("amounts", {})
    if amounts.get("negative_rows") or amounts.get("zero_rows"):
        gone = [amounts.get(f"left_out_{p}", {}).get("periods", 0) for p in ("calibration", "holdout")]  # fmt: skip
        lines.append(
            f"amounts: {amounts['negative_rows']:,} negative and {amounts['zero_rows']:,} zero "
            f"rows; {sum(gone):,} periods with a negative net amount left out as not purchases"
        )
    ind = info["independence"]
    if ind.get("material"):
        lines.append(
            f"warning: frequency and spend correlate (Pearson {ind['pearson']:.2f}, Spearman "
            f"{ind['spearman']:.2f}); Gamma-Gamma assumes they do not"
        )
    sup = info["supervised"]
    if isinstance(sup.get("skipped"), str):  # the whole comparison (else: objectives skipped)
        lines.append(f"supervised comparison skipped: {sup['skipped']}")
    else:
        lines.append(f"supervised comparison (trained at {sup['train_as_of']}), holdout value:")
        for name, m in sup["metrics"].items():
            gone = f" ({m['left_out']:,.0f} customers left out)" if m.get("left_out") else ""
            lines.append(
                f"  {name:>18}: Gini {m['gini_normalised']:.3f}, Spearman {m['spearman']:.3f}, "
                f"MAE {m['mae']:,.2f}, decile MAPE {m['decile_mape']:.1%}{gone}"
            )
    return "\n".join(lines)


def clv_fit_command(
    transactions: Annotated[
        Path, typer.Option("--transactions", help="Transaction log, CSV or Parquet.")
    ],
    customer_col: Annotated[str, typer.Option("--customer-col", help="Customer id column.")],
    date_col: Annotated[str, typer.Option("--date-col", help="Date or timestamp column.")],
    amount_col: Annotated[str, typer.Option("--amount-col", help="Amount column.")],
    calibration_end: Annotated[
        str, typer.Option("--calibration-end", help="Last day of the calibration period.")
    ],
    observation_end: Annotated[
        str | None,
        typer.Option("--observation-end", help="Last day of the holdout (default: last day)."),
    ] = None,
    freq: Annotated[
        str, typer.Option("--freq", help="Count purchases per day (D) or week (W).")
    ] = "D",
    freq_multiplier: Annotated[
        float, typer.Option("--freq-multiplier", help="Time unit = this many freq periods.")
    ] = 1.0,
    model: Annotated[str, typer.Option("--model", help="bgnbd, pareto or mbgnbd.")] = "bgnbd",
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    discount_rate: Annotated[
        float, typer.Option("--discount-rate", help="Annual discount rate of the CLV.")
    ] = 0.1,
    penalizer: Annotated[
        float, typer.Option("--penalizer", help="First penalizer (retries raise it).")
    ] = 0.0,
    supervised: Annotated[
        bool, typer.Option("--supervised/--no-supervised", help="Compare with xgboost.")
    ] = True,
    date_format: Annotated[
        str | None, typer.Option("--date-format", help="strftime format of text dates.")
    ] = None,
    figures: Annotated[
        Path | None, typer.Option("--figures", help="Folder for the diagnostic PNGs.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Per-customer predictions (.csv or .parquet)."),
    ] = None,
    save_model: Annotated[
        Path | None, typer.Option("--save-model", help="Write the fitted models as JSON.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the supervised models.")] = 0,
) -> None:
    """Fit BG/NBD (Pareto/NBD, MBG/NBD) + Gamma-Gamma on a transaction log; score the holdout."""
    from segml.jsonio import jsonable

    _check_options(freq, model, freq_multiplier, out)
    try:  # before any work: never write over the input, never fail after the fit
        check_outputs(transactions, out, save_model, figures)
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    holdout = {
        "calibration_end": calibration_end,
        "observation_end": observation_end,
        "freq": freq,
        "freq_multiplier": freq_multiplier,
        "model": model,
        "penalizer": penalizer,
        "annual_discount_rate": discount_rate,
        "supervised": supervised,
        "seed": seed,
    }
    columns = (customer_col, date_col, amount_col)
    result, caught = _fit(transactions, columns, date_format, holdout, figures, json_out)
    info = jsonable(result.to_dict())
    info["warnings"] = caught
    _write_outputs(result, info, out, save_model)
    _echo_result(info, len(result.predictions), json_out, out)


def _echo_result(info: dict[str, Any], n_customers: int, json_out: bool, out: Path | None) -> None:
    """Print the warnings (stderr), then the JSON object or the summary and the files written."""
    for w in info["warnings"]:
        typer.echo(f"warning: {w}", err=True)
    if json_out:
        typer.echo(json.dumps(info, indent=2))
    else:
        typer.echo(summary_text(info))
        for f in info["figures"]:
            typer.echo(f"wrote {f}")
        if out is not None:
            typer.echo(f"wrote {out}: {n_customers:,} customers")


def _check_options(freq: str, model: str, freq_multiplier: float, out: Path | None) -> None:
    """Refuse a bad ``--freq``, ``--model``, ``--freq-multiplier`` or ``--out`` suffix (exit 2)."""
    if freq not in LOG_FREQS:
        raise _fail(f"--freq must be one of {', '.join(LOG_FREQS)}, got {freq!r}", 2)
    if model not in PURCHASE_PARAMS:
        raise _fail(f"--model must be one of {', '.join(PURCHASE_PARAMS)}, got {model!r}", 2)
    if not freq_multiplier > 0:
        raise _fail(f"--freq-multiplier must be > 0, got {freq_multiplier}", 2)
    if out is not None and out.suffix.lower() not in OUT_SUFFIXES:
        raise _fail(f"--out must end in .csv or .parquet, got {out}", 2)


def _fit(
    transactions: Path,
    columns: tuple[str, str, str],
    date_format: str | None,
    holdout: dict[str, Any],
    figures: Path | None,
    json_out: bool,
) -> tuple[ClvHoldoutResult, list[str]]:
    """Read, check and fit the log on the holdout; its warnings, and any failure as exit 1.

    With ``json_out`` anything printed goes to stderr, so stdout holds only the JSON.
    """
    from segml.clv.api import clv_holdout
    from segml.clv.logcheck import check_log

    redirect = contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext()
    before = _figure_stamps(figures)
    try:
        raw = read_table(transactions, text=True)  # text: values quoted as written
        rows = row_labels(transactions, len(raw))
        with redirect, warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            log = check_log(raw, *columns, str(transactions), date_format, rows)
            result = clv_holdout(log, **holdout, figures_dir=figures, source=str(transactions))
        caught = [str(w.message) for w in seen if issubclass(w.category, UserWarning)]
    except OutputError as exc:  # a figure: the disk full, named with the file
        _remove_new_figures(figures, before)  # no half set of figures left behind
        raise _fail(str(exc)) from exc
    except (ValueError, RuntimeError) as exc:
        text = str(exc)
        raise _fail(text if str(transactions) in text else f"{transactions}: {text}") from exc
    return result, caught


def _write_outputs(
    result: ClvHoldoutResult, info: dict[str, Any], out: Path | None, save_model: Path | None
) -> None:
    """Write ``--out`` and ``--save-model`` (noted in ``info``); on a failure, neither stays."""
    from segml.cli.segments import write_assignments

    written: list[Path] = []
    try:
        if out is not None:
            frame = result.predictions.reset_index()
            written.append(write_assignments(frame, out))
            info["out"] = str(out)
        if save_model is not None:
            with atomic_file(save_model) as tmp:
                result.model.save(tmp)
            info["model_file"] = str(save_model)
    except OSError as exc:  # a disk full or a folder gone since the check: no half outputs
        for path in written:
            path.unlink(missing_ok=True)
        failed = save_model if out is None or written else out
        raise _fail(str(output_error(exc, failed))) from exc
