"""Tier rules beyond value: overrides by region, industry and behaviour, with reasons.

A :class:`TierRule` has a name, a condition on feature columns (one or more
:class:`Condition` s, all of which must hold) and an action on the value tier:

``"set"``
    the customer's tier becomes ``tier``;
``"cap"``
    the customer is at most ``tier`` (a better tier is lowered to it);
``"floor"``
    the customer is at least ``tier`` (a worse tier is raised to it);
``"flag"``
    the tier is unchanged; the rule is only recorded.

Rules apply in the order given, each on the result of the previous ones, and every rule whose
condition holds is recorded for the customer (its name, and its reason text), whether or not
it changed the tier. Conditions are data, not code: a column, an operator from
:data:`OPERATORS` and a literal value — nothing is evaluated.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

Scalar = str | int | float | bool
Action = Literal["set", "cap", "floor", "flag"]
ACTIONS: tuple[str, ...] = ("set", "cap", "floor", "flag")

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
#: The operators a condition may use.
OPERATORS: tuple[str, ...] = (*_COMPARE, "in", "not in")


def _literal(op: str, value: Any) -> Scalar:
    """A plain Python literal (NumPy scalars are unwrapped); anything else is refused."""
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, Scalar) or (isinstance(value, float) and np.isnan(value)):
        raise ValueError(f"'{op}' needs literal values (str, number, bool), got {value!r}")
    return value


@dataclass(frozen=True)
class Condition:
    """``column op value`` on one feature column.

    Parameters
    ----------
    column : str
        Feature column.
    op : str
        One of :data:`OPERATORS`.
    value : scalar or tuple of scalars
        A literal (a tuple for ``in`` and ``not in``).

    Notes
    -----
    A missing value (null/NaN) satisfies no condition, not even ``!=`` or ``not in`` (as a
    comparison with NULL in SQL).
    """

    column: str
    op: str
    value: Scalar | tuple[Scalar, ...]

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"operator must be one of {OPERATORS}, got {self.op!r}")
        if self.op in ("in", "not in"):
            if isinstance(self.value, str) or not isinstance(self.value, Sequence | np.ndarray):
                raise ValueError(f"'{self.op}' needs a list of values, got {self.value!r}")
            object.__setattr__(self, "value", tuple(_literal(self.op, v) for v in self.value))
        else:
            object.__setattr__(self, "value", _literal(self.op, self.value))

    def evaluate(self, df: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the rows of ``df`` where the condition holds.

        Parameters
        ----------
        df : pandas.DataFrame
            Holds :attr:`column`.

        Returns
        -------
        numpy.ndarray of bool
        """
        if self.column not in df.columns:
            raise KeyError(f"condition on missing column {self.column!r}")
        col = df[self.column]
        present = col.notna().to_numpy(dtype=bool)
        if self.op in ("in", "not in"):
            hit = col.isin(list(self.value)).to_numpy(dtype=bool)  # type: ignore[arg-type]
            hit = hit if self.op == "in" else ~hit
        else:
            try:
                res = _COMPARE[self.op](col, self.value)
            except TypeError as e:
                raise TypeError(f"cannot evaluate {self.text()}: {e}") from e
            hit = pd.Series(res).fillna(False).to_numpy(dtype=bool)
        return hit & present

    def text(self) -> str:
        """The condition as readable text, e.g. ``complaints_unresolved > 0``."""
        v = list(self.value) if isinstance(self.value, tuple) else self.value
        return f"{self.column} {self.op} {json.dumps(v, ensure_ascii=False)}"

    def to_dict(self) -> dict[str, Any]:
        """The condition as a plain dict."""
        v = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"column": self.column, "op": self.op, "value": v}

    @classmethod
    def from_obj(cls, obj: Condition | Mapping[str, Any] | Sequence[Any]) -> Condition:
        """A condition from itself, a dict ``{column, op, value}`` or a triple."""
        if isinstance(obj, Condition):
            return obj
        if isinstance(obj, Mapping):
            return cls(obj["column"], obj["op"], obj["value"])
        column, op, value = obj
        return cls(column, op, value)


def _conditions(when: Any) -> tuple[Condition, ...]:
    """Normalise one condition (object, dict or triple) or a sequence of them to a tuple."""
    single = isinstance(when, Condition | Mapping) or (
        isinstance(when, Sequence)
        and not isinstance(when, str)
        and len(when) == 3
        and isinstance(when[1], str)
        and when[1] in OPERATORS
    )
    return tuple(Condition.from_obj(c) for c in ((when,) if single else when))


@dataclass(frozen=True)
class TierRule:
    """A named override of the value tier.

    Parameters
    ----------
    name : str
        Recorded per customer when the rule applies.
    when : tuple of Condition
        Conditions that must all hold (dicts or ``(column, op, value)`` triples are
        accepted and converted).
    action : {"set", "cap", "floor", "flag"}
        What the rule does to the tier (see the module docstring).
    tier : str or None
        Target tier of ``set``, ``cap`` and ``floor``; must be None for ``flag``.
    reason : str
        Human-readable reason; defaults to the conditions and the action.
    """

    name: str
    when: tuple[Condition, ...]
    action: Action = "flag"
    tier: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a rule needs a name")
        object.__setattr__(self, "when", _conditions(self.when))
        if not self.when:
            raise ValueError(f"rule {self.name!r} has no condition")
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {self.action!r}")
        if (self.action == "flag") != (self.tier is None):
            raise ValueError(f"rule {self.name!r}: a tier is needed for set/cap/floor only")
        if not self.reason:
            cond = " and ".join(c.text() for c in self.when)
            act = "flagged" if self.action == "flag" else f"{self.action} {self.tier}"
            object.__setattr__(self, "reason", f"{self.name}: {cond} → {act}")

    def matches(self, df: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the rows where every condition holds."""
        mask = np.ones(len(df), dtype=bool)
        for c in self.when:
            mask &= c.evaluate(df)
        return mask

    def to_dict(self) -> dict[str, Any]:
        """The rule as a plain dict."""
        return {
            "name": self.name,
            "when": [c.to_dict() for c in self.when],
            "action": self.action,
            "tier": self.tier,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TierRule:
        """Read a rule written by :meth:`to_dict`."""
        when = tuple(Condition.from_obj(c) for c in d["when"])
        return cls(d["name"], when, d.get("action", "flag"), d.get("tier"), d.get("reason", ""))


def rules_to_json(rules: Sequence[TierRule]) -> str:
    """The rules as JSON (a list, in order of application)."""
    return json.dumps([r.to_dict() for r in rules], ensure_ascii=False)


def rules_from_json(text: str) -> tuple[TierRule, ...]:
    """Read rules written by :func:`rules_to_json`."""
    return tuple(TierRule.from_dict(d) for d in json.loads(text))


def apply_rules(
    levels: np.ndarray,
    features: pd.DataFrame,
    rules: Sequence[TierRule],
    labels: Sequence[str],
) -> tuple[np.ndarray, list[list[str]], list[str]]:
    """Apply rules to tier levels (0 = the most valuable tier in ``labels``).

    Parameters
    ----------
    levels : numpy.ndarray of int
        Tier index by value, one per row of ``features``.
    features : pandas.DataFrame
        The columns the conditions use.
    rules : sequence of TierRule
        Applied in order.
    labels : sequence of str
        Tier names of the policy, most valuable first.

    Returns
    -------
    levels : numpy.ndarray of int
        Tier index after the rules.
    names : list of list of str
        Per row, the names of the rules that applied, in order.
    reasons : list of str
        Per row, their reasons joined with ``"; "`` ("" when none applied).
    """
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"rule names must be unique, got {names}")
    pos = {t: i for i, t in enumerate(labels)}
    out = np.asarray(levels, dtype=np.int64).copy()
    hits = np.zeros((len(rules), len(out)), dtype=bool)
    for j, rule in enumerate(rules):
        if rule.tier is not None and rule.tier not in pos:
            raise ValueError(f"rule {rule.name!r}: tier {rule.tier!r} not in {list(labels)}")
        m = rule.matches(features)
        hits[j] = m
        if rule.action == "set":
            out[m] = pos[rule.tier]  # type: ignore[index]
        elif rule.action == "cap":
            out[m] = np.maximum(out[m], pos[rule.tier])  # type: ignore[index]
        elif rule.action == "floor":
            out[m] = np.minimum(out[m], pos[rule.tier])  # type: ignore[index]
    applied: list[list[str]] = [[] for _ in range(len(out))]
    texts: list[list[str]] = [[] for _ in range(len(out))]
    for j, rule in enumerate(rules):
        for i in np.flatnonzero(hits[j]):
            applied[i].append(rule.name)
            texts[i].append(rule.reason)
    return out, applied, ["; ".join(t) for t in texts]
