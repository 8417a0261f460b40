"""Everything a section of the pack reads: the run, the registry, the reference and champion runs.

The **reference run** for stability is ``--reference-run`` when given, else the pipeline run
behind the current ``champion`` model version (the version's run is the ``export`` stage's
nested run; its ``mlflow.parentRunId`` tag is the pipeline run, whose folder
:func:`segml.run.folder.locate_run` finds). When there is none, :attr:`reference_note`
says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segml.report.registry import RegistryInfo, read_registry
from segml.run.config import ReportSection
from segml.run.folder import RunFolder, RunNotFoundError, locate_run

__all__ = ["ReportContext", "resolve_context"]


@dataclass
class ReportContext:
    """The inputs of every section.

    Attributes
    ----------
    run : RunFolder
        The run under review.
    registry : RegistryInfo
        The tracking store's and the registry's view of it.
    runs_dir : Path
        The folder holding run folders (where reference and champion runs are looked up).
    reference, reference_note
        The stability reference run (or ``None``) and a sentence saying which and why.
    champion, champion_note
        The champion's pipeline run folder (or ``None``) and a sentence saying why not.
    card : ReportSection
        The model card's owners, intended use and limitations (the run's config).
    """

    run: RunFolder
    registry: RegistryInfo
    runs_dir: Path
    reference: RunFolder | None
    reference_note: str
    champion: RunFolder | None
    champion_note: str
    card: ReportSection


def _champion_folder(
    run: RunFolder, reg: RegistryInfo, runs_dir: Path
) -> tuple[RunFolder | None, str]:
    if reg.error:
        return None, f"the registry could not be read ({reg.error})"
    if run.model is None:
        return None, "this run exported no model, so there is no champion to compare with"
    if reg.champion_version is None:
        return None, (
            f"no version of {reg.name} has the champion alias yet (after the review: segml promote)"
        )
    if reg.champion_is_this or reg.champion_run_id == run.run_id:
        return None, f"this run's model (version {reg.version}) is the champion itself"
    assert reg.champion_run_id is not None
    try:
        folder = locate_run(reg.champion_run_id, runs_dir)
    except RunNotFoundError as exc:
        return None, (
            f"the champion (version {reg.champion_version}) comes from run "
            f"{reg.champion_run_id[:12]}, whose folder is not usable: {exc}"
        )
    return folder, (
        f"the champion, version {reg.champion_version} of {reg.name}, from run {folder.short_id}"
    )


def resolve_context(
    run: RunFolder,
    runs_dir: Path,
    *,
    reference_run: str | None = None,
    tracking_uri: str | None = None,
) -> ReportContext:
    """Read the registry and find the reference and champion runs of ``run``.

    Parameters
    ----------
    run : RunFolder
        The run under review.
    runs_dir : Path
        Where run folders are.
    reference_run : str, optional
        Run id (or prefix) of the stability reference; default: the champion's run.
    tracking_uri : str, optional
        Tracking store; default: the one ``run.json`` records.

    Raises
    ------
    RunNotFoundError
        When ``reference_run`` is given and has no run folder.
    """
    uri = tracking_uri or str(run.run.get("tracking_uri") or "")
    reg = read_registry(uri, run.run_id, run.model)
    champion, champion_note = _champion_folder(run, reg, runs_dir)
    if reference_run:
        reference = locate_run(reference_run, runs_dir)
        same = " (the run itself)" if reference.run_id == run.run_id else ""
        reference_note = f"run {reference.short_id}{same}, given with --reference-run"
    elif champion is not None:
        reference, reference_note = champion, f"run {champion.short_id}, {champion_note}"
    else:
        reference, reference_note = None, f"no reference run yet: {champion_note}"
    raw = run.config.get("report") or {}
    try:
        card = ReportSection.model_validate(raw)
    except ValueError:
        card = ReportSection()
    return ReportContext(
        run=run,
        registry=reg,
        runs_dir=runs_dir,
        reference=reference,
        reference_note=reference_note,
        champion=champion,
        champion_note=champion_note,
        card=card,
    )
