"""The small runner of ``segml run``: it walks a declared table of steps
(:data:`segml.run.steps.STEPS`) over one :class:`~segml.run.context.RunContext`.

For each step the runner decides whether it runs (``when``; a step that does not run may leave
a warning saying why), says what it does, opens the step's nested MLflow run (timing, memory,
failure), collects the warnings segml raises inside it, stores and logs its
:class:`~segml.run.stages.base.StageResult` and figures, and — for a model step — turns
segml's own refusal of the data (a ``ValueError`` raised by segml's checks) into a warning
that skips the step, while a library's error still fails the run.
"""

from __future__ import annotations

import contextlib
import os
import warnings as pywarnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pyarrow.parquet as pq

from segml.compute import give_back_memory
from segml.run.context import RunContext
from segml.run.stages.base import StageResult
from segml.run.tracking import StageRun

__all__ = [
    "GIVEN",
    "Step",
    "check_table",
    "collect_warnings",
    "is_segml_file",
    "log_stage",
    "raised_by_segml",
    "run_step",
    "run_steps",
]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep


def always(_ctx: RunContext) -> bool:
    """The ``when`` of a step that always runs."""
    return True


@dataclass(frozen=True)
class Step:
    """One row of the run's step table.

    Attributes
    ----------
    name : str
        The step's name: its nested MLflow run, its figures folder, its key in
        ``RunContext.results`` and the prefix of its metrics in ``run.json``.
    run : callable
        ``run(ctx, stage_run) -> StageResult | None``: reads the context, may fill it, and
        returns the tables, documents, metrics and models to keep (None: nothing to keep).
    when : callable
        ``when(ctx) -> bool``: whether the step runs (default: always).
    skipped : callable, optional
        ``skipped(ctx) -> str | None``: the warning left when ``when`` says no (None: silent).
    says : callable, optional
        ``says(ctx) -> str``: the progress line printed as the step starts.
    model : bool
        A model step: segml's own ``ValueError`` skips it with the warning
        ``no <name> model: ...``; its figures (``figures/<name>``) are logged.
    collect : bool
        Collect the warnings segml raises inside the step into the run's warnings.
    tracked : bool
        Run inside a nested MLflow run of its own (False: on the parent run, e.g. lineage).
    needs : tuple of str
        What the step reads: fields of the context (``bank``, ``frame``…) or the results of
        earlier steps (by step name). :func:`check_table` checks that an earlier step makes
        each one.
    makes : tuple of str
        The context fields the step fills.
    """

    name: str
    run: Callable[[RunContext, StageRun | None], StageResult | None]
    when: Callable[[RunContext], bool] = always
    skipped: Callable[[RunContext], str | None] | None = None
    says: Callable[[RunContext], str] | None = None
    model: bool = False
    collect: bool = False
    tracked: bool = True
    needs: tuple[str, ...] = ()
    makes: tuple[str, ...] = ()


#: Context fields given when a run starts (:class:`~segml.run.context.RunContext`).
GIVEN = ("cfg", "root", "tracker", "scratch", "say", "warnings", "results")


def check_table(steps: Sequence[Step]) -> None:
    """Refuse a step table whose steps are named twice or read what no earlier step makes.

    Raises
    ------
    ValueError
        Naming the step and what it lacks.
    """
    made: set[str] = set(GIVEN)
    names: set[str] = set()
    for step in steps:
        if step.name in names:
            raise ValueError(f"step table: step {step.name!r} is declared twice")
        missing = [n for n in step.needs if n not in made]
        if missing:
            raise ValueError(f"step table: step {step.name!r} needs {missing}, which no earlier step makes")  # fmt: skip
        names.add(step.name)
        made.update(step.makes)
        made.add(step.name)


def run_steps(ctx: RunContext, steps: Sequence[Step]) -> RunContext:
    """Run ``steps`` in order over ``ctx`` (see :class:`Step`); return ``ctx``.

    Raises
    ------
    ValueError
        When the table is malformed (:func:`check_table`), before any step runs.
    """
    check_table(steps)
    for step in steps:
        run_step(ctx, step)
    return ctx


def run_step(ctx: RunContext, step: Step) -> None:
    """Run one step over ``ctx``: the rules of :class:`Step`."""
    if not step.when(ctx):
        note = step.skipped(ctx) if step.skipped is not None else None
        if note:
            ctx.warnings.append(note)
        return
    if step.says is not None:
        ctx.say(step.says(ctx))
    if not step.tracked:
        _keep(ctx, step, _call(step, ctx, None), None)
        return
    with ctx.tracker.stage(step.name) as st:
        try:
            with collect_warnings(ctx.warnings, step.name) if step.collect else _nothing():
                res = _call(step, ctx, st)
        except ValueError as exc:
            if not (step.model and raised_by_segml(exc)):
                raise
            ctx.warnings.append(f"no {step.name} model: {exc}")
            st.params({"skipped": str(exc)[:500]})
            return
        _keep(ctx, step, res, st)


def _call(step: Step, ctx: RunContext, st: StageRun | None) -> StageResult | None:
    """The step's result; what it freed goes back to the system before the next step (and
    before its stage's memory is recorded)."""
    res = step.run(ctx, st)
    give_back_memory()
    return res


def _keep(ctx: RunContext, step: Step, res: StageResult | None, st: StageRun | None) -> None:
    if res is None:
        return
    ctx.results[step.name] = res
    if st is not None:
        log_stage(st, res)
        if step.model:
            st.figures(ctx.figures / step.name)


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextlib.contextmanager
def collect_warnings(into: list[str], stage: str) -> Iterator[None]:
    """Add the warnings segml itself raises inside the block to ``into`` (once each)."""
    with pywarnings.catch_warnings(record=True) as caught:
        pywarnings.simplefilter("always")
        yield
    for w in caught:
        if is_segml_file(str(w.filename)):
            text = f"{stage}: {w.message}"
            if text not in into:
                into.append(text)
        else:  # not ours: show it as Python would have
            pywarnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def raised_by_segml(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is segml's own code."""
    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return last is not None and is_segml_file(last.tb_frame.f_code.co_filename)


def is_segml_file(filename: str) -> bool:
    """Whether ``filename`` is a module of the segml package (not a library, not a test)."""
    return os.path.realpath(filename).startswith(_PACKAGE_DIR)


def log_stage(st: StageRun, res: StageResult) -> None:
    """Log a stage's metrics, documents and table sizes to its nested run."""
    st.metrics(res.metrics)
    for name, doc in res.documents.items():
        st.json(doc, name)
    st.metrics({f"rows.{k}": len(v) for k, v in res.tables.items()})
    st.metrics({f"rows.{k}": pq.ParquetFile(p).metadata.num_rows for k, p in res.files.items()})
