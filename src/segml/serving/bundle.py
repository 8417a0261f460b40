"""The production tiering model as plain files: everything a run fitted, and how to score with it.

A :class:`TieringBundle` holds the models one ``segml run`` fitted — the value score model, the
churn model, the CLV model, the segment surrogate and the corporate scorecard — with the tier
policy's thresholds in score space, the override rules and playbooks, and the input contract
(:class:`InputSchema`). :meth:`TieringBundle.predict` turns a customer feature table (the
``segml.features`` schema) into one row per customer: tier, value score, CLV, churn probability,
segment, corporate grade, and the top reason codes. It is what the MLflow pyfunc model
(:mod:`segml.serving.pyfunc`) runs.

A new customer is tiered against the **thresholds of the run** (the lowest value score of each
tier), so scoring one customer does not need the population: for the run's own customers this
reproduces the rank policy except between customers with exactly equal scores at a boundary.

A customer is flagged for retention by the rule the run's playbooks recorded
(:func:`segml.tiers.retention.retention_flags`: the run's expected-loss cut and probability floor
per tier, or a fixed churn threshold), so the run's own customers get the run's flags.

The run's population rule holds: only a customer whose relationship is open at the as-of date
(``is_active == 1``) is tiered; a closed one gets its row, with its corporate grade, nulls
elsewhere and ``not_tiered`` saying why (:data:`~segml.serving.schema.CLOSED`).

Saved as a folder of JSON files plus the churn model's native xgboost file; no pickles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segml.boosters import numbers, texts
from segml.churn.model import ChurnModel
from segml.clv.model import ClvModel
from segml.explain.models import SegmentSurrogate
from segml.explain.reasons import reason_codes
from segml.explain.reference import ReasonReference
from segml.grades.scorecard import Scorecard
from segml.grades.scoring import grade_corporates
from segml.serving.schema import CLOSED, ID_COLUMN, InputSchema, build_schema, open_rows
from segml.serving.surrogate_io import surrogate_from_dict, surrogate_to_dict
from segml.tiers.playbooks import Playbook, playbooks_from_json, playbooks_to_json
from segml.tiers.policy import TierPolicy
from segml.tiers.retention import retention_flags
from segml.tiers.rules import TierRule, apply_rules, rules_from_json, rules_to_json
from segml.value.model import ValueScoreModel

__all__ = ["BUNDLE_FORMAT", "OUTPUT_COLUMNS", "TieringBundle"]

BUNDLE_FORMAT = "segml.serving.TieringBundle/1"
MANIFEST = "tiering.json"
#: The reason codes' reference (:class:`~segml.explain.reference.ReasonReference`), as JSON.
REFERENCE = "reason_reference.json"


def _reference(path: Path | None) -> ReasonReference | None:
    """The reason-code reference saved at ``path`` (None: the bundle has none)."""
    return None if path is None else ReasonReference.from_dict(json.loads(path.read_text("utf-8")))


def output_columns(top_k: int) -> list[str]:
    """The columns :meth:`TieringBundle.predict` returns, in order."""
    return [
        "customer_id", "tier", "tier_by_value", "value_score", "clv", "churn_probability",
        "high_churn_risk", "retention_action", "segment", "segment_name", "grade",
        *[f"reason_{j}" for j in range(1, top_k + 1)], "override_reason", "not_tiered",
    ]  # fmt: skip


OUTPUT_COLUMNS = output_columns(4)
#: Output text columns that may be missing: kept as objects, so a missing value is None (JSON
#: null) whatever the other rows of the request hold (pandas' text type would make it NaN when
#: another row has text).
OPTIONAL_TEXT = ("retention_action", "segment", "segment_name", "grade",
                 *[f"reason_{j}" for j in range(1, 9)], "override_reason", "not_tiered")  # fmt: skip


def _optional_text(values: Any, index: pd.RangeIndex) -> pd.Series:
    """Text values (or one for all: None) as an object Series whose missing values are None."""
    if values is None or np.isscalar(values):
        return pd.Series(np.full(len(index), values, dtype=object), index=index, dtype=object)
    arr = np.asarray(values, dtype=object)
    missing = pd.isna(arr)
    if missing.any():
        arr = arr.copy()
        arr[missing] = None
    return pd.Series(arr, index=index, dtype=object, copy=False)


def _spread(part: dict[str, Any], keep: np.ndarray, top_k: int) -> dict[str, Any]:
    """The outputs of the rows ``keep`` marks (``part``, from :meth:`TieringBundle._score`) at
    their places among all rows, None in the others (empty ``part``: none scored).

    None, not NaN, for numbers too: JSON ``null`` over HTTP (NaN is no strict JSON), a null in
    Parquet; the columns are object Series then (pandas would make a text column's None NaN).
    """
    out: dict[str, Any] = {}
    index = pd.RangeIndex(len(keep))
    for c in output_columns(top_k)[1:]:
        if c in ("grade", "not_tiered"):
            continue
        full = np.full(len(keep), None, dtype=object)
        values = part.get(c)
        if values is not None:
            full[keep] = np.asarray(values, dtype=object)
        out[c] = pd.Series(full, index=index, dtype=object, copy=False)
    return out


@dataclass
class TieringBundle:
    """Everything needed to tier and explain customers from their features.

    Attributes
    ----------
    value_model : ValueScoreModel
    policy : TierPolicy
    thresholds : list of float
        Lowest value score of each of ``policy.tiers`` in the run (NaN for an empty tier);
        for ``rank_with_loss`` policies a score below 0 is the loss tier.
    rules, playbooks
        Override rules and service playbooks (retention action and rule: the expected-loss cut
        and probability floor the run calibrated, or a fixed churn threshold).
    churn_model, clv_model, surrogate, scorecard : optional
        The other models; their outputs are missing when absent.
    clv_horizon_days, clv_annual_rate : float
        The CLV horizon and discount rate of the run.
    segment_names : dict of str to str
    features_version : str
    top_k : int
        Reason codes per customer.
    run_id : str
    schema : InputSchema
    reason_reference : ReasonReference, optional
        What the reason codes are measured against: the typical customer of each value tier
        in the run (:mod:`segml.explain.reference`; default: the one the run's explain step
        kept with the value model). Without one they are against the model's base value.
    """

    value_model: ValueScoreModel
    policy: TierPolicy
    thresholds: list[float]
    rules: tuple[TierRule, ...] = ()
    playbooks: dict[str, Playbook] = field(default_factory=dict)
    churn_model: ChurnModel | None = None
    clv_model: ClvModel | None = None
    surrogate: SegmentSurrogate | None = None
    scorecard: Scorecard | None = None
    clv_horizon_days: float = 365.0
    clv_annual_rate: float = 0.10
    segment_names: dict[str, str] = field(default_factory=dict)
    features_version: str = ""
    top_k: int = 4
    run_id: str = ""
    schema: InputSchema | None = None
    reason_reference: ReasonReference | None = None

    def __post_init__(self) -> None:
        if self.schema is None:
            self.schema = build_schema(self)

    # ------------------------------------------------------------------ scoring
    def tier_levels(self, score: np.ndarray) -> np.ndarray:
        """Tier index (in ``policy.labels``) of each score against the run's thresholds."""
        s = np.asarray(score, dtype=float)
        thr = np.asarray(self.thresholds, dtype=float)
        n = len(self.policy.tiers)
        level = np.full(len(s), n - 1, dtype=np.int64)
        for i in range(n - 2, -1, -1):  # the best tier whose threshold the score reaches
            ok = np.isfinite(thr[i]) & (s >= thr[i])
            level = np.where(ok, np.minimum(level, i), level)
        if self.policy.loss_tier is not None:
            level = np.where(s < 0, n, level)
        return level

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Tier, value score, CLV, churn, segment, grade and reason codes for each row.

        One output row per input row, in input order. The run's population rule applies: a
        closed relationship (``is_active = 0``) gets no tier, no value score, CLV, churn
        probability, segment or reason codes (all null: the run tiers, values and segments
        active customers only), its corporate grade (the run grades every corporate client),
        and ``not_tiered`` saying why; ``not_tiered`` is null for a tiered row.

        Raises
        ------
        segml.serving.schema.InputError
            Naming the column and the offending rows or values when the input breaks the
            contract (missing columns, first; wrong type, unknown category, a missing value
            where none is allowed, duplicate ids, ``is_active`` other than 0 or 1).
        """
        assert self.schema is not None
        df = self.schema.check(features)
        tiered = open_rows(df)
        if tiered.all():
            cols = self._score(df)
        else:  # only the tiered rows reach the models
            part = self._score(df[tiered].reset_index(drop=True)) if tiered.any() else {}
            cols = _spread(part, tiered, self.top_k)
        cols[ID_COLUMN] = df[ID_COLUMN].to_numpy()
        cols["grade"] = self._grades(df)
        cols["not_tiered"] = np.where(tiered, None, CLOSED).astype(object)
        index = pd.RangeIndex(len(df))
        out = {c: cols[c] for c in output_columns(self.top_k)}
        for c in (c for c in OPTIONAL_TEXT if c in out):  # missing: None (JSON null) always
            out[c] = _optional_text(out[c], index)
        return pd.DataFrame(out, index=index)

    def _score(self, df: pd.DataFrame) -> dict[str, Any]:
        """Every output but the id, the grade and ``not_tiered`` of checked, tiered rows."""
        exp = self.value_model.explain(df)
        labels = np.asarray(self.policy.labels, dtype=object)
        by_value = self.tier_levels(exp.score)
        level, _, reasons = apply_rules(by_value, df, self.rules, list(self.policy.labels))
        tiers = labels[level]
        churn = (
            self.churn_model.predict_proba(df)[:, 1]
            if self.churn_model is not None
            else np.full(len(df), np.nan)
        )
        # the run's retention rule as its playbooks recorded it (capacity cut or fixed threshold)
        high = retention_flags(tiers, churn, exp.score, self.playbooks)
        actions = [self._playbook(t, "retention_action", None) for t in tiers]
        seg: Any = None
        if self.surrogate is not None:
            seg = self.surrogate.predict(df).astype(str)
        out: dict[str, Any] = {
            "tier": tiers,
            "tier_by_value": labels[by_value],
            "value_score": exp.score,
            "clv": self._clv(df),
            "churn_probability": churn,
            "high_churn_risk": high,
            "retention_action": [a if h else None for a, h in zip(actions, high, strict=True)],
            "segment": seg,
            "segment_name": None if seg is None else [self.segment_names.get(s) for s in seg],
        }
        # against the typical customer of the value tier, as the run's reason codes
        rc = reason_codes(exp, df, k=self.top_k, reference=self.reason_reference, tiers=labels[by_value])  # fmt: skip
        for j in range(1, self.top_k + 1):
            out[f"reason_{j}"] = rc[f"reason_{j}"].to_numpy() if f"reason_{j}" in rc else None
        out["override_reason"] = reasons
        return out

    def _playbook(self, tier: str, attr: str, default: Any) -> Any:
        p = self.playbooks.get(tier)
        return getattr(p, attr) if p is not None else default

    def _clv(self, df: pd.DataFrame) -> np.ndarray:
        out = np.full(len(df), np.nan)
        if self.clv_model is None:
            return out
        rfm = numbers(df, ["frequency", "recency", "T", "monetary_value"])
        has = ~np.isnan(rfm[:, 2])  # T: customers with a purchase
        out[:] = 0.0
        if has.any():
            ids = df["customer_id"].to_numpy()[has]
            frame = pd.DataFrame(rfm[has], columns=["frequency", "recency", "T", "monetary_value"], index=ids)  # fmt: skip
            pred = self.clv_model.predict(frame, self.clv_horizon_days, annual_rate=self.clv_annual_rate)  # fmt: skip
            out[has] = pred["clv"].to_numpy()
        return out

    def _grades(self, df: pd.DataFrame) -> list[str | None]:
        if self.scorecard is None:
            return [None] * len(df)
        corp = np.array([t == "corporate" for t in texts(df["customer_type"])], dtype=bool)
        grades: list[str | None] = [None] * len(df)
        if corp.any():
            g = grade_corporates(df[corp], self.scorecard)
            for i, v in zip(np.flatnonzero(corp), g["grade"].astype(str), strict=True):
                grades[i] = v
        return grades

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> Path:
        """Write the bundle as JSON files (and the churn model's ``model.ubj``) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.value_model.save(folder / "value_model.json")
        if self.churn_model is not None:
            self.churn_model.save(folder / "churn_model")
        if self.clv_model is not None:
            (folder / "clv_model.json").write_text(json.dumps(self.clv_model.to_dict()), "utf-8")
        if self.surrogate is not None:
            (folder / "segment_surrogate.json").write_text(json.dumps(surrogate_to_dict(self.surrogate)), "utf-8")  # fmt: skip
        if self.scorecard is not None:
            (folder / "scorecard.json").write_text(self.scorecard.to_json(), "utf-8")
        if self.reason_reference is not None:
            (folder / REFERENCE).write_text(json.dumps(self.reason_reference.to_dict()), "utf-8")
        manifest = {
            "format": BUNDLE_FORMAT,
            "run_id": self.run_id,
            "features_version": self.features_version,
            "top_k": self.top_k,
            "policy": self.policy.to_dict(),
            "thresholds": [None if not np.isfinite(t) else float(t) for t in self.thresholds],
            "rules": json.loads(rules_to_json(self.rules)),
            "playbooks": json.loads(playbooks_to_json(self.playbooks)),
            "clv_horizon_days": self.clv_horizon_days,
            "clv_annual_rate": self.clv_annual_rate,
            "segment_names": self.segment_names,
            "schema": self.schema.to_dict() if self.schema is not None else None,
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2), "utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> TieringBundle:
        """Read a bundle written by :meth:`save`."""
        folder = Path(folder)
        if not (folder / MANIFEST).is_file():
            raise FileNotFoundError(f"{folder / MANIFEST} not found: not a segml tiering bundle")
        m = json.loads((folder / MANIFEST).read_text("utf-8"))
        if m.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"{folder / MANIFEST} is not a {BUNDLE_FORMAT} manifest")

        def opt(name: str) -> Path | None:
            return folder / name if (folder / name).exists() else None

        churn, clv, sur, card = opt("churn_model"), opt("clv_model.json"), opt("segment_surrogate.json"), opt("scorecard.json")  # fmt: skip
        return cls(
            value_model=ValueScoreModel.load(folder / "value_model.json"),
            policy=TierPolicy.from_dict(m["policy"]),
            thresholds=[np.nan if t is None else float(t) for t in m["thresholds"]],
            rules=tuple(rules_from_json(json.dumps(m["rules"]))),
            playbooks=playbooks_from_json(json.dumps(m["playbooks"])),
            churn_model=ChurnModel.load(churn) if churn else None,
            clv_model=ClvModel.from_dict(json.loads(clv.read_text("utf-8"))) if clv else None,
            surrogate=surrogate_from_dict(json.loads(sur.read_text("utf-8"))) if sur else None,
            scorecard=Scorecard.from_json(card.read_text("utf-8")) if card else None,
            clv_horizon_days=float(m["clv_horizon_days"]),
            clv_annual_rate=float(m["clv_annual_rate"]),
            segment_names=dict(m["segment_names"]),
            features_version=m["features_version"],
            top_k=int(m["top_k"]),
            run_id=m["run_id"],
            schema=InputSchema.from_dict(m["schema"]) if m.get("schema") else None,
            reason_reference=_reference(opt(REFERENCE)),
        )
