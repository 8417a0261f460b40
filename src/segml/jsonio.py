"""Strict JSON: the one cleaner that makes any result writable by ``json.dumps``.

JSON has no NaN or infinity, no NumPy scalars and only text keys. :func:`jsonable` turns
nested dicts, lists, tuples, NumPy arrays and scalars into plain Python values: non-finite
floats become None (``null``), NumPy scalars Python numbers, keys text. :class:`JsonModel`
gives a model with ``to_dict`` / ``from_dict`` its ``save`` and ``load``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["JsonModel", "jsonable"]


def jsonable(obj: Any, other: Callable[[Any], Any] | None = str) -> Any:
    """A copy of ``obj`` that ``json.dumps`` writes as strict JSON.

    Parameters
    ----------
    obj : any
        Mappings, lists, tuples, NumPy arrays and scalars, nested.
    other : callable or None, default str
        What becomes of any other value (a date, a path): ``str`` writes its text; None leaves
        it as it is, for a caller whose ``json.dumps`` has its own ``default``.

    Returns
    -------
    any
        Mappings as dicts with text keys, lists, tuples and arrays as lists, NumPy scalars as
        Python numbers, NaN and infinities as None.
    """
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v, other) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v, other) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v, other) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, bool | int | str) or obj is None or other is None:
        return obj
    return other(obj)


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
