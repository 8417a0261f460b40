"""``segml explain``: one customer's tier, score, thresholds and reason codes from a finished run.

:func:`explain_command` is a typer command; ``segml.cli.main`` registers it. It reads the run's
output folder (``<output.dir>/<name>-<run id[:12]>``, found from ``--run-id``, or given with
``--run-dir``): ``reason_codes.parquet`` and ``explanations_value.parquet``, reading only the
customer's rows, and what the reason codes are measured against (``explanations.json``). A run without a folder is looked up in the tracking store (a failed run is
reported as failed, with its stage and error); a customer without an explanation is looked up
in the run's ``features.parquet`` and the bank's customers table, to tell a customer the run
did not tier (closed, or joined after the as-of date) from one that is not in its data. Exit
codes: 0 success; 1 the run or the customer is not found, or the run failed (the message says
where it looked); 2 bad usage.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from segml.jsonio import jsonable
from segml.run.result import fmt_metric

__all__ = [
    "customer_explanation",
    "explain_command",
    "no_explanations",
    "why_not_explained",
]

REASONS = "reason_codes.parquet"
CONTRIBUTIONS = "explanations_value.parquet"
EXPLANATIONS = "explanations.json"
_FIXED = ("customer_id", "value_score", "base_value")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def no_explanations(run_dir: Path, customer: str) -> str:
    """Why the run in ``run_dir`` has no reason codes, and the customer's tier if it has one.

    A run explains its tiers only when they rank the value model's score; otherwise (the
    explain stage switched off, no value model, or tiers that rank another measure) the run's
    config and ``run.json`` say why (:func:`segml.report.absent.why_absent`).

    Returns
    -------
    str
        ``"run <folder> has no model to explain, so no reason codes: <why>"``, followed by the
        customer's tier and value when the run tiered the customer.
    """
    from segml.report.absent import why_absent
    from segml.run.folder import RunFolder, RunNotFoundError

    try:
        folder = RunFolder(run_dir)
    except RunNotFoundError as exc:
        return f"{run_dir / REASONS} not found: not a run folder with explanations ({exc})"
    text = f"run {run_dir.name} has no model to explain, so no reason codes: "
    text += why_absent(folder, "explain")
    tiers = run_dir / "tiers.parquet"
    row = _row(tiers, customer) if tiers.is_file() else None
    if row is not None:
        measure = (folder.run.get("value_measure") or {}).get("measure") or "value"
        value = row.get("value")
        shown = f"{value:,.2f}" if isinstance(value, int | float) else "–"
        text += f"; customer {customer} is in tier {row.get('tier')} ({measure} {shown})"
    return text


def _row(path: Path, customer: str) -> dict[str, Any] | None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    ids = pc.cast(table["customer_id"], "string")
    hit = table.filter(pc.equal(ids, customer))
    if hit.num_rows == 0:
        return None
    return {k: jsonable(v[0], other=None) for k, v in hit.to_pydict().items()}


def _list(row: dict[str, Any], prefix: str) -> list[str]:
    out, j = [], 1
    while f"{prefix}_{j}" in row:
        if isinstance(row[f"{prefix}_{j}"], str):
            out.append(row[f"{prefix}_{j}"])
        j += 1
    return out


def _run_record(run_dir: Path) -> dict[str, Any]:
    try:
        record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _bank_customer(
    run_dir: Path, record: dict[str, Any], customer: str, root: Path | None
) -> tuple[dict[str, Any] | None, str, bool]:
    """The customer's row of the bank's customers table the run read (``None`` if absent),
    the table read (or why it could not be), and whether it could be read."""
    import yaml

    from segml.contract import CONTRACT
    from segml.io import connect, load_mapping, locate_table, register_table
    from segml.run.config import resolve

    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, ValueError):
        cfg = {}
    data = (cfg.get("data") if isinstance(cfg, dict) else None) or {}
    base = root or Path.cwd()
    folder = record.get("data_dir") or data.get("path")
    if not folder:
        return None, "the run records no data folder", False
    folder = resolve(base, str(folder))  # an absolute path stays as it is
    try:
        mapping = data.get("mapping")
        maps = load_mapping(resolve(base, str(mapping)) if mapping else None)
        files = locate_table(folder, "customers", maps.get("customers"))
        if not files:
            return None, f"the bank's customers table is not in {folder} any more", False
        con = connect()
        src = register_table(con, CONTRACT["customers"], files, maps.get("customers"))
        cols = [c for c in ("customer_id", "open_date", "close_date") if c not in src.missing]
        res = con.execute(
            f"SELECT {', '.join(cols)} FROM customers WHERE customer_id = ? LIMIT 1", [customer]
        )
        hit = res.fetchone()
        what = f"the bank's customers table {files[0] if len(files) == 1 else folder}"
        return (dict(zip(cols, hit, strict=True)) if hit else None), what, True
    except Exception as exc:  # only a diagnosis: say why it could not be read
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return None, f"the bank's customers table in {folder} could not be read ({first})", False


def why_not_explained(run_dir: Path, customer: str, root: Path | None = None) -> str:
    """Why ``customer`` has no explanation in the run: not tiered, or not in the run's data.

    Looks in the run's ``features.parquet`` (every customer of the bank at the as-of date, with
    ``is_active``) and in the bank's customers table the run read (``data_dir`` of
    ``run.json``, with the mapping of the run's ``config.yaml``), for ``open_date`` and
    ``close_date``. Only customers active at the as-of date are tiered.

    Parameters
    ----------
    run_dir : Path
        The run's output folder.
    customer : str
        The customer id given to ``--customer``.
    root : Path, optional
        Project root that relative data and mapping paths of the run's config are resolved
        against (default: the working directory).

    Returns
    -------
    str
        ``"customer X is in the bank but was not tiered in this run: <reason>"`` or
        ``"customer X is not in this run's data: <where it looked>"``.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    record = _run_record(run_dir)
    as_of = record.get("as_of") or "the as-of date"
    active: bool | None = None
    n_features, example = 0, None
    features = run_dir / "features.parquet"
    if features.is_file():
        names = pq.read_schema(features).names
        table = pq.read_table(
            features, columns=[c for c in ("customer_id", "is_active") if c in names]
        )
        n_features = table.num_rows
        ids = pc.cast(table["customer_id"], "string")
        example = ids[0].as_py() if n_features else None
        hit = table.filter(pc.equal(ids, customer))
        if hit.num_rows:
            flag = hit["is_active"][0].as_py() if "is_active" in hit.column_names else 1
            active = bool(flag)
    bank, what, readable = _bank_customer(run_dir, record, customer, root)
    not_tiered = f"customer {customer} is in the bank but was not tiered in this run"
    opened, closed_on = (
        (str(bank.get(k) or "") for k in ("open_date", "close_date")) if bank else ("", "")
    )
    dated = re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(as_of)) is not None
    if active is False or (active is None and dated and closed_on and closed_on <= as_of):
        closed = f" on {closed_on}" if closed_on else ""
        return (
            f"{not_tiered}: the relationship was closed{closed}, by the as-of date {as_of}; "
            "only customers active at the as-of date are tiered"
        )
    if active is None and dated and opened and opened > as_of:
        return f"{not_tiered}: the relationship began on {opened}, after the as-of date {as_of}"
    if active:
        return (
            f"{not_tiered}: it was active at the as-of date {as_of}, but {run_dir / REASONS} "
            "has no row for it"
        )
    if bank:
        return f"{not_tiered}: it has no features at the as-of date {as_of} ({what})"
    looked = (
        f"not among the {n_features:,} customers of {features}" if features.is_file() else
        f"not tiered ({features} is missing)"
    )  # fmt: skip
    looked += f", nor in {what}" if readable else f"; {what}"
    hint = f" (ids look like {example!r})" if example is not None else ""
    return f"customer {customer} is not in this run's data: {looked}{hint}"


def customer_explanation(run_dir: Path, customer: str, root: Path | None = None) -> dict[str, Any]:
    """Everything the run says about why ``customer`` has its tier, as plain values.

    Parameters
    ----------
    run_dir : Path
        The run's output folder.
    customer : str
        The customer id.
    root : Path, optional
        Project root for the run's relative data paths (see :func:`why_not_explained`).

    Raises
    ------
    KeyError
        When the customer was not tiered in this run; the message says why
        (:func:`why_not_explained`).
    """
    row = _row(run_dir / REASONS, customer)
    contrib = _row(run_dir / CONTRIBUTIONS, customer)
    if row is None or contrib is None:
        raise KeyError(why_not_explained(run_dir, customer, root))
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
        "reference": _reference(run_dir, row["tier_by_value"]),
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


def _reference(run_dir: Path, tier: str) -> dict[str, Any] | None:
    """What the run's reason codes of a customer in value tier ``tier`` are measured against
    (``explanations.json``'s ``value.reason_reference``; None for a run without one)."""
    try:
        doc = json.loads((run_dir / EXPLANATIONS).read_text(encoding="utf-8"))
        ref = doc["value"]["reason_reference"]
        rows = ref["rows"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    row = next((r for r in rows if r.get("tier") == tier), rows[-1] if rows else None)
    if row is None:
        return None
    name = f"the typical {tier.replace('_', ' ')} customer" if row.get("tier") else "the typical customer"  # fmt: skip
    return {"name": name, "tier": row.get("tier"), "population": ref.get("population"),
            "statistic": ref.get("statistic"), "customers": row.get("customers"),
            "reference_value": row.get("reference_value"), "median_score": row.get("median_score")}  # fmt: skip


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
    ref = d.get("reference")
    head = "reasons:"
    if ref and isinstance(ref.get("reference_value"), int | float):
        head = (f"reasons, vs {ref['name']} (annual value ¥{ref['reference_value']:,.0f}, "
                f"from {ref['customers']:,} customers):")  # fmt: skip
    lines += [head] + [f"  {i}. {r}" for i, r in enumerate(d["reason_codes"], 1)]
    if d.get("churn"):
        c = d["churn"]
        risk = fmt_metric(c["risk"], ".1%")
        lines.append(f"churn risk {risk}" + (f", retention: {c['retention_action']}" if c["high"] else ""))  # fmt: skip
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
    from segml.run.config import ConfigError, load_config, project_root, resolve
    from segml.run.folder import NoRunFolderError, find_run_folder, tracked_run_note
    from segml.run.tracking import tracking_uri

    if (run_id is None) == (run_dir is None):
        raise _fail("give exactly one of --run-id and --run-dir", 2)
    root = project_root(config)
    try:
        if run_dir is None:
            assert run_id is not None
            cfg = load_config(config)
            runs = resolve(root, cfg.output.dir)
            assert runs is not None
            try:
                run_dir = find_run_folder(run_id, runs)
            except NoRunFolderError as exc:  # the tracking store may know why: a failed run
                note = tracked_run_note(tracking_uri(cfg.tracking, root), run_id, runs)
                raise FileNotFoundError(note or str(exc)) from exc
        if not (run_dir / REASONS).is_file():
            raise FileNotFoundError(no_explanations(run_dir, customer))
        d = customer_explanation(run_dir, customer, root)
    except ConfigError as exc:
        raise _fail(str(exc), 2) from exc
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    except (FileNotFoundError, KeyError) as exc:
        raise _fail(str(exc.args[0] if exc.args else exc)) from exc
    if run_id is not None:
        d["run_id"] = run_id
    if json_out:  # strict JSON: a value that could not be computed is null, never NaN
        typer.echo(json.dumps(jsonable(d), indent=2, ensure_ascii=False, allow_nan=False))
    else:
        typer.echo(_text(d))
