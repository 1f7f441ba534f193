"""benchmarks/ stays outside the installed package: setuptools does not find it, and no mmac module imports it."""
import ast
from pathlib import Path

import tomllib
from setuptools import find_namespace_packages

REPO = Path(__file__).resolve().parents[2]


def imports_of_benchmarks(path: Path) -> list[str]:
    """``'line: statement'`` for every absolute import of the top-level ``benchmarks`` package in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [f"{node.lineno}: {name}" for name in names if name.split(".")[0] == "benchmarks"]
    return found


def test_no_mmac_module_imports_benchmarks():
    modules = sorted((REPO / "mmac").rglob("*.py"))
    assert len(modules) > 20  # the walk found the package
    offenders = {str(p.relative_to(REPO)): hits for p in modules if (hits := imports_of_benchmarks(p))}
    assert offenders == {}, f"mmac must not import the benchmarks (they are not installed): {offenders}"


def test_the_import_check_sees_every_form(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\nimport benchmarks.training as b\nfrom benchmarks import dataset\n"
                      "from benchmarks.threshold_dice import make_benchmark_slices\nfrom . import benchmarks\n"
                      "def f():\n    import benchmarks\n")
    assert imports_of_benchmarks(module) == ["2: benchmarks.training", "3: benchmarks",
                                             "4: benchmarks.threshold_dice", "7: benchmarks"]


def test_package_discovery_leaves_benchmarks_out():
    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_namespace_packages(where=str(REPO), include=find["include"], exclude=find.get("exclude", ()))
    assert "mmac" in packages and "mmac.evaluation.threshold_dice" in packages
    assert not [p for p in packages if p.split(".")[0] == "benchmarks" or ".benchmarks" in p], packages
