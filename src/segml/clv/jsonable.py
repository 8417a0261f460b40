"""Strict JSON for CLV documents: NaN and infinities become null, numpy scalars plain numbers."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["JsonModel", "jsonable"]


def jsonable(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, tuples, scalars) that ``json.dumps`` writes as strict JSON.

    Non-finite floats become None (JSON has no NaN), numpy scalars and arrays become Python
    numbers and lists, dates and other objects their ``str``.
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return str(obj)


class JsonModel:
    """``save`` / ``load`` for a model that defines ``to_dict`` and ``from_dict``.

    ``JSON_INDENT`` sets how ``save`` indents (None for large documents such as boosters).
    """

    JSON_INDENT: int | None = 2

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``to_dict()`` as JSON to ``path``."""
        path = Path(path)
        doc = self.to_dict()  # type: ignore[attr-defined]
        path.write_text(json.dumps(doc, indent=self.JSON_INDENT) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Any:
        """Read a model written by :meth:`save`."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read a {cls.__name__} from {path}: {exc}") from exc
        return cls.from_dict(doc)  # type: ignore[attr-defined]
