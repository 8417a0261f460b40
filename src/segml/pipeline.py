"""The main job, ``segml run``: data, validation, profile, features, labels, CLV, churn, value,
tiers, segments, grades, explanations, export.

Each stage is a function from typed inputs to typed outputs; :func:`run_pipeline` wires them,
tracks each as a nested MLflow run and writes the run's tables to one output folder. The
pipeline reads only the contract tables; the synthetic bank's ground truth is never opened here.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import yaml

from segml.churn.stage import churn_stage
from segml.clv.stage import clv_stage
from segml.compute import device_default, require_device, thread_default
from segml.config import ConfigError, RunConfig, resolve
from segml.contract import CONTRACT
from segml.data import load_bank
from segml.economics import data_kind
from segml.explain.stage import explain_stage
from segml.explain.value_stage import value_stage
from segml.features import write_features
from segml.features.catalogue import FEATURES_VERSION
from segml.features.labels import labels_for_run
from segml.grades import DEFAULT_SCORECARD
from segml.io import (
    atomic_output_dir,
    check_can_create,
    check_output_path,
    load_mapping,
    remove_stale_temporaries,
)
from segml.lineage import copy_pseudonymized, data_fingerprint, log_contract_inputs
from segml.profile import default_as_of, profile_bank
from segml.run_result import RunResult
from segml.run_steps import (  # noqa: F401  (re-exported: the CLI and notebooks use them)
    collect_warnings,
    earlier_features,
    exported_model,
    features_stage,
    label_metrics,
    log_stage,
    model_stage,
    prepare_synthetic,
    synthetic_folder,
    with_predictions,
)
from segml.serving.export import export_stage, make_bundle
from segml.stages import (
    StageResult,
    grades_stage,
    segments_stage,
    tier_policy,
    tiers_stage,
    value_measure,
)
from segml.tracking import Tracker, dump_json, tracked_run

Progress = Callable[[str], None]


# ----------------------------------------------------------------------------- the run
def check_run_paths(cfg: RunConfig, root: Path, out_base: Path) -> None:
    """Refuse, before any work, a ``data.mapping`` that cannot be read and an ``output.dir``
    that cannot hold the run's outputs.

    The output folder must be creatable and writable, and may not be (or lie inside) the bank's
    data folder nor the synthetic cache: a run never writes into its inputs.

    Raises
    ------
    segml.config.ConfigError
        Naming ``output.dir`` and the obstacle.
    """
    inputs = {"data.path": resolve(root, cfg.data.path) if cfg.data.source != "synthetic" else None,
              "data.mapping": resolve(root, cfg.data.mapping),
              "synthetic.cache_dir": resolve(root, cfg.synthetic.cache_dir)
              if cfg.data.source == "synthetic" else None}  # fmt: skip
    if inputs["data.mapping"] is not None:
        try:
            load_mapping(inputs["data.mapping"])
        except ValueError as exc:
            raise ConfigError(f"data.mapping: {exc}") from None
    try:
        check_output_path(out_base, inputs, option="output.dir", new_entries=True)
        if out_base.exists() and not out_base.is_dir():
            raise ValueError(f"output.dir {out_base} is a file, not a folder")
        check_can_create(out_base, "output.dir")
        if out_base.is_dir() and not os.access(out_base, os.W_OK | os.X_OK):
            raise ValueError(f"output.dir {out_base} cannot be written: no permission")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def run_output_dir(out_base: Path, name: str, run_id: str) -> Path:
    """The run's output folder ``<output.dir>/<name>-<run id>``, checked to lie inside it.

    Raises
    ------
    segml.config.ConfigError
        When the name would lead elsewhere (the config refuses such names already).
    """
    out = out_base / f"{name}-{run_id[:12]}"
    if out.resolve().parent != out_base.resolve():
        raise ConfigError(f"name {name!r}: the run's folder {out} would not lie in output.dir")
    return out


def remove_temporaries(cfg: RunConfig, root: Path, out_base: Path) -> list[str]:
    """Remove temporary folders that killed runs left where this run writes."""
    folders = [out_base]
    if cfg.data.source == "synthetic":
        folders.append(resolve(root, cfg.synthetic.cache_dir))
    return [f"{f / n}" for f in folders if f is not None for n in remove_stale_temporaries(f)]


def log_outputs(tracker: Tracker, folder: Path, private_figures: tuple[str, ...]) -> None:
    """Log the run's output folder as artifacts ``outputs/`` (pseudonymised when asked)."""
    if tracker.private is None:
        tracker.client.log_artifacts(tracker.run_id, str(folder), "outputs")
        return
    with tempfile.TemporaryDirectory(prefix="segml-outputs-") as tmp:
        copy_pseudonymized(folder, Path(tmp), tracker.private.key, private_figures, tracker.private)  # fmt: skip
        tracker.client.log_artifacts(tracker.run_id, tmp, "outputs")


def private_json(tracker: Tracker, doc: dict) -> dict:
    """``doc`` as it may be logged: customer ids pseudonymised when the config asks for it."""
    return tracker.private.json(doc) if tracker.private is not None else doc


def run_pipeline(
    cfg: RunConfig,
    root: Path,
    config_path: Path | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run the main job described by ``cfg``; paths are resolved against ``root``.

    Raises
    ------
    segml.validate.ContractError
        If the data break the contract (the MLflow run is marked FAILED, nothing is written
        to the output folder).
    """
    say = progress or (lambda _msg: None)
    require_device(cfg.compute.device)
    if cfg.value.device is not None:
        require_device(cfg.value.device, "value.device")
    out_base = resolve(root, cfg.output.dir)
    assert out_base is not None
    check_run_paths(cfg, root, out_base)
    cleaned = remove_temporaries(cfg, root, out_base)
    with (
        thread_default(cfg.compute.threads),
        device_default(cfg.compute.device),
        tracked_run(cfg, root, config_path) as tracker,
        tempfile.TemporaryDirectory(prefix="segml-figures-") as scratch,
    ):
        hygiene = [f"removed {n} left by a killed run" for n in cleaned] + [
            f"run {r} was left RUNNING by a process that is gone: marked FAILED (killed)"
            for r in tracker.recovered_runs
        ]
        with tracker.stage("data") as st:
            if cfg.data.source == "synthetic":
                synth = cfg.synth_config()
                cache = resolve(root, cfg.synthetic.cache_dir)
                assert cache is not None
                say(f"synthetic bank: {synth.customers:,} customers, seed {synth.seed}")
                folder, made = prepare_synthetic(cache, synth)
                st.params({"data.folder": folder, "data.generated": made})
            else:
                folder = resolve(root, cfg.data.path)
                assert folder is not None
                st.params({"data.folder": folder})
        with tracker.stage("validate") as st:
            say(f"validating {folder}")
            mapping = resolve(root, cfg.data.mapping)
            bank = load_bank(folder, mapping, cfg.data.reference_date, cfg.compute.memory_limit)
            if tracker.private is not None:
                tracker.know_ids(bank.table("customers").select("customer_id").fetchnumpy()["customer_id"])  # fmt: skip
            st.json(private_json(tracker, bank.report.to_dict()), "validation.json")
            st.metrics({f"rows.{k}": v for k, v in bank.report.row_counts.items()})
            st.metrics({"warnings": len(bank.report.warnings)})
        digests = log_contract_inputs(folder, CONTRACT)  # on the parent run: lineage
        tracker.client.log_param(tracker.run_id, "data.fingerprint", data_fingerprint(digests))
        private_figures = ("_waterfall_",) if cfg.tracking.pseudonymize else ()
        as_of = cfg.as_of or (
            cfg.synthetic.as_of if cfg.data.source == "synthetic" else default_as_of(bank)
        )
        with tracker.stage("profile") as st:
            say(f"profiling at {as_of}")
            profile = profile_bank(bank, as_of)
            st.metrics(profile.metrics())
            st.json(asdict(profile), "data_profile.json")
        with tracker.stage("features") as st:
            say(f"features at {as_of} ({cfg.features.engine})")
            features = features_stage(bank, as_of, cfg)
            st.params({"features_version": FEATURES_VERSION, "engine": cfg.features.engine})
            st.metrics({"rows": features.num_rows, "columns": features.num_columns})
        warnings = hygiene + [str(w) for w in bank.report.warnings]
        kind = data_kind(bank.folder, bank.con)  # purchase log or bank, and how that is known
        with tracker.stage("labels") as st:
            try:
                labels = labels_for_run(bank, as_of, cfg)
                st.metrics(label_metrics(labels))
            except ValueError as exc:  # the data do not cover a label window after as_of
                labels = None
                warnings.append(f"no labels: {exc}")
                st.params({"skipped": str(exc)[:500]})
            if cfg.labels.churn_definition == "closure" and kind[0] == "purchase_log":
                warnings.append(
                    "labels: a purchase log has no account closures, so the closure churn "
                    "definition counts no churner; set labels.churn_definition: inactivity"
                )
        frame = features.to_pandas()
        results: dict[str, StageResult] = {}
        figures = Path(scratch)  # stage figures, copied into the output folder
        fcfg = cfg.features.feature_config()
        if cfg.clv.enabled:
            say(f"CLV ({cfg.clv.model} + Gamma-Gamma, xgboost)")
            model_stage(
                tracker,
                "clv",
                lambda fig: clv_stage(
                    bank,
                    frame,
                    as_of,
                    cfg.labels.horizon_months,
                    cfg.clv.model,
                    cfg.clv.annual_discount_rate,
                    cfg.seed,
                    fig,
                    config=fcfg,
                    max_train_rows=cfg.compute.max_train_rows,
                ),
                figures,
                warnings,
                results,
            )
        if cfg.churn.enabled:
            say(f"churn ({cfg.labels.churn_definition}, xgboost)")
            model_stage(
                tracker,
                "churn",
                lambda fig: churn_stage(
                    bank,
                    frame,
                    labels,
                    as_of,
                    cfg.labels.horizon_months,
                    cfg.labels.churn_definition,
                    cfg.labels.inactivity_days,
                    cfg.seed,
                    fig,
                    runoff_share=cfg.labels.runoff_share,
                    search=cfg.churn.search,
                    min_history_months=cfg.churn.min_history_months,
                    config=fcfg,
                    max_train_rows=cfg.compute.max_train_rows,
                ),
                figures,
                warnings,
                results,
            )
        policy = tier_policy(cfg.tiers.policy)
        if cfg.value.enabled:
            say("value score model (xgboost, size chosen by validation)")
            model_stage(
                tracker,
                "value",
                lambda _fig: value_stage(
                    bank,
                    frame,
                    labels,
                    as_of,
                    cfg.labels.horizon_months,
                    cfg.value,
                    policy,
                    cfg.seed,
                    config=fcfg,
                    max_train_rows=cfg.compute.max_train_rows,
                ),  # fmt: skip
                figures,
                warnings,
                results,
            )
        frame = with_predictions(frame, results)
        value_model = results["value"].models["value"] if "value" in results else None
        with tracker.stage("tiers") as st:
            measure = value_measure(kind, frame.columns, cfg.tiers.value, fcfg.economics, results)
            warnings += measure.warnings
            value_col = measure.column
            say(f"tiers ({cfg.tiers.policy} on {value_col}: {measure.description})")
            st.params({"value_column": value_col, "value_measure.basis": measure.basis,
                       "value_measure.reason": measure.reason[:500]})  # fmt: skip
            earlier_as_of, earlier = earlier_features(bank, as_of, cfg, profile.history_start)
            if earlier is not None and value_col == "value_score" and value_model is not None:
                earlier = earlier.assign(value_score=value_model.predict(earlier))
            results["tiers"] = tiers_stage(
                frame,
                policy,
                cfg.tiers.tier_rules(),
                value_col,
                earlier,
                earlier_as_of,
                churn_col="churn_probability" if "churn_probability" in frame else None,
                measure=measure,
                labels=None if labels is None else labels.to_pandas(),
                value_check=cfg.tiers.value_check,
            )
            log_stage(st, results["tiers"])
        measured = results["tiers"].documents["value_measure.json"]
        if measured["check"]["message"]:  # tiers.value_check: warn; shown first
            warnings.insert(0, f"tiers: {measured['check']['message']}")
        if cfg.segments.enabled:
            with tracker.stage("segments") as st:
                say("behavioural segments")
                results["segments"] = segments_stage(
                    frame, cfg.segments.k, cfg.seed, fit_rows=cfg.compute.cluster_rows
                )
                log_stage(st, results["segments"])
        with tracker.stage("grades") as st, collect_warnings(warnings, "grades"):
            say("corporate grades")
            results["grades"] = grades_stage(
                bank,
                frame,
                as_of,
                cfg.grades.compare_model and labels is not None,
                profile.history_start,
            )
            log_stage(st, results["grades"])
        bank.release_memory()  # no later stage queries the bank or reads earlier snapshots
        gc.collect()
        if cfg.explain.enabled and value_model is not None and value_col == "value_score":
            say("explanations (TreeSHAP, reason codes)")
            with tracker.stage("explain") as st:
                seg = results.get("segments")
                results["explain"] = explain_stage(
                    frame,
                    results["tiers"].tables["tiers"],
                    policy,
                    value_model,
                    cfg.explain,
                    figures / "explain",
                    churn_model=results["churn"].models.get("churn")
                    if "churn" in results
                    else None,
                    segments=seg.tables["segments"] if seg is not None else None,
                    grades=results["grades"].tables["grades"],
                    scorecard=DEFAULT_SCORECARD,
                    seed=cfg.seed,
                    max_train_rows=cfg.compute.max_train_rows,
                    tables_dir=Path(scratch) / "explain_tables",
                )
                log_stage(st, results["explain"])
                st.figures(figures / "explain", skip=private_figures)
        if cfg.export.enabled and value_model is not None and value_col == "value_score":
            say(f"export ({cfg.export.model_name}, alias {cfg.export.alias})")
            with tracker.stage("export") as st:
                bundle = make_bundle(results, policy, cfg.tiers.tier_rules(), DEFAULT_SCORECARD,
                                     top_k=cfg.explain.top_k, run_id=tracker.run_id,
                                     features=frame)  # fmt: skip
                results["export"] = export_stage(
                    frame, bundle, name=cfg.export.model_name, alias=cfg.export.alias,
                    check_rows=cfg.compute.export_check_rows, seed=cfg.seed,
                )  # fmt: skip
                log_stage(st, results["export"])
                info = results["export"].documents["model_info.json"]
                if info.get("alias"):  # set once the run has FINISHED (tracked_run)
                    tracker.defer_alias(info["name"], info["version"], info["alias"])
        if value_model is None or value_col != "value_score":
            for stage, what in (("explain", "no explanations"), ("export", "no model exported")):
                if getattr(cfg, stage).enabled:
                    warnings.append(f"{stage}: tiers use {value_col!r}, not the value score model; {what}")  # fmt: skip
        out = run_output_dir(out_base, cfg.name, tracker.run_id)
        with atomic_output_dir(out) as tmp:
            for res in results.values():
                for name, df in res.tables.items():
                    df.to_parquet(tmp / f"{name}.parquet", index=False)
                for name, path in res.files.items():
                    shutil.move(path, tmp / f"{name}.parquet")
                for name, doc in res.documents.items():
                    dump_json(doc, tmp / name)
            write_features(features, tmp / "features.parquet")
            if any(figures.rglob("*.png")):
                shutil.copytree(figures, tmp / "figures")
            if labels is not None:
                write_features(labels, tmp / "labels.parquet")
            (tmp / "config.yaml").write_text(
                yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
            )
            dump_json(bank.report.to_dict(), tmp / "validation.json")
            dump_json(asdict(profile), tmp / "data_profile.json")
            result = RunResult(
                run_id=tracker.run_id,
                tracking_uri=tracker.tracking_uri,
                output_dir=str(out),
                data_dir=str(folder),
                as_of=str(as_of),
                status="FINISHED",
                metrics={
                    **profile.metrics(),
                    "features.rows": features.num_rows,
                    "features.columns": features.num_columns,
                    **({} if labels is None else label_metrics(labels)),
                    **{f"{k}.{m}": v for k, r in results.items() for m, v in r.metrics.items()},
                },
                stage_seconds=dict(tracker.stage_seconds),
                step_seconds=dict(tracker.step_seconds),
                stage_memory_mb=dict(tracker.stage_memory_mb),
                warnings=warnings,
                model=exported_model(results),
                value_measure=measured,
            )
            # run.json and the tracked copy are made before the folder takes its name: a run
            # that fails or is stopped before it ends leaves no output folder
            dump_json(result.to_dict(), tmp / "run.json", sort_keys=False)  # stages in run order
            log_outputs(tracker, tmp, private_figures)
    return result
