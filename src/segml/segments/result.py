"""What a segmentation produced: :class:`SegmentationResult`, for people and for machines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from segml.jsonio import jsonable
from segml.segments.columns import as_frame


@dataclass
class SegmentationResult:
    """Everything a segmentation produced, for people (``summary``) and machines (``to_dict``).

    Attributes
    ----------
    id_col : str
        The identifier column.
    assignments : DataFrame
        One row per customer: the id, ``segment`` (0 = largest) and ``segment_name``.
    k : int
        Number of segments.
    method : str
        ``"mixed"``, ``"gmm"`` or ``"kmeans"``.
    scores : DataFrame
        Per candidate k: silhouette, BIC, inertia, stability (± std) and which was selected.
    profiles : DataFrame
        Per segment: name, size, share, value, medians, holding rates, channel mix.
    names : dict of int to str
        Segment names.
    deviations : DataFrame
        Per segment and column: deviation from the population in standard deviations.
    excluded : dict of str to str
        Columns not used, with the reason.
    missing : DataFrame
        Columns with missing values: count, share and what was done.
    features : list of str
        Input columns the segmentation used.
    value_col : str or None
        Value column profiled.
    pipeline : sklearn.pipeline.Pipeline
        The fitted preprocessing + clustering pipeline (``predict`` on new rows).
    notes : list of str
        What a reader should know about the result: fewer segments than asked for, or no
        candidate k that reproduces across resamples.
    """

    id_col: str
    assignments: pd.DataFrame
    k: int
    method: str
    scores: pd.DataFrame
    profiles: pd.DataFrame
    names: dict[int, str]
    deviations: pd.DataFrame
    excluded: dict[str, str]
    missing: pd.DataFrame
    features: list[str]
    value_col: str | None
    pipeline: Pipeline | Any = field(repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> np.ndarray:
        """Segment of each row, in the input order."""
        return self.assignments["segment"].to_numpy()

    def predict(self, data: Any) -> np.ndarray:
        """Segments of new customers (same columns as the fitted table)."""
        return self.pipeline.predict(as_frame(data))

    def _value_text(self, row: pd.Series) -> str:
        if "value_share" not in row or pd.isna(row["value_share"]):
            return ""
        mean = row.get("value_mean", np.nan)
        mean_text = f", mean {mean:,.0f}" if pd.notna(mean) and abs(mean) >= 100 else ""
        if not mean_text and pd.notna(mean):
            mean_text = f", mean {mean:,.3g}"
        return f"; {self.value_col or 'value'} share {row['value_share']:.1%}{mean_text}"

    def profile_records(self) -> list[dict[str, Any]]:
        """One dict per segment: name, size, share, value, medians, holding rates, channel mix."""
        out = []
        for _, row in self.profiles.iterrows():
            rec: dict[str, Any] = {"segment": int(row["segment"]), "name": row["name"]}
            groups: dict[str, dict[str, Any]] = {}
            for key, value in row.items():
                kind, sep, col = str(key).partition(":")
                if sep:
                    label = {"rate": "holding_rates", "mix": "channel_mix", "top": "top"}
                    groups.setdefault(label.get(kind, kind + "s"), {})[col] = value
                elif key not in ("segment", "name"):
                    rec[str(key)] = value
            rec["size"] = int(rec["size"])
            rec.update(groups)
            seg = row["segment"]
            top = self.deviations.loc[seg].dropna() if seg in self.deviations.index else pd.Series()
            top = top.reindex(top.abs().sort_values(ascending=False).index[:5])
            rec["distinctive"] = {str(k): round(float(v), 2) for k, v in top.items()}
            out.append(rec)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (NaN becomes null)."""
        return jsonable(
            {
                "k": self.k,
                "method": self.method,
                "n_rows": len(self.assignments),
                "id_column": self.id_col,
                "value_column": self.value_col,
                "features": self.features,
                "scores": self.scores.to_dict(orient="records"),
                "profiles": self.profile_records(),
                "excluded": self.excluded,
                "missing": self.missing.to_dict(orient="records"),
                "notes": self.notes,
            },
            other=None,
        )

    def summary(self) -> str:
        """A few readable lines: k and how it was chosen, then each segment.

        With a value column each segment also shows its share of the column's total and its
        mean per customer: ``PAYMENTS share 31.2%, mean 2,104``.
        """
        lines = [f"{len(self.assignments):,} rows -> {self.k} segments ({self.method})"]
        cols = [c for c in ("k", "silhouette", "bic", "stability", "selected") if c in self.scores]
        lines.append(self.scores[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        width = max([40, *(len(str(n)) for n in self.profiles["name"])])
        for _, row in self.profiles.iterrows():
            lines.append(
                f"  {int(row['segment'])}: {row['name']:<{width}s} {int(row['size']):>8,} "
                f"({row['share']:.1%}{self._value_text(row)})"
            )
        if self.excluded:
            lines.append(f"excluded: {', '.join(self.excluded)}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)
