"""``segml explain``: one customer's tier, score, thresholds and reason codes from a finished run.

:func:`explain_command` is a typer command; ``segml.cli`` registers it. It reads the run's
output folder (``<output.dir>/<name>-<run id[:12]>``, found from ``--run-id``, or given with
``--run-dir``): ``reason_codes.parquet`` and ``explanations_value.parquet``, reading only the
customer's rows. Exit codes: 0 success; 1 the run or the customer is not found (the message
says where it looked); 2 bad usage.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["customer_explanation", "explain_command", "find_run_dir"]

REASONS = "reason_codes.parquet"
CONTRIBUTIONS = "explanations_value.parquet"
_FIXED = ("customer_id", "value_score", "base_value")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def find_run_dir(run_id: str, runs_dir: Path) -> Path:
    """The output folder of run ``run_id`` (the MLflow run id or a prefix of at least 6 chars).

    Raises
    ------
    FileNotFoundError
        When no folder (or more than one) matches; the message lists where it looked.
    """
    if len(run_id) < 6:
        raise ValueError(f"--run-id {run_id!r} is too short: give at least 6 characters")
    key = run_id[:12]
    hits = sorted(p for p in runs_dir.glob(f"*-{key}*") if p.is_dir()) if runs_dir.is_dir() else []
    if len(hits) != 1:
        what = (
            "no run folder" if not hits else f"{len(hits)} run folders ({[h.name for h in hits]})"
        )
        raise FileNotFoundError(f"{what} for run {run_id} in {runs_dir}")
    if not (hits[0] / REASONS).is_file():
        raise FileNotFoundError(
            f"{hits[0]} has no {REASONS}: the run had no explain stage (explain.enabled, "
            "tiers.value: value_score)"
        )
    return hits[0]


def _clean(v: Any) -> Any:
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _row(path: Path, customer: str) -> dict[str, Any] | None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    ids = pc.cast(table["customer_id"], "string")
    hit = table.filter(pc.equal(ids, customer))
    if hit.num_rows == 0:
        return None
    return {k: _clean(v[0]) for k, v in hit.to_pydict().items()}


def _list(row: dict[str, Any], prefix: str) -> list[str]:
    out, j = [], 1
    while f"{prefix}_{j}" in row:
        if isinstance(row[f"{prefix}_{j}"], str):
            out.append(row[f"{prefix}_{j}"])
        j += 1
    return out


def customer_explanation(run_dir: Path, customer: str) -> dict[str, Any]:
    """Everything the run says about why ``customer`` has its tier, as plain values.

    Raises
    ------
    KeyError
        When the customer was not tiered in this run.
    """
    row = _row(run_dir / REASONS, customer)
    contrib = _row(run_dir / CONTRIBUTIONS, customer)
    if row is None or contrib is None:
        raise KeyError(f"customer {customer} is not among the tiered customers of {run_dir}")
    split = lambda v: v.split(";") if isinstance(v, str) and v else []  # noqa: E731
    out: dict[str, Any] = {
        "run_dir": str(run_dir),
        "customer_id": row["customer_id"],
        "tier": row["tier"],
        "tier_by_value": row["tier_by_value"],
        "score": row["value_score"],
        "base_value": contrib["base_value"],
        "output": {"label": "annual value", "unit": "CNY/year"},
        "thresholds": {
            "below": row["threshold_below"],
            "above": row["threshold_above"],
            "margin_below": row["margin_below"],
            "gap_to_next": row["gap_to_next"],
            "lifted_by": split(row["lifted_by"]),
            "held_back_by": split(row["held_back_by"]),
        },
        "contributions": {k: v for k, v in contrib.items() if k not in _FIXED},
        "reason_codes": _list(row, "reason"),
        "overrides": row["override_reason"] or None,
        "decision": row["decision"],
    }
    if "churn_risk" in row:
        out["churn"] = {
            "risk": row["churn_risk"],
            "high": row.get("high_churn_risk"),
            "retention_action": row.get("retention_action"),
            "reason_codes": _list(row, "churn_reason"),
        }
    if row.get("segment") is not None:
        out["segment"] = {
            "segment": row["segment"],
            "name": row.get("segment_name"),
            "reason_codes": _list(row, "segment_reason"),
        }
    if row.get("grade") is not None:
        out["grade"] = {"grade": row["grade"], "reason_codes": _list(row, "grade_reason")}
    return out


def _names(keys: list[str]) -> str:
    from segml.explain.reasons import group_display

    return ", ".join(map(group_display, keys)) or "-"


def _text(d: dict[str, Any]) -> str:
    t = d["thresholds"]
    change = d["score"] - d["base_value"]
    lines = [
        f"customer {d['customer_id']}: tier {d['tier']}"
        + (f" (by value: {d['tier_by_value']})" if d["tier"] != d["tier_by_value"] else ""),
        f"annual value score ¥{d['score']:,.0f} = average customer ¥{d['base_value']:,.0f} "
        f"{'+' if change >= 0 else '−'} contributions ¥{abs(change):,.0f}",
    ]
    if t["below"] is not None:
        lines.append(f"  threshold of this tier ¥{t['below']:,.0f} (margin ¥{t['margin_below']:,.0f}); "
                     f"lifted by: {_names(t['lifted_by'])}")  # fmt: skip
    if t["above"] is not None:
        lines.append(f"  next tier starts at ¥{t['above']:,.0f} (¥{t['gap_to_next']:,.0f} short); "
                     f"held back by: {_names(t['held_back_by'])}")  # fmt: skip
    lines += ["reasons:"] + [f"  {i}. {r}" for i, r in enumerate(d["reason_codes"], 1)]
    if d.get("churn"):
        c = d["churn"]
        lines.append(f"churn risk {c['risk']:.1%}" + (f", retention: {c['retention_action']}" if c["high"] else ""))  # fmt: skip
        lines += [f"  - {r}" for r in c["reason_codes"]]
    if d.get("segment"):
        lines.append(f"segment {d['segment']['name']}")
        lines += [f"  - {r}" for r in d["segment"]["reason_codes"]]
    if d.get("grade"):
        lines.append(f"corporate grade {d['grade']['grade']}")
        lines += [f"  - {r}" for r in d["grade"]["reason_codes"]]
    lines.append(f"decision: {d['decision']}")
    return "\n".join(lines)


def explain_command(
    customer: Annotated[str, typer.Option("--customer", help="Customer id to explain.")],
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="MLflow run id of a `segml run` (or a prefix).")
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", help="The run's output folder, instead of --run-id.")
    ] = None,
    config: Annotated[Path, typer.Option(help="Config whose output.dir holds the runs.")] = Path(
        "experiments/configs/default.yaml"
    ),
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print one customer's tier, score, thresholds and reason codes from a finished run."""
    from segml.config import ConfigError, load_config, project_root, resolve

    if (run_id is None) == (run_dir is None):
        raise _fail("give exactly one of --run-id and --run-dir", 2)
    try:
        if run_dir is None:
            assert run_id is not None
            cfg = load_config(config)
            runs = resolve(project_root(config), cfg.output.dir)
            assert runs is not None
            run_dir = find_run_dir(run_id, runs)
        elif not (run_dir / REASONS).is_file():
            raise FileNotFoundError(f"{run_dir / REASONS} not found: not a run folder with explanations")  # fmt: skip
        d = customer_explanation(run_dir, customer)
    except ConfigError as exc:
        raise _fail(str(exc), 2) from exc
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    except (FileNotFoundError, KeyError) as exc:
        raise _fail(str(exc).strip("'\"")) from exc
    if run_id is not None:
        d["run_id"] = run_id
    if json_out:
        typer.echo(json.dumps(d, indent=2, ensure_ascii=False, default=str))
    else:
        typer.echo(_text(d))
