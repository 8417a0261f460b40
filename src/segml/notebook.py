"""Helpers for the research notebooks (``notebooks/NN_*.py``): the studied bank and the run record.

Every notebook starts from its parameters cell (size, seed, config, ``run_id``). Given a
``run_id``, it studies that finished ``segml run`` (:func:`segml.open_run`), nothing recomputed:
:func:`open_study` opens the run's bank with the run's config, as-of date, features and labels,
and :func:`study_run` hands the notebooks that study a step (CLV, churn, value and tiers) the
:class:`~segml.run.open.FinishedRun`. Without one, :func:`open_study` opens the config's bank
(:func:`open_bank`: the synthetic bank, generated and cached exactly as ``segml run`` does, or a
folder of contract tables) and :func:`study_run` runs the pipeline on the config with only the
steps the notebook studies, then opens that run: both ways study the same typed run. Each
notebook ends by logging what it found to MLflow with :func:`research_run`, through
:mod:`segml.run.tracking` (the embedded store ``experiments/mlflow.db`` unless
``MLFLOW_TRACKING_URI`` is set). The few plots several
notebooks draw live here too. Nothing here is needed by the pipeline; nothing runs at import.

Relative paths (the ``config`` parameter, ``data_dir``, the paths in a config) are resolved
against :func:`study_root`: the project of the working directory, or, for a notebook executed
with its working directory outside any project, the project of its config (the checkout segml
is imported from, for the default ``experiments/configs/notebooks.yaml``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa

from segml.contract import CONTRACT
from segml.data import BankData, load_bank
from segml.dates import months_before as months_before  # notebooks: nb.months_before
from segml.features import Snapshots
from segml.jsonio import jsonable
from segml.profile import default_as_of
from segml.run.config import RunConfig, load_config, resolve
from segml.run.stages.labels import labels_for_run
from segml.run.tracking import StageRun, Tracker, tracked_run
from segml.synth import MANIFEST
from segml.tables import write_csv

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from segml.run.open import FinishedRun

#: MLflow experiment of the notebooks: the config's experiment with this suffix.
EXPERIMENT_SUFFIX = "-notebooks"
#: File of the synthetic bank's ground truth (evaluation only: the pipeline never reads it).
GROUND_TRUTH = "ground_truth.parquet"


def _project_of(start: Path) -> Path | None:
    """The nearest ancestor of ``start`` (itself included) that holds an ``experiments/``
    folder or a ``pyproject.toml`` (what :func:`segml.run.config.project_root` looks for)."""
    for d in (start, *start.parents):
        if (d / "experiments").is_dir() or (d / "pyproject.toml").is_file():
            return d
    return None


def _checkout() -> Path | None:
    """The project segml is imported from (the checkout of an editable install, or the
    project whose virtual environment holds segml), if there is one."""
    return _project_of(Path(__file__).resolve().parent)


def config_file(config: str | os.PathLike[str]) -> Path:
    """The file a notebook's ``config`` parameter names, wherever the notebook runs.

    An absolute path is taken as it is. A relative one is relative to the project the working
    directory lies in (``make lab`` runs the notebooks in ``notebooks/``); outside any project
    (a notebook executed with its output elsewhere) it is the file under the working directory
    when there is one, else the one in the checkout segml is imported from, so the default
    ``experiments/configs/notebooks.yaml`` is found from anywhere.
    """
    path = Path(config).expanduser()
    if path.is_absolute():
        return path
    here = _project_of(Path.cwd())
    if here is not None:
        return here / path
    if path.is_file():
        return path.resolve()
    return (_checkout() or Path.cwd()) / path


def study_root(config: str | os.PathLike[str] | None = None) -> Path:
    """The project root a notebook resolves its relative paths against.

    The project the working directory lies in (``make lab``: the repository); outside any
    project, the project that holds ``config`` (:func:`config_file`; the working directory
    when the file lies in none, as for ``segml run --config``); without ``config``, the
    checkout segml is imported from, else the working directory. Every path in a config
    (``data.path``, ``synthetic.cache_dir``, ``output.dir``), the notebooks' ``data_dir`` and
    the embedded tracking store ``experiments/mlflow.db`` are relative to it, so a notebook
    executed from a folder outside the repository studies the same bank and logs to the same
    store as one run from ``make lab``.

    Examples
    --------
    >>> root = study_root("experiments/configs/notebooks.yaml")  # doctest: +SKIP
    >>> cfg = study_config("experiments/configs/notebooks.yaml", root=root)  # doctest: +SKIP
    """
    here = _project_of(Path.cwd())
    if here is not None:
        return here
    if config is not None:
        return _project_of(config_file(config).resolve().parent) or Path.cwd()
    return _checkout() or Path.cwd()


def study_config(
    config: str | os.PathLike[str],
    *,
    customers: int | None = None,
    seed: int | None = None,
    as_of: str | dt.date | None = None,
    overrides: Mapping[str, Any] | None = None,
    root: Path | None = None,
) -> RunConfig:
    """The run configuration a notebook studies: a YAML config with the notebook's parameters.

    Parameters
    ----------
    config : path
        YAML run config; a relative path is resolved against ``root`` when given, else as
        :func:`config_file` says (the working directory's project, else segml's checkout).
    customers, seed, as_of : optional
        Set ``synthetic.customers``, ``seed`` and ``as_of`` when given.
    overrides : mapping, optional
        Further ``section.key -> value`` pairs (e.g. ``{"tiers.policy": "abc"}``; wrap them in
        :func:`given` so that a notebook parameter left at None keeps the config's value).
    root : Path, optional
        Project root (default: :func:`study_root`).

    Raises
    ------
    segml.run.config.ConfigError
        When the file is missing or a key or value does not fit (the message names the key).
    """
    sets: dict[str, Any] = dict(overrides or {})
    for key, value in (("synthetic.customers", customers), ("seed", seed), ("as_of", as_of)):
        if value is not None:
            sets[key] = str(value) if key == "as_of" else value
    path = config_file(config) if root is None else resolve(root, str(config))
    assert path is not None
    return load_config(path, sets)


def given(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides whose value is not None: notebook parameters left at None keep the
    config's values (``study_config(..., overrides=given({"clv.model": model}))``)."""
    return {k: v for k, v in overrides.items() if v is not None}


@dataclass(frozen=True)
class StudyBank:
    """A validated bank that a notebook studies.

    Attributes
    ----------
    bank : BankData
        The contract tables open in DuckDB, with the validation report.
    as_of : date
        The as-of date: the config's, else the synthetic bank's, else the last transaction day.
    config : RunConfig
        The configuration the bank was opened with.
    generated : bool
        True when this call generated the synthetic bank (False: reused or a given folder).
    run : FinishedRun, optional
        The finished run studied (:func:`open_study` with a run id): its features and labels at
        the as-of date are read from the run, not rebuilt.
    """

    bank: BankData
    as_of: dt.date
    config: RunConfig
    generated: bool = False
    run: FinishedRun | None = None

    @property
    def folder(self) -> Path:
        """The bank's folder."""
        return self.bank.folder

    @cached_property
    def snapshots(self) -> Snapshots:
        """Features and labels at any date of this bank, with the config's feature settings
        and engine (built once each: :class:`segml.features.snapshots.Snapshots`)."""
        from segml.run.stages.features import run_snapshots

        return run_snapshots(self.bank, self.config)

    def features(self, as_of: dt.date | str | None = None) -> pd.DataFrame:
        """The customer feature table at ``as_of`` (default: the study's as-of date; the run's
        table when a run is studied)."""
        when = self.as_of if as_of is None else as_of
        if self.run is not None and str(when) == str(self.run.as_of):
            return self.run.features.copy()
        return self.snapshots.frame(when)

    def labels(self, as_of: dt.date | str | None = None) -> pa.Table | None:
        """Labels of the window after ``as_of`` (default: the study's) by the config's
        definition, horizon and economics; None, with the reason printed, when the data end
        before that window does (a scoring-time extract)."""
        from segml.run.outcomes import StepNotInRunError

        if self.run is not None and (as_of is None or str(as_of) == str(self.run.as_of)):
            try:
                return pa.Table.from_pandas(self.run.labels, preserve_index=False)
            except StepNotInRunError as exc:
                print(f"No labels after the as-of date: {exc}")
                return None
        try:
            return labels_for_run(
                self.snapshots, self.as_of if as_of is None else as_of, self.config
            )
        except ValueError as exc:
            print(f"No labels after the as-of date: {exc}")
            return None

    def ground_truth(self) -> pd.DataFrame | None:
        """The synthetic bank's ground truth (for evaluation only), or None for other banks."""
        return ground_truth(self.folder)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready facts: folder, as-of date, rows per table, validation warnings."""
        report = self.bank.report
        return {
            "folder": str(self.folder),
            "as_of": str(self.as_of),
            "generated": self.generated,
            "row_counts": dict(report.row_counts),
            "warnings": len(report.warnings),
            "ground_truth": (self.folder / GROUND_TRUTH).is_file(),
        }

    def describe(self) -> str:
        """One line: where the bank is, its size and its as-of date (and the run studied)."""
        d = self.to_dict()
        rows = ", ".join(f"{k} {v:,}" for k, v in d["row_counts"].items())
        run = f"; run {self.run.short_id}" if self.run is not None else ""
        return f"{d['folder']} (as of {d['as_of']}): {rows}; {d['warnings']} warning(s){run}"


def ground_truth(folder: str | os.PathLike[str]) -> pd.DataFrame | None:
    """The synthetic bank's ground truth in ``folder`` (evaluation only), or None."""
    path = Path(folder) / GROUND_TRUTH
    return pd.read_parquet(path) if path.is_file() else None


def open_bank(
    cfg: RunConfig, data_dir: str | os.PathLike[str] | None = None, *, root: Path | None = None
) -> StudyBank:
    """Open the bank a notebook studies, validated against the contract.

    Parameters
    ----------
    cfg : RunConfig
        From :func:`study_config`.
    data_dir : path, optional
        A folder of contract tables (Parquet or CSV; relative to ``root``; the config's
        ``data.mapping`` maps the bank's own names). None: ``cfg.data.path`` for a folder source, else the
        config's synthetic bank, generated into ``synthetic.cache_dir`` unless an identical one
        is cached there (as in ``segml run``).
    root : Path, optional
        Project root for relative paths (default: :func:`study_root`).

    Raises
    ------
    segml.validate.ContractError
        When the folder breaks the contract (the message names table, column and rows).
    """
    root = root or study_root()
    generated = False
    if data_dir is not None:  # relative to the project root, as every path in a config
        folder = resolve(root, str(data_dir))  # type: ignore[assignment]
    elif cfg.data.source == "folder":
        folder = resolve(root, cfg.data.path)  # type: ignore[assignment]
    else:  # the pipeline module pulls in every stage: import it only to generate a bank
        from segml.run.stages.data import prepare_synthetic

        cache = resolve(root, cfg.synthetic.cache_dir)
        assert cache is not None
        folder, generated = prepare_synthetic(cache, cfg.synth_config())
    bank = load_bank(folder, resolve(root, cfg.data.mapping), cfg.data.reference_date)
    as_of = cfg.as_of
    manifest = folder / MANIFEST
    if as_of is None and manifest.is_file():
        as_of = dt.date.fromisoformat(json.loads(manifest.read_text())["config"]["as_of"])
    return StudyBank(bank, as_of or default_as_of(bank), cfg, generated)


def open_study(
    cfg: RunConfig,
    data_dir: str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    *,
    root: Path | None = None,
) -> StudyBank:
    """The bank a notebook studies: a finished run's, or the config's.

    Parameters
    ----------
    cfg : RunConfig
        From :func:`study_config`; with ``run_id`` only its ``output.dir`` and tracking store
        are used (where the run is found).
    data_dir : path, optional
        As for :func:`open_bank` (ignored with ``run_id``: the run's own bank is studied).
    run_id : str, optional
        A finished run's id (or a prefix, or ``"latest"``): its bank, config and as-of date,
        and its features and labels read from its folder (:attr:`StudyBank.run`).
    root : Path, optional
        Project root for relative paths (default: :func:`study_root`).

    Examples
    --------
    >>> cfg = study_config("experiments/configs/notebooks.yaml")  # doctest: +SKIP
    >>> study = open_study(cfg, run_id="86b06bc6f1c3")  # doctest: +SKIP
    >>> study.features().equals(study.run.features)  # doctest: +SKIP
    True
    """
    if run_id is None:
        return open_bank(cfg, data_dir, root=root)
    from segml.run.open import open_run

    root = root or study_root()
    run = open_run(run_id, config=cfg, root=root)
    rcfg = run.config
    bank = load_bank(run.data_dir, resolve(root, rcfg.data.mapping), rcfg.data.reference_date)
    return StudyBank(bank, run.as_of, rcfg, False, run)


#: The steps of ``segml run`` a notebook can switch off when it computes a run of its own.
SWITCHABLE = ("clv", "churn", "value", "segments", "explain")


def study_run(
    cfg: RunConfig,
    run_id: str | None = None,
    *,
    steps: Sequence[str] = (),
    data_dir: str | os.PathLike[str] | None = None,
    root: Path | None = None,
) -> FinishedRun:
    """The finished run a notebook studies: ``run_id``'s, or one computed now on ``cfg``.

    Parameters
    ----------
    cfg : RunConfig
        From :func:`study_config`.
    run_id : str, optional
        A finished run (id, prefix or ``"latest"``), opened with :func:`segml.open_run`:
        nothing is recomputed. None: run the pipeline in this process on ``cfg`` with only
        ``steps`` of :data:`SWITCHABLE` switched on (tiers and grades always run; the
        grading comparison only with ``"grades"``; no model is exported), logged in the
        notebooks' experiment, and open that run.
    steps : sequence of str
        The steps the notebook studies (``("clv",)``, ``("value", "explain")`` …).
    data_dir : path, optional
        A folder of contract tables to run on instead of the config's data.
    root : Path, optional
        Project root (runs are written under its ``output.dir``; default: :func:`study_root`).

    Examples
    --------
    >>> cfg = study_config("experiments/configs/notebooks.yaml", customers=600)  # doctest: +SKIP
    >>> run = study_run(cfg, steps=("churn",))  # doctest: +SKIP
    >>> run.churn.metrics_table()  # doctest: +SKIP
    """
    from segml.run.open import open_run

    root = root or study_root()
    if run_id is not None:
        return open_run(run_id, config=cfg, root=root)
    from segml.run.pipeline import run_pipeline

    unknown = set(steps) - {*SWITCHABLE, "grades"}
    if unknown:
        raise ValueError(f"steps {sorted(unknown)} cannot be chosen; choose from {SWITCHABLE}")
    sets: dict[str, Any] = {f"{s}.enabled": s in steps for s in SWITCHABLE}
    sets |= {"export.enabled": False, "grades.compare_model": "grades" in steps,
             "tracking.experiment": cfg.tracking.experiment + EXPERIMENT_SUFFIX}  # fmt: skip
    if data_dir is not None:
        sets |= {"data.source": "folder", "data.path": str(resolve(root, str(data_dir)))}
    raw = cfg.model_dump(mode="json")
    for key, value in sets.items():
        section, leaf = key.split(".")
        raw[section][leaf] = value
    run_cfg = RunConfig.model_validate(raw)
    with _pyplot_state_kept():  # the run's figures (shap's among them) leave pyplot as it was
        result = run_pipeline(run_cfg, root)
    return open_run(result.run_id, config=run_cfg, root=root)


@contextmanager
def _pyplot_state_kept() -> Iterator[None]:
    """Leave matplotlib's interactive mode as a notebook needs it after the block.

    Jupyter's inline backend switches interactive mode on when pyplot first loads it; a first
    use inside the run (under ``plt.ioff()``, as shap's plots need) would undo that on the way
    out, and the notebook's later figures would not show.
    """
    import matplotlib

    interactive = matplotlib.is_interactive()
    try:
        yield
    finally:
        inline = "inline" in str(matplotlib.get_backend(auto_select=False) or "")
        matplotlib.interactive(interactive or inline)


def contract_overview(bank: BankData | None = None) -> pd.DataFrame:
    """One row per contract table: required, primary key, columns, description (and rows)."""
    cols = ["table", "required", "primary_key", "columns", "required_columns", "description"]
    rows = [
        (t.name, t.required, ", ".join(t.primary_key), len(t.columns), 0, t.description)
        for t in CONTRACT.values()
    ]
    out = pd.DataFrame(rows, columns=cols).set_index("table")
    out["required_columns"] = [sum(c.required for c in t.columns) for t in CONTRACT.values()]
    if bank is not None:
        counts = bank.report.row_counts
        out.insert(0, "rows", [counts.get(t) for t in out.index])
    return out


def contract_columns(table: str) -> pd.DataFrame:
    """The contract's columns of one table: type, required, nullable, allowed values, range."""
    if table not in CONTRACT:
        raise KeyError(f"no contract table {table!r}; tables: {', '.join(CONTRACT)}")
    out = pd.DataFrame([asdict(c) for c in CONTRACT[table].columns]).set_index("name")
    out["allowed"] = out["allowed"].map(lambda a: ", ".join(a or ()))
    return out


def correlated_pairs(
    df: pd.DataFrame, columns: Sequence[str], threshold: float = 0.9, method: str = "spearman"
) -> pd.DataFrame:
    """Pairs of numeric columns whose absolute rank correlation reaches ``threshold``.

    Returns a frame with ``a``, ``b`` and ``correlation``, strongest first.
    """
    absent = [c for c in columns if c not in df.columns]
    if absent:
        raise KeyError(f"the table has no column(s) {absent}")
    corr = df[list(columns)].apply(pd.to_numeric, errors="coerce").corr(method=method)
    upper = corr.where(np.triu(np.ones(corr.shape, dtype=bool), k=1)).stack()
    strong = upper[upper.abs() >= threshold].rename("correlation").reset_index()
    strong.columns = ["a", "b", "correlation"]
    order = strong["correlation"].abs().sort_values(ascending=False).index
    return strong.loc[order].reset_index(drop=True)


# ----------------------------------------------------------------------------- plots
def plot_heatmap(
    frame: pd.DataFrame, ax: Axes, *, fmt: str = "{:.2f}", cmap: str = "RdBu_r",
    center: float | None = 0.0, title: str | None = None,
) -> Axes:  # fmt: skip
    """Draw a labelled heatmap of a numeric frame, symmetric around ``center`` unless None.

    Values are written in the cells when the frame is at most 15 x 15.
    """
    values = frame.to_numpy(dtype=float)
    lim = np.nanmax(np.abs(values - (center or 0))) if np.isfinite(values).any() else 1.0
    kw = {"vmin": center - lim, "vmax": center + lim} if center is not None else {}
    image = ax.imshow(values, cmap=cmap, aspect="auto", **kw)
    ax.set_xticks(range(frame.shape[1]), [str(c) for c in frame.columns], rotation=60, ha="right")
    ax.set_yticks(range(frame.shape[0]), [str(i) for i in frame.index])
    if max(frame.shape) <= 15:
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7)
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    if title:
        ax.set_title(title)
    return ax


def plot_distributions(df: pd.DataFrame, columns: Sequence[str], axes: Sequence[Axes]) -> None:
    """Histograms of ``columns``, one per axis; skewed columns on a signed log10(1 + |x|) scale.

    Each title gives the column, the scale and the share of missing values.
    """
    for col, ax in zip(columns, axes, strict=False):
        x = pd.to_numeric(df[col], errors="coerce")
        missing = float(x.isna().mean())
        x = x.dropna().to_numpy(dtype=float)
        skewed = x.size > 2 and abs(float(pd.Series(x).skew())) > 2
        if skewed:
            x = np.sign(x) * np.log10(1 + np.abs(x))
        ax.hist(x, bins=30, color="#4c72b0")
        scale = " (signed log10)" if skewed else ""
        ax.set_title(f"{col}{scale}, {missing:.0%} missing", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes)[len(columns) :]:
        ax.set_visible(False)


def plot_k_selection(scores: pd.DataFrame, axes: Sequence[Axes]) -> None:
    """Bootstrap stability, silhouette and BIC against k (one line per stratum), chosen k marked.

    ``scores`` is ``SegmentationResult.scores``; ``axes`` three axes.
    """
    groups = scores.groupby("stratum") if "stratum" in scores else [("all", scores)]
    for name, s in groups:
        for ax, col in zip(axes, ("stability", "silhouette", "bic"), strict=True):
            if col not in s or s[col].isna().all():
                continue
            (line,) = ax.plot(s["k"], s[col], marker="o", label=str(name))
            chosen = s[s["selected"].astype(bool)]
            ax.plot(chosen["k"], chosen[col], "s", ms=11, mfc="none", color=line.get_color())
            ax.set_title(col)
            ax.set_xlabel("k")
            ax.set_xticks(sorted(scores["k"].unique()))
    axes[0].axhline(0.75, color="grey", linestyle="--", linewidth=1)
    axes[0].legend(fontsize=7)


# ----------------------------------------------------------------------------- tracking
class ResearchRun:
    """Logging of one notebook run: parameters, metrics, JSON, tables and figures.

    Everything goes to the MLflow run opened by :func:`research_run`, through
    :class:`segml.run.tracking.StageRun`.
    """

    def __init__(self, tracker: Tracker, stage: StageRun, notebook: str):
        self.notebook = notebook
        self.run_id = tracker.run_id
        self.tracking_uri = tracker.tracking_uri
        self._stage = stage

    def params(self, values: Mapping[str, Any]) -> None:
        """Log the notebook's parameters (prefixed ``notebook.``)."""
        self._stage.params({f"notebook.{k}": v for k, v in values.items()})

    def metrics(self, values: Mapping[str, Any], prefix: str = "") -> None:
        """Log numeric metrics (non-numbers and NaN are skipped)."""
        num = {k: float(v) for k, v in values.items() if isinstance(v, int | float | np.number)}
        self._stage.metrics({f"{prefix}{k}": v for k, v in num.items() if np.isfinite(v)})

    def json(self, obj: Any, name: str) -> None:
        """Log a JSON artifact (NaN and infinities written as null)."""
        self._stage.json(jsonable(obj), name)

    def table(self, frame: pd.DataFrame, name: str) -> None:
        """Log a table as ``tables/<name>`` (Parquet if the name ends in .parquet, else CSV:
        :func:`segml.tables.write_csv`, text that reads as a formula quoted)."""
        if name.endswith(".parquet"):
            self._file(name, "tables", frame.to_parquet)
        else:
            self._file(name, "tables", lambda path: write_csv(frame, path))

    def figure(self, fig: Figure, name: str) -> None:
        """Log a figure as ``figures/<name>`` (PNG)."""
        self._file(name, "figures", lambda path: fig.savefig(path, dpi=100, bbox_inches="tight"))

    def figures(self, folder: str | Path) -> None:
        """Log every PNG under ``folder`` as ``figures/...`` (e.g. a stage's figures)."""
        self._stage.figures(folder)

    def _file(self, name: str, folder: str, write: Callable[[Path], Any]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            write(Path(tmp) / name)
            self._stage.artifact(Path(tmp) / name, folder)


@contextmanager
def research_run(
    notebook: str,
    cfg: RunConfig,
    params: Mapping[str, Any] | None = None,
    *,
    root: Path | None = None,
    experiment: str | None = None,
) -> Iterator[ResearchRun]:
    """An MLflow run for one notebook, opened by :func:`segml.run.tracking.tracked_run`.

    The run is named after the notebook and tagged ``segml.notebook``, in the experiment
    ``<config experiment>-notebooks``; it carries the resolved config, git state and package
    versions like a pipeline run, and is marked FAILED if the block raises.

    Parameters
    ----------
    notebook : str
        The notebook's name, e.g. ``"01_data"``.
    cfg : RunConfig
        The config the notebook studied.
    params : mapping, optional
        The notebook's parameters.
    root : Path, optional
        Project root (the embedded store is ``<root>/experiments/mlflow.db``; default:
        :func:`study_root`).
    experiment : str, optional
        Experiment name (default: the config's with :data:`EXPERIMENT_SUFFIX`).
    """
    tracking = cfg.tracking.model_copy(
        update={"experiment": experiment or cfg.tracking.experiment + EXPERIMENT_SUFFIX}
    )
    run_cfg = cfg.model_copy(update={"name": notebook, "tracking": tracking})
    with tracked_run(run_cfg, root or study_root()) as tracker:
        mlflow.set_tag("segml.notebook", notebook)
        run = ResearchRun(tracker, StageRun(tracker.run_id), notebook)
        if params:
            run.params(params)
        yield run


def show_figures(figures: str | Path | Sequence[Path]) -> list[Path]:
    """Display every PNG under a folder (a run step's ``figure_dir``), or the PNGs given (a
    step's ``figures()``), in the notebook."""
    from IPython.display import Image, display

    if isinstance(figures, str | Path):
        pngs = sorted(Path(figures).rglob("*.png"))
    else:
        pngs = [Path(f) for f in figures]
    for png in pngs:
        print(png.name)
        display(Image(filename=str(png)))
    return pngs


def skip_rest_of_notebook(reason: str) -> None:
    """Print ``reason`` and turn every later cell of the running notebook into a no-op.

    In a Jupyter kernel this registers an IPython input transformer, so the notebook still
    runs top to bottom without error (restart the kernel to run it again). Outside IPython
    (the notebook run as a script) it exits with status 0.
    """
    print(f"SKIPPED: {reason}")
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython comes with the lab extra
        shell = None
    if shell is None:
        sys.exit(0)

    shell.input_transformers_post.append(lambda lines: ["pass\n"])
