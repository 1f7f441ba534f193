"""The stack check names what is wrong and what to run."""
import numpy as np
import pytest

from mmac import _compat


def test_installed_stack_is_accepted():
    pytest.importorskip('mmagic')
    _compat.check_stack(require_mmagic=True)


def test_numpy2_shim_adds_only_the_missing_alias():
    import types

    numpy2 = types.SimpleNamespace(bool_=np.bool_)  # numpy 2: bool_ without the bool8 alias
    assert _compat.apply_numpy2_shim(numpy2) is True
    assert numpy2.bool8 is np.bool_
    assert _compat.apply_numpy2_shim(numpy2) is False  # idempotent


def test_shim_covers_every_numpy1_alias_mmagic_uses():
    """Grep the OpenMMLab sources for the aliases numpy 2 removed: bool8 is the only one used."""
    import importlib.util
    import re
    from pathlib import Path

    removed = ('bool8', 'float_', 'complex_', 'product', 'cumproduct', 'sometrue', 'alltrue', 'int0', 'uint0',
               'string_', 'unicode_', 'NaN', 'Inf', 'infty', 'round_', 'asfarray', 'NINF', 'PINF', 'find_common_type',
               'obj2sctype', 'sctype2char', 'cast', 'mat')
    pattern = re.compile(r"\bnp\.(" + "|".join(removed) + r")\b")
    used = set()
    for package in ('mmagic', 'mmengine', 'mmcv'):
        spec = importlib.util.find_spec(package)
        if spec is None:
            pytest.skip(f'{package} is not installed')
        for path in Path(spec.origin).parent.rglob('*.py'):
            used.update(pattern.findall(path.read_text(errors='ignore')))
    assert used <= {'bool8'}, used


def test_missing_package_is_named(monkeypatch):
    real = _compat.importlib.util.find_spec
    monkeypatch.setattr(_compat.importlib.util, 'find_spec', lambda n: None if n == 'mmengine' else real(n))
    with pytest.raises(_compat.StackError, match='mmengine is not installed'):
        _compat.check_stack(require_mmagic=True)


@pytest.mark.parametrize('text, expected', [('1.26.4', (1, 26, 4)), ('2.14.1+cu130', (2, 14, 1)),
                                            ('0.10.7', (0, 10, 7)), ('2.1.0rc1', (2, 1, 0))])
def test_version_tuple(text, expected):
    assert _compat._version_tuple(text) == expected


def test_a_missing_dependency_of_mmagics_models_is_named():
    """torchvision absent (as in an image without it): mmagic itself imports, its models do not; the check says so."""
    import subprocess
    import sys

    pytest.importorskip('mmagic')
    code = ("import sys; sys.modules['torchvision'] = None\n"  # importing torchvision now raises ImportError
            "from mmac import _compat\n"
            "try:\n    _compat.check_stack(require_mmagic=True)\nexcept _compat.StackError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300).stdout
    assert 'mmagic.models fails to import' in out and 'torchvision' in out, out
