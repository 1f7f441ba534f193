"""The package's layers: no module imports a layer above its own, and the subpackages import each other
without cycles (the import graph read from the sources, function-level imports included)."""
import ast

from tests.conftest import REPO

# Lowest first. A unit is a subpackage (mmac.training) or a top-level module (mmac.registry).
LAYERS = [
    ("base", {"mmac", "mmac._validate", "mmac._compat", "mmac._cpu", "mmac.fileio", "mmac.checkpoint",
              "mmac.registry", "mmac.registration"}),
    ("core", {"mmac.losses", "mmac.evaluation", "mmac.datasets", "mmac.phantom"}),
    ("training", {"mmac.training"}),       # the training iteration and its registered parts
    ("models", {"mmac.models"}),
    ("runner", {"mmac.runner"}),           # configs, their checks, the mmengine Runner
    ("apis", {"mmac.apis"}),
    ("protocol", {"mmac.protocol"}),
    ("report", {"mmac.report"}),
    ("entry", {"mmac.demo", "mmac.__main__"}),
]
LEVEL = {unit: i for i, (_, units) in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return module
    return ".".join(parts[:2])


def imports() -> dict[str, set[tuple[str, str]]]:
    """``{unit: {(imported unit, 'file:line'), ...}}`` over every module of the package."""
    found: dict[str, set[tuple[str, str]]] = {}
    for path in sorted((REPO / "mmac").rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        source = unit_of(module)
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("mmac"):
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name == "mmac" or a.name.startswith("mmac.")]
            for name in names:
                target = unit_of(name)
                if target != source:
                    found.setdefault(source, set()).add((target, f"{path.relative_to(REPO)}:{node.lineno}"))
    return found


def test_every_unit_has_a_layer():
    units = {unit_of(".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"))
             for p in (REPO / "mmac").rglob("*.py")}
    assert units <= set(LEVEL), sorted(units - set(LEVEL))


def test_no_module_imports_a_higher_layer():
    upward = [f"{where}: {source} ({LAYERS[LEVEL[source]][0]}) imports {target} ({LAYERS[LEVEL[target]][0]})"
              for source, targets in imports().items() for target, where in targets
              if LEVEL[target] > LEVEL[source]]
    assert not upward, "\n".join(sorted(upward))


def assert_acyclic(graph: dict[str, set[str]]) -> None:
    """Depth-first search over ``graph``; raise naming the first cycle found."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node, path):
        if state.get(node) == 1:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(node):] + [node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, path + [node])
        state[node] = 2

    for node in sorted(graph):
        visit(node, [])


def test_units_import_each_other_without_cycles():
    assert_acyclic({source: {t for t, _ in targets} for source, targets in imports().items()})


def module_imports() -> dict[str, set[str]]:
    """``{module: {imported mmac module}}``, ``from mmac.x import y`` counted as an import of ``mmac.x.y`` where
    that is a module, else of ``mmac.x``."""
    modules = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
               for p in (REPO / "mmac").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("mmac"):
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name in modules]
            graph.setdefault(module, set()).update(t for t in targets if t != module)
    return graph


def test_modules_import_each_other_without_cycles():
    """Also inside a subpackage (the command-line driver and its config checks used to import each other)."""
    assert_acyclic(module_imports())
