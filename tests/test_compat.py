"""The stack check names what is wrong and what to run."""
import numpy as np
import pytest

from mmac import _compat


def test_installed_stack_is_accepted():
    pytest.importorskip('mmagic')
    _compat.check_stack(require_mmagic=True)


def test_numpy_2_beside_mmagic_is_refused(monkeypatch):
    monkeypatch.setattr(np, '__version__', '2.1.0')
    monkeypatch.setattr(_compat, 'has_mmagic', lambda: True)
    with pytest.raises(_compat.StackError, match=r"numpy 2.1.0 .* numpy < 2[\s\S]*tools/install.sh"):
        _compat.check_stack()


def test_missing_package_is_named(monkeypatch):
    real = _compat.importlib.util.find_spec
    monkeypatch.setattr(_compat.importlib.util, 'find_spec', lambda n: None if n == 'mmengine' else real(n))
    with pytest.raises(_compat.StackError, match='mmengine is not installed'):
        _compat.check_stack(require_mmagic=True)


@pytest.mark.parametrize('text, expected', [('1.26.4', (1, 26, 4)), ('2.14.1+cu130', (2, 14, 1)),
                                            ('0.10.7', (0, 10, 7)), ('2.1.0rc1', (2, 1, 0))])
def test_version_tuple(text, expected):
    assert _compat._version_tuple(text) == expected
