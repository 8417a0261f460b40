"""Typed, frozen run configuration loaded from YAML (``experiments/configs/*.yaml``).

Configuration is data: every run reads one YAML file into :class:`RunConfig`, logs the resolved
result with the run, and nothing else steers it. Unknown keys and wrong types are errors that
name the key. Relative paths are resolved against the project root (the folder that holds
``experiments/``), so a run behaves the same from the shell, ``make`` or a notebook.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from segml.contract import CHANNELS, TRANSACTION_KINDS
from segml.economics import DEFAULT_ECONOMICS
from segml.features.spec import NON_CUSTOMER_KINDS, FeatureConfig
from segml.io import parse_yaml, read_yaml

if TYPE_CHECKING:
    from segml.churn.outcome import ChurnSettings
    from segml.clv.outcome import ClvSettings
    from segml.value.outcome import ValueSettings
from segml.synth import SynthConfig
from segml.tiers import TierRule


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(_Frozen):
    """Where the bank's tables come from."""

    source: Literal["synthetic", "folder"] = "synthetic"
    path: str | None = Field(None, description="Folder of contract tables (source: folder).")
    mapping: str | None = Field(None, description="YAML mapping of the bank's names.")
    reference_date: dt.date | None = Field(
        None, description="Dates after it are rejected as 'in the future' (default: today)."
    )

    @model_validator(mode="after")
    def _path_for_folder(self) -> DataConfig:
        if self.source == "folder" and not self.path:
            raise ValueError("data.path is required when data.source is 'folder'")
        return self


class SyntheticConfig(_Frozen):
    """The embedded synthetic bank (see docs/synthetic_bank.md)."""

    customers: int = Field(20_000, ge=1)
    start: dt.date = dt.date(2021, 1, 1)
    as_of: dt.date = dt.date(2024, 12, 31)
    label_months: int = Field(12, ge=1, le=36)
    corporate_share: float = Field(0.08, ge=0, lt=1)
    chunk_size: int = Field(20_000, ge=1)
    cache_dir: str = "data/raw/synthetic"


class FeaturesSection(_Frozen):
    """Point-in-time features (see docs/features.md)."""

    windows: tuple[int, ...] = (30, 90, 365)
    exclude_kinds: tuple[str, ...] = NON_CUSTOMER_KINDS
    digital_channels: tuple[str, ...] = ("mobile", "online")
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb", description="Where features are computed, at every date the run needs."
    )
    spark_master: str = Field(
        "local[*]", description="Spark master for engine: spark (a cluster's URL, or local)."
    )
    economics: dict[str, Any] = Field(
        default_factory=dict,
        description="Changes to the unit economics behind profit (segml.economics), e.g. "
        "{spread: {mortgage: 0.012}, account_cost_retail: 3.0}; maps update the defaults. "
        "kind: auto (the data say: a bank, or a purchase log valued by purchase_margin × "
        "purchases, default 0.3), bank or purchase_log.",
    )

    @model_validator(mode="after")
    def _check(self) -> FeaturesSection:
        if not self.windows or min(self.windows) < 1:
            raise ValueError("features.windows must be positive day counts")
        unknown = set(self.exclude_kinds) - set(TRANSACTION_KINDS)
        if unknown:
            raise ValueError(f"features.exclude_kinds has unknown kinds {sorted(unknown)}")
        unknown = set(self.digital_channels) - set(CHANNELS)
        if unknown:
            raise ValueError(f"features.digital_channels has unknown channels {sorted(unknown)}")
        DEFAULT_ECONOMICS.updated(self.economics, "features.economics")  # names a bad key
        return self

    def feature_config(self) -> FeatureConfig:
        """The builder's configuration."""
        return FeatureConfig(
            windows=self.windows,
            exclude_kinds=self.exclude_kinds,
            digital_channels=self.digital_channels,
            economics=DEFAULT_ECONOMICS.updated(self.economics, "features.economics"),
        )


class LabelsSection(_Frozen):
    """Labels from the window after the as-of date."""

    horizon_months: int = Field(12, ge=1, le=36)
    churn_definition: Literal["closure", "inactivity", "balance_runoff"] = "closure"
    inactivity_days: int = Field(90, ge=1)
    runoff_share: float = Field(
        0.5, gt=0, le=1, description="balance_runoff: churned below this share of the balance."
    )


class RuleConfig(_Frozen):
    """A tier override: all conditions ``[column, operator, value]`` hold -> action."""

    name: str
    when: tuple[tuple[str, str, Any], ...]
    action: Literal["flag", "set", "cap", "floor"] = "flag"
    tier: str | None = None


class TiersSection(_Frozen):
    """Value tiers (see docs/tiers.md)."""

    policy: Literal["pyramid", "abc", "customer_pyramid"] = "pyramid"
    value: str = Field(
        "auto",
        description="What the tiers rank: auto (chosen from the data and said why: the value "
        "model's value_score, else clv on a purchase log, else profit_12m), value_score (the "
        "explained value model), profit_12m, clv, or any feature column.",
    )
    value_check: Literal["fail", "warn"] = Field(
        "fail",
        description="When the value measure disagrees with observed revenue or profit "
        "(docs/tiers.md): fail the run, or warn (in the summary and the review pack) and tier.",
    )
    migration_months: int = Field(12, ge=0, description="Compare with tiers this long before.")
    rules: tuple[RuleConfig, ...] = ()

    def tier_rules(self) -> tuple[TierRule, ...]:
        """The overrides as :class:`segml.tiers.TierRule` objects."""
        return tuple(TierRule(r.name, r.when, r.action, r.tier) for r in self.rules)


class SegmentsSection(_Frozen):
    """Behavioural segments (see docs/segments.md)."""

    enabled: bool = True
    k: int | Literal["auto"] = "auto"


class GradesSection(_Frozen):
    """Corporate grades (see docs/grades.md)."""

    compare_model: bool = Field(
        True, description="Compare the scorecard with xgboost out of time when history allows."
    )


class ClvSection(_Frozen):
    """Customer lifetime value (see docs/clv.md)."""

    enabled: bool = True
    model: Literal["bgnbd", "pareto", "mbgnbd"] = "bgnbd"
    annual_discount_rate: float = Field(0.10, ge=0, lt=1)
    stability_check: bool = Field(
        True,
        description="Refit each supervised CLV model with the next seed and report how far its "
        "predicted total and ranking move (the review pack flags an unstable model).",
    )


class ChurnSection(_Frozen):
    """Churn model (see docs/churn.md); the definition is ``labels.churn_definition``."""

    enabled: bool = True
    search: int = Field(4, ge=0, description="Hyper-parameter candidates tried on validation.")
    min_history_months: int = Field(12, ge=1)
    stability_check: bool = Field(
        True,
        description="Refit the chosen churn model with the next seed and report how far its "
        "expected churners and ranking move (the review pack flags an unstable model).",
    )


class ValueSection(_Frozen):
    """The value score model that tiers customers (see docs/explain.md)."""

    enabled: bool = True
    baseline: Literal["accounting", "none"] = Field(
        "accounting", description="Start from current profit's accounting lines, or not."
    )
    objective: Literal["absoluteerror", "squarederror"] = "absoluteerror"
    depths: tuple[int, ...] = Field((2, 3, 4, 6), description="Tree depths tried on validation.")
    tolerance: float = Field(
        0.01, ge=0, description="Cheapest depth whose validation MAE is within this of the best."
    )
    max_cost: float | None = Field(
        60_000.0,
        description="Explanation budget: TreeSHAP cost proxy (Σ leaves × depth²) a model may "
        "have; null: none.",
    )
    max_trees: int = Field(300, ge=1)
    learning_rate: float = Field(0.1, gt=0, le=1)
    monotone: dict[str, int] | None = Field(
        None, description="Monotone constraints by column; null: more balance never lowers value."
    )
    device: Literal["cpu", "cuda"] | None = Field(
        None, description="Device of the value model only; null: compute.device."
    )
    stability_check: bool = Field(
        True,
        description="Refit the chosen value model with the next seed and report how far its "
        "scores, ranking and tiers move (the review pack flags an unstable model).",
    )


class ExplainSection(_Frozen):
    """Explanations and reason codes (see docs/explain.md)."""

    enabled: bool = True
    top_k: int = Field(4, ge=1, le=20, description="Reason codes per customer.")
    batch_size: int = Field(100_000, ge=1, description="Rows per TreeSHAP batch.")
    tolerance: float = Field(1e-5, gt=0, description="Additivity tolerance (relative).")
    examples_per_tier: int = Field(1, ge=0, description="Waterfall plots per tier.")
    surrogate: bool = Field(True, description="Explain segments with a surrogate classifier.")


class ExportSection(_Frozen):
    """The exported pyfunc model (see docs/serving.md)."""

    enabled: bool = True
    model_name: str = Field("segml-tiering", description="Registered model name.")
    alias: str = Field("challenger", description="Alias of each newly registered version.")


class ReportSection(_Frozen):
    """The model-review pack's model card (see docs/report.md): who owns the model, what for."""

    title: str = Field("Customer value tiering", description="Name of the model in the pack.")
    owners: tuple[str, ...] = Field(
        (), description="Accountable owners (name, role); the pack flags a model with none."
    )
    intended_use: str = Field(
        "Rank the bank's active customers by next year's value into service tiers, with churn "
        "risk, behavioural segments and corporate grades, so that relationship coverage, "
        "contact cadence and retention actions follow value. Decision support for relationship "
        "managers and segment owners; a person reviews every individual action.",
        description="What the model is for, in plain words.",
    )
    out_of_scope: tuple[str, ...] = Field(
        (
            "credit decisions, credit limits or loan pricing",
            "eligibility for a product or a service a customer is entitled to",
            "any decision based on gender, age, region, income band or occupation",
        ),
        description="Uses the model is not validated for.",
    )
    limitations: tuple[str, ...] = Field(
        (
            "Value is next year's profit from the bank's own accounting lines; wallet share at "
            "other banks and lifetime beyond the horizon are not in it.",
            "Models are trained out of time on the history before the as-of date; a structural "
            "break (rates, regulation, a new product) needs a new run and a new review.",
            "Churn follows the run's churn definition; other kinds of attrition are not modelled.",
            "Segments are descriptive clusters; their names are generated from their profiles.",
        ),
        description="Known limitations, stated in the model card.",
    )


class OutputConfig(_Frozen):
    """Where runs write their tables and figures."""

    dir: str = "data/processed/runs"


class TrackingConfig(_Frozen):
    """MLflow tracking: an embedded SQLite store under experiments/ unless a URI is given."""

    uri: str | None = Field(
        None, description="Overrides the embedded store; MLFLOW_TRACKING_URI wins."
    )
    experiment: str = "segml"
    pseudonymize: bool = Field(
        True,
        description="Replace customer ids by keyed hashes in everything logged to MLflow: "
        "the outputs' tables, JSON and text, error tags and error.txt, validation.json (key: "
        "SEGML_PSEUDONYM_KEY, else random per run). The local output folder keeps real ids.",
    )


class ComputeSection(_Frozen):
    """How much of the machine a run uses (see docs/scaling.md); results do not depend on
    ``threads``, and the row caps only bind on banks larger than they are."""

    threads: int | None = Field(
        None, ge=1, description="Threads for xgboost and TreeSHAP (null: every core)."
    )
    device: Literal["cpu", "cuda"] = Field(
        "cpu",
        description="Where every xgboost model trains and computes TreeSHAP; cuda needs a "
        "GPU (a run that asks for one on a machine without it stops before it starts).",
    )
    memory_limit: str | None = Field(
        "15%", description="DuckDB memory limit (e.g. '8GB' or '50%'; null: DuckDB's default)."
    )
    max_train_rows: int | None = Field(
        50_000,
        ge=50,
        description="Rows each supervised model (CLV, churn, value, segment surrogate) is fitted "
        "on: a seeded sample (stratified for churn) when there are more; null: all.",
    )
    cluster_rows: int | None = Field(
        50_000,
        ge=50,
        description="Rows the segment models are fitted on (per customer type, seeded sample); "
        "every customer is then assigned; null: all.",
    )
    export_check_rows: int | None = Field(
        20_000,
        ge=1,
        description="Customers the exported model re-scores to prove it reproduces the run "
        "(scores.parquet); null: all.",
    )


class RunConfig(_Frozen):
    """Everything one ``segml run`` needs."""

    name: str = Field(
        "default",
        description="Run name: letters, digits, '_', '.', '-' (it names the run's output folder; "
        "no path separators, no '..').",
    )
    seed: int = 42
    as_of: dt.date | None = Field(
        None, description="Feature date; default: the synthetic bank's as_of, else the data's end."
    )
    data: DataConfig = DataConfig()
    synthetic: SyntheticConfig = SyntheticConfig()
    features: FeaturesSection = FeaturesSection()
    labels: LabelsSection = LabelsSection()
    tiers: TiersSection = TiersSection()
    segments: SegmentsSection = SegmentsSection()
    grades: GradesSection = GradesSection()
    clv: ClvSection = ClvSection()
    churn: ChurnSection = ChurnSection()
    value: ValueSection = ValueSection()
    explain: ExplainSection = ExplainSection()
    export: ExportSection = ExportSection()
    output: OutputConfig = OutputConfig()
    tracking: TrackingConfig = TrackingConfig()
    report: ReportSection = ReportSection()
    compute: ComputeSection = ComputeSection()

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if ".." in v or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", v):
            raise ValueError(
                f"{v!r} is not a plain run name: it names the run's output folder, so it takes "
                "1-100 letters, digits, '_', '.' and '-' (first a letter or digit), no path "
                "separators and no '..'"
            )
        return v

    def synth_config(self) -> SynthConfig:
        """The synthetic bank this config describes (seeded by :attr:`seed`)."""
        s = self.synthetic
        return SynthConfig(
            customers=s.customers,
            seed=self.seed,
            start=s.start,
            as_of=s.as_of,
            label_months=s.label_months,
            corporate_share=s.corporate_share,
            chunk_size=s.chunk_size,
        )

    # the libraries' typed settings (imported here on use: they pull in the model libraries)
    def clv_settings(self) -> ClvSettings:
        """The CLV method's settings (:func:`segml.clv.fit_clv`) this config describes."""
        from segml.clv.outcome import ClvSettings

        return ClvSettings(
            horizon_months=self.labels.horizon_months, model=self.clv.model,
            annual_discount_rate=self.clv.annual_discount_rate, seed=self.seed,
            max_train_rows=self.compute.max_train_rows, stability_check=self.clv.stability_check,
        )  # fmt: skip

    def churn_settings(self) -> ChurnSettings:
        """The churn model's settings (:func:`segml.churn.fit_churn`) this config describes."""
        from segml.churn.outcome import ChurnSettings

        lab = self.labels
        return ChurnSettings(
            horizon_months=lab.horizon_months, definition=lab.churn_definition,
            inactivity_days=lab.inactivity_days, runoff_share=lab.runoff_share, seed=self.seed,
            search=self.churn.search, min_history_months=self.churn.min_history_months,
            max_train_rows=self.compute.max_train_rows,
            stability_check=self.churn.stability_check,
        )  # fmt: skip

    def value_settings(self) -> ValueSettings:
        """The value score model's settings (:func:`segml.value.fit_value`) this config
        describes."""
        from segml.value.outcome import ValueSettings

        sec = self.value
        return ValueSettings(
            horizon_months=self.labels.horizon_months, seed=self.seed,
            max_train_rows=self.compute.max_train_rows, baseline=sec.baseline,
            objective=sec.objective, depths=tuple(sec.depths), tolerance=sec.tolerance,
            max_cost=sec.max_cost, max_trees=sec.max_trees, learning_rate=sec.learning_rate,
            monotone=None if sec.monotone is None else dict(sec.monotone), device=sec.device,
            stability_check=sec.stability_check,
        )  # fmt: skip

    def to_flat_dict(self) -> dict[str, Any]:
        """``section.key -> value`` for logging as run parameters."""
        out: dict[str, Any] = {}

        def walk(prefix: str, obj: Any) -> None:
            if isinstance(obj, dict):
                for k, v in obj.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                out[prefix] = obj

        walk("", self.model_dump(mode="json"))
        return out


class ConfigError(ValueError):
    """A configuration file that cannot be read or does not fit :class:`RunConfig`."""


def load_config(
    path: str | os.PathLike[str],
    overrides: dict[str, Any] | None = None,
    *,
    option: str | None = None,
) -> RunConfig:
    """Read a YAML file into a :class:`RunConfig`.

    Parameters
    ----------
    path : path
        YAML file.
    overrides : dict, optional
        ``section.key -> value`` pairs applied on top (e.g. ``{"synthetic.customers": 500}``).
    option : str, optional
        The option that named the file (``"--config"``), for messages; default "config file".

    Raises
    ------
    ConfigError
        In one line: the option and file, then the line of a YAML error, or the key and the
        problem.
    """
    path = Path(path)
    where = f"{option} {path}" if option else f"config file {path}"
    try:
        raw = read_yaml(path, where) or {}
    except ValueError as exc:  # not found, unreadable, not YAML (the line named)
        raise ConfigError(str(exc)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping")
    for key, value in (overrides or {}).items():
        node = raw
        *parents, leaf = key.split(".")
        for i, p in enumerate(parents):
            if node.get(p) is None:
                node[p] = {}
            node = node[p]
            if not isinstance(node, dict):
                section = ".".join(parents[: i + 1])
                raise ConfigError(f"cannot set {key}: {section} is a value in {where}, not a section")  # fmt: skip
        node[leaf] = value
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{where}: {problems}") from exc


def parse_overrides(items: Iterable[str], option: str = "--set") -> dict[str, Any]:
    """``KEY=VALUE`` strings (``--set synthetic.customers=500``) as overrides for
    :func:`load_config`, each value read as YAML (``500`` a number, ``[a, b]`` a list).

    Raises
    ------
    ConfigError
        In one line naming ``option`` and the item: no ``=``, an empty key, or a value that is
        not valid YAML (with the column), e.g. ``--set tiers (value '{bad'): not valid YAML at
        column 5: ...``.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or "" in key.split("."):
            raise ConfigError(
                f"{option} expects KEY=VALUE (e.g. {option} synthetic.customers=500), got {item!r}"
            )
        try:
            out[key] = parse_yaml(value, f"{option} {key} (value {value!r})")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return out


def project_root(config_path: str | os.PathLike[str] | None = None) -> Path:
    """The folder relative paths are resolved against.

    The nearest ancestor of the config file (or of the working directory) that holds an
    ``experiments/`` folder or a ``pyproject.toml``; else the working directory.
    """
    start = Path(config_path).resolve().parent if config_path else Path.cwd()
    for d in (start, *start.parents):
        if (d / "experiments").is_dir() or (d / "pyproject.toml").is_file():
            return d
    return Path.cwd()


def resolve(root: Path, path: str | None) -> Path | None:
    """``path`` made absolute against ``root`` (None stays None; ``~`` is expanded)."""
    if path is None:
        return None
    p = Path(path).expanduser()
    return p if p.is_absolute() else root / p
