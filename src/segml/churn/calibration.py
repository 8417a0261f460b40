"""Probability calibration of a churn score, fitted on held-out validation rows only.

Two maps from the raw score to a probability:

* **Platt** (``"platt"``): ``p = sigmoid(a · logit(raw) + b)``, two parameters, increasing
  (``a > 0``), so the ranking (and the AUC) is unchanged; stable on small validation sets. A
  score that validates as inversely related to the outcome gets ``a = 0`` (the base rate)
  rather than a reversed ranking.
* **isotonic** (``"isotonic"``): the best non-decreasing step function (pool adjacent
  violators), linear between its knots; fixes any monotone distortion but needs many rows and
  ties customers within a step.

``"auto"`` compares the two by 5-fold cross-validated Brier score *within the validation
rows* and keeps isotonic only when each class has at least ``min_class_isotonic`` rows there
and it beats Platt by more than ``tolerance`` (relative); otherwise Platt. The reason is kept
in :attr:`Calibrator.reason`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["CALIBRATION_METHODS", "Calibrator", "fit_calibrator"]

CALIBRATION_METHODS = ("auto", "platt", "isotonic")
_CLIP = 1e-6
#: Platt works on the logit of scores clipped to [1e-15, 1 − 1e-15], so scores as small as
#: 1 − P(alive) of a very active customer keep their order.
_LOGIT_CLIP = 1e-15


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), _LOGIT_CLIP, 1 - _LOGIT_CLIP)
    return np.log(q) - np.log1p(-q)


@dataclass(frozen=True)
class Calibrator:
    """A fitted map from raw score to probability (see the module docstring).

    Attributes
    ----------
    method : {"platt", "isotonic"}
        The map.
    slope, intercept : float
        Platt parameters (on the logit of the raw score).
    knots_x, knots_y : tuple of float
        Isotonic knots (raw score, probability); outside them the end values hold.
    reason : str
        Why this method was chosen.
    n_rows, n_positive : int
        Validation rows it was fitted on.
    cv_brier : dict of str to float
        Cross-validated Brier score of each candidate on the validation rows (``"auto"``).
    """

    method: Literal["platt", "isotonic"]
    slope: float = 1.0
    intercept: float = 0.0
    knots_x: tuple[float, ...] = ()
    knots_y: tuple[float, ...] = ()
    reason: str = ""
    n_rows: int = 0
    n_positive: int = 0
    cv_brier: dict[str, float] = field(default_factory=dict)

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw scores."""
        raw = np.asarray(raw, dtype=float)
        if self.method == "platt":
            z = self.slope * _logit(raw) + self.intercept
            return 1.0 / (1.0 + np.exp(-z))
        out = np.interp(raw, np.asarray(self.knots_x), np.asarray(self.knots_y))
        return np.clip(out, _CLIP, 1 - _CLIP)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        d = asdict(self)
        d["knots_x"], d["knots_y"] = list(self.knots_x), list(self.knots_y)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        """Inverse of :meth:`to_dict`."""
        return cls(
            **{
                **d,
                "knots_x": tuple(float(v) for v in d.get("knots_x", ())),
                "knots_y": tuple(float(v) for v in d.get("knots_y", ())),
                "cv_brier": dict(d.get("cv_brier", {})),
            }
        )


def _platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(_logit(raw).reshape(-1, 1), y)
    slope, intercept = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    if slope < 0:  # a risk score is never inversely related to risk: keep the base rate
        rate = float(np.clip(np.mean(y), _CLIP, 1 - _CLIP))
        slope, intercept = 0.0, float(np.log(rate) - np.log1p(-rate))
    return slope, intercept


def _isotonic(raw: np.ndarray, y: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
    return tuple(map(float, iso.X_thresholds_)), tuple(map(float, iso.y_thresholds_))


def _fit(method: str, raw: np.ndarray, y: np.ndarray, **info: Any) -> Calibrator:
    if method == "platt":
        a, b = _platt(raw, y)
        return Calibrator("platt", slope=a, intercept=b, **info)
    kx, ky = _isotonic(raw, y)
    return Calibrator("isotonic", knots_x=kx, knots_y=ky, **info)


def fit_calibrator(
    raw: np.ndarray,
    y: np.ndarray,
    method: str = "auto",
    min_class_isotonic: int = 200,
    tolerance: float = 0.002,
    seed: int = 0,
) -> Calibrator:
    """Fit the calibration map on validation rows (never the rows the model was trained on).

    Parameters
    ----------
    raw : array
        Uncalibrated scores in (0, 1) of the validation rows.
    y : array of 0/1
        Their outcomes.
    method : {"auto", "platt", "isotonic"}
        See the module docstring.
    min_class_isotonic : int
        ``"auto"`` considers isotonic only with at least this many rows of each class.
    tolerance : float
        Relative Brier improvement isotonic needs over Platt under ``"auto"``.
    seed : int
        Seeds the cross-validation folds of ``"auto"``.

    Raises
    ------
    ValueError
        For an unknown method, or when ``y`` has a single class.
    """
    raw, y = np.asarray(raw, dtype=float), np.asarray(y, dtype=int)
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration must be one of {CALIBRATION_METHODS}, got {method!r}")
    n_pos = int(y.sum())
    if n_pos in (0, len(y)):
        raise ValueError(
            f"cannot calibrate on {len(y)} validation rows with a single class ({n_pos} positive)"
        )
    info: dict[str, Any] = {"n_rows": len(y), "n_positive": n_pos}
    if method != "auto":
        return _fit(method, raw, y, reason="chosen by the caller", **info)
    minority = min(n_pos, len(y) - n_pos)
    if minority < min_class_isotonic:
        reason = (
            f"platt: the validation rows hold {minority} of the rarer class, fewer than the "
            f"{min_class_isotonic} isotonic regression needs to be stable"
        )
        return _fit("platt", raw, y, reason=reason, **info)
    from sklearn.model_selection import StratifiedKFold

    scores: dict[str, list[float]] = {"platt": [], "isotonic": []}
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    for fit_idx, test_idx in folds.split(raw.reshape(-1, 1), y):
        for m in scores:
            c = _fit(m, raw[fit_idx], y[fit_idx])
            p = c.transform(raw[test_idx])
            scores[m].append(float(np.mean((p - y[test_idx]) ** 2)))
    cv = {m: float(np.mean(v)) for m, v in scores.items()}
    better = cv["isotonic"] < cv["platt"] * (1 - tolerance)
    chosen = "isotonic" if better else "platt"
    reason = (
        f"{chosen}: 5-fold cross-validated Brier on the {len(y):,} validation rows "
        f"{cv['isotonic']:.5f} isotonic vs {cv['platt']:.5f} Platt"
        + (
            ""
            if better
            else f" (isotonic must be {tolerance:.1%} better to be worth its ties and variance)"
        )
    )
    return _fit(chosen, raw, y, reason=reason, cv_brier=cv, **info)
