"""Training-side helpers: NaN/inf guard, gradient averaging, safe checkpoint loading, AMP, visualisation.

Nothing is imported here, so that the command lines reach :mod:`mmac.engine.launch` (argument parsing) without
loading torch. ``optim_wrappers`` and ``visualization`` register into mmagic; :func:`mmac.register_all_modules`
imports them and installs the checkpoint loader (``engine/checkpoint.py``).
"""
__all__ = ["NonFiniteLossError", "average_gradients", "check_finite"]


def __getattr__(name: str):
    if name in __all__:  # torch: imported on first use
        from mmac.engine import guards

        return getattr(guards, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
