"""Where the time of a run goes: named steps inside stages, and progress bars for long loops.

Stage code marks its expensive parts with :func:`step` and its long loops with :func:`track`;
neither needs to know who is watching. ``segml run`` installs a reporter
(:func:`reporting`): each step is announced on stderr and, in an interactive terminal, long
loops draw a ``rich`` progress bar. The MLflow tracker collects the seconds of each step
(:func:`collect_steps`) and logs them on the stage's nested run as ``seconds.<step>``, so a
user sees where the time went after the fact too. Without a reporter or a collector both are
no-ops (library use, tests), and nothing is printed at import.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Laps", "StepLog", "collect_steps", "note", "reporting", "rss_mb", "step", "track"]

T = TypeVar("T")
#: Steps shorter than this (seconds) are not announced when they end (they are still logged).
QUIET_BELOW = 1.0


@dataclass(frozen=True)
class _Reporter:
    say: Callable[[str], None]
    bars: bool


_REPORTER: ContextVar[_Reporter | None] = ContextVar("segml_reporter", default=None)
_STEPS: ContextVar[StepLog | None] = ContextVar("segml_steps", default=None)


class StepLog(dict):  # type: ignore[type-arg]
    """``{step: seconds}``, with ``rss_mb``: the process's resident memory (MB) as each step
    ended, ``step_peak_mb``: the most it held during each step, and ``peak_mb``: the most it
    held while the block ran (sampled every :data:`PEAK_EVERY` seconds), so a user sees where
    the memory goes too."""

    def __init__(self) -> None:
        super().__init__()
        self.rss_mb: dict[str, float] = {}
        self.step_peak_mb: dict[str, float] = {}
        self._sampler: _PeakSampler | None = None
        self._peak = 0.0

    def peak_since(self, t0: float) -> float:
        """The most resident memory (MB) sampled since ``time.perf_counter()`` was ``t0``."""
        now = rss_mb()
        if self._sampler is None:
            return now
        return max([now, *(mb for t, mb in self._sampler.history if t >= t0)])

    @property
    def peak_mb(self) -> float:
        """The most resident memory (MB) the process held in the block so far."""
        now = rss_mb()
        return max(self._peak, now, self._sampler.peak if self._sampler is not None else now)


#: How often (seconds) :func:`collect_steps` samples the resident memory for ``peak_mb``.
PEAK_EVERY = 0.2


class _PeakSampler(threading.Thread):
    """Samples :func:`rss_mb` until stopped; ``peak`` is the largest value seen. (The kernel's
    own high-water mark cannot be read per block without resetting the process's.)"""

    def __init__(self) -> None:
        super().__init__(name="segml-peak-rss", daemon=True)
        self.peak = rss_mb()
        self.samples = 0
        #: (time.perf_counter(), MB) of every sample, for the peaks of the steps
        self.history: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(PEAK_EVERY):
            now = rss_mb()
            self.history.append((time.perf_counter(), now))
            self.peak = max(self.peak, now)
            self.samples += 1

    def stop(self) -> float:
        self.done.set()
        self.join()
        return max(self.peak, rss_mb())


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux; elsewhere the peak so far)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@contextmanager
def reporting(say: Callable[[str], None], bars: bool | None = None) -> Iterator[None]:
    """Announce steps with ``say`` within the block; ``bars``: draw progress bars (default:
    when stderr is a terminal)."""
    token = _REPORTER.set(_Reporter(say, sys.stderr.isatty() if bars is None else bars))
    try:
        yield
    finally:
        _REPORTER.reset(token)


@contextmanager
def collect_steps() -> Iterator[StepLog]:
    """Collect ``{step: seconds}`` of the steps run within the block (the dict fills as they
    finish; a step run twice adds up), the memory as each ended (``.rss_mb``) and the block's
    peak (``.peak_mb``)."""
    steps = StepLog()
    token = _STEPS.set(steps)
    steps._sampler = _PeakSampler()
    steps._sampler.start()
    try:
        yield steps
    finally:
        steps._peak, steps._sampler = steps._sampler.stop(), None
        _STEPS.reset(token)


@contextmanager
def step(name: str, detail: str = "") -> Iterator[None]:
    """Time the block as step ``name`` (snake_case; logged as ``seconds.<name>``).

    Parameters
    ----------
    name : str
        Step name, e.g. ``"supervised_spend"``.
    detail : str, optional
        Shown after the name when the step starts (e.g. the number of rows).
    """
    rep = _REPORTER.get()
    label = name.replace("_", " ")
    if rep is not None:
        rep.say(f"  › {label}{f' ({detail})' if detail else ''}")
    t0 = time.perf_counter()
    try:
        yield
    finally:
        _record(name, t0)


def note(text: str) -> None:
    """Say ``text`` under the current step (no-op without a reporter): how far a step is."""
    rep = _REPORTER.get()
    if rep is not None:
        rep.say(f"    {text}")


def _record(name: str, t0: float) -> None:
    secs = time.perf_counter() - t0
    steps = _STEPS.get()
    if steps is not None:
        steps[name] = round(steps.get(name, 0.0) + secs, 3)
        steps.rss_mb[name] = rss_mb()
        steps.step_peak_mb[name] = max(steps.step_peak_mb.get(name, 0.0), steps.peak_since(t0))
    rep = _REPORTER.get()
    if rep is not None and secs >= QUIET_BELOW:
        rep.say(f"    {name.replace('_', ' ')}: {secs:.1f} s")


class Laps:
    """Consecutive steps timed by where each ends: ``lap(name)`` closes step ``name``, which
    began at the previous lap (or at construction)."""

    def __init__(self) -> None:
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        """Record the time since the previous lap as step ``name``."""
        t0, self._t = self._t, time.perf_counter()
        _record(name, t0)


def track(items: Iterable[T], label: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items``, with a progress bar when the reporter draws bars.

    Parameters
    ----------
    items : iterable
    label : str
        What is being counted (e.g. ``"TreeSHAP batches"``).
    total : int, optional
        Number of items (default: ``len(items)`` when it has one).
    """
    rep = _REPORTER.get()
    if rep is None or not rep.bars:
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    columns = ("    {task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        for item in items:
            yield item
            bar.advance(task)
