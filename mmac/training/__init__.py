"""The training iteration and its registered parts: the fast step (batched forwards, on-device image pool, CUDA
graph), NaN/inf guard and gradient averaging, the autocast optimizer wrapper, the loss-weight schedule hook and
the cycle visualisation hook.

Nothing is imported here, so that importing a part loads only what it needs. ``optim_wrappers``,
``loss_schedule`` and ``visualization`` register into mmagic; :func:`mmac.register_all_modules` imports them.
"""
__all__ = ["NonFiniteLossError", "average_gradients", "check_finite"]


def __getattr__(name: str):
    if name in __all__:  # torch: imported on first use
        from mmac.training import guards

        return getattr(guards, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
