"""The steps of ``segml run``, declared: :data:`STEPS` is the run, in order.

Each step is a short function ``(ctx, stage_run) -> StageResult | None`` that reads the run's
config and what earlier steps left in the :class:`~segml.run.context.RunContext`, calls the
libraries (the model steps: ``fit_clv``, ``fit_churn``, ``fit_value`` with the config's typed
settings, :meth:`~segml.run.config.RunConfig.clv_settings` …; the others through the stage
functions of :mod:`segml.run.stages`) and hands back what to keep.
:mod:`segml.run.runner` runs the table; docs/architecture.md shows how to add a step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from segml.churn.fit import fit_churn
from segml.clv.fit import fit_clv
from segml.contract import CONTRACT
from segml.data import load_bank
from segml.economics import data_kind
from segml.features.build import write_features
from segml.features.catalogue import FEATURES_VERSION
from segml.grades import DEFAULT_SCORECARD
from segml.profile import default_as_of, profile_bank
from segml.run.config import resolve
from segml.run.context import RunContext
from segml.run.lineage import data_fingerprint, log_contract_inputs
from segml.run.runner import Step
from segml.run.stages.base import StageResult
from segml.run.stages.data import prepare_synthetic
from segml.run.stages.explain import explain_stage
from segml.run.stages.export import export_stage, make_bundle
from segml.run.stages.features import (
    earlier_features,
    label_metrics,
    run_snapshots,
    with_predictions,
)
from segml.run.stages.grades import grades_stage
from segml.run.stages.labels import labels_for_run
from segml.run.stages.segments import segments_stage
from segml.run.stages.tiers import tiers_stage, value_measure
from segml.run.tracking import StageRun
from segml.value.fit import fit_value

__all__ = ["STEPS"]


# ----------------------------------------------------------------------------- the data
def data(ctx: RunContext, st: StageRun) -> None:
    """Find the data: the configured folder, or the synthetic bank (generated once, cached)."""
    cfg = ctx.cfg
    if cfg.data.source == "synthetic":
        synth = cfg.synth_config()
        cache = resolve(ctx.root, cfg.synthetic.cache_dir)
        assert cache is not None
        ctx.say(f"synthetic bank: {synth.customers:,} customers, seed {synth.seed}")
        ctx.folder, made = prepare_synthetic(cache, synth)
        st.params({"data.folder": ctx.folder, "data.generated": made})
    else:
        ctx.folder = resolve(ctx.root, cfg.data.path)
        assert ctx.folder is not None
        st.params({"data.folder": ctx.folder})


def validate(ctx: RunContext, st: StageRun) -> None:
    """Load the data through the contract's validator; a breach stops the run here."""
    cfg, tracker = ctx.cfg, ctx.tracker
    ctx.say(f"validating {ctx.folder}")
    mapping = resolve(ctx.root, cfg.data.mapping)
    bank = load_bank(ctx.folder, mapping, cfg.data.reference_date, cfg.compute.memory_limit)
    ctx.bank = bank
    if bank.report.cached:
        ctx.say("the files are unchanged since they were validated: the recorded report stands")
    st.params({"validation.cached": bank.report.cached})
    if tracker.private is not None:
        tracker.know_ids(bank.table("customers").select("customer_id").fetchnumpy()["customer_id"])  # fmt: skip
    report = bank.report.to_dict()
    st.json(tracker.private.json(report) if tracker.private is not None else report, "validation.json")  # fmt: skip
    st.metrics({f"rows.{k}": v for k, v in bank.report.row_counts.items()})
    st.metrics({"warnings": len(bank.report.warnings)})
    ctx.warnings += [str(w) for w in bank.report.warnings]


def lineage(ctx: RunContext, _st: None) -> None:
    """Digests of the contract tables read, on the parent run (what data made this run)."""
    digests = log_contract_inputs(ctx.folder, CONTRACT)
    ctx.tracker.client.log_param(ctx.tracker.run_id, "data.fingerprint", data_fingerprint(digests))  # fmt: skip


def profile(ctx: RunContext, st: StageRun) -> None:
    """The as-of date (config, synthetic calendar, or the data's last full month) and the
    data's profile at it."""
    cfg = ctx.cfg
    synthetic = cfg.synthetic.as_of if cfg.data.source == "synthetic" else None
    ctx.as_of = cfg.as_of or synthetic or default_as_of(ctx.bank)
    ctx.say(f"profiling at {ctx.as_of}")
    ctx.profile = profile_bank(ctx.bank, ctx.as_of)
    st.metrics(ctx.profile.metrics())
    st.json(asdict(ctx.profile), "data_profile.json")


def features(ctx: RunContext, st: StageRun) -> StageResult:
    """The point-in-time feature table at the as-of date, written for the outputs now (while
    the run holds little: a 1M-customer table's Parquet writer buffers ~1.5 GB)."""
    ctx.say(f"features at {ctx.as_of} ({ctx.cfg.features.engine})")
    # every snapshot on disk, memory-mapped when a step reads it: ~0.7 GB each at 1M customers
    ctx.snapshots = run_snapshots(ctx.bank, ctx.cfg, store=ctx.scratch / "snapshots")
    res = StageResult()
    res.files["features"] = write_features(ctx.snapshots.features(ctx.as_of), ctx.scratch / "features.parquet")  # fmt: skip
    ctx.features = ctx.snapshots.features(ctx.as_of)  # a fresh mapping: none of it read yet
    st.params({"features_version": FEATURES_VERSION, "engine": ctx.cfg.features.engine})
    st.metrics({"rows": ctx.features.num_rows, "columns": ctx.features.num_columns})
    # purchase log or bank, and how that is known (the features made absent tables empty views)
    ctx.kind = data_kind(ctx.bank.folder, ctx.bank.con)
    return res


def labels(ctx: RunContext, st: StageRun) -> None:
    """Labels after the as-of date, when the data reach that far (else a warning)."""
    try:
        ctx.labels = labels_for_run(ctx.snapshots, ctx.as_of, ctx.cfg)
        st.metrics(label_metrics(ctx.labels))
    except ValueError as exc:  # the data do not cover a label window after as_of
        ctx.warnings.append(f"no labels: {exc}")
        st.params({"skipped": str(exc)[:500]})
    if ctx.cfg.labels.churn_definition == "closure" and ctx.kind[0] == "purchase_log":
        ctx.warnings.append(
            "labels: a purchase log has no account closures, so the closure churn "
            "definition counts no churner; set labels.churn_definition: inactivity"
        )
    ctx.frame = ctx.snapshots.frame(ctx.as_of)


# ----------------------------------------------------------------------------- the models
def clv(ctx: RunContext, _st: StageRun) -> StageResult:
    """Purchase and spend models (BG/NBD or Pareto/NBD + Gamma-Gamma) and supervised CLV."""
    outcome = fit_clv(
        ctx.snapshots, ctx.frame, ctx.as_of, ctx.cfg.clv_settings(), figures_dir=ctx.figures / "clv"
    )
    return StageResult.of(outcome)


def churn(ctx: RunContext, _st: StageRun) -> StageResult:
    """The churn model, trained out of time, calibrated and tested."""
    outcome = fit_churn(
        ctx.snapshots, ctx.frame, ctx.labels, ctx.as_of, ctx.cfg.churn_settings(),
        figures_dir=ctx.figures / "churn", config=ctx.feature_config,
    )  # fmt: skip
    return StageResult.of(outcome)


def value(ctx: RunContext, _st: StageRun) -> StageResult:
    """The value score model the tiers may rank (size chosen by validation)."""
    outcome = fit_value(
        ctx.snapshots, ctx.frame, ctx.labels, ctx.as_of, ctx.cfg.value_settings(),
        policy=ctx.policy, config=ctx.feature_config,
    )  # fmt: skip
    return StageResult.of(outcome)


# ----------------------------------------------------------------------------- the tiers
def tiers(ctx: RunContext, st: StageRun) -> StageResult:
    """What the tiers rank (chosen by validation), the tiers, concentration and migration."""
    cfg = ctx.cfg
    ctx.frame = with_predictions(ctx.frame, ctx.results)
    ctx.measure = measure = value_measure(
        ctx.kind, ctx.frame.columns, cfg.tiers.value, ctx.feature_config.economics, ctx.results
    )
    ctx.warnings += measure.warnings
    ctx.say(f"tiers ({cfg.tiers.policy} on {measure.column}: {measure.description})")
    st.params({"value_column": measure.column, "value_measure.basis": measure.basis,
               "value_measure.reason": measure.reason[:500]})  # fmt: skip
    earlier_as_of, earlier = earlier_features(ctx.snapshots, ctx.as_of, cfg.tiers.migration_months)
    if earlier is not None and ctx.tiers_explained:
        earlier = earlier.assign(value_score=ctx.value_model.predict(earlier))
    res = tiers_stage(
        ctx.frame, ctx.policy, cfg.tiers.tier_rules(), measure.column, earlier, earlier_as_of,
        churn_col="churn_probability" if "churn_probability" in ctx.frame else None,
        measure=measure, labels=None if ctx.labels is None else ctx.labels.to_pandas(),
        value_check=cfg.tiers.value_check,
    )  # fmt: skip
    check = res.documents["value_measure.json"]["check"]["message"]
    if check:  # tiers.value_check: warn; shown first
        ctx.warnings.insert(0, f"tiers: {check}")
    return res


def segments(ctx: RunContext, _st: StageRun) -> StageResult:
    """Behavioural segments, profiled, named and compared with demographics."""
    cfg = ctx.cfg
    return segments_stage(ctx.frame, cfg.segments.k, cfg.seed, fit_rows=cfg.compute.cluster_rows)


def grades(ctx: RunContext, _st: StageRun) -> StageResult:
    """Corporate grades by the scorecard (and its comparison with a learned model)."""
    compare = ctx.cfg.grades.compare_model and ctx.has_labels
    return grades_stage(ctx.snapshots, ctx.frame, ctx.as_of, compare, ctx.profile.history_start)


def release(ctx: RunContext, _st: None) -> None:
    """No later step queries the bank or reads earlier snapshots: free their memory."""
    ctx.snapshots.release()


# ----------------------------------------------------------------------------- explain, export
def explain(ctx: RunContext, st: StageRun) -> StageResult:
    """TreeSHAP contributions and reason codes of every tier, churn risk, segment and grade."""
    cfg = ctx.cfg
    res = explain_stage(
        ctx.frame, ctx.tiers_table, ctx.policy, ctx.value_model, cfg.explain,
        ctx.figures / "explain", churn_model=ctx.churn_model, segments=ctx.segments_table,
        grades=ctx.grades_table, scorecard=DEFAULT_SCORECARD, seed=cfg.seed,
        max_train_rows=cfg.compute.max_train_rows, tables_dir=ctx.scratch / "explain_tables",
    )  # fmt: skip
    st.figures(ctx.figures / "explain", skip=ctx.private_figures)
    return res


def export(ctx: RunContext, _st: StageRun) -> StageResult:
    """Bundle the run's models as one MLflow model, check it on the run's customers, register
    it; the alias is set once the run has FINISHED."""
    cfg = ctx.cfg
    horizon_days, annual_rate = ctx.clv_scoring
    bundle = make_bundle(
        ctx.value_model, ctx.tiers_table, ctx.policy, cfg.tiers.tier_rules(), DEFAULT_SCORECARD,
        churn_model=ctx.churn_model, clv_model=ctx.clv_model, clv_horizon_days=horizon_days,
        clv_annual_rate=annual_rate, surrogate=ctx.segment_surrogate,
        segment_names=ctx.segment_names, top_k=cfg.explain.top_k, run_id=ctx.tracker.run_id,
        features=ctx.frame, reason_reference=ctx.model("explain", "reason_reference"),
    )  # fmt: skip
    res = export_stage(
        ctx.frame, bundle, name=cfg.export.model_name, alias=cfg.export.alias,
        check_rows=cfg.compute.export_check_rows, seed=cfg.seed,
    )  # fmt: skip
    info = res.documents["model_info.json"]
    if info.get("alias"):  # set once the run has FINISHED (tracked_run)
        ctx.tracker.defer_alias(info["name"], info["version"], info["alias"])
    return res


def _not_explained(step: str, what: str) -> Callable[[RunContext], str | None]:
    """The warning of an enabled step that cannot run: the tiers rank another measure."""

    def note(ctx: RunContext) -> str | None:
        if not getattr(ctx.cfg, step).enabled:
            return None
        return f"{step}: tiers use {ctx.value_col!r}, not the value score model; {what}"

    return note


def _enabled(section: str) -> Callable[[RunContext], bool]:
    return lambda ctx: getattr(ctx.cfg, section).enabled


def _explained(section: str) -> Callable[[RunContext], bool]:
    return lambda ctx: getattr(ctx.cfg, section).enabled and ctx.tiers_explained


# ----------------------------------------------------------------------------- the table
#: The run, in order. ``when``: whether the step runs; ``skipped``: the warning when it does
#: not; ``model``: segml's refusal of the data skips it with a warning; ``collect``: segml's
#: warnings inside it reach the run's warnings; ``tracked``: a nested MLflow run of its own;
#: ``needs``/``makes``: what it reads and fills (context fields, or earlier steps' results;
#: a result may be absent when its step did not run).
STEPS: tuple[Step, ...] = (
    Step("data", data, makes=("folder",)),
    Step("validate", validate, needs=("folder",), makes=("bank",)),
    Step("lineage", lineage, tracked=False, needs=("folder",)),
    Step("profile", profile, needs=("bank",), makes=("as_of", "profile")),
    Step("features", features, needs=("bank", "as_of"), makes=("snapshots", "features", "kind")),
    Step("labels", labels, needs=("snapshots", "as_of", "kind", "features"), makes=("labels", "frame")),
    Step("clv", clv, when=_enabled("clv"), model=True, collect=True,
         needs=("snapshots", "frame", "as_of"),
         says=lambda ctx: f"CLV ({ctx.cfg.clv.model} + Gamma-Gamma, xgboost)"),
    Step("churn", churn, when=_enabled("churn"), model=True, collect=True,
         needs=("snapshots", "frame", "labels", "as_of"),
         says=lambda ctx: f"churn ({ctx.cfg.labels.churn_definition}, xgboost)"),
    Step("value", value, when=_enabled("value"), model=True, collect=True,
         needs=("snapshots", "frame", "labels", "as_of"),
         says=lambda _: "value score model (xgboost, size chosen by validation)"),
    Step("tiers", tiers, needs=("snapshots", "frame", "kind", "profile", "labels", "clv", "churn", "value"),
         makes=("measure", "frame")),
    Step("segments", segments, when=_enabled("segments"), needs=("frame",),
         says=lambda _: "behavioural segments"),
    Step("grades", grades, collect=True, needs=("snapshots", "frame", "labels", "profile"),
         says=lambda _: "corporate grades"),
    Step("release", release, tracked=False, needs=("snapshots",)),
    Step("explain", explain, when=_explained("explain"),
         skipped=_not_explained("explain", "no explanations"),
         needs=("frame", "tiers", "value", "churn", "segments", "grades"),
         says=lambda _: "explanations (TreeSHAP, reason codes)"),
    Step("export", export, when=_explained("export"),
         skipped=_not_explained("export", "no model exported"),
         needs=("frame", "tiers", "value", "churn", "clv", "segments", "explain"),
         says=lambda ctx: f"export ({ctx.cfg.export.model_name}, alias {ctx.cfg.export.alias})"),
)  # fmt: skip
