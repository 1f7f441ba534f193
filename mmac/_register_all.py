"""Imports every module that registers a component, so that ``import mmac`` fills mmagic's registries."""
import importlib

_MODULES = (
    "mmac.losses",
    "mmac.models",
    "mmac.datasets",
    "mmac.evaluation.metrics",
    "mmac.evaluation.hooks",
    "mmac.engine",
)

for _name in _MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a part not written yet must not break the others
        if exc.name != _name and not _name.startswith(str(exc.name)):
            raise
