"""Assemble the review pack from a run folder and the registry, write it atomically, log it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from segml.io import atomic_file
from segml.report.champion import champion_section
from segml.report.context import ReportContext, resolve_context
from segml.report.explanations import explanations_section
from segml.report.fairness import JUDGED, fairness_section
from segml.report.html import Section, render_page
from segml.report.model_card import model_card_section
from segml.report.overview import overview_section
from segml.report.registry import log_pack
from segml.report.segments import segments_section
from segml.report.stability import stability_section
from segml.report.validation import validation_section
from segml.report.value import value_section
from segml.run.folder import RunFolder

__all__ = ["SECTIONS", "ReviewPack", "build_report", "default_out", "log_report", "write_report"]

#: The sections of the pack, in order.
SECTIONS: tuple[Callable[[ReportContext], Section], ...] = (
    overview_section,
    value_section,
    segments_section,
    validation_section,
    explanations_section,
    stability_section,
    fairness_section,
    champion_section,
    model_card_section,
)


@dataclass
class ReviewPack:
    """A built review pack: the HTML document and the sections it was made of."""

    html: str
    sections: list[Section]
    context: ReportContext

    @property
    def run_id(self) -> str:
        """The reviewed run."""
        return self.context.run.run_id

    def section(self, section_id: str) -> Section:
        """The section with HTML id ``section_id``."""
        return next(s for s in self.sections if s.id == section_id)

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts of the pack (what ``segml report --json`` prints besides the path)."""
        fair = self.section("fairness").data.get("fairness") or []
        flags = [
            {
                "attribute": r["attribute"],
                "group": r["group"],
                "outcome": k,
                "ratio": r[f"{k}_ratio"],
            }
            for r in fair
            for k in JUDGED
            if r[f"{k}_flag"]
        ]
        stab = self.section("stability").data
        return {
            "run_id": self.run_id,
            "sections": [s.id for s in self.sections],
            "attention": [
                f.text for s in self.sections for f in s.findings if f.level == "attention"
            ],
            "reference_run": stab.get("reference_run"),
            "psi": stab.get("psi") or {},
            "champion": self.section("champion").data.get("champion"),
            "fairness_flags": flags,
        }


def _segml_version() -> str:
    try:
        return version("segml")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def build_report(
    run: RunFolder | Path,
    runs_dir: Path | None = None,
    *,
    reference_run: str | None = None,
    tracking_uri: str | None = None,
    now: dt.datetime | None = None,
) -> ReviewPack:
    """Build the review pack of a finished run (nothing is re-trained).

    Parameters
    ----------
    run : RunFolder or Path
        The run folder under review.
    runs_dir : Path, optional
        Where the reference and champion runs' folders are (default: the run folder's parent).
    reference_run : str, optional
        Run id (or prefix) of the stability reference; default: the champion's run.
    tracking_uri : str, optional
        Tracking store and registry; default: the one in ``run.json``.
    now : datetime, optional
        Time stamp printed in the pack (default: now, UTC).

    Raises
    ------
    segml.run.folder.RunNotFoundError
        When the run folder or the reference run cannot be found.
    """
    folder = run if isinstance(run, RunFolder) else RunFolder(Path(run))
    ctx = resolve_context(
        folder,
        runs_dir or folder.path.parent,
        reference_run=reference_run,
        tracking_uri=tracking_uri,
    )
    sections = [make(ctx) for make in SECTIONS]
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    model = folder.model or {}
    reg = ctx.registry
    aliases = ", ".join(reg.this_aliases) or "no alias"
    meta = [
        f"Run {folder.run_id} · config {folder.config.get('name', '?')} · as of {folder.run.get('as_of')}",
        (
            f"Model {model.get('name')} version {model.get('version')} ({aliases}) · champion: "
            f"{'version ' + reg.champion_version if reg.champion_version else 'none'}"
        )
        if model
        else "No exported model",
        f"Generated {stamp} by segml {_segml_version()} from {folder.path}",
    ]
    footer = (
        f"Built from the run folder {folder.path} and the MLflow store {reg.uri or '–'}; "
        "nothing was re-trained. One static file: no script, no external resource."
    )
    html = render_page(f"Model review pack: {ctx.card.title}", meta, sections, footer)
    return ReviewPack(html=html, sections=sections, context=ctx)


def default_out(root: Path, run: RunFolder) -> Path:
    """``<root>/reports/review_<run id[:12]>.html``."""
    return root / "reports" / f"review_{run.short_id}.html"


def write_report(pack: ReviewPack, out: Path) -> Path:
    """Write the pack to ``out`` atomically (:func:`segml.io.atomic_file`: a temporary file in
    the same folder, renamed); a failure leaves ``out`` as it was.

    Callers check ``out`` first (:func:`segml.cli.report.check_report_out`): this function
    replaces an existing file.

    Raises
    ------
    IsADirectoryError
        When ``out`` is a folder (nothing is written).
    """
    out = Path(out)
    if out.is_dir():
        raise IsADirectoryError(f"{out} is a folder, not a file")
    with atomic_file(out) as tmp:
        tmp.write_text(pack.html, encoding="utf-8")
    return out


def log_report(pack: ReviewPack, path: Path) -> str:
    """Log the written pack to the run's MLflow parent run (``report/``); return its URI."""
    return log_pack(pack.context.registry.uri, pack.run_id, path)
