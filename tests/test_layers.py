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
    bad.write_text("def f():\n    from labdb.models import Plate\n    import streamlit as st\n")
    assert {"labdb", "streamlit"} <= imported_modules(bad)
