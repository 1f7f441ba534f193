"""Training-side helpers: NaN/inf guard, gradient averaging, safe checkpoint loading, AMP, visualisation."""
from mmac._compat import has_mmagic
from mmac.engine.guards import NonFiniteLossError, average_gradients, check_finite

__all__ = ["NonFiniteLossError", "average_gradients", "check_finite"]

if has_mmagic():
    from mmac.engine.checkpoint import install_checkpoint_loader
    from mmac.engine import optim_wrappers, visualization  # noqa: F401  (registration)

    install_checkpoint_loader()
