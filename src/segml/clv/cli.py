"""``segml clv fit``: CLV of any transaction log (CSV or Parquet), evaluated on a holdout.

:func:`clv_fit_command` is a typer command function; ``segml.cli`` registers it. Exit codes as
the rest of the command line: 0 success; 1 the log cannot be read or modelled (the message
names the file, column and values); 2 bad usage (``--freq``, ``--model``, ``--freq-multiplier``,
``--out`` suffix). Nothing is written unless the whole fit succeeds.
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from segml.clv.adapter import PURCHASE_PARAMS
from segml.clv.holdout import LOG_FREQS

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
OUT_SUFFIXES = {".csv", ".parquet"}


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def read_log(path: Path, columns: list[str]) -> pd.DataFrame:
    """Read a transaction log (CSV, possibly compressed, or Parquet).

    CSV columns are read as text, so that ids keep their spelling and bad dates or amounts can be
    reported as written. Raises ``ValueError`` naming the file when it is missing or unreadable.
    """
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    suffixes = {s.lower() for s in path.suffixes}
    sep = "\t" if ".tsv" in suffixes else ","
    try:
        if suffixes & PARQUET_SUFFIXES:
            return pd.read_parquet(path)
        if suffixes & CSV_SUFFIXES:
            return pd.read_csv(path, dtype=str, sep=sep)
        try:  # unknown suffix: Parquet has a signature, CSV does not
            return pd.read_parquet(path)
        except Exception:
            return pd.read_csv(path, dtype=str)
    except Exception as exc:
        raise ValueError(f"cannot read {path} as a CSV or Parquet table: {exc}") from exc


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
    ind = info["independence"]
    if ind.get("material"):
        lines.append(
            f"warning: frequency and spend correlate (Pearson {ind['pearson']:.2f}, Spearman "
            f"{ind['spearman']:.2f}); Gamma-Gamma assumes they do not"
        )
    sup = info["supervised"]
    if "skipped" in sup:
        lines.append(f"supervised comparison skipped: {sup['skipped']}")
    else:
        for name, m in sup["metrics"].items():
            lines.append(
                f"  {name:>18}: Gini {m['gini_normalised']:.3f}, Spearman {m['spearman']:.3f}, "
                f"MAE {m['mae']:,.2f}, decile MAPE {m['decile_mape']:.1%}"
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
    from segml.clv.api import clv_holdout
    from segml.clv.holdout import check_log
    from segml.clv.jsonable import jsonable
    from segml.segments.cli import write_assignments

    if freq not in LOG_FREQS:
        raise _fail(f"--freq must be one of {', '.join(LOG_FREQS)}, got {freq!r}", 2)
    if model not in PURCHASE_PARAMS:
        raise _fail(f"--model must be one of {', '.join(PURCHASE_PARAMS)}, got {model!r}", 2)
    if not freq_multiplier > 0:
        raise _fail(f"--freq-multiplier must be > 0, got {freq_multiplier}", 2)
    if out is not None and out.suffix.lower() not in OUT_SUFFIXES:
        raise _fail(f"--out must end in .csv or .parquet, got {out}", 2)
    redirect = contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext()
    caught: list[str] = []
    try:
        raw = read_log(transactions, [customer_col, date_col, amount_col])
        log = check_log(raw, customer_col, date_col, amount_col, str(transactions), date_format)
        with redirect, warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            result = clv_holdout(
                log, calibration_end, observation_end, freq=freq, freq_multiplier=freq_multiplier,
                model=model, penalizer=penalizer, annual_discount_rate=discount_rate,
                supervised=supervised, seed=seed, figures_dir=figures, source=str(transactions),
            )  # fmt: skip
        caught = [str(w.message) for w in seen if issubclass(w.category, UserWarning)]
    except (ValueError, RuntimeError) as exc:
        text = str(exc)
        raise _fail(text if str(transactions) in text else f"{transactions}: {text}") from exc
    info = jsonable(result.to_dict())
    info["warnings"] = caught
    if out is not None:
        frame = result.predictions.reset_index()
        write_assignments(frame, out)
        info["out"] = str(out)
    if save_model is not None:
        result.model.save(save_model)
        info["model_file"] = str(save_model)
    if json_out:
        typer.echo(json.dumps(info, indent=2))
    else:
        typer.echo(summary_text(info))
        for w in caught:
            typer.echo(f"warning: {w}")
        for f in info["figures"]:
            typer.echo(f"wrote {f}")
        if out is not None:
            typer.echo(f"wrote {out}: {len(result.predictions):,} customers")
