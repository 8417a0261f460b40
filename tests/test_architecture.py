"""The package layers hold: libraries never import the run, the CLI or the report; the run and
the report never import the CLI; no library package imports one that imports it back; and no
function grows past 100 code lines (docs/architecture.md).

Read from the source with :mod:`ast` (every import, those inside functions too), so a lazy
import cannot slip past.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "segml"

LIBRARIES = ("features", "clv", "churn", "value", "tiers", "segments", "grades", "explain")
#: package -> packages it may never import
FORBIDDEN = {
    **{lib: ("run", "cli", "notebook", "report", "serving") for lib in LIBRARIES},
    "serving": ("run", "cli", "notebook", "report"),
    "report": ("cli", "notebook"),
    "run": ("cli", "notebook"),
    **{
        core: ("run", "cli", "notebook", "report", "serving")
        for core in (
            "contract",
            "data",
            "io",
            "tables",
            "textcols",
            "columns",
            "tableinput",
            "dates",
            "jsonio",
            "lazy",
            "outcome",
            "stability",
            "money",
            "compute",
            "boosters",
            "progress",
            "economics",
            "profile",
            "validate",
            "validation_report",
            "validation_cache",
            "digest",
            "processes",
            "loaders",
            "synth",
        )
    },  # fmt: skip
}
MAX_CODE_LINES = 100


def _module(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(("segml", *parts)).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """Every ``segml`` module the file imports, absolute or relative, at any depth."""
    mod = _module(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names] if target == "segml" else [target]
            out.update(n for n in names if n.startswith("segml"))
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("segml"))
    return out


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _package_graph() -> dict[str, dict[str, set[str]]]:
    """``{package: {imported package: {importing module, ...}}}`` across packages."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(SRC.rglob("*.py")):
        mod = _module(path)
        for target in _imports(path):
            if _package(target) != _package(mod):
                graph[_package(mod)][_package(target)].add(mod)
    return graph


def test_layers_never_import_upwards() -> None:
    graph = _package_graph()
    broken = [
        f"{sorted(graph[pkg][bad])} import segml.{bad}"
        for pkg, banned in FORBIDDEN.items()
        for bad in banned
        if bad in graph.get(pkg, {})
    ]
    assert not broken, "layer contract broken:\n" + "\n".join(broken)


def test_library_packages_import_each_other_one_way_only() -> None:
    graph = _package_graph()
    cycles = [
        f"segml.{a} <-> segml.{b}: {sorted(graph[a][b])} / {sorted(graph[b][a])}"
        for i, a in enumerate(LIBRARIES)
        for b in LIBRARIES[i + 1 :]
        if b in graph.get(a, {}) and a in graph.get(b, {})
    ]
    assert not cycles, "\n".join(cycles)


def _code_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> int:
    """Lines of code of a function: no blank lines, comments or docstring."""
    body = lines[fn.lineno - 1 : fn.end_lineno]
    code = [ln for ln in body if ln.strip() and not ln.strip().startswith("#")]
    doc = ast.get_docstring(fn, clean=False)
    return len(code) - (len(doc.splitlines()) if doc else 0)


def test_no_function_exceeds_100_code_lines() -> None:
    long = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = _code_lines(node, lines)
                if n > MAX_CODE_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}: {n} lines")
    assert not long, "split these functions:\n" + "\n".join(long)


@pytest.mark.parametrize("rule", sorted(FORBIDDEN))
def test_the_contract_names_real_packages(rule: str) -> None:
    """A renamed package cannot leave its rule checking nothing."""
    assert (SRC / rule).is_dir() or (SRC / f"{rule}.py").is_file(), rule
