"""`segml report`: the model-review pack of a real run — one self-contained HTML file with every
section, logged to the run; champion against challenger after `segml promote`; four-fifths
flags and PSI checked by hand; bad input refused (an `--out` that is an input, a folder or an
existing file, before any work); a failed run named as failed; strict JSON from `run`,
`report` and `explain`; `n/a`, never `nan%`, in the run summary; and rendered in headless
Chromium."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import time
from html import escape
from html import unescape as html_unescape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from segml.cli.main import app
from segml.report import build_report
from segml.report.fairness import four_fifths, outcome_frame
from segml.report.fmt import money, num, pct
from segml.report.registry import using_store
from segml.report.stability import categorical_psi
from segml.run.folder import RunFolder, RunNotFoundError, latest_run
from segml.run.result import RunResult
from support import NO_STORE_ENV, SECTIONS, make_project, segml, strict_json

OWNER = "Ada Wong (head of customer analytics)"
IMG = re.compile(r'<img\b[^>]*\bsrc="([^"]*)"')
runner = CliRunner()


def invoke(*args: str) -> Any:
    """``segml ARGS`` in-process (typer's CliRunner), stdout and stderr apart."""
    return runner.invoke(app, list(args), env=NO_STORE_ENV)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two runs of one project; the first run's model promoted to champion in between."""
    root = tmp_path_factory.mktemp("report")
    cfg = make_project(root)
    raw = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    raw["report"] = {"owners": [OWNER]}
    cfg.write_text(yaml.safe_dump(raw), encoding="utf-8")
    r = segml("run", "--config", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    first = strict_json(r.stdout)
    r = segml("promote", "--config", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    # the challenger: same data, another model size, so some customers change tier
    r = segml(
        "run",
        "--config",
        str(cfg),
        "--json",
        "--set",
        "value.depths=[4]",
        "--set",
        "value.learning_rate=0.3",
    )
    assert r.returncode == 0, r.stderr
    second = strict_json(r.stdout)
    return {"config": cfg, "root": root, "first": first, "second": second}


@pytest.fixture(scope="module")
def pack(project: dict) -> dict:
    """`segml report --run-id <second run> --json`: the printed object plus the HTML."""
    run_id = project["second"]["run_id"]
    r = segml("report", "--config", str(project["config"]), "--run-id", run_id, "--json")
    assert r.returncode == 0, r.stderr
    out = strict_json(r.stdout)
    out["html"] = Path(out["path"]).read_text(encoding="utf-8")
    return out


def _section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}">')
    return html[start : html.index("</section>", start)]


@pytest.mark.slow
def test_pack_is_one_self_contained_file_with_every_section(pack: dict, project: dict) -> None:
    run_id = project["second"]["run_id"]
    path = Path(pack["path"])
    assert path == project["root"] / "reports" / f"review_{run_id[:12]}.html"
    assert list(path.parent.iterdir()) == [path]  # no temporary file left beside it
    assert pack["run_id"] == run_id and pack["sections"] == SECTIONS
    html = pack["html"]
    for i, sid in enumerate(SECTIONS, 1):
        assert re.search(
            rf'<section id="{sid}"><h2>{i}\. [^<]+</h2><div class="reading"><p>', html
        ), sid
    srcs = IMG.findall(html)
    assert len(srcs) >= 15
    for src in srcs:  # every image embedded, and a real PNG
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    lowered = html.lower()
    for external in ('src="http', 'href="http', "<script", "<link", "url(", "<iframe", "@import"):
        assert external not in lowered, external
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # no relative file either
    assert OWNER in _section(html, "model-card")


@pytest.mark.slow
def test_value_table_gives_every_set_its_size_and_metrics(pack: dict, project: dict) -> None:
    out = Path(project["second"]["output_dir"])
    vm = json.loads((out / "value_metrics.json").read_text())
    n_val = vm["validation_naive_profit_12m"]["n"]
    html = _section(pack["html"], "validation")
    table = html[html.index("model and data") : html.index("</table>", html.index("model and data"))]  # fmt: skip
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]  # fmt: skip
        if cells:
            rows[html_unescape(cells[0])] = cells[1:]
    assert list(rows) == ["test: value score", "test: last year's profit (baseline)",
                          "validation: value score", "validation: last year's profit"]  # fmt: skip
    for name, (n, spearman, mae, rmse, _) in rows.items():  # customers, Spearman, MAE, RMSE
        assert "–" not in (n, spearman, mae, rmse), (name, rows[name])
    assert rows["validation: value score"][0] == rows["validation: last year's profit"][0] == f"{n_val:,}"  # fmt: skip


@pytest.mark.slow
def test_pack_is_logged_to_the_run(pack: dict, project: dict) -> None:
    client = MlflowClient(project["second"]["tracking_uri"])
    logged = [a.path for a in client.list_artifacts(project["second"]["run_id"], "report")]
    assert logged == [f"report/{Path(pack['path']).name}"]
    assert pack["logged_to"].endswith(f"report/{Path(pack['path']).name}")


@pytest.mark.slow
def test_champion_section_compares_with_the_promoted_version(pack: dict, project: dict) -> None:
    import mlflow

    first, second = project["first"], project["second"]
    champ = pack["champion"]
    assert champ["version"] == first["model"]["version"] and champ["run_id"] == first["run_id"]
    assert pack["reference_run"] == first["run_id"]  # stability defaults to the champion's run
    # by hand: the champion model scores the second run's tiered customers
    out = Path(second["output_dir"])
    features = pd.read_parquet(out / "features.parquet")
    features = features[features.is_active == 1].reset_index(drop=True)
    with using_store(second["tracking_uri"]):
        by_champion = mlflow.pyfunc.load_model("models:/segml-tiering@champion").predict(features)
    mine = pd.read_parquet(out / "scores.parquet")
    both = by_champion[["customer_id", "tier"]].merge(
        mine[["customer_id", "tier"]], on="customer_id"
    )
    assert champ["compared"] == len(both) == len(mine)
    assert champ["changed"] == int((both.tier_x != both.tier_y).sum())
    assert champ["higher"] + champ["lower"] == champ["changed"]
    html = _section(pack["html"], "champion")
    assert f"version {first['model']['version']} of segml-tiering" in html
    assert escape(f"{champ['changed']:,} of this run's {len(both):,} tiered customers") in html
    assert "<img " in html  # the tier cross-table


@pytest.mark.slow
def test_four_fifths_flags_match_rates_computed_by_hand(pack: dict, project: dict) -> None:
    out = Path(project["second"]["output_dir"])
    tiers = pd.read_parquet(out / "tiers.parquet")
    features = pd.read_parquet(out / "features.parquet")
    order = json.loads((out / "tier_policy.json").read_text())["tiers"]
    df = tiers.merge(features[["customer_id", "gender", "age_band"]], on="customer_id")
    favourable = df.tier.isin(order[:2])
    # the retention flag is shown, not judged: retention effort, aimed by risk
    adverse = {"lowest_tier": df.tier == order[-1]}
    expected = set()
    for attr in ("gender", "age_band"):
        known = df[attr].notna()
        groups = sorted(df.loc[known, attr].astype(str).unique())
        size = {g: int((df[attr] == g).sum()) for g in groups}
        judged = [g for g in groups if size[g] >= 30]
        outcomes = {"top_tiers": favourable, **{k: ~v for k, v in adverse.items()}}
        for key, selected in outcomes.items():
            rate = {g: selected[df[attr] == g].mean() for g in groups}
            best = max(rate[g] for g in judged)
            expected |= {(attr, g, key) for g in judged if rate[g] / best < 0.8}
    got = {(f["attribute"], f["group"], f["outcome"]) for f in pack["fairness_flags"]}
    assert got == expected
    section = _section(pack["html"], "fairness")
    assert section.count('title="below four-fifths"') == len(expected)
    # the table's rates are those rates
    r = four_fifths(outcome_frame(tiers, features, order), "gender")
    f_rate = favourable[df.gender == "F"].mean()
    assert r.set_index("group").loc["F", "top_tiers_rate"] == pytest.approx(f_rate)
    assert "Protected attributes as model inputs" in section
    # the retention flag beside the churn risk it is aimed by, with no ratio of its own
    assert "retention flag: rate" in section and "mean churn probability" in section
    f_risk = df.loc[df.gender == "F", "churn_risk"].mean()
    assert r.set_index("group").loc["F", "churn_probability"] == pytest.approx(f_risk)


@pytest.mark.slow
def test_psi_against_the_same_run_is_zero_and_latest_is_the_newest(
    project: dict, tmp_path: Path
) -> None:
    run_id = project["second"]["run_id"]
    out = tmp_path / "same.html"
    r = segml(
        "report",
        "--config",
        str(project["config"]),
        "--latest",
        "--reference-run",
        run_id[:10],
        "--out",
        str(out),
        "--no-log",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["run_id"] == run_id and got["reference_run"] == run_id  # --latest: the second run
    assert got["path"] == str(out.resolve()) and out.is_file() and got["logged_to"] is None
    assert {"value score", "churn probability", "CLV"} <= set(got["psi"]) and len(got["psi"]) >= 8
    assert all(v == 0.0 for v in got["psi"].values()), got["psi"]


def _fake_run(runs: Path, folder: str, name: str, age_s: float) -> Path:
    """A finished run's folder of config ``name`` with only run.json and config.yaml, its
    run.json ``age_s`` seconds old."""
    path = runs / folder
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(f"name: {name}\n", encoding="utf-8")
    record = path / "run.json"
    run_id = folder.rsplit("-", 1)[1] + "0" * 20
    record.write_text(json.dumps({"run_id": run_id, "status": "FINISHED"}), encoding="utf-8")
    when = time.time() - age_s
    os.utime(record, (when, when))
    return path


def test_latest_is_the_newest_run_of_the_configs_name(tmp_path: Path) -> None:
    """Configs that share an output.dir: --latest never picks another config's newer run, and
    refuses, naming the folder and the name, when the config has none there."""
    runs = tmp_path / "data" / "processed" / "runs"
    _fake_run(runs, "t-aaaaaaaaaaaa", "t", 300)
    _fake_run(runs, "other-bbbbbbbbbbbb", "other", 200)
    _fake_run(runs, "t-x-cccccccccccc", "t-x", 100)  # a name that starts like "t"
    _fake_run(runs, "t-dddddddddddd", "renamed", 50)  # its config says another name
    (runs / "t-eeeeeeeeeeee").mkdir()  # no run.json: not a finished run
    assert latest_run(runs).path.name == "t-dddddddddddd"  # no name: any config's
    assert latest_run(runs, "t").path.name == "t-aaaaaaaaaaaa"
    assert latest_run(runs, "other").path.name == "other-bbbbbbbbbbbb"
    assert latest_run(runs, "t-x").path.name == "t-x-cccccccccccc"
    with pytest.raises(RunNotFoundError) as err:
        latest_run(runs, "nobody")
    assert str(err.value) == (
        f"no finished run of config 'nobody' in {runs} (a folder nobody-<run id> with run.json); "
        "it holds runs of other configs only: 'other', 't', 't-x'"
    )
    (tmp_path / "experiments" / "configs").mkdir(parents=True)
    cfg = tmp_path / "experiments" / "configs" / "nobody.yaml"
    cfg.write_text("name: nobody\n", encoding="utf-8")
    r = invoke("report", "--config", str(cfg), "--latest")
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    message = r.stderr.strip()
    assert len(message.splitlines()) == 1, message
    for words in ("no finished run of config 'nobody'", str(runs), f"segml run --config {cfg}"):
        assert words in message, (words, message)
    assert not (tmp_path / "reports").exists()


@pytest.mark.slow
def test_latest_skips_a_newer_run_of_another_config_in_the_same_folder(
    project: dict, tmp_path: Path
) -> None:
    second = project["second"]["run_id"]
    runs = Path(project["second"]["output_dir"]).parent
    other = _fake_run(runs, "other-ffffffffffff", "other", 0)  # the newest run.json there
    try:
        out = tmp_path / "latest.html"
        r = invoke("report", "--config", str(project["config"]), "--latest", "--out", str(out),
                   "--no-log", "--json")  # fmt: skip
        assert r.exit_code == 0, r.output
        assert strict_json(r.stdout)["run_id"] == second
        assert "latest finished run of config 't' in " in r.stderr
        assert f": t-{second[:12]} (run {second})" in r.stderr
    finally:
        shutil.rmtree(other)


@pytest.mark.slow
def test_bad_input_exits_1_and_writes_nothing(project: dict, tmp_path: Path) -> None:
    cfg = str(project["config"])
    out = tmp_path / "r.html"
    r = segml("report", "--config", cfg, "--run-id", "ffffffffffff", "--out", str(out))
    assert r.returncode == 1 and "no run folder for run ffffffffffff" in r.stderr
    runs = project["root"] / "data" / "processed" / "runs"
    empty = runs / "t-abcdef123456"
    empty.mkdir()
    try:
        r = segml("report", "--config", cfg, "--run-id", "abcdef123456", "--out", str(out))
        assert r.returncode == 1 and "has no run.json" in r.stderr
        r = segml(
            "report",
            "--config",
            cfg,
            "--run-id",
            project["first"]["run_id"],
            "--out",
            str(out),
            "--reference-run",
            "abcdef123456",
        )
        assert r.returncode == 1 and "reference run" in r.stderr
    finally:
        empty.rmdir()
    r = segml("report", "--config", cfg, "--run-id", "abcdef", "--latest", "--out", str(out))
    assert r.returncode == 2
    assert not out.exists() and not list(tmp_path.iterdir())


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(r: Any, *words: str) -> None:
    """Exit 2 with one clear message naming ``words``, no traceback."""
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)
    for w in words:
        assert w in r.stderr, (w, r.stderr)


@pytest.mark.slow
def test_out_that_is_an_input_is_refused_before_any_work(
    project: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--out` on the bank's extract, the run folder, the config or the tracking store: exit 2,
    nothing written or changed — with --overwrite too; and the pack is never built."""
    import segml.report.build as build

    def no_build(*_a: object, **_k: object) -> None:
        pytest.fail("the pack was built before --out was checked")

    monkeypatch.setattr(build, "build_report", no_build)
    cfg, run = str(project["config"]), project["first"]
    data = Path(run["data_dir"])
    extract = sorted(data.glob("*.parquet"))[0]
    store = Path(run["tracking_uri"].removeprefix("sqlite:///"))
    record = Path(run["output_dir"]) / "run.json"
    before = {p: _digest(p) for p in (extract, store, record, project["config"])}
    listing = {p: sorted(p.iterdir()) for p in (data, Path(run["output_dir"]))}
    cases = [
        (extract, "data.path"),
        (data / "review.html", "inside the input folder data.path"),
        (record, "run folder"),
        (Path(run["output_dir"]) / "review.html", "run folder"),
        (project["config"], "--config"),
        (store, "tracking store"),
    ]
    for target, why in cases:
        for extra in ([], ["--overwrite"]):
            r = invoke("report", "--config", cfg, "--run-id", run["run_id"], "--out",
                       str(target), "--no-log", *extra)  # fmt: skip
            _refused(r, "--out", str(target), why, "never writes over")
    assert {p: _digest(p) for p in before} == before
    assert {p: sorted(p.iterdir()) for p in listing} == listing


@pytest.mark.slow
def test_out_that_is_a_folder_or_an_existing_file_is_refused(
    project: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import segml.report.build as build

    real_build = build.build_report
    cfg, run_id = str(project["config"]), project["first"]["run_id"]
    monkeypatch.setattr(build, "build_report", lambda *a, **k: pytest.fail("built"))
    r = invoke("report", "--config", cfg, "--run-id", run_id, "--out", str(tmp_path))
    _refused(r, "--out", str(tmp_path), "is a folder")
    mine = tmp_path / "extract.csv"
    mine.write_text("customer_id\nC1\n", encoding="utf-8")
    r = invoke("report", "--config", cfg, "--run-id", run_id, "--out", str(mine), "--no-log")
    _refused(r, "--out", str(mine), "exists", "--overwrite")
    assert mine.read_text(encoding="utf-8") == "customer_id\nC1\n"
    r = invoke("report", "--config", cfg, "--run-id", run_id, "--out", str(mine / "x.html"))
    _refused(r, "--out", "is a file, not a folder")
    assert sorted(tmp_path.iterdir()) == [mine]
    # --overwrite replaces a file that is not an input, atomically: no temporary file left
    monkeypatch.setattr(build, "build_report", real_build)
    r = invoke("report", "--config", cfg, "--run-id", run_id, "--out", str(mine), "--no-log",
               "--overwrite")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert mine.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(tmp_path.iterdir()) == [mine]


@pytest.mark.slow
def test_default_out_is_the_runs_own_pack_and_may_be_rewritten(pack: dict, project: dict) -> None:
    path = Path(pack["path"])
    r = invoke("report", "--config", str(project["config"]), "--run-id",
               project["second"]["run_id"], "--no-log", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    got = strict_json(r.stdout)
    assert got["path"] == str(path) and list(path.parent.iterdir()) == [path]


@pytest.fixture(scope="module")
def failed_run(project: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A run of the project on a bank that breaks the contract: MLflow run FAILED, no folder."""
    bank = tmp_path_factory.mktemp("broken") / "bank"
    bank.mkdir()
    for f in Path(project["first"]["data_dir"]).glob("*.parquet"):
        if f.name != "ground_truth.parquet":
            shutil.copy(f, bank / f.name)
    customers = pd.read_parquet(bank / "customers.parquet")
    customers.loc[:2, "customer_type"] = "alien"
    customers.to_parquet(bank / "customers.parquet")
    runs = Path(project["first"]["output_dir"]).parent
    before = set(runs.iterdir())
    r = segml("run", "--config", str(project["config"]), "--set", "data.source=folder",
              "--set", f"data.path={bank}")  # fmt: skip
    assert r.returncode == 1 and "break the contract" in r.stderr
    assert set(runs.iterdir()) == before
    client = MlflowClient(project["first"]["tracking_uri"])
    exp = client.get_run(project["first"]["run_id"]).info.experiment_id
    failed = [
        x
        for x in client.search_runs([exp], "attributes.status = 'FAILED'")
        if "mlflow.parentRunId" not in x.data.tags
    ]
    assert len(failed) == 1
    return {"run_id": failed[0].info.run_id, "config": str(project["config"])}


@pytest.mark.parametrize("command", ["report", "explain"])
@pytest.mark.slow
def test_a_failed_run_is_named_as_failed_with_its_stage_and_error(
    failed_run: dict, command: str, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    args = ["--out", str(out)] if command == "report" else ["--customer", "C00000001"]
    for run_id in (failed_run["run_id"], failed_run["run_id"][:12]):
        r = invoke(command, "--config", failed_run["config"], "--run-id", run_id, *args)
        assert r.exit_code == 1, r.output
        assert "Traceback" not in r.output
        assert "no run folder for run" not in r.stderr  # what it said before
        assert f"run {failed_run['run_id']} failed in stage validate" in r.stderr
        assert "MLflow status FAILED" in r.stderr and "ContractError" in r.stderr
    assert not out.exists()


def test_run_json_is_strict_and_the_summary_says_n_a(monkeypatch: pytest.MonkeyPatch) -> None:
    """NaN metrics (AUC of grades on a few corporates, no labels) print as null / n/a."""
    import segml.run.pipeline

    nan = float("nan")
    result = RunResult(
        run_id="a" * 32,
        tracking_uri="sqlite:///x.db",
        output_dir="/runs/t-aaaaaaaaaaaa",
        data_dir="/bank",
        as_of="2025-12-31",
        status="FINISHED",
        metrics={
            "grades.auc_scorecard": nan,
            "clv.x": float("inf"),
            "explain.explained": 269,
            "explain.value.additivity_max_error": 3.8e-05,
            "explain.segments.surrogate_fidelity": nan,
        },  # fmt: skip
        stage_seconds={"data": 0.1},
        warnings=["no labels: the label window 2026-01-01 … 2026-12-31 runs past the data"],
    )
    monkeypatch.setattr(segml.run.pipeline, "run_pipeline", lambda *a, **k: result)
    r = invoke("run", "--config", str(Path(__file__).parents[2] / "experiments/configs/small.yaml"),
               "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    got = strict_json(r.stdout)
    assert got["metrics"]["grades.auc_scorecard"] is None and got["metrics"]["clv.x"] is None
    assert got["metrics"]["explain.explained"] == 269
    text = result.summary()
    assert "nan" not in text.lower() and "inf%" not in text
    assert "labels: n/a (the label window 2026-01-01 … 2026-12-31 runs past the data)" in text
    assert "surrogate fidelity n/a (too few customers to hold out)" in text
    result.metrics.update({"labels.rows": 0, "labels.churn_rate": 0.0})
    assert "labels: 0 customers, churn rate n/a (no labelled customers)" in result.summary()
    result.metrics.update({"labels.rows": 200, "labels.churn_rate": 0.125})
    result.metrics["explain.segments.surrogate_fidelity"] = 0.985
    text = result.summary()
    assert "200 customers, churn rate 12.5%" in text and "surrogate fidelity 98.5%" in text
    # a scoring run (as-of date at the data's end): models validated out of time, not tested
    result.metrics.update({"clv.customers": 269, "value.validation.spearman": 0.9609,
                           "value.validation.tier_agreement": 0.84,
                           "churn.validation.roc_auc": 0.5994})  # fmt: skip
    text = result.summary()
    assert "clv:       fitted on 269 customers; no test labels after the as-of date" in text
    assert "value:     validation Spearman 0.961, tier agreement 84.0%" in text
    assert "churn:     validation ROC AUC 0.599 (out of time); no test labels" in text
    # a short history: a customer split and a derived horizon, said as such
    result.metrics.update({"churn.split.out_of_time": 0.0, "churn.horizon_months": 3.0})
    assert "ROC AUC 0.599 (a customer split, 3-month horizon); no test" in result.summary()


@pytest.mark.slow
def test_explain_json_is_strict_and_says_why_a_customer_was_not_tiered(project: dict) -> None:
    run = project["first"]
    cfg = str(project["config"])
    features = pd.read_parquet(Path(run["output_dir"]) / "features.parquet")
    tiered = pd.read_parquet(Path(run["output_dir"]) / "reason_codes.parquet").customer_id
    r = invoke("explain", "--config", cfg, "--run-id", run["run_id"], "--customer",
               str(tiered.iloc[0]), "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    got = strict_json(r.stdout)
    assert got["customer_id"] == tiered.iloc[0]
    assert not any(isinstance(v, float) and math.isnan(v) for v in got["contributions"].values())
    closed = str(features.customer_id[features.is_active == 0].iloc[0])
    r = invoke("explain", "--config", cfg, "--run-id", run["run_id"], "--customer", closed)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"customer {closed} is in the bank but was not tiered in this run" in r.stderr
    assert "the relationship was closed on" in r.stderr
    r = invoke("explain", "--config", cfg, "--run-id", run["run_id"], "--customer", "X404")
    assert r.exit_code == 1
    assert "customer X404 is not in this run's data" in r.stderr
    assert "nor in the bank's customers table" in r.stderr


def test_building_blocks() -> None:
    assert (pct(0.9803), pct(-0.0004, 1), pct(None)) == ("98%", "0.0%", "–")
    assert (num(0), num(1234.5), num(0.12345), num(-2.0)) == ("0", "1,234", "0.123", "−2")
    assert (money(1_234_567), money(-5200)) == ("¥1.2M", "−¥5,200")
    s = pd.Series(["a", "b", "b", None])
    assert categorical_psi(s.dropna(), s.dropna()) == 0.0
    assert (
        categorical_psi(pd.Series(["a"] * 50 + ["b"] * 50), pd.Series(["a"] * 90 + ["b"] * 10))
        > 0.25
    )
    frame = pd.DataFrame(
        {
            "g": ["x"] * 40 + ["y"] * 40 + ["z"] * 5,
            "top_tiers": [True] * 20 + [False] * 20 + [True] * 10 + [False] * 30 + [True] * 5,
        }
    )
    for k in ("churn_flag", "lowest_tier"):
        frame[k] = ~frame["top_tiers"]
    frame["churn_probability"] = np.where(frame["churn_flag"], 0.4, 0.1)
    r = four_fifths(frame, "g").set_index("group")
    # the retention flag: its rate and the group's mean churn probability, never judged
    assert r.loc["y", "churn_flag_rate"] == pytest.approx(0.75) and "churn_flag_flag" not in r
    assert r.loc["y", "churn_probability"] == pytest.approx(0.325)
    assert r.loc["y", "top_tiers_ratio"] == pytest.approx(0.5) and r.loc["y", "top_tiers_flag"]
    assert not r.loc["z", "judged"] and not r.loc["z", "top_tiers_flag"]  # 5 customers: not judged
    assert r.loc["y", "lowest_tier_ratio"] == pytest.approx(0.5)  # avoiding it: 25% against 50%


def test_run_folder_refuses_a_folder_without_run_json(tmp_path: Path) -> None:
    with pytest.raises(RunNotFoundError, match="has no run.json"):
        RunFolder(tmp_path)


@pytest.mark.slow
def test_a_run_with_few_outputs_and_no_store_still_gets_every_section(
    project: dict, tmp_path: Path
) -> None:
    """Stages switched off, no tracking store: each section says what is missing."""
    src = Path(project["second"]["output_dir"])
    run = tmp_path / "runs" / "t-aaaaaaaaaaaa"
    run.mkdir(parents=True)
    for name in ("tiers.parquet", "features.parquet", "tier_policy.json", "config.yaml"):
        shutil.copy(src / name, run / name)
    store = tmp_path / "missing.db"
    record = {"run_id": "aaaaaaaaaaaa" + "0" * 20, "tracking_uri": f"sqlite:///{store}",
              "as_of": "2024-12-31", "metrics": {}, "status": "FINISHED"}  # fmt: skip
    (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
    built = build_report(run)
    assert [s.id for s in built.sections] == SECTIONS
    assert not store.exists()  # reading a missing store never creates it
    attention = " ".join(built.summary()["attention"])
    assert "no explanations" in attention and "tracking store could not be read" in attention
    assert "hold no customer" not in attention
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in built.html


@pytest.mark.slow
def test_a_bank_without_demographics_gets_a_pack_that_says_so(
    project: dict, tmp_path: Path
) -> None:
    """No gender and no age in the data (a purchase log, a corporate book): the fairness section
    says what is not available instead of crashing the report."""
    src = Path(project["second"]["output_dir"])
    run = tmp_path / "runs" / "t-bbbbbbbbbbbb"
    run.mkdir(parents=True)
    for name in ("tiers.parquet", "tier_policy.json", "config.yaml"):
        shutil.copy(src / name, run / name)
    features = pd.read_parquet(src / "features.parquet")
    features["gender"] = None
    features["age_band"] = None
    features.to_parquet(run / "features.parquet", index=False)
    record = {"run_id": "bbbbbbbbbbbb" + "0" * 20, "tracking_uri": f"sqlite:///{tmp_path / 'x.db'}",
              "as_of": "2024-12-31", "metrics": {}, "status": "FINISHED"}  # fmt: skip
    (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
    built = build_report(run)
    fairness = _section(built.html, "fairness")
    assert "Not available: the data hold no gender for any tiered customer" in fairness
    assert "Not available: the data hold no age band for any tiered customer" in fairness
    features.drop(columns=["gender", "age_band"]).to_parquet(run / "features.parquet", index=False)
    assert "Not available: the features have no gender column" in _section(
        build_report(run).html, "fairness"
    )


PROBE = (
    "<script>addEventListener('load', () => { const im = [...document.images];"
    " document.body.dataset.images = im.length;"
    " document.body.dataset.decoded = im.filter(i => i.complete && i.naturalWidth > 0).length;"
    " });</script>"
)


@pytest.mark.slow
def test_pack_renders_in_headless_chromium(chromium: str, pack: dict, tmp_path: Path) -> None:
    browser = chromium
    base = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--hide-scrollbars",
    ]
    # the pack has no script: a copy with a probe reports how many images the browser decoded
    probe = tmp_path / "probe.html"
    probe.write_text(pack["html"].replace("</body>", PROBE + "</body>"), encoding="utf-8")
    r = subprocess.run(
        [*base, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=1800,  # hang protection only
    )
    assert r.returncode == 0, r.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", r.stdout)
    assert body, r.stdout[:500]
    attrs = dict(re.findall(r'data-(\w+)="(\d+)"', body.group(1)))
    n = len(IMG.findall(pack["html"]))
    assert int(attrs["images"]) == n and int(attrs["decoded"]) == n
    for sid in SECTIONS:
        assert f'id="{sid}"' in r.stdout
    shot = tmp_path / "review.png"
    r = subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1280,2000", Path(pack["path"]).as_uri()],
        capture_output=True,
        text=True,
        timeout=1800,  # hang protection only
    )
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (2000, 1280) and pixels.std() > 10  # rendered, not a blank page


def test_segments_section_says_what_a_small_or_demographics_free_run_lacks(tmp_path: Path) -> None:
    """A customer type too small to cluster is one unprofiled segment; no demographics means no
    demographic cells; grades without a comparison say why — never a dash passed off as data."""
    from html import unescape
    from types import SimpleNamespace

    from segml.report.segments import segments_section

    run = tmp_path / "t-cccccccccccc"
    run.mkdir()
    record = {"run_id": "c" * 32, "as_of": "2024-12-31", "metrics": {}, "status": "FINISHED"}
    (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
    pd.DataFrame({"segment": [0, 1, 2], "name": ["savers", "spenders", "all corporate customers"],
                  "size": [60, 40, 12], "stratum": ["retail", "retail", "corporate"],
                  "share": [0.6, 0.4, None], "value_share": [0.3, 0.7, None],
                  "value_median": [100.0, 300.0, None]}).to_parquet(run / "segment_profiles.parquet")  # fmt: skip
    pd.DataFrame({"segmentation": ["behavioural", "demographic"], "n_segments": [3, 1],
                  "eta2_log_value": [0.5, 0.0]}).to_parquet(run / "segment_comparison.parquet")  # fmt: skip
    pd.DataFrame({"customer_id": ["A", "B"], "grade": ["A", "BB"]}).to_parquet(
        run / "grades.parquet"
    )
    skipped = {"skipped": "the training target has a single class (0 rows)"}
    (run / "grading_comparison.json").write_text(json.dumps(skipped), encoding="utf-8")
    sec = segments_section(SimpleNamespace(run=RunFolder(run)))  # type: ignore[arg-type]
    text = unescape(" ".join(sec.reading) + " ".join(sec.blocks))
    assert "The most valuable, 'spenders', holds 70%" in text  # not the unprofiled segment
    assert "Not available: no share or value for 'all corporate customers' (12 corporate" in text
    assert "all corporate customers: 12 customers, not profiled." in text
    assert "a comparison with demographic cells is not available" in text
    assert "1 demographic cells" not in text
    assert "Not available: out-of-time grade validation — the training target has a single" in text
    profiles = pd.read_parquet(run / "segment_profiles.parquet")
    profiles.drop(columns=["share", "value_share"]).to_parquet(run / "segment_profiles.parquet")
    sec = segments_section(SimpleNamespace(run=RunFolder(run)))  # type: ignore[arg-type]
    assert "most valuable" not in " ".join(sec.reading)  # no crash, no claim


@pytest.mark.slow
def test_the_retention_table_shows_the_runs_flags_per_tier(pack: dict, project: dict) -> None:
    out = Path(project["second"]["output_dir"])
    tiers = pd.read_parquet(out / "tiers.parquet")
    doc = strict_json((out / "retention.json").read_text(encoding="utf-8"))
    el = tiers.churn_risk * tiers.value.clip(lower=0)
    html = _section(pack["html"], "concentration")
    assert "Retention flags per tier" in html
    assert escape(f"Retention: {int(tiers.high_churn_risk.sum()):,} of {len(tiers):,} tiered") in html  # fmt: skip
    assert [r["tier"] for r in doc["tiers"]] == json.loads((out / "tier_policy.json").read_text())["tiers"]  # fmt: skip
    for row in doc["tiers"]:  # by hand from tiers.parquet, and as the pack shows them
        mine = tiers.tier == row["tier"]
        flag = mine & tiers.high_churn_risk
        assert (row["customers"], row["flagged"]) == (int(mine.sum()), int(flag.sum()))
        assert row["capacity_customers"] == math.floor(row["capacity"] * row["customers"] + 1e-9)
        assert row["flagged"] <= row["capacity_customers"]
        assert row["expected_loss"] == pytest.approx(el[mine].sum())
        if row["flagged"]:
            assert row["flagged_churn_mean"] == pytest.approx(tiers.churn_risk[flag].mean())
            assert row["covered_share"] == pytest.approx(el[flag].sum() / el[mine].sum())
            assert el[flag].min() >= row["loss_cut"]
        cells = [row["tier"], num(row["customers"]), f"{pct(row['capacity'])} ({row['capacity_customers']:,})",
                 num(row["eligible"]), num(row["flagged"]), pct(row["flagged_churn_mean"], 1)]  # fmt: skip
        shown = "</td>.*?<td[^>]*>".join(re.escape(escape(c)) for c in cells)
        tail = [money(row["loss_cut"]), money(row["expected_loss"]), pct(row["covered_share"], 1)]
        shown += ".*?" + "</td>.*?<td[^>]*>".join(re.escape(escape(c)) for c in tail) + "</td></tr>"
        assert re.search(f"<tr><td>{shown}", html), row["tier"]


def test_retention_review_points_name_a_tier_that_flags_nobody_or_covers_little(tmp_path: Path) -> None:  # fmt: skip
    from types import SimpleNamespace

    from segml.report.html import Section
    from segml.report.value import LOW_COVERAGE, retention_block

    def row(tier: str, flagged: int, covered: float | None, cap: int = 10) -> dict:
        return {"tier": tier, "rule": "capacity", "customers": 100, "capacity": max(cap, 0.5) / 100,
                "capacity_customers": cap, "eligible": flagged, "flagged": flagged,
                "flagged_churn_mean": 0.3 if flagged else None, "flagged_churn_min": None,
                "flagged_churn_max": None, "churn_floor": 0.08, "loss_cut": 50.0,
                "expected_loss": 1000.0, "expected_loss_flagged": 0.0, "covered_share": covered}  # fmt: skip

    def points(rows: list[dict]) -> tuple[list[str], list[str]]:
        run = tmp_path / f"t-{len(list(tmp_path.iterdir())):012d}"
        run.mkdir()
        doc = {"rule": "r", "portfolio_mean_churn": 0.08, "flagged": 0, "customers": 300, "tiers": rows}  # fmt: skip
        (run / "retention.json").write_text(json.dumps(doc), encoding="utf-8")
        (run / "run.json").write_text(json.dumps({"run_id": "d" * 32, "metrics": {}}), encoding="utf-8")  # fmt: skip
        sec = Section("concentration", "Value")
        retention_block(SimpleNamespace(run=RunFolder(run)), sec)  # type: ignore[arg-type]
        kinds = {k: [f.text for f in sec.findings if f.level == k] for k in ("attention", "ok")}
        return kinds["attention"], kinds["ok"]

    attention, ok = points([row("gold", 10, 0.6), row("silver", 0, 0.0), row("bronze", 5, LOW_COVERAGE / 2)])  # fmt: skip
    assert len(attention) == 2 and not ok
    assert attention[0].startswith("retention: tier silver has capacity for 10 customer(s) but flags nobody")  # fmt: skip
    assert "tier bronze cover only 10% of its expected loss" in attention[1]
    attention, ok = points([row("gold", 10, 0.6), row("silver", 0, 0.0, cap=0)])
    assert "the tier is too small for its capacity" in attention[0]
    attention, ok = points([row("gold", 10, 0.6), row("silver", 4, 0.35)])
    assert not attention and ok == ["retention flags cover 35%–60% of each flagging tier's expected loss"]  # fmt: skip
