"""The main job, ``segml run``: data, validation, profile, features, labels, CLV, churn, tiers,
segments, grades.

Each stage is a function from typed inputs to typed outputs; :func:`run_pipeline` wires them,
tracks each as a nested MLflow run and writes the run's tables to one output folder. The
pipeline reads only the contract tables; the synthetic bank's ground truth is never opened here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import warnings as pywarnings
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from segml.churn.stage import churn_stage
from segml.clv.stage import clv_stage
from segml.config import RunConfig, resolve
from segml.data import BankData, load_bank
from segml.features import build_features, write_features
from segml.features.catalogue import FEATURES_VERSION
from segml.features.labels import build_labels
from segml.features.spec import add_months
from segml.io import atomic_output_dir
from segml.profile import default_as_of, profile_bank
from segml.run_result import RunResult
from segml.stages import StageResult, grades_stage, segments_stage, tier_policy, tiers_stage
from segml.synth import GENERATOR_VERSION, MANIFEST, SynthConfig, generate
from segml.tracking import StageRun, Tracker, dump_json, tracked_run

Progress = Callable[[str], None]


# ----------------------------------------------------------------------------- stage: data
def synthetic_folder(cache_dir: Path, synth: SynthConfig) -> Path:
    """The cache folder of one synthetic bank (its name carries a digest of the config)."""
    key = json.dumps({**asdict(synth), "v": GENERATOR_VERSION}, sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return cache_dir / f"bank_n{synth.customers}_seed{synth.seed}_{digest}"


def prepare_synthetic(cache_dir: Path, synth: SynthConfig) -> tuple[Path, bool]:
    """Generate the synthetic bank unless an identical one is cached; return (folder, generated)."""
    folder = synthetic_folder(cache_dir, synth)
    if (folder / MANIFEST).is_file():
        return folder, False
    generate(synth, folder, overwrite=folder.exists())
    return folder, True


# ----------------------------------------------------------------------------- stage: features
def features_stage(bank: BankData, as_of: dt.date, cfg: RunConfig) -> pa.Table:
    """The feature table at ``as_of`` on the configured engine."""
    fcfg = cfg.features.feature_config()
    if cfg.features.engine == "spark":
        from segml.features.spark import build_features_spark, spark_session

        sdf = build_features_spark(spark_session(), bank.folder, as_of, fcfg)
        return pa.Table.from_pandas(sdf.toPandas(), preserve_index=False)
    return build_features(bank, as_of, fcfg)


def label_metrics(labels: pa.Table) -> dict[str, float]:
    """Size and base rates of the label table."""
    churned = pc.mean(labels["churned"]).as_py() if labels.num_rows else 0.0
    return {"labels.rows": labels.num_rows, "labels.churn_rate": churned or 0.0}


def earlier_features(
    bank: BankData, as_of: dt.date, cfg: RunConfig, history_start: dt.date | None
) -> tuple[dt.date | None, pd.DataFrame | None]:
    """Features ``tiers.migration_months`` before ``as_of``, if the history reaches back that far."""
    months = cfg.tiers.migration_months
    if not months:
        return None, None
    earlier = add_months(as_of + dt.timedelta(days=1), -months) - dt.timedelta(days=1)
    if history_start is None or history_start > add_months(earlier, -12):
        return None, None  # less than a year of history before the earlier date
    return earlier, build_features(bank, earlier, cfg.features.feature_config()).to_pandas()


#: Per-customer predictions joined onto the feature table for the later stages (e.g. a tier
#: policy on predicted value: ``tiers.value: clv``).
PREDICTION_TABLES = {"clv": "clv", "churn": "churn_scores"}


def with_predictions(frame: pd.DataFrame, results: dict[str, StageResult]) -> pd.DataFrame:
    """The feature table with the CLV and churn stages' per-customer columns added."""
    for stage, table in PREDICTION_TABLES.items():
        res = results.get(stage)
        if res is None or table not in res.tables:
            continue
        pred = res.tables[table]
        new = [c for c in pred.columns if c not in frame.columns]
        frame = frame.merge(pred[["customer_id", *new]], on="customer_id", how="left")
    return frame


@contextlib.contextmanager
def collect_warnings(into: list[str], stage: str) -> Iterator[None]:
    """Add the warnings segml itself raises inside the block to ``into`` (once each)."""
    with pywarnings.catch_warnings(record=True) as caught:
        pywarnings.simplefilter("always")
        yield
    for w in caught:
        if f"{os.sep}segml{os.sep}" in str(w.filename):
            text = f"{stage}: {w.message}"
            if text not in into:
                into.append(text)
        else:  # not ours: show it as Python would have
            pywarnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def model_stage(
    tracker: Tracker,
    name: str,
    compute: Callable[[Path], StageResult],
    figures: Path,
    warnings: list[str],
    results: dict[str, StageResult],
) -> None:
    """Run a model stage as nested run ``name``; its figures go to ``figures/name``.

    A ``ValueError`` (e.g. too little history before the as-of date to train on) skips the
    stage with a warning instead of failing the run; segml's own warnings are collected.
    """
    with tracker.stage(name) as st:
        try:
            with collect_warnings(warnings, name):
                res = compute(figures / name)
        except ValueError as exc:
            warnings.append(f"no {name} model: {exc}")
            st.params({"skipped": str(exc)[:500]})
            return
        results[name] = res
        log_stage(st, res)
        st.figures(figures / name)


def log_stage(st: StageRun, res: StageResult) -> None:
    """Log a stage's metrics, documents and table sizes to its nested run."""
    st.metrics(res.metrics)
    for name, doc in res.documents.items():
        st.json(doc, name)
    st.metrics({f"rows.{k}": len(v) for k, v in res.tables.items()})


# ----------------------------------------------------------------------------- the run
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
    out_base = resolve(root, cfg.output.dir)
    assert out_base is not None
    with (
        tracked_run(cfg, root, config_path) as tracker,
        tempfile.TemporaryDirectory(prefix="segml-figures-") as scratch,
    ):
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
            bank = load_bank(folder, mapping, cfg.data.reference_date)
            st.json(bank.report.to_dict(), "validation.json")
            st.metrics({f"rows.{k}": v for k, v in bank.report.row_counts.items()})
            st.metrics({"warnings": len(bank.report.warnings)})
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
        warnings = [str(w) for w in bank.report.warnings]
        with tracker.stage("labels") as st:
            try:
                labels = build_labels(
                    bank,
                    as_of,
                    cfg.labels.horizon_months,
                    cfg.labels.churn_definition,
                    cfg.labels.inactivity_days,
                    cfg.features.feature_config(),
                    runoff_share=cfg.labels.runoff_share,
                )
                st.metrics(label_metrics(labels))
            except ValueError as exc:  # the data do not cover a label window after as_of
                labels = None
                warnings.append(f"no labels: {exc}")
                st.params({"skipped": str(exc)[:500]})
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
                ),
                figures,
                warnings,
                results,
            )
        frame = with_predictions(frame, results)
        with tracker.stage("tiers") as st:
            say(f"tiers ({cfg.tiers.policy} on {cfg.tiers.value})")
            earlier_as_of, earlier = earlier_features(bank, as_of, cfg, profile.history_start)
            results["tiers"] = tiers_stage(
                frame,
                tier_policy(cfg.tiers.policy),
                cfg.tiers.tier_rules(),
                cfg.tiers.value,
                earlier,
                earlier_as_of,
            )
            log_stage(st, results["tiers"])
        if cfg.segments.enabled:
            with tracker.stage("segments") as st:
                say("behavioural segments")
                results["segments"] = segments_stage(frame, cfg.segments.k, cfg.seed)
                log_stage(st, results["segments"])
        with tracker.stage("grades") as st:
            say("corporate grades")
            results["grades"] = grades_stage(
                bank,
                frame,
                as_of,
                cfg.grades.compare_model and labels is not None,
                profile.history_start,
            )
            log_stage(st, results["grades"])
        out = out_base / f"{cfg.name}-{tracker.run_id[:12]}"
        with atomic_output_dir(out) as tmp:
            for res in results.values():
                for name, df in res.tables.items():
                    df.to_parquet(tmp / f"{name}.parquet", index=False)
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
            warnings=warnings,
        )
        dump_json(result.to_dict(), out / "run.json")
        tracker.client.log_artifacts(tracker.run_id, str(out), "outputs")
    return result
