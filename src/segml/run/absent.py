"""Why a run has no output of a stage, in the run's own words, for "Not available: …" notes.

A stage writes nothing when its config switches it off, when the data do not allow it (the run
then records a warning such as ``"no churn model: …"`` or ``"no labels: …"``), or when the
tiers rank another measure than the value model's score (no explanations, no exported model).
:func:`why_absent` finds which from the run folder (``config.yaml``, ``run.json``), so the
review pack, ``segml explain`` and :func:`segml.open_run` say the reason instead of guessing at
one.

Examples
--------
>>> from segml.run.folder import RunFolder
>>> why_absent(RunFolder(path), "churn")  # doctest: +SKIP
'churn.enabled is off in the run's config'
"""

from __future__ import annotations

from typing import Any

from segml.run.folder import RunFolder

__all__ = ["WARNING_PREFIX", "not_available", "run_warning", "why_absent"]

#: The prefix of the run's warning that says why a stage wrote nothing.
WARNING_PREFIX = {
    "value": "no value model: ",
    "churn": "no churn model: ",
    "clv": "no clv model: ",
    "labels": "no labels: ",
    "explain": "explain: ",
    "export": "export: ",
}


def run_warning(run: RunFolder, prefix: str) -> str | None:
    """The text after ``prefix`` of the run's first warning that starts with it, if any."""
    for w in run.run.get("warnings") or []:
        if isinstance(w, str) and w.startswith(prefix):
            return w.removeprefix(prefix).strip()
    return None


def _switched_off(run: RunFolder, stage: str) -> bool:
    section = run.config.get(stage)
    return isinstance(section, dict) and section.get("enabled") is False


def _not_the_value_score(run: RunFolder) -> str | None:
    """Why the tiers rank a measure other than the value model's score (None if they do not)."""
    vm: dict[str, Any] = run.run.get("value_measure") or run.json("value_measure") or {}
    measure = vm.get("measure")
    if not measure or measure == "value_score":
        return None
    what = f" ({vm['description']})" if vm.get("description") else ""
    reason = str(vm.get("reason") or "")
    tail = reason.rsplit("; but ", 1)[1] if "; but " in reason else reason
    return f"the tiers rank {measure}{what}, not the value model's score" + (
        f": {tail}" if tail else ""
    )


def _model_reason(run: RunFolder) -> str:
    """Why the run has no value model to explain or export."""
    if _switched_off(run, "value"):
        return "value.enabled is off, so the run has no value model"
    said = run_warning(run, WARNING_PREFIX["value"])
    if said:
        return f"the run has no value model ({said})"
    return _not_the_value_score(run) or "the tiers do not rank the value model's score"


def why_absent(run: RunFolder, stage: str) -> str:
    """Why ``run`` wrote nothing for ``stage``, as one plain clause.

    Parameters
    ----------
    run : RunFolder
        The finished run.
    stage : str
        ``value``, ``churn``, ``clv``, ``labels``, ``segments``, ``explain`` or ``export``.

    Returns
    -------
    str
        The config switch that turned the stage off, the run's own warning for it, or (for
        ``explain`` and ``export``) why the tiers do not rank the value model's score.
    """
    if stage != "labels" and _switched_off(run, stage):
        return f"{stage}.enabled is off in the run's config"
    said = run_warning(run, WARNING_PREFIX[stage]) if stage in WARNING_PREFIX else None
    if stage in ("explain", "export"):
        return _model_reason(run)
    if said:
        return said
    return f"the run wrote no {stage} output and recorded no reason"


def not_available(run: RunFolder, stage: str) -> str:
    """``"Not available: <why_absent>."``, the sentence the pack shows for an empty part."""
    text = why_absent(run, stage).rstrip(".")
    return f"Not available: {text}."
