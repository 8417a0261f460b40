"""What one ``segml run`` knows as its steps go: the config, the tracker, the data, and each
step's result, with typed access to what later steps need from earlier ones.

The steps (:mod:`segml.run.steps`) read and fill one :class:`RunContext`; the runner
(:mod:`segml.run.runner`) stores each step's :class:`~segml.run.stages.base.StageResult` under
the step's name, and the output folder is written from it (:mod:`segml.run.outputs`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from segml.features.spec import FeatureConfig
from segml.run.config import RunConfig
from segml.run.stages.base import StageResult

if TYPE_CHECKING:
    from segml.data import BankData
    from segml.features.snapshots import Snapshots
    from segml.profile import DataProfile
    from segml.run.tracking import Tracker
    from segml.tiers import TierPolicy, ValueMeasure

__all__ = ["Progress", "RunContext"]

Progress = Callable[[str], None]


@dataclass
class RunContext:
    """The state of one run, shared by its steps.

    The first fields are given when the run starts; the others are filled by the steps in the
    order of :data:`segml.run.steps.STEPS` (``None`` until the step that makes them ran).
    """

    cfg: RunConfig
    root: Path
    tracker: Tracker
    #: scratch folder: stage figures (``figures/<step>``) and large tables before the outputs
    scratch: Path
    say: Progress = lambda _msg: None
    #: where the run found the data, and the validated connection to them
    folder: Path | None = None
    bank: BankData | None = None
    #: ``(kind, how it is known)``: a purchase log or a bank (:func:`segml.economics.data_kind`)
    kind: tuple[str, str] = ("bank", "")
    as_of: dt.date | None = None
    profile: DataProfile | None = None
    #: features and labels at any date of this bank, with the run's feature config and engine
    snapshots: Snapshots | None = None
    features: pa.Table | None = None
    #: the feature table as pandas, with the model steps' per-customer predictions once joined
    frame: pd.DataFrame | None = None
    labels: pa.Table | None = None
    measure: ValueMeasure | None = None
    #: warnings for the user, in the order they arose (run.json, the terminal, the pack)
    warnings: list[str] = field(default_factory=list)
    results: dict[str, StageResult] = field(default_factory=dict)

    # ------------------------------------------------------------------ derived from config
    @cached_property
    def feature_config(self) -> FeatureConfig:
        """The run's feature configuration (economics included)."""
        return self.cfg.features.feature_config()

    @cached_property
    def policy(self) -> TierPolicy:
        """The built-in tier policy the config names."""
        from segml.run.stages.tiers import tier_policy

        return tier_policy(self.cfg.tiers.policy)

    @property
    def figures(self) -> Path:
        """Folder of the stages' figures (``<scratch>/figures/<step>``), copied to the outputs."""
        return self.scratch / "figures"

    @property
    def private_figures(self) -> tuple[str, ...]:
        """Figure names that show one customer: kept out of MLflow when ids are pseudonymised."""
        return ("_waterfall_",) if self.cfg.tracking.pseudonymize else ()

    # ------------------------------------------------------------------ from earlier steps
    def model(self, step: str, name: str | None = None) -> Any:
        """The fitted model ``name`` (default: ``step``) of a step that ran, else None."""
        res = self.results.get(step)
        return None if res is None else res.models.get(name or step)

    def table(self, step: str, name: str) -> pd.DataFrame | None:
        """Table ``name`` of a step that ran, else None."""
        res = self.results.get(step)
        return None if res is None else res.tables.get(name)

    def document(self, step: str, name: str) -> Any:
        """JSON document ``name`` of a step that ran, else None."""
        res = self.results.get(step)
        return None if res is None else res.documents.get(name)

    @property
    def value_model(self) -> Any:
        """The value score model, when the value step fitted one."""
        return self.model("value")

    @property
    def churn_model(self) -> Any:
        """The churn model, when the churn step fitted one."""
        return self.model("churn")

    @property
    def clv_model(self) -> Any:
        """The purchase and spend models, when the CLV step fitted them."""
        return self.model("clv")

    @property
    def clv_scoring(self) -> tuple[float | None, float | None]:
        """``(horizon in days, annual discount rate)`` the CLV step scored with (None, None
        without one)."""
        doc = self.document("clv", "clv_config.json") or {}
        return doc.get("horizon_days"), doc.get("annual_discount_rate")

    @property
    def tiers_table(self) -> pd.DataFrame | None:
        """The tiered customers (the tiers step's ``tiers`` table)."""
        return self.table("tiers", "tiers")

    @property
    def segments_table(self) -> pd.DataFrame | None:
        """Each active customer's behavioural segment, when the segments step ran."""
        return self.table("segments", "segments")

    @property
    def segment_names(self) -> dict[str, str]:
        """Readable names of the segments by their id (empty without segments)."""
        names = (self.document("segments", "segments.json") or {}).get("names", {})
        return {str(k): str(v) for k, v in names.items()}

    @property
    def segment_surrogate(self) -> Any:
        """The tree that explains the segments, when the explain step fitted one."""
        return self.model("explain", "segment_surrogate")

    @property
    def grades_table(self) -> pd.DataFrame | None:
        """The corporate clients' grades."""
        return self.table("grades", "grades")

    @property
    def value_col(self) -> str | None:
        """The column the tiers rank (set by the tiers step)."""
        return None if self.measure is None else self.measure.column

    @property
    def tiers_explained(self) -> bool:
        """Whether the tiers rank the value model's score (what explanations and export need)."""
        return self.value_model is not None and self.value_col == "value_score"

    @property
    def has_labels(self) -> bool:
        """Whether the data reach past the as-of date far enough for labels."""
        return self.labels is not None
