"""Every data shape (issue #19, item 3): `segml run`, `segml report` and `segml explain` on banks
without demographics, without corporate clients, with corporate clients only, without balances,
without interactions, on a retail purchase log (shared Online Retail), on a short history (shared
partial Berka) and on data that end at the as-of date.

Each shape must finish, or stop with one clear message; the review pack says "Not available:
<reason>" for what it cannot fill and renders in headless Chromium (all packs in one browser
session); `segml explain` prints reason codes or says why the run has no model to explain.

Cost: one 400-customer bank is generated once and every synthetic shape is cut from it; stages
that are not the point run cheaply (fixed k, no hyper-parameter search, two value depths, one
thread) but every stage runs where the data allow. The `segml run`s are subprocesses, two at a
time; `segml report` and `segml explain` run in-process through the CLI (typer's runner).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from segml.cli.main import app
from segml.loaders import shared_data_dir
from segml.synth import SynthConfig, generate
from support import NO_STORE_ENV, SECTIONS, segml, strict_json

AS_OF = "2024-12-31"
#: Settings of stages that are not the point, for speed; every stage still runs.
FAST: dict[str, Any] = {
    "compute": {"threads": 1},
    "segments": {"k": 3},
    "churn": {"search": 0},
    "value": {"depths": [2, 3]},
    "explain": {"examples_per_tier": 0},
}
#: The synthetic shapes tier by the value model, so that explanations and export run too.
BY_VALUE_MODEL = {"tiers": {"value": "value_score"}}
EVERY_MODEL = frozenset({"clv", "churn", "value", "explain", "export"})
DEMOGRAPHICS = ("birth_year", "gender", "income_band", "occupation")


@dataclass(frozen=True)
class Shape:
    """A data shape: how to make its folder, the run's settings and what the run must do.

    ``stages``: stages the run must have results of; ``absent``: stage -> words of the run's
    warning that says why it has none; ``notes``: texts the pack must show; ``explained``:
    whether the run explains its tiers (None: either; explain then gives reason codes, else it
    says why there is no model to explain).
    """

    make: Callable[[dict[str, pd.DataFrame], Path], Path]
    as_of: str = AS_OF
    config: dict[str, Any] = field(default_factory=lambda: dict(BY_VALUE_MODEL))
    stages: frozenset[str] = EVERY_MODEL
    absent: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    explained: bool | None = True
    shared: bool = False


def _write(tables: dict[str, pd.DataFrame], out: Path) -> Path:
    out.mkdir(parents=True)
    for name, df in tables.items():
        df.to_parquet(out / f"{name}.parquet", index=False)
    return out


def _of_type(kind: str) -> Callable[[dict[str, pd.DataFrame], Path], Path]:
    def make(t: dict[str, pd.DataFrame], out: Path) -> Path:
        keep = set(t["customers"].customer_id[t["customers"].customer_type == kind])
        part = {k: v[v.customer_id.isin(keep)] for k, v in t.items() if "customer_id" in v}
        accounts = set(part["accounts"].account_id)
        part["balances"] = t["balances"][t["balances"].account_id.isin(accounts)]
        return _write(part, out)

    return make


def _no_demographics(t: dict[str, pd.DataFrame], out: Path) -> Path:
    """Demographic columns absent (birth year, gender, income, occupation) or empty (region,
    industry, employees)."""
    customers = t["customers"].drop(columns=list(DEMOGRAPHICS))
    customers = customers.assign(region=None, industry=None, employees=None)
    return _write({**t, "customers": customers}, out)


def _without(table: str) -> Callable[[dict[str, pd.DataFrame], Path], Path]:
    return lambda t, out: _write({k: v for k, v in t.items() if k != table}, out)


def _converted(source: str) -> Callable[[dict[str, pd.DataFrame], Path], Path]:
    """`segml convert <source>` of the shared data (a seeded 300-customer Online Retail subset)."""

    def make(_: dict[str, pd.DataFrame], out: Path) -> Path:
        if source == "online-retail":
            from test_value_measure import _online_retail_subset  # skips without the log

            out.parent.mkdir(parents=True, exist_ok=True)
            src = _online_retail_subset(out.parent, customers=300)
        else:
            src = (shared_data_dir() or Path("/nonexistent")) / "berka"
            if not (src / "client.asc").is_file():
                pytest.skip("shared Berka files not found (../shared/data or $SEGML_SHARED_DATA)")
        r = segml("convert", source, "--path", str(src), "--out", str(out))
        assert r.returncode == 0, r.stderr
        return out

    return make


NO_LABELS = "runs past the data"
SHAPES: dict[str, Shape] = {
    "no_demographics": Shape(
        _no_demographics,
        notes=(
            "Not available: the data hold no gender for any tiered customer",
            "Not available: customers by region",
            "a comparison with demographic cells is not available",
        ),
    ),
    "retail_only": Shape(_of_type("retail"), notes=("No corporate client was graded",)),
    "corporate_only": Shape(_of_type("corporate"), notes=("Not available: the data hold no age",)),
    "no_balances": Shape(_without("balances")),
    "no_interactions": Shape(_without("interactions")),
    "online_retail": Shape(
        _converted("online-retail"),
        as_of="2011-08-31",
        config={"labels": {"horizon_months": 3}},
        stages=frozenset({"clv"}),
        absent={"value": "horizon_months must be 12"},
        notes=("Not available: the value score is next year's profit", "no model was exported"),
        explained=False,
        shared=True,
    ),
    "berka_short_history": Shape(
        _converted("berka"),
        as_of="1993-12-31",
        config={},
        stages=frozenset({"clv"}),
        absent={"labels": NO_LABELS},
        notes=("Not available: no holdout window", "began after the as-of date"),
        explained=None,
        shared=True,
    ),
    "ends_at_as_of": Shape(
        _write,  # the whole bank; the as-of date is its last day
        as_of="2025-12-31",
        absent={"labels": NO_LABELS},
        notes=("Not tested: the label window", "Not available: no holdout window"),
    ),
}
SHARED = pytest.mark.shared
PARAMS = [pytest.param(n, marks=[SHARED] if s.shared else []) for n, s in SHAPES.items()]
runner = CliRunner()


@dataclass
class Outcome:
    """What `segml run`, `segml report` and `segml explain` did on one shape."""

    run: Any  # the CompletedProcess of `segml run --json`
    record: dict[str, Any] | None
    config: Path
    report: Any = None  # typer's Result of `segml report`
    pack: dict[str, Any] | None = None
    explain: Any = None
    customer: str = ""


def _config(name: str, shape: Shape, data: Path, path: Path) -> Path:
    doc: dict[str, Any] = {"name": name, "seed": 5, "as_of": shape.as_of,
                           "data": {"source": "folder", "path": str(data)},
                           "tracking": {"experiment": "shapes"}}  # fmt: skip
    for key in {*FAST, *shape.config}:
        doc[key] = {**FAST.get(key, {}), **shape.config.get(key, {})}
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _report_and_explain(o: Outcome) -> None:
    """`segml report` of the run and `segml explain` of its middle tiered customer."""
    assert o.record is not None
    run_id, args = o.record["run_id"], ["--config", str(o.config)]
    o.report = runner.invoke(app, ["report", *args, "--run-id", run_id, "--no-log", "--json"],
                             env=NO_STORE_ENV)  # fmt: skip
    if o.report.exit_code == 0:
        o.pack = strict_json(o.report.stdout)
    tiers = pd.read_parquet(Path(o.record["output_dir"]) / "tiers.parquet")
    o.customer = str(tiers.customer_id.sort_values().iloc[len(tiers) // 2])
    o.explain = runner.invoke(app, ["explain", *args, "--run-id", run_id, "--customer",
                                    o.customer, "--json"], env=NO_STORE_ENV)  # fmt: skip


class Matrix:
    """The shapes' runs, two `segml run` subprocesses at a time in the background; `report`
    and `explain` in the test's thread once a shape's run is done."""

    def __init__(self, root: Path, names: list[str]) -> None:
        self.root, self.names = root, names
        bank = root / "bank"
        generate(SynthConfig(customers=400, seed=11, chunk_size=250, corporate_share=0.25), bank)
        self.tables = {f.stem: pd.read_parquet(f) for f in sorted(bank.glob("*.parquet"))
                       if f.stem != "ground_truth"}  # fmt: skip
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.runs: dict[str, Future[Outcome]] = {n: self.pool.submit(self._run, n) for n in names}
        self.done: dict[str, Outcome] = {}

    def _run(self, name: str) -> Outcome:
        shape, project = SHAPES[name], self.root / name
        data = shape.make(self.tables, project / "bank")
        cfg = _config(name, shape, data, project / "experiments" / "configs" / f"{name}.yaml")
        r = segml("run", "--config", str(cfg), "--json")
        return Outcome(r, strict_json(r.stdout) if r.returncode == 0 else None, cfg)

    def get(self, name: str) -> Outcome:
        """The shape's outcome (pytest's skip when its shared data are absent)."""
        if name not in self.done:
            if name not in self.runs:
                self.runs[name] = self.pool.submit(self._run, name)
            o = self.runs[name].result()
            if o.record is not None:
                _report_and_explain(o)
            self.done[name] = o
        return self.done[name]


@pytest.fixture(scope="module")
def matrix(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The runs of the shapes this session selected (every shape when none is)."""
    params = [getattr(getattr(i, "callspec", None), "params", {}) for i in request.session.items
              if i.module is request.module]  # fmt: skip
    chosen = [p["shape"] for p in params if "shape" in p]
    m = Matrix(tmp_path_factory.mktemp("shapes"), list(dict.fromkeys(chosen)) or list(SHAPES))
    yield m
    m.pool.shutdown(wait=True, cancel_futures=True)


def _check_run(name: str, shape: Shape, o: Outcome) -> None:
    r = o.run
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == 0 and o.record, r.stderr[-3000:]
    rec = o.record
    assert rec["status"] == "FINISHED"
    ran = {k.split(".")[0] for k in rec["metrics"]}
    assert shape.stages <= ran, (shape.stages - ran, rec["warnings"])
    for stage, words in shape.absent.items():
        said = [w for w in rec["warnings"] if w.startswith(f"no {stage}")]
        assert stage not in ran and said and words in said[0], (stage, rec["warnings"])
    check = rec["value_measure"]["check"]
    assert check["passed"] is True, check
    for seen in check["observed"].values():  # not inverted: the top tier holds more value
        means = seen["tier_mean"]
        assert means[seen["top_tier"]] > means[seen["bottom_tier"]], seen
    if name == "ends_at_as_of":  # the last transaction is on the as-of date
        profile = json.loads((Path(rec["output_dir"]) / "data_profile.json").read_text())
        assert str(profile["transactions_last"])[:10] == shape.as_of == rec["as_of"]


def _section(page: str, sid: str) -> str:
    start = page.index(f'<section id="{sid}">')
    return page[start : page.index("</section>", start)]


def _check_report(shape: Shape, o: Outcome, explained: bool) -> None:
    r = o.report
    assert r.exit_code == 0 and o.pack, r.output[-3000:]
    assert "Traceback" not in r.output and o.pack["sections"] == SECTIONS
    page = Path(o.pack["path"]).read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<img\b[^>]*>", "", page))  # not the images' base64
    for sid in SECTIONS:
        assert f'<section id="{sid}"><h2>' in page, sid
    for bad in ("Traceback", "nan%", "inf%", "(figure not available", "(no rows)"):
        assert bad not in text, bad
    assert not re.search(r">\s*[−-]?(nan|NaN|inf|Infinity)\s*<", text)  # a number shown as NaN
    for words in shape.notes:
        assert words in text, words
    explanations = html.unescape(_section(page, "explanations"))
    assert ("Not available: " in explanations) != explained, explanations[:800]


def _check_explain(o: Outcome, explained: bool) -> None:
    r = o.explain
    assert "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    if explained:
        assert r.exit_code == 0, r.output
        got = strict_json(r.stdout)
        assert got["customer_id"] == o.customer and got["reason_codes"], got
        return
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.exit_code == 1 and len(lines) == 1, r.output
    assert lines[0].startswith("error: run ") and "has no model to explain" in lines[0]
    assert f"customer {o.customer} is in tier " in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("shape", PARAMS)
def test_run_report_and_explain_on_each_data_shape(matrix: Matrix, shape: str) -> None:
    spec, o = SHAPES[shape], matrix.get(shape)
    _check_run(shape, spec, o)
    assert o.record is not None
    explained = any(k.startswith("explain.") for k in o.record["metrics"])
    assert spec.explained in (None, explained), o.record["warnings"]
    _check_report(spec, o, explained)
    _check_explain(o, explained)


#: What the run says when a stage has no results: the start of its warning.
SAYS_WHY = {"labels": "no labels: ", "clv": "no clv model: ", "churn": "no churn model: ",
            "value": "no value model: ", "explain": "explain: ", "export": "export: "}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    "shape",
    [pytest.param(n, marks=[SHARED] if s.shared else []) for n, s in SHAPES.items()],
)
def test_every_stage_runs_or_the_run_says_why(matrix: Matrix, shape: str) -> None:
    rec = matrix.get(shape).record
    assert rec is not None
    ran = {k.split(".")[0] for k in rec["metrics"]}
    for stage, start in SAYS_WHY.items():
        said = [w for w in rec["warnings"] if w.startswith(start)]
        assert stage in ran or said, f"{stage}: no results and no warning {start!r}…"


# ------------------------------------------------------------------ all packs in one browser
#: Put first in each pack's <head>: records every script error and failed resource.
ERRORS = ("<script>window.__errors=[];addEventListener('error',e=>__errors.push(String("
          "e.message||(e.target&&(e.target.src||e.target.href))||'error')),true);</script>")  # fmt: skip
#: The index page's probe: after every frame has loaded, each pack's sections, images and errors.
INDEX_PROBE = """<script>addEventListener('load', () => {
  const out = {};
  for (const f of document.querySelectorAll('iframe')) {
    const d = f.contentDocument, im = d ? [...d.images] : [];
    out[f.name] = d ? {title: d.title, errors: f.contentWindow.__errors,
      sections: [...d.querySelectorAll('main > section[id]')].map(s => s.id),
      images: im.length, decoded: im.filter(i => i.complete && i.naturalWidth > 0).length,
      text: d.body.innerText.length} : null;
  }
  const pre = document.createElement('pre'); pre.id = 'result';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});</script>"""


def render_packs(browser: str, packs: dict[str, Path], tmp: Path) -> dict[str, Any]:
    """Load every pack in one headless Chromium session (one frame each on an index page) and
    return, per pack, what the browser saw: sections, images decoded, script errors."""
    frames = []
    for name, path in packs.items():
        page = path.read_text(encoding="utf-8").replace("<head>", "<head>" + ERRORS, 1)
        (tmp / f"{name}.html").write_text(page, encoding="utf-8")
        frames.append(
            f'<iframe name="{name}" src="{name}.html" width="1280" height="900"></iframe>'
        )
    index = tmp / "index.html"
    index.write_text(f"<!DOCTYPE html><html><body>{''.join(frames)}{INDEX_PROBE}</body></html>")
    r = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp / 'profile'}", "--allow-file-access-from-files",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000", "--dump-dom",
         index.as_uri()],
        capture_output=True, text=True, timeout=1800,  # hang protection only
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    found = re.search(r'<pre id="result">(.*?)</pre>', r.stdout, re.S)
    assert found, r.stdout[-2000:]
    seen = json.loads(html.unescape(found.group(1)))
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    for name, got in seen.items():
        if got is not None:
            got["console"] = [line for line in console if f"/{name}.html" in line]
    return seen


@pytest.fixture(scope="module")
def rendered(chromium: str, matrix: Matrix, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every shape's pack as the browser saw it (a shape skipped for its data is left out)."""
    packs = {}
    for name in matrix.names:
        try:
            o = matrix.get(name)
        except (pytest.skip.Exception, pytest.fail.Exception, Exception):
            continue  # the shape's own tests say why
        if o.pack:
            packs[name] = Path(o.pack["path"])
    return render_packs(chromium, packs, tmp_path_factory.mktemp("chromium")) if packs else {}


@pytest.mark.slow
@pytest.mark.parametrize("shape", PARAMS)
def test_each_shapes_pack_renders_in_headless_chromium(
    rendered: dict, matrix: Matrix, shape: str
) -> None:
    o = matrix.get(shape)  # skips a shape without its shared data
    assert o.pack, f"no pack for {shape}"
    got = rendered[shape]
    assert got is not None, "the frame did not load"
    assert got["sections"] == ["summary", *SECTIONS] or got["sections"] == SECTIONS
    assert got["errors"] == [] and got["console"] == [], (got["errors"], got["console"])
    assert got["images"] == got["decoded"] > 0 and got["text"] > 2000, got
