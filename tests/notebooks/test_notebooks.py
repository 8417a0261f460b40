"""The research notebooks (``notebooks/NN_*.py``) and their helpers (``segml.notebook``).

Static checks (fast): every notebook is a canonical jupytext py:percent file with the python3
kernel and a ``parameters`` cell first, no ``.ipynb`` is kept in ``notebooks/``, and JupyterLab's
jupytext contents manager (what ``make lab`` serves) opens each file as a notebook and saves it
back unchanged. Execution (slow): each notebook runs top to bottom in a kernel of this
interpreter, in a temporary working directory, on the 600-customer ``small_bank`` with small
parameters injected after its parameters cell (papermill style), logging to a temporary MLflow
store; the named cells must show their figures and tables and the run must be recorded.
"""

from __future__ import annotations

import ast
import asyncio
import filecmp
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest

from segml import notebook as nb
from segml.loaders import shared_data_dir
from segml.run.config import ConfigError, load_config
from segml.validate import ContractError

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
CONFIG = REPO / "experiments" / "configs" / "default.yaml"
OURS = (
    "01_data",
    "02_features",
    "03_segmentation",
    "04_clv",
    "05_churn",
    "06_tiers",
    "07_corporate_grading",
)
ONLINE_RETAIL = "08_online_retail"
TIMEOUT_S = 3600  # per cell; hang protection only (a busy machine is slow, not broken)

#: Parameters injected into every notebook that declares them; then per notebook.
COMMON = {"config": str(CONFIG), "customers": 600, "seed": 11}
PARAMS: dict[str, dict[str, Any]] = {
    "02_features": {"history_quarters": 3},
    "03_segmentation": {"k_max": 5, "n_bootstrap": 2},
    "05_churn": {"search": 0},
    "07_corporate_grading": {"n_boot": 50},
    ONLINE_RETAIL: {"sample_customers": 300, "k_max": 5, "n_bootstrap": 2},
}
#: Per notebook: cells (by tag) that must show a figure, cells that must show a table, and
#: metrics the MLflow run must hold.
EXPECTED: dict[str, dict[str, tuple[str, ...]]] = {
    "01_data": {
        "figures": ("profile-figure", "lorenz"),
        "tables": ("contract", "planted-faults", "profile", "concentration"),
        "metrics": ("planted_faults_found", "concentration.all.gini", "rows.customers"),
    },
    "02_features": {
        "figures": ("distributions", "correlations", "windows-figure", "labels-figure"),
        "tables": ("families", "missing", "correlated-pairs", "windows", "labels"),
        "metrics": ("rows", "windows_not_nested", "churn_rate", "churn_auc.days_since_last_tx"),
    },
    "03_segmentation": {
        "figures": ("k-selection", "deviations", "personas"),
        "tables": ("profiles", "comparison", "personas"),
        "metrics": ("k", "behavioural.eta2_log_value", "personas.behavioural.ari_truth"),
    },
    "04_clv": {
        "figures": ("figures",),
        "tables": ("params", "holdout", "customers"),
        "metrics": ("params.r", "holdout.purchases.spearman", "holdout.spend.tweedie.spearman"),
    },
    "05_churn": {
        "figures": ("calibration",),
        "tables": ("metrics", "calibration", "bayes"),
        "metrics": ("test.roc_auc", "baseline_p_alive.roc_auc", "auc_bayes"),
    },
    "06_tiers": {
        "figures": ("policies-figure", "migration", "drivers", "waterfalls"),
        "tables": (
            "policies",
            "rules",
            "tier-table",
            "migration",
            "truth",
            "value-model",
            "reason-codes",
        ),  # fmt: skip
        "metrics": (
            "overridden",
            "migration.psi",
            "agreement.current_value_tier",
            "explain.additivity_max_error",
            "value.test.spearman",
        ),  # fmt: skip
    },
    "07_corporate_grading": {
        "figures": ("grades",),
        "tables": ("scorecard", "grades", "reasons", "truth", "comparison"),
        "metrics": ("graded", "spearman_pd.score_total", "auc_scorecard", "n_eval_events"),
    },
    ONLINE_RETAIL: {
        "figures": ("rfm-distributions", "segments", "concentration"),
        "tables": ("load-report", "rfm-check", "profiles", "concentration"),
        "metrics": ("customers", "k", "rfm_max_abs_diff.frequency", "concentration.gini"),
    },
}


# ----------------------------------------------------------------------------- helpers
def _read(path: Path) -> Any:
    return jupytext.read(path, fmt="py:percent")


def _assigned(source: str) -> list[str]:
    """Names the parameters cell assigns; each must be a literal (so it can be overridden)."""
    names = []
    for node in ast.parse(source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)
        assert isinstance(node.targets[0], ast.Name)
        ast.literal_eval(node.value)
        names.append(node.targets[0].id)
    return names


def _tagged(notebook: Any, tag: str) -> Any:
    cells = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def _mimes(cell: Any) -> set[str]:
    return {m for o in cell.get("outputs", []) for m in o.get("data", {})}


def _stdout(notebook: Any) -> str:
    return "".join(
        o.get("text", "")
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("name") == "stdout"
    )


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python3``, made to start this interpreter (installed into a temporary prefix if not)."""
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        exe = KernelSpecManager().get_kernel_spec("python3").argv[0]
        # jupyter_client starts sys.executable for a bare "python"/"python3"
        ok = exe in ("python", "python3") or Path(exe).resolve() == Path(sys.executable).resolve()
    except NoSuchKernel:
        ok = False
    with pytest.MonkeyPatch.context() as mp:
        if not ok:
            prefix = tmp_path_factory.mktemp("kernel")
            cmd = [sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix)]
            subprocess.run([*cmd, "--name", "python3"], check=True, capture_output=True)
            mp.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
        yield "python3"


def _execute(
    path: Path,
    params: dict[str, Any],
    kernel: str,
    workdir: Path,
    monkeypatch: Any,
    *,
    project: bool = True,
) -> tuple[Any, str]:
    """Run a notebook with ``params`` injected, in ``workdir``; return it and its tracking URI.

    ``project``: make ``workdir`` a project of its own (an ``experiments/`` folder), so that
    the notebook's relative paths, run folders and artifacts stay in it
    (:func:`segml.notebook.study_root`); False leaves it a folder outside any project.
    """
    if project:
        (workdir / "experiments").mkdir(exist_ok=True)
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    notebook = _read(path)
    declared = _assigned(notebook.cells[0].source)
    lines = [f"{k} = {v!r}" for k, v in params.items() if k in declared]
    lines.append('print("kernel prefix:", __import__("sys").prefix)')
    injected = nbformat.v4.new_code_cell("\n".join(lines))
    injected.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(1, injected)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=kernel,
        timeout=TIMEOUT_S,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    assert f"kernel prefix: {sys.prefix}" in _stdout(notebook), "kernel is not this interpreter"
    return notebook, uri


def _notebook_run(uri: str, name: str) -> Any:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`segml.notebook` = '{name}'",
    )
    assert len(runs) == 1, f"expected one MLflow run of {name}, found {len(runs)}"
    return client, runs[0]


def _check_outputs(notebook: Any, uri: str, name: str) -> dict[str, float]:
    expected = EXPECTED[name]
    for tag in expected["figures"]:
        assert "image/png" in _mimes(_tagged(notebook, tag)), f"{name}: no figure in {tag!r}"
    for tag in expected["tables"]:
        assert "text/html" in _mimes(_tagged(notebook, tag)), f"{name}: no table in {tag!r}"
    client, run = _notebook_run(uri, name)
    assert run.info.status == "FINISHED"
    assert run.data.params["notebook.seed"] == str(COMMON["seed"])
    missing = set(expected["metrics"]) - set(run.data.metrics)
    assert not missing, f"{name}: metrics not logged: {missing}"
    figures = [a.path for a in client.list_artifacts(run.info.run_id, "figures")]
    assert figures and all(p.endswith(".png") for p in figures)
    return run.data.metrics


# ----------------------------------------------------------------------------- static checks
def test_the_numbered_notebooks_are_there():
    names = {p.stem for p in NOTEBOOKS}
    assert set(OURS) | {ONLINE_RETAIL} <= names
    assert len({n[:2] for n in names}) == len(names), "two notebooks share a number"


def test_no_ipynb_is_kept_in_notebooks():
    found = [
        p for p in NOTEBOOK_DIR.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
    ]  # checkpoints are git-ignored editor state
    assert not found, f"notebooks are kept as py:percent only; remove {found}"
    tracked = subprocess.run(
        ["git", "ls-files", "notebooks"], cwd=REPO, capture_output=True, text=True
    )
    if tracked.returncode == 0:
        assert not [f for f in tracked.stdout.split() if f.endswith(".ipynb")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_canonical_py_percent_with_parameters_first(path: Path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# ---\n# jupyter:\n"), "jupytext header first"
    notebook = _read(path)
    meta = notebook.metadata
    assert meta["kernelspec"]["name"] == "python3"
    assert meta["kernelspec"]["language"] == "python"
    assert meta["jupytext"]["text_representation"]["format_name"] == "percent"
    # jupytext writes the file back unchanged (apart from its own version line)
    written = jupytext.writes(notebook, fmt="py:percent")
    drop = "#       jupytext_version:"
    keep = [ln for ln in text.splitlines() if not ln.startswith(drop)]
    assert [ln for ln in written.splitlines() if not ln.startswith(drop)] == keep
    first = notebook.cells[0]
    assert first.cell_type == "code" and first.metadata.get("tags") == ["parameters"]
    assert _assigned(first.source), "the parameters cell sets parameters"
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")
    assert any(c.cell_type == "markdown" for c in notebook.cells)


@pytest.mark.parametrize("name", [*OURS, ONLINE_RETAIL])
def test_notebook_logs_through_research_run_and_tags_its_outputs(name: str):
    notebook = _read(NOTEBOOK_DIR / f"{name}.py")
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert f'nb.research_run("{name}"' in code
    for tag in EXPECTED[name]["figures"] + EXPECTED[name]["tables"]:
        _tagged(notebook, tag)


def test_jupyterlab_opens_the_notebooks_and_saves_them_unchanged(tmp_path: Path):
    """What ``make lab`` serves: jupytext's contents manager on notebooks/ (with its toml)."""
    server = pytest.importorskip("jupyter_server.services.contents.largefilemanager")
    from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class

    assert (NOTEBOOK_DIR / "jupytext.toml").is_file()
    root = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    manager = build_async_jupytext_contents_manager_class(server.AsyncLargeFileManager)
    cm = manager(root_dir=str(root))

    async def open_and_save() -> None:
        listing = await cm.get("", content=True)
        kinds = {c["name"]: c["type"] for c in listing["content"]}
        for path in NOTEBOOKS:
            assert kinds[path.name] == "notebook"
            model = await cm.get(path.name, content=True, type="notebook")
            content = model["content"]
            assert content["metadata"]["kernelspec"]["name"] == "python3"
            assert content["cells"][0]["metadata"]["tags"] == ["parameters"]
            # what the editor adds must not reach the reviewed source
            content["metadata"]["language_info"] = {"name": "python"}
            for cell in content["cells"]:
                cell["metadata"].update({"scrolled": True, "execution": {"t": 1}})
                if cell["cell_type"] == "code":
                    cell["outputs"] = [nbformat.v4.new_output("stream", text="out")]
            await cm.save({"type": "notebook", "format": "json", "content": content}, path.name)

    asyncio.run(open_and_save())
    for path in NOTEBOOKS:
        assert filecmp.cmp(root / path.name, path, shallow=False), f"{path.name} changed on save"
    assert not list(root.glob("*.ipynb")), "saving must not pair an .ipynb"


# ----------------------------------------------------------------------------- helpers
def test_study_config_applies_parameters_and_names_bad_keys(tmp_path: Path):
    cfg = nb.study_config(CONFIG, customers=123, seed=5, as_of="2023-12-31")
    assert (cfg.synthetic.customers, cfg.seed, str(cfg.as_of)) == (123, 5, "2023-12-31")
    cfg = nb.study_config("experiments/configs/default.yaml", root=REPO, overrides={"as_of": None})
    assert cfg.as_of is None
    with pytest.raises(ConfigError, match="tiers.policy"):
        nb.study_config(CONFIG, overrides={"tiers.policy": "diamond"})
    with pytest.raises(ConfigError, match="not found"):
        nb.study_config("nowhere.yaml", root=tmp_path)


def test_open_bank_generates_caches_and_reads_folders(tmp_path: Path, small_bank: Path):
    cfg = nb.study_config(
        CONFIG,
        customers=120,
        seed=3,
        overrides={"synthetic.cache_dir": "cache", "synthetic.chunk_size": 60},
        root=tmp_path,
    )
    first = nb.open_bank(cfg, root=tmp_path)
    again = nb.open_bank(cfg, root=tmp_path)
    assert first.generated and not again.generated and first.folder == again.folder
    assert first.folder.parent == tmp_path / "cache"
    assert first.bank.report.row_counts["customers"] == 120
    assert first.as_of == cfg.as_of
    features = first.features()
    assert 0 < len(features) <= 120 and features["customer_id"].is_unique
    earlier = first.features(nb.months_before(first.as_of, 12))
    assert len(earlier) <= len(features)
    truth = first.ground_truth()
    assert truth is not None and len(truth) == 120
    assert first.to_dict()["ground_truth"] and "as of 2024-12-31" in first.describe()

    # a given folder: as-of from the synthetic manifest when the config names none
    no_date = nb.study_config(CONFIG, overrides={"as_of": None})
    study = nb.open_bank(no_date, small_bank)
    assert str(study.as_of) == "2024-12-31" and not study.generated
    copy = tmp_path / "plain"
    copy.mkdir()
    for table in ("customers", "accounts", "transactions"):
        shutil.copy(small_bank / f"{table}.parquet", copy)
    plain = nb.open_bank(no_date, copy)
    assert plain.ground_truth() is None
    last = plain.bank.con.execute("SELECT max(timestamp) FROM transactions").fetchall()[0][0]
    assert plain.as_of == last.date()  # no manifest: the last transaction day


def test_open_bank_refuses_a_broken_folder(tmp_path: Path, bank_copy: Path):
    tx = pd.read_parquet(bank_copy / "transactions.parquet")
    tx.loc[tx.index[0], "amount"] = -1.0
    tx.to_parquet(bank_copy / "transactions.parquet", index=False)
    with pytest.raises(ContractError, match=r"transactions\.amount"):
        nb.open_bank(nb.study_config(CONFIG), bank_copy)


def test_months_before_keeps_month_ends():
    import datetime as dt

    assert nb.months_before(dt.date(2024, 12, 31), 12) == dt.date(2023, 12, 31)
    assert nb.months_before(dt.date(2024, 3, 31), 1) == dt.date(2024, 2, 29)
    assert nb.months_before(dt.date(2024, 12, 31), 0) == dt.date(2024, 12, 31)


def test_contract_tables(small_bank: Path):
    study = nb.open_bank(nb.study_config(CONFIG), small_bank)
    overview = nb.contract_overview(study.bank)
    assert list(overview.index[:3]) == ["customers", "accounts", "balances"]
    assert overview.loc["transactions", "primary_key"] == "transaction_id"
    assert overview.loc["customers", "rows"] == 600
    assert overview.loc["transactions", "required"] and not overview.loc["balances", "required"]
    cols = nb.contract_columns("transactions")
    assert cols.loc["direction", "allowed"] == "credit, debit"
    assert cols.loc["amount", "min"] == 0
    with pytest.raises(KeyError, match="no contract table 'loans'"):
        nb.contract_columns("loans")


def test_correlated_pairs_finds_the_redundant_columns():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    df = pd.DataFrame({"x": x, "x_cubed": x**3, "minus_x": -x, "noise": rng.normal(size=300)})
    pairs = nb.correlated_pairs(df, list(df.columns), threshold=0.9)
    found = {frozenset(p) for p in zip(pairs["a"], pairs["b"], strict=True)}
    assert found == {
        frozenset({"x", "x_cubed"}),
        frozenset({"x", "minus_x"}),
        frozenset({"x_cubed", "minus_x"}),
    }
    assert np.allclose(pairs["correlation"].abs(), 1.0)
    with pytest.raises(KeyError, match="'y'"):
        nb.correlated_pairs(df, ["x", "y"])


def test_plots_draw_what_they_say():
    from matplotlib.figure import Figure

    fig = Figure()
    axes = fig.subplots(1, 3)
    df = pd.DataFrame({"money": np.r_[np.ones(99), 1e6], "share": np.linspace(0, 1, 100)})
    nb.plot_distributions(df, ["money", "share"], axes)
    assert "signed log10" in axes[0].get_title() and "signed" not in axes[1].get_title()
    assert not axes[2].get_visible()
    ax = Figure().subplots()
    nb.plot_heatmap(pd.DataFrame([[1.0, -0.5], [0.2, 0.0]], columns=["a", "b"]), ax)
    assert [t.get_text() for t in ax.texts] == ["1.00", "-0.50", "0.20", "0.00"]
    assert ax.images[0].get_clim() == (-1.0, 1.0)
    scores = pd.DataFrame(
        {
            "k": [2, 3, 2, 3],
            "stability": [0.9, 0.5, 0.8, 0.7],
            "silhouette": [0.3, 0.2, 0.4, 0.1],
            "bic": [10.0, 9.0, 5.0, 4.0],
            "selected": [True, False, False, True],
            "stratum": ["retail", "retail", "corporate", "corporate"],
        }
    )
    axes = Figure().subplots(1, 3)
    nb.plot_k_selection(scores, axes)
    assert {t.get_text() for t in axes[0].get_legend().get_texts()} == {"retail", "corporate"}
    assert [ax.get_title() for ax in axes] == ["stability", "silhouette", "bic"]


@pytest.mark.slow
def test_research_run_logs_to_the_tracking_store(tmp_path: Path, monkeypatch):
    import mlflow
    from matplotlib.figure import Figure
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    cfg = nb.study_config(CONFIG, seed=3)
    fig = Figure()
    fig.subplots().plot([0, 1], [1, 0])
    with nb.research_run("99_test", cfg, {"seed": 3, "path": None}, root=tmp_path) as run:
        run.metrics({"a": 1, "b": np.float64(2.5), "c": np.int64(7), "nan": np.nan, "s": "x"}, "m.")
        run.json({"v": np.int64(4), "bad": float("inf"), "when": tmp_path}, "doc.json")
        run.table(pd.DataFrame({"x": [1, 2]}), "t.csv")
        run.figure(fig, "f.png")
    client = MlflowClient(uri)
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED" and run.tracking_uri == uri
    assert logged.info.run_name == "99_test"
    assert logged.data.tags["segml.notebook"] == "99_test"
    experiment = client.get_experiment(logged.info.experiment_id)
    assert experiment.name == cfg.tracking.experiment + nb.EXPERIMENT_SUFFIX
    assert logged.data.metrics == {"m.a": 1.0, "m.b": 2.5, "m.c": 7.0}
    assert logged.data.params["notebook.seed"] == "3"
    assert logged.data.params["notebook.path"] == "None"
    assert logged.data.params["seed"] == "3"  # the resolved config, as in a pipeline run
    files = {a.path for a in client.list_artifacts(run.run_id)}
    assert {"doc.json", "config.json", "tables", "figures"} <= files
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run.run_id, artifact_path="doc.json", dst_path=str(tmp_path), tracking_uri=uri
        )
    )
    assert local.read_text().replace(" ", "").replace("\n", "") == (
        f'{{"v":4,"bad":null,"when":"{tmp_path}"}}'
    )

    with pytest.raises(RuntimeError), nb.research_run("98_fails", cfg, root=tmp_path) as failed:
        raise RuntimeError("boom")
    assert client.get_run(failed.run_id).info.status == "FAILED"


def test_skip_rest_of_notebook_exits_cleanly_outside_a_kernel(capsys):
    with pytest.raises(SystemExit) as exc:
        nb.skip_rest_of_notebook("no data here")
    assert exc.value.code == 0
    assert "SKIPPED: no data here" in capsys.readouterr().out


# ----------------------------------------------------------------------------- execution
@pytest.mark.slow
@pytest.mark.parametrize(
    "path", [p for p in NOTEBOOKS if p.stem != ONLINE_RETAIL], ids=lambda p: p.stem
)
def test_notebook_runs_top_to_bottom(
    path: Path, small_bank: Path, kernel_name: str, tmp_path: Path, monkeypatch
):
    params = {**COMMON, "data_dir": str(small_bank), **PARAMS.get(path.stem, {})}
    notebook, uri = _execute(path, params, kernel_name, tmp_path, monkeypatch)
    if path.stem not in EXPECTED:  # a notebook this file does not describe: it ran
        return
    metrics = _check_outputs(notebook, uri, path.stem)
    assert not any(tmp_path.glob("data/raw/*")), "the injected bank is used, nothing generated"
    if path.stem == "01_data":
        assert metrics["planted_faults_found"] >= 3
        assert metrics["rows.customers"] == 600
    elif path.stem == "02_features":
        assert metrics["windows_not_nested"] == 0
    elif path.stem == "03_segmentation":
        assert metrics["k"] >= 2
        assert metrics["personas.behavioural.ari_truth"] > metrics["personas.demographic.ari_truth"]
    elif path.stem == "06_tiers":
        # measured profit reproduces today's true tiers better than next year's
        assert metrics["agreement.current_value_tier"] > 0.8
        assert metrics["agreement.current_value_tier"] > metrics["agreement.value_tier"]
        assert metrics["explain.additivity_max_error"] < 1.0  # float32 rounding, in CNY
        assert metrics["value.test.spearman"] > 0.8
    elif path.stem == "07_corporate_grading":
        assert metrics["spearman_pd.score_total"] < 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["04_clv", "06_tiers"])
def test_notebook_studies_a_finished_run_by_id_without_recomputing(
    name: str, small_bank: Path, kernel_name: str, tmp_path: Path, monkeypatch
):
    """Given ``run_id``, the notebook opens that run (``segml.open_run``): its numbers are the
    run's, no pipeline run is started and no run folder is written."""

    runs = tmp_path / "runs"
    config = tmp_path / "study.yaml"
    config.write_text(
        f"name: study\nseed: 11\nas_of: 2024-12-31\noutput: {{dir: {runs}}}\n"
        "tracking: {experiment: segml-test}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'pipeline.db'}")
    cfg = nb.study_config(config, root=tmp_path)
    steps = {"04_clv": ("clv",), "06_tiers": ("value", "explain")}[name]
    finished = nb.study_run(cfg, steps=steps, data_dir=small_bank, root=tmp_path)
    folders = sorted(runs.iterdir())
    work = tmp_path / "work"
    work.mkdir()
    params = {**COMMON, "config": str(config), "run_id": finished.run_id[:10]}
    notebook, uri = _execute(NOTEBOOK_DIR / f"{name}.py", params, kernel_name, work, monkeypatch)
    metrics = _check_outputs(notebook, uri, name)
    client, run = _notebook_run(uri, name)
    assert run.data.params["notebook.run_id"] == finished.run_id
    everything = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [r.info.run_id for r in everything] == [run.info.run_id], "no pipeline run started"
    assert sorted(runs.iterdir()) == folders, "no run folder written"
    assert not (work / "data").exists()
    if name == "04_clv":
        assert metrics["params.r"] == pytest.approx(finished.metrics.value("clv.params.r"))
    else:
        psi = finished.metrics.value("tiers.migration.psi")
        assert metrics["migration.psi"] == pytest.approx(psi)
        test = finished.metrics.value("value.test.spearman")
        assert metrics["value.test.spearman"] == pytest.approx(test)


@pytest.fixture(scope="module")
def retail_extract(small_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bank's own extract: retail customers only, no ground truth, data ending 2025-12-31."""
    folder = tmp_path_factory.mktemp("retail_extract")
    customers = pd.read_parquet(small_bank / "customers.parquet")
    keep = set(customers.loc[customers["customer_type"] == "retail", "customer_id"])
    accounts = pd.read_parquet(small_bank / "accounts.parquet")
    accounts = accounts[accounts["customer_id"].isin(keep)]
    accounts.to_parquet(folder / "accounts.parquet", index=False)
    for table in ("customers", "transactions", "interactions", "corporate_financials"):
        df = pd.read_parquet(small_bank / f"{table}.parquet")
        df[df["customer_id"].isin(keep)].to_parquet(folder / f"{table}.parquet", index=False)
    balances = pd.read_parquet(small_bank / "balances.parquet")
    balances = balances[balances["account_id"].isin(set(accounts["account_id"]))]
    balances.to_parquet(folder / "balances.parquet", index=False)
    return folder


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("02_features", "No labels after the as-of date"),
        ("05_churn", "The model is trained and scored, not tested"),
        ("07_corporate_grading", "SKIPPED: this bank has no corporate clients"),
    ],
)
@pytest.mark.slow
def test_notebooks_on_a_banks_own_extract(
    name: str, says: str, retail_extract: Path, kernel_name: str, tmp_path: Path, monkeypatch
):
    """No corporate clients, no ground truth, the as-of date at the data's end: each notebook
    says what it cannot do and runs to the end."""
    params = {**COMMON, "data_dir": str(retail_extract), "as_of": "2025-12-31",
              **PARAMS.get(name, {})}  # fmt: skip
    notebook, uri = _execute(
        NOTEBOOK_DIR / f"{name}.py", params, kernel_name, tmp_path, monkeypatch
    )
    assert says in _stdout(notebook)
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    if name != "07_corporate_grading":  # 07 stops at "nothing to grade", before its run
        _, run = _notebook_run(uri, name)
        assert run.info.status == "FINISHED"


def test_notebook_paths_resolve_against_the_project_from_any_working_directory(
    tmp_path: Path, monkeypatch
):
    """A notebook executed with its working directory outside the repository (an output
    folder elsewhere) finds ``experiments/configs/notebooks.yaml`` and the project's paths."""
    if nb._checkout() != REPO:
        pytest.skip("segml is not imported from this checkout")
    default = "experiments/configs/notebooks.yaml"
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert nb.study_root() == nb.study_root(default) == REPO
    assert nb.config_file(default) == REPO / default
    assert nb.study_config(default, seed=3) == load_config(REPO / default, {"seed": 3})
    (outside / "here.yaml").write_text("name: here\n", encoding="utf-8")
    assert nb.study_config("here.yaml").name == "here"  # a file under the working directory
    assert nb.study_root("here.yaml") == outside  # in no project: as `segml run --config`
    bank = tmp_path / "bank"  # another project: its config's paths are relative to it
    (bank / "experiments" / "configs").mkdir(parents=True)
    mine = bank / "experiments" / "configs" / "mine.yaml"
    mine.write_text("name: mine\n", encoding="utf-8")
    assert nb.study_root(mine) == bank
    assert nb.study_config(mine).name == "mine"
    lab = tmp_path / "lab"  # inside a project (make lab: notebooks/), that project, as before
    (lab / "experiments" / "notebooks").mkdir(parents=True)
    monkeypatch.chdir(lab / "experiments" / "notebooks")
    assert nb.study_root(default) == nb.study_root(mine) == lab
    with pytest.raises(ConfigError, match="notebooks.yaml"):
        nb.study_config(default)  # this project has none


@pytest.mark.slow
def test_a_notebook_runs_with_its_working_directory_outside_the_project(
    small_bank: Path, kernel_name: str, tmp_path: Path, monkeypatch
):
    project = tmp_path / "project"
    configs = project / "experiments" / "configs"
    configs.mkdir(parents=True)
    shutil.copy(REPO / "experiments" / "configs" / "notebooks.yaml", configs)
    shutil.copytree(small_bank, project / "bank")
    outside = tmp_path / "outside"
    outside.mkdir()
    params = {**COMMON, "config": str(configs / "notebooks.yaml"), "data_dir": "bank"}
    notebook, uri = _execute(
        NOTEBOOK_DIR / "01_data.py", params, kernel_name, outside, monkeypatch, project=False
    )
    metrics = _check_outputs(notebook, uri, "01_data")
    assert metrics["rows.customers"] == 600  # data_dir "bank": the config's project's
    assert (project / "experiments" / "artifacts").is_dir(), "artifacts in the project"
    assert [p.name for p in outside.iterdir()] == ["mlflow.db"], "nothing else in the cwd"


def test_given_keeps_the_configs_values_for_parameters_left_at_none():
    cfg = nb.study_config(CONFIG, overrides=nb.given({"clv.model": None, "churn.search": 2}))
    assert cfg.clv.model == nb.study_config(CONFIG).clv.model and cfg.churn.search == 2


@pytest.mark.slow
def test_online_retail_notebook_skips_cleanly_without_the_data(
    kernel_name: str, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("SEGML_SHARED_DATA", str(tmp_path / "absent"))
    notebook, uri = _execute(
        NOTEBOOK_DIR / f"{ONLINE_RETAIL}.py", COMMON, kernel_name, tmp_path, monkeypatch
    )
    out = _stdout(notebook)
    assert "SKIPPED: Online Retail log not found" in out
    assert "rest of this notebook is skipped" in out
    later = [c for c in notebook.cells[4:] if c.cell_type == "code"]
    assert later and not any(c.get("outputs") for c in later)
    assert not (tmp_path / "data").exists()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    assert not client.search_runs([e.experiment_id for e in client.search_experiments()])


@pytest.mark.slow
@pytest.mark.shared
def test_online_retail_notebook_runs_on_the_shared_log(
    kernel_name: str, tmp_path: Path, monkeypatch
):
    shared = shared_data_dir()
    if shared is None or not (shared / "online_retail" / "online_retail.csv.xz").is_file():
        pytest.skip("shared Online Retail log not found (../shared/data or $SEGML_SHARED_DATA)")
    monkeypatch.setenv("SEGML_SHARED_DATA", str(shared))
    params = {**COMMON, **PARAMS[ONLINE_RETAIL]}
    notebook, uri = _execute(
        NOTEBOOK_DIR / f"{ONLINE_RETAIL}.py", params, kernel_name, tmp_path, monkeypatch
    )
    metrics = _check_outputs(notebook, uri, ONLINE_RETAIL)
    assert metrics["customers"] == PARAMS[ONLINE_RETAIL]["sample_customers"]
    for col in ("frequency", "recency", "T", "monetary_value"):
        assert metrics[f"rfm_max_abs_diff.{col}"] < 1e-6
    assert 0 < metrics["concentration.gini"] < 1
    assert (tmp_path / "data" / "interim" / "online_retail_notebook").is_dir()
