"""What importing mmac loads: the pure core and every ``--help`` load no mmagic; registration is asked for.

Each check runs in a fresh interpreter (this one has mmagic loaded by other tests) and inspects ``sys.modules``.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("mmagic", "mmcv", "mmengine", "diffusers", "transformers", "torch")
TOOLS = sorted(p.name for p in (REPO / "tools").glob("*.py"))


def _loaded_after(code: str) -> set:
    """Top-level packages among :data:`HEAVY` that are in ``sys.modules`` after running ``code``."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", ["mmac.phantom", "mmac.evaluation", "mmac.evaluation.threshold_dice",
                                    "mmac.evaluation.faithfulness", "mmac.evaluation.fat_fraction",
                                    "mmac.evaluation.stats", "mmac.datasets.folds", "mmac._validate"])
def test_pure_modules_load_no_torch_or_openmmlab(module):
    assert _loaded_after(f"import {module}") == set()


def test_import_mmac_loads_no_openmmlab():
    assert _loaded_after("import mmac") == set()


@pytest.mark.parametrize("module", ["mmac.losses", "mmac.models", "mmac.models.unet", "mmac.datasets",
                                    "mmac.training"])
def test_torch_modules_load_no_mmagic(module):
    assert _loaded_after(f"import {module}") <= {"torch"}


def test_registration_is_asked_for():
    """The pure modules only mark their classes; register_all_modules() registers them, mmac's and mmagic's."""
    pytest.importorskip("mmagic")
    code = ("import mmac.losses, mmac.models.unet\n"
            "import mmagic.registry as r\n"
            "before = 'AsymmetricCycleLoss' in r.MODELS.module_dict\n"
            "import mmac.registration\n"
            "names = [('MODELS', 'AsymmetricCycleLoss'), ('MODELS', 'CycleConsistencyLoss'), ('MODELS', 'LSGANLoss'),"
            " ('MODELS', 'LogLikelihoodGANLoss'), ('MODELS', 'UNetGenerator'), ('MODELS', 'ModularCycleGAN'),"
            " ('DATASETS', 'ThighMRDataset'), ('TRANSFORMS', 'RandomRot90'), ('TRANSFORMS', 'RandomFlip2D'),"
            " ('TRANSFORMS', 'PackDomainInputs'), ('METRICS', 'ThresholdDiceMetric'),"
            " ('HOOKS', 'ThresholdDiceHook'), ('HOOKS', 'CycleVisualizationHook'),"
            " ('OPTIM_WRAPPERS', 'AutocastOptimWrapper')]\n"
            "missing = [n for reg, n in names if n not in getattr(r, reg).module_dict]\n"
            "mmac.register_all_modules()  # a second call is a no-op, not a KeyError\n"
            "print(before, missing)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "[]"]


def test_a_class_marked_after_registration_is_registered_at_once():
    pytest.importorskip("mmagic")
    code = ("import mmac\nmmac.register_all_modules()\n"
            "from mmac.registry import register\nimport mmagic.registry as r\n"
            "@register('MODELS')\nclass LateComponent: pass\n"
            "print(r.MODELS.get('LateComponent') is LateComponent)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True"]


def test_unknown_registry_is_named():
    from mmac.registry import register

    with pytest.raises(ValueError, match="unknown registry 'MODEL'; allowed: 'MODELS'"):
        register("MODEL")


@pytest.mark.parametrize("tool", TOOLS)
def test_tool_help_loads_no_mmagic(tool):
    code = (f"import runpy, sys\nsys.argv = [{str(REPO / 'tools' / tool)!r}, '--help']\n"
            "try:\n"
            f"    runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "except SystemExit as exc:\n"
            "    assert exc.code in (0, None), exc.code\n")
    assert not _loaded_after(code) & {"mmagic", "mmcv", "diffusers", "transformers"}


def test_one_registration_style():
    """Every mmac component is marked with mmac.registry.register, none with a registry's own decorator."""
    import re

    from tests.conftest import REPO

    own = [f"{path.relative_to(REPO)}:{i}" for path in sorted((REPO / "mmac").rglob("*.py"))
           if path.name != "registry.py"
           for i, line in enumerate(path.read_text().splitlines(), start=1)
           if re.match(r"\s*@\w+\.register_module\(", line)]
    assert not own, own
