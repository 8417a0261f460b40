"""Views of the tiering steps of a finished run: tiers and migration, segments, grades,
explanations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    pass

from segml.run.outcomes.base import _Step

__all__ = [
    "ExplanationsOutcome",
    "GradesOutcome",
    "MigrationSummary",
    "SegmentsOutcome",
    "TiersOutcome",
]


@dataclass(frozen=True)
class MigrationSummary:
    """How the tiers moved against the tiers ``tiers.migration_months`` earlier.

    Rates are shares of the customers tiered at both dates (``n_both``); ``psi`` is the
    population stability index of the ranked measure (``psi_label``: stable, moderate, major).
    """

    earlier: str
    n_both: int
    n_new: int
    n_lost: int
    stay_rate: float
    upgrade_rate: float
    downgrade_rate: float
    psi: float
    psi_label: str

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> MigrationSummary:
        """From the run's ``tier_migration.json``."""
        return cls(
            earlier=str(doc.get("from", "")),
            n_both=int(doc.get("n_both") or 0),
            n_new=int(doc.get("n_new") or 0),
            n_lost=int(doc.get("n_lost") or 0),
            stay_rate=float(doc.get("stay_rate", float("nan"))),
            upgrade_rate=float(doc.get("upgrade_rate", float("nan"))),
            downgrade_rate=float(doc.get("downgrade_rate", float("nan"))),
            psi=float(doc.get("psi", float("nan"))),
            psi_label=str(doc.get("psi_label", "")),
        )

    def summary(self) -> dict[str, float]:
        """The numbers, as metrics."""
        return {k: float(v) for k, v in vars(self).items() if isinstance(v, int | float)}


@dataclass(frozen=True)
class TiersOutcome(_Step):
    """The tiers: policy, override rules, the measure ranked, concentration and migration."""

    @property
    def assignments(self) -> pd.DataFrame:
        """Per active customer: ``value``, ``tier_by_value``, ``tier``, reasons, playbook."""
        return self._table("tiers")

    @property
    def table(self) -> pd.DataFrame:
        """Per tier: customers, value and shares, and the service playbook."""
        return self._table("tier_table")

    @property
    def labels(self) -> list[str]:
        """Tiers from the most to the least valuable (the loss tier last, if any)."""
        return self.folder.tier_labels

    def policy(self) -> Any:
        """The :class:`segml.tiers.policy.TierPolicy` the run tiered with."""
        from segml.tiers.policy import TierPolicy

        return TierPolicy.from_dict(self._doc("tier_policy"))

    def rules(self) -> list[Any]:
        """The override rules (:class:`segml.tiers.rules.TierRule`) the run applied."""
        from segml.tiers.rules import TierRule

        return [TierRule.from_dict(r) for r in self.folder.json("tier_rules") or []]

    @property
    def measure(self) -> dict[str, Any]:
        """What the tiers rank and why, with the check against observed value."""
        return self.folder.run.get("value_measure") or self._doc("value_measure")

    @property
    def concentration(self) -> dict[str, float]:
        """Gini, top shares and loss-makers of the ranked value."""
        return self._doc("concentration")

    @property
    def migration(self) -> MigrationSummary | None:
        """Against the tiers ``tiers.migration_months`` earlier: rates, PSI (None: the run
        compared with no earlier tiers)."""
        doc = self.folder.json("tier_migration")
        return MigrationSummary.from_dict(doc) if isinstance(doc, dict) and doc else None

    def migration_counts(self) -> pd.DataFrame:
        """Customers by earlier tier (rows, ``new``) and later tier (columns, ``lost``)."""
        counts = self._table("tier_migration_counts")
        return counts.set_index(counts.columns[0]) if not counts.empty else counts

    def migration_rates(self) -> pd.DataFrame:
        """:meth:`migration_counts` as shares of each earlier tier's row."""
        counts = self.migration_counts()
        return counts.div(counts.sum(axis=1).replace(0, float("nan")), axis=0)


@dataclass(frozen=True)
class SegmentsOutcome(_Step):
    """The behavioural segments: assignments, profiles and names, k selection, comparison."""

    @property
    def assignments(self) -> pd.DataFrame:
        """Per active customer: ``segment`` and ``segment_name``."""
        return self._table("segments")

    @property
    def profiles(self) -> pd.DataFrame:
        """Per segment: size, shares of customers and value, medians, name."""
        return self._table("segment_profiles")

    @property
    def scores(self) -> pd.DataFrame:
        """Stability, silhouette and BIC per candidate k (and stratum); ``selected`` marked."""
        return self._table("segment_scores").drop(columns="index", errors="ignore")

    @property
    def comparison(self) -> pd.DataFrame:
        """Behavioural segments against demographic cells (eta² and epsilon²)."""
        return self._table("segment_comparison").drop(columns="index", errors="ignore")

    @property
    def names(self) -> dict[str, str]:
        """Segment -> its name."""
        return dict(self._doc("segments").get("names") or {})

    @property
    def k(self) -> int:
        """The number of segments."""
        return int(self._doc("segments").get("k", 0))

    @property
    def method(self) -> str:
        """The clustering method."""
        return str(self._doc("segments").get("method", ""))

    @property
    def excluded(self) -> dict[str, str]:
        """Columns left out of the clustering, and why."""
        return dict(self._doc("segments").get("excluded") or {})


@dataclass(frozen=True)
class GradesOutcome(_Step):
    """The corporate grades: the scorecard's grades and its comparison with a learned model."""

    @property
    def grades(self) -> pd.DataFrame:
        """Per corporate client: grade, total and dimension scores, reasons, flags."""
        return self._table("grades")

    @property
    def scorecard(self) -> dict[str, Any]:
        """The scorecard the run graded with (versioned data)."""
        return self._doc("scorecard")

    @property
    def comparison(self) -> dict[str, Any] | None:
        """Scorecard against xgboost out of time (None: not run; ``skipped``: why not)."""
        doc = self.folder.json("grading_comparison")
        return doc if isinstance(doc, dict) and doc else None


@dataclass(frozen=True)
class ExplanationsOutcome(_Step):
    """TreeSHAP explanations of the value score (and churn), reason codes and tier drivers."""

    @property
    def reason_codes(self) -> pd.DataFrame:
        """Per tiered customer: tier, score, thresholds, the drivers, reasons in words."""
        return self._table("reason_codes")

    @property
    def contributions(self) -> pd.DataFrame:
        """Per customer: ``value_score``, ``base_value`` and one contribution per feature."""
        return self._table("explanations_value")

    @property
    def churn_contributions(self) -> pd.DataFrame:
        """Per customer: the churn log-odds, its base value and contributions (may be empty)."""
        return self._table("explanations_churn")

    @property
    def tier_drivers(self) -> pd.DataFrame:
        """Mean contribution of the main drivers per tier."""
        return self._table("tier_drivers")

    @property
    def summary(self) -> dict[str, Any]:
        """Additivity, base values, global importance and the surrogate of the segments."""
        return self._doc("explanations")

    @property
    def additivity_max_error(self) -> float | None:
        """The largest gap between a score and its base value plus contributions."""
        return self.metrics.get("value.additivity_max_error")

    def importance(self) -> pd.Series:
        """Mean |contribution| per feature of the value score, largest first."""
        c = self.contributions
        feats = c.columns.difference(["customer_id", "value_score", "base_value"])
        return c[feats].abs().mean().sort_values(ascending=False, kind="stable")

    def examples(self, tiers: list[str] | None = None, per_tier: int = 1) -> pd.DataFrame:
        """The reason codes of each tier's median customer(s) by value score, best tier first:
        the customers of the run's waterfall figures
        (:func:`segml.explain.plots.example_customers`)."""
        from segml.explain.plots import example_customers

        rc = self.reason_codes
        order = tiers or list(dict.fromkeys(rc["tier_by_value"]))
        rows = example_customers(rc["value_score"], rc["tier_by_value"], order, per_tier)
        return rc.iloc[[i for tier in order for i in rows[tier]]].reset_index(drop=True)

    def figures(self, kind: str = "") -> list[Path]:
        """The explanation figures whose name contains ``kind`` (``waterfall``,
        ``tier_drivers``, ``beeswarm`` …; empty: all of them)."""
        return [p for p in super().figures() if kind in p.name]
