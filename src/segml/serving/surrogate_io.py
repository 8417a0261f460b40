"""JSON (de)serialisation of :class:`~segml.explain.models.SegmentSurrogate` (no pickles)."""

from __future__ import annotations

from typing import Any

from segml.boosters import booster_from_json, booster_to_json
from segml.explain.models import SegmentSurrogate

__all__ = ["surrogate_from_dict", "surrogate_to_dict"]

FORMAT = "segml.explain.SegmentSurrogate/1"


def surrogate_to_dict(s: SegmentSurrogate) -> dict[str, Any]:
    """The surrogate's boosters (xgboost JSON) and metadata as plain values."""
    return {
        "format": FORMAT,
        **s.summary(),
        "categories": s.categories,
        "boosters": [booster_to_json(b) for b in s.boosters],
    }


def surrogate_from_dict(doc: dict[str, Any]) -> SegmentSurrogate:
    """Rebuild a surrogate written by :func:`surrogate_to_dict`."""
    if doc.get("format") != FORMAT:
        raise ValueError(f"not a saved SegmentSurrogate (format {doc.get('format')!r})")
    return SegmentSurrogate(
        boosters=[booster_from_json(raw) for raw in doc["boosters"]],
        segments=list(doc["segments"]),
        feature_names=list(doc["features"]),
        categories={k: list(v) for k, v in doc["categories"].items()},
        fidelity=float(doc["fidelity"]),
        fidelity_train=float(doc["fidelity_train"]),
        n_fit=int(doc["n_fit"]),
        n_holdout=int(doc["n_holdout"]),
    )
