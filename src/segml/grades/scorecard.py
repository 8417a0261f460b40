"""The corporate grading scorecard: a frozen, versioned, JSON-serialisable configuration.

A :class:`Scorecard` has four :class:`Dimension` s (credit standing, financial condition,
scale and industry, relationship), each a weighted sum of :class:`Factor` s. A factor turns one
feature column into points (0-100) by a piecewise-linear curve through documented points, by a
table of category points (credit ratings) or by the scorecard's industry risk levels. A missing
input scores :attr:`Scorecard.neutral_score` and is flagged. The weighted total maps to a
letter grade by :attr:`Scorecard.grades` (minimum scores, best grade first). See
``docs/grades.md`` for the defaults and why.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

FactorKind = Literal["piecewise", "categorical", "industry"]
Transform = Literal["none", "log10"]


def _pairs(value: Any) -> Any:
    """Accept a mapping for a frozen tuple-of-pairs field (JSON objects read as dicts)."""
    if isinstance(value, Mapping):
        return tuple((k, v) for k, v in value.items())
    return value


def _as_dict(value: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return dict(value)


#: A frozen ``name -> value`` mapping, stored as pairs and written to JSON as an object.
StrMap = Annotated[
    tuple[tuple[str, str], ...],
    BeforeValidator(_pairs),
    PlainSerializer(_as_dict, return_type=dict),
]
FloatMap = Annotated[
    tuple[tuple[str, float], ...],
    BeforeValidator(_pairs),
    PlainSerializer(_as_dict, return_type=dict),
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_weights(weights: list[float], what: str) -> None:
    if any(w <= 0 for w in weights):
        raise ValueError(f"{what} weights must be positive, got {weights}")
    if not math.isclose(sum(weights), 1.0, abs_tol=1e-6):
        raise ValueError(f"{what} weights must sum to 1, got {sum(weights):.6g} ({weights})")


def _check_points(points: Any, what: str) -> None:
    if any(not (0.0 <= p <= 100.0) for p in points):
        raise ValueError(f"{what}: points must lie in [0, 100], got {list(points)}")


class Factor(_Frozen):
    """One input of a dimension and how it turns into points (0-100).

    Parameters
    ----------
    name : str
        Short identifier (``leverage``); the output column ``pts_<name>`` holds its points.
    column : str
        The feature column read (``fin_leverage``; see docs/features.md).
    label : str
        Human-readable name used in the ``reasons`` text.
    weight : float
        Weight within the dimension; a dimension's factor weights sum to 1.
    kind : {"piecewise", "categorical", "industry"}
        ``piecewise``: linear interpolation through ``points``, flat beyond the end points.
        ``categorical``: ``categories`` gives each value's points (an unknown value is treated
        as missing and flagged). ``industry``: points of the industry's risk level from the
        scorecard's ``industry_risk`` and ``risk_level_points``.
    points : tuple of (x, points) pairs
        Break points, ``x`` strictly increasing (piecewise only).
    transform : {"none", "log10"}
        ``log10`` interpolates in log10 of the value (``x`` stays in raw units); values ≤ 0
        score as the first point.
    categories : mapping of str to float
        Points per category (categorical only).
    """

    name: str
    column: str
    label: str
    weight: float = Field(gt=0)
    kind: FactorKind = "piecewise"
    points: tuple[tuple[float, float], ...] = ()
    transform: Transform = "none"
    categories: FloatMap = ()

    @model_validator(mode="after")
    def _check(self) -> Factor:
        if self.kind == "piecewise":
            if len(self.points) < 2:
                raise ValueError(f"factor {self.name!r}: piecewise needs at least two points")
            xs = [x for x, _ in self.points]
            if any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
                raise ValueError(f"factor {self.name!r}: x must increase strictly, got {xs}")
            if self.transform == "log10" and xs[0] <= 0:
                raise ValueError(f"factor {self.name!r}: log10 break points must be positive")
            _check_points([p for _, p in self.points], f"factor {self.name!r}")
        elif self.kind == "categorical":
            if not self.categories:
                raise ValueError(f"factor {self.name!r}: categorical needs categories")
            _check_points([p for _, p in self.categories], f"factor {self.name!r}")
        return self

    def score(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Points of each value; NaN where the value is missing or (categorical) unknown.

        Industry factors are scored by :meth:`Scorecard.factor_points`, which knows the risk
        levels.
        """
        if self.kind == "categorical":
            table = dict(self.categories)
            s = pd.Series(values, dtype=object)
            return np.array(
                [table.get(v, np.nan) if isinstance(v, str) else np.nan for v in s], dtype=float
            )
        if self.kind == "industry":
            raise TypeError("industry factors are scored by Scorecard.factor_points")
        x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        xs = np.array([p[0] for p in self.points], dtype=float)
        ys = np.array([p[1] for p in self.points], dtype=float)
        if self.transform == "log10":
            xs = np.log10(xs)
            positive = x > 0
            logged = np.where(np.isnan(x), np.nan, -np.inf)  # values <= 0: the first point
            logged[positive] = np.log10(x[positive])
            x = logged
        return np.interp(x, xs, ys)  # NaN stays NaN; +-inf take the end points


class Dimension(_Frozen):
    """A graded dimension: the weighted sum of its factors' points (0-100).

    Parameters
    ----------
    name : str
        Identifier; the output column is ``score_<name>``.
    label : str
        Human-readable name.
    weight : float
        Weight in the total score; the dimension weights sum to 1.
    factors : tuple of Factor
        The inputs; their weights sum to 1.
    """

    name: str
    label: str
    weight: float = Field(gt=0)
    factors: tuple[Factor, ...]

    @model_validator(mode="after")
    def _check(self) -> Dimension:
        if not self.factors:
            raise ValueError(f"dimension {self.name!r} has no factors")
        _check_weights([f.weight for f in self.factors], f"dimension {self.name!r} factor")
        return self


class Scorecard(_Frozen):
    """A corporate grading scorecard (frozen; ``to_json`` / ``from_json`` round-trip).

    Parameters
    ----------
    name, version : str
        Identify the scorecard; record both with every grading.
    dimensions : tuple of Dimension
        The graded dimensions; their weights sum to 1.
    grades : tuple of (grade, minimum score) pairs
        Best grade first, minimum scores strictly decreasing, the last 0: a total score
        ``s`` gets the first grade whose minimum is ≤ ``s``.
    neutral_score : float
        Points of a missing input (flagged ``missing:<factor>``).
    industry_risk : mapping of str to str
        Industry → risk level (a key of ``risk_level_points``). An industry not listed scores
        neutral and is flagged ``unknown_industry``.
    risk_level_points : mapping of str to float
        Points of each industry risk level.
    default_dpd : int or None
        Days past due at or above which the client is in default (Basel: 90): its grade is the
        worst grade whatever its score (flag ``default_override``). None disables it.
    default_ratings : tuple of str
        Ratings that mean default, with the same effect.
    stale_after_days : int or None
        A statement known for longer than this is flagged ``stale_statement`` (its figures
        still count). None disables the flag.
    """

    name: str = "corporate_grading"
    version: str = "1"
    dimensions: tuple[Dimension, ...]
    grades: tuple[tuple[str, float], ...]
    neutral_score: float = Field(50.0, ge=0, le=100)
    industry_risk: StrMap = ()
    risk_level_points: FloatMap = ()
    default_dpd: int | None = Field(90, ge=1)
    default_ratings: tuple[str, ...] = ("D",)
    stale_after_days: int | None = Field(550, ge=1)

    @model_validator(mode="after")
    def _check(self) -> Scorecard:
        names = [d.name for d in self.dimensions]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"dimension names must be unique and non-empty, got {names}")
        factors = [f.name for d in self.dimensions for f in d.factors]
        if len(set(factors)) != len(factors):
            raise ValueError(f"factor names must be unique, got {factors}")
        _check_weights([d.weight for d in self.dimensions], "dimension")
        mins = [m for _, m in self.grades]
        if len(mins) < 2 or any(b >= a for a, b in zip(mins, mins[1:], strict=False)):
            raise ValueError(f"grade minimum scores must decrease strictly, got {mins}")
        if mins[-1] != 0:
            raise ValueError(f"the last grade's minimum score must be 0, got {mins[-1]}")
        if len({g for g, _ in self.grades}) != len(self.grades):
            raise ValueError("grade names must be unique")
        levels = dict(self.risk_level_points)
        _check_points(levels.values(), "risk_level_points")
        unknown = {lvl for _, lvl in self.industry_risk} - set(levels)
        if unknown:
            raise ValueError(f"industry_risk uses levels without points: {sorted(unknown)}")
        if any(f.kind == "industry" for d in self.dimensions for f in d.factors) and not levels:
            raise ValueError("an industry factor needs risk_level_points")
        return self

    # ---------------------------------------------------------------- serialisation
    def to_json(self, indent: int | None = 2) -> str:
        """The scorecard as JSON (mappings as objects, break points as ``[x, points]``)."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> Scorecard:
        """Read a scorecard written by :meth:`to_json` (validated; unknown keys are errors)."""
        return cls.model_validate_json(text)

    def digest(self) -> str:
        """Short SHA-256 of the canonical JSON: identifies the exact scorecard used."""
        return hashlib.sha256(self.to_json(indent=None).encode()).hexdigest()[:12]

    # ---------------------------------------------------------------- lookups
    @property
    def factors(self) -> tuple[Factor, ...]:
        """Every factor, dimension by dimension."""
        return tuple(f for d in self.dimensions for f in d.factors)

    @property
    def input_columns(self) -> tuple[str, ...]:
        """Feature columns the scorecard reads (each once, in factor order)."""
        return tuple(dict.fromkeys(f.column for f in self.factors))

    @property
    def grade_names(self) -> tuple[str, ...]:
        """Grades, best first."""
        return tuple(g for g, _ in self.grades)

    def industry_level(self, industry: str | None) -> str | None:
        """Risk level of an industry (None when missing or not listed)."""
        if not isinstance(industry, str):
            return None
        return dict(self.industry_risk).get(industry)

    def factor_points(self, factor: Factor, values: pd.Series | np.ndarray) -> np.ndarray:
        """Points of ``values`` under ``factor`` (NaN where missing or unknown)."""
        if factor.kind != "industry":
            return factor.score(values)
        risk, pts = dict(self.industry_risk), dict(self.risk_level_points)
        s = pd.Series(values, dtype=object)
        return np.array(
            [pts[risk[v]] if isinstance(v, str) and v in risk else np.nan for v in s],
            dtype=float,
        )

    def assign_grades(self, total: pd.Series | np.ndarray) -> np.ndarray:
        """Grade of each total score by the cut-offs (NaN scores are rejected)."""
        s = np.asarray(total, dtype=float)
        if np.isnan(s).any():
            raise ValueError(f"total score has {int(np.isnan(s).sum())} NaN value(s)")
        mins = np.array([m for _, m in self.grades], dtype=float)
        # first grade whose minimum is <= s; mins decrease, so count minima above s
        idx = (mins[None, :] > s[:, None]).sum(axis=1)
        return np.asarray(self.grade_names, dtype=object)[np.minimum(idx, len(mins) - 1)]


# -------------------------------------------------------------------- defaults

#: Points of external / internal credit ratings (AAA best, D default).
RATING_POINTS: dict[str, float] = {
    "AAA": 100, "AA": 92, "A": 84, "BBB": 72, "BB": 56,
    "B": 40, "CCC": 22, "CC": 12, "C": 5, "D": 0,
}  # fmt: skip

#: Default industry risk levels: a common bank view of sector credit risk (cyclical,
#: collateral-dependent or thin-margin sectors higher; defensive, asset-light sectors lower).
#: Names follow the synthetic bank's ``industry`` codes plus a few common others.
INDUSTRY_RISK: dict[str, str] = {
    "healthcare": "low",
    "technology": "low",
    "utilities": "low",
    "energy": "medium",
    "manufacturing": "medium",
    "logistics": "medium",
    "professional_services": "medium",
    "wholesale_retail": "elevated",
    "agriculture": "elevated",
    "mining": "elevated",
    "construction": "high",
    "real_estate": "high",
    "hospitality": "high",
}

#: Points of each industry risk level.
RISK_LEVEL_POINTS: dict[str, float] = {"low": 100, "medium": 70, "elevated": 45, "high": 20}

#: Letter grades and their minimum total scores (best first).
GRADES: tuple[tuple[str, float], ...] = (
    ("AAA", 85), ("AA", 75), ("A", 65), ("BBB", 55), ("BB", 45), ("B", 35), ("CCC", 0),
)  # fmt: skip

_CREDIT = Dimension(
    name="credit",
    label="credit standing",
    weight=0.35,
    factors=(
        Factor(
            name="rating", column="fin_credit_rating", label="credit rating", weight=0.6,
            kind="categorical", categories=RATING_POINTS,
        ),
        Factor(
            name="days_past_due", column="fin_days_past_due", label="days past due", weight=0.25,
            points=((0, 100), (30, 60), (60, 30), (90, 0)),
        ),
        Factor(
            name="credit_events", column="fin_credit_events_3y", label="credit events (3y)",
            weight=0.15, points=((0, 100), (1, 40), (2, 15), (3, 0)),
        ),
    ),
)  # fmt: skip

_FINANCIAL = Dimension(
    name="financial",
    label="financial condition",
    weight=0.30,
    factors=(
        Factor(
            name="leverage", column="fin_leverage", label="leverage", weight=0.30,
            points=((0.4, 100), (0.6, 60), (0.8, 15), (1.0, 0)),
        ),
        Factor(
            name="current_ratio", column="fin_current_ratio", label="current ratio", weight=0.25,
            points=((0.5, 0), (1.0, 30), (1.5, 85), (2.0, 100)),
        ),
        Factor(
            name="roa", column="fin_roa", label="return on assets", weight=0.25,
            points=((-0.05, 0), (0.0, 30), (0.05, 75), (0.10, 100)),
        ),
        Factor(
            name="revenue_growth", column="fin_revenue_growth", label="revenue growth",
            weight=0.10, points=((-0.2, 0), (0.0, 50), (0.1, 80), (0.2, 100)),
        ),
        Factor(
            name="asset_turnover", column="fin_asset_turnover", label="asset turnover",
            weight=0.10, points=((0.2, 10), (0.5, 40), (1.0, 75), (1.5, 100)),
        ),
    ),
)  # fmt: skip

_SCALE = Dimension(
    name="scale_industry",
    label="scale and industry",
    weight=0.20,
    factors=(
        Factor(
            name="revenue", column="fin_revenue", label="revenue", weight=0.30,
            transform="log10", points=((1e6, 10), (1e7, 40), (1e8, 75), (1e9, 100)),
        ),
        Factor(
            name="total_assets", column="fin_total_assets", label="total assets", weight=0.15,
            transform="log10", points=((1e6, 10), (1e7, 40), (1e8, 75), (1e9, 100)),
        ),
        Factor(
            name="employees", column="employees", label="employees", weight=0.15,
            transform="log10", points=((5, 10), (20, 35), (100, 60), (500, 85), (2000, 100)),
        ),
        Factor(
            name="industry", column="industry", label="industry risk", weight=0.40,
            kind="industry",
        ),
    ),
)  # fmt: skip

_RELATIONSHIP = Dimension(
    name="relationship",
    label="service needs and relationship",
    weight=0.15,
    factors=(
        Factor(
            name="products", column="n_products", label="products held", weight=0.30,
            points=((0, 0), (1, 30), (2, 60), (3, 85), (4, 100)),
        ),
        Factor(
            name="transactions", column="n_tx_365d", label="transactions (365d)", weight=0.25,
            points=((0, 0), (12, 30), (50, 60), (150, 85), (400, 100)),
        ),
        Factor(
            name="deposits", column="bal_deposit_avg_12m", label="deposit balance (12m avg)",
            weight=0.25, transform="log10",
            points=((1e4, 0), (1e5, 25), (1e6, 55), (1e7, 85), (1e8, 100)),
        ),
        Factor(
            name="tenure", column="tenure_months", label="relationship tenure", weight=0.20,
            points=((0, 0), (12, 30), (36, 60), (84, 85), (180, 100)),
        ),
    ),
)  # fmt: skip

#: The default scorecard (version 1): see docs/grades.md.
DEFAULT_SCORECARD = Scorecard(
    dimensions=(_CREDIT, _FINANCIAL, _SCALE, _RELATIONSHIP),
    grades=GRADES,
    industry_risk=INDUSTRY_RISK,
    risk_level_points=RISK_LEVEL_POINTS,
)
