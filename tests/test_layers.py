"""The direction of imports: qc is pure, labdb may use qc, dashboards may use both, nothing imports dashboards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_QC = {"labdb", "dashboards", "sqlalchemy", "sqlmodel", "alembic", "streamlit", "psycopg", "typer", "rich"}


def imported_modules(path: Path) -> set[str]:
    """Top-level package names imported anywhere in a Python file (also inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__"):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names.add(node.args[0].value.split(".")[0])
    return names


def files_of(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def test_qc_is_pure_computation():
    offenders = {str(p.relative_to(REPO)): sorted(imported_modules(p) & FORBIDDEN_IN_QC) for p in files_of("qc")}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"qc must not import the system, the database or the UI: {offenders}"


def test_qc_touches_no_files():
    for path in files_of("qc"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert "open" not in calls, f"{path.name} opens files; qc takes and returns data only"


@pytest.mark.parametrize("package", ["labdb", "qc", "migrations"])
def test_nothing_imports_dashboards(package):
    """The product never imports the UI. bench/ and tests/ observe the dashboards from outside (bench/bench_pages.py
    times each page's data functions and AppTest renders) and may import them."""
    offenders = [str(p.relative_to(REPO)) for p in files_of(package) if "dashboards" in imported_modules(p)]
    assert not offenders, f"nothing may import dashboards: {offenders}"


def test_the_checker_sees_imports(tmp_path):
    """The checker itself must catch an import (also one hidden in a function), or the tests above prove nothing."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from labdb.core.models import Plate\n    import streamlit as st\n")
    assert {"labdb", "streamlit"} <= imported_modules(bad)


# --- the import graph ------------------------------------------------------------------------------------------

PRODUCT = ("labdb", "qc", "dashboards")
QC_MAY_IMPORT = {"numpy", "pandas", "scipy", "pandera", "qc"}
LONG_MODULE_MARK = "# long module:"  # within a module's first lines: why it is over MAX_LINES
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PRODUCT for p in files_of(package)}


def imported_targets(path: Path, modules: dict[str, Path]) -> set[str]:
    """The product modules a file imports, anywhere in it (also inside functions): `from a.b import c` is a.b.c when
    that is a module, else a.b."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in modules:
                    targets.add(full)
                elif node.module in modules:
                    targets.add(node.module)
    return targets


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), plus modules that import themselves."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph.get(v, ()):
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_no_import_circle_anywhere():
    """No two product modules import each other, directly or around a circle (lazy imports inside functions count:
    a circle hidden in a function is still a circle)."""
    modules = product_modules()
    graph = {name: imported_targets(path, modules) - {name} for name, path in modules.items()}
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_qc_imports_only_the_numeric_stack_and_itself():
    """qc is pure computation: numpy, pandas, scipy, pandera and the standard library, nothing else."""
    import sys

    allowed = QC_MAY_IMPORT | set(sys.stdlib_module_names) | {"__future__"}
    offenders = {str(p.relative_to(REPO)): sorted(imported_modules(p) - allowed) for p in files_of("qc")}
    assert not {k: v for k, v in offenders.items() if v}


def test_dashboards_never_touch_the_database_layer_directly():
    """Pages call services and labdb.queries: no SQL, so no sqlalchemy or sqlmodel import in dashboards/."""
    offenders = {str(p.relative_to(REPO)): sorted(imported_modules(p) & {"sqlalchemy", "sqlmodel"}) for p in files_of("dashboards")}
    assert not {k: v for k, v in offenders.items() if v}


def test_modules_are_small_or_say_why_not():
    """A module over MAX_LINES lines says why in one line at its top (a `# long module:` line among its first 15)."""
    long = []
    for package in (*PRODUCT, "migrations", "bench", "tests"):
        for path in files_of(package):
            lines = path.read_text(encoding="utf-8").splitlines()
            if len(lines) > MAX_LINES and not any(line.startswith(LONG_MODULE_MARK) for line in lines[:15]):
                long.append(f"{path.relative_to(REPO)} ({len(lines)} lines)")
    assert not long, f"split these or say why they are long: {long}"


def _declared(extra: str | None = None) -> set[str]:
    """Import names of the distributions pyproject.toml declares (its dependencies, plus one optional extra)."""
    import importlib.metadata
    import re
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"]) + (list(project["optional-dependencies"][extra]) if extra else [])
    dists = {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}
    provided = importlib.metadata.packages_distributions()
    return {name for name, owners in provided.items() if any(o.lower().replace("_", "-") in dists for o in owners)}


@pytest.mark.parametrize(("packages", "extra"), [(("labdb", "qc", "dashboards", "migrations"), None), (("tests", "bench"), "test")])
def test_every_imported_package_is_declared(packages, extra):
    """A package the code imports is a dependency in pyproject.toml, so a clean install has it (the product's
    imports in [project.dependencies]; the tests' and benchmarks' also in the `test` extra)."""
    import sys

    ours = {
        "labdb",
        "qc",
        "dashboards",
        "conftest",
        "__future__",
        *(p.stem for p in files_of("tests")),
        *(p.stem for p in files_of("bench")),
    }
    imported = set().union(*(imported_modules(p) for package in packages for p in files_of(package)))
    missing = sorted(imported - set(sys.stdlib_module_names) - ours - _declared(extra))
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_every_module_imports():
    """Every product module imports on its own (a name removed from a module that another imports fails here, not in
    a page at run time). The Streamlit scripts (app.py, pages/) run widgets when imported and are left to AppTest."""
    import importlib

    scripts = {"dashboards.app"} | {name for name in product_modules() if name.startswith("dashboards.pages")}
    for name in sorted(set(product_modules()) - scripts):
        importlib.import_module(name)


def test_dashboard_uploads_hand_bytes_to_the_ingest_driver():
    """The Upload page's files go, as bytes, through labdb.ingest (the driver `labdb ingest` uses): no temporary
    files in the upload path, and no other way into the database."""
    for path in (REPO / "dashboards" / "uploads.py", REPO / "dashboards" / "pages" / "upload.py"):
        assert "tempfile" not in imported_modules(path), f"{path.name} writes uploads to temporary files"
    tree = ast.parse((REPO / "dashboards" / "uploads.py").read_text(encoding="utf-8"))
    calls = {
        f"{n.func.value.id}.{n.func.attr}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
    }
    assert {"driver.ingest", "driver.preview", "driver.Upload"} <= calls
