"""mmac: the asymmetric cycle-consistency loss of Gadermayr et al. for many-to-one unpaired translation.

``import mmac`` registers every mmac component into mmagic's registries when mmagic is installed (configs
load it with ``custom_imports = dict(imports=['mmac'], allow_failed_imports=False)``). Without mmagic, the
pure torch/numpy core (losses, U-Net, phantom, evaluation maths) stays importable.
"""
import warnings

from mmac._compat import apply_numpy2_shim, check_stack, has_mmagic

__version__ = "0.1.0"

with warnings.catch_warnings():
    # mmagic imports diffusers/transformers, which warn about torch APIs they use; not ours to fix.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|diffusers)\.")
    apply_numpy2_shim()  # before anything imports mmagic (see mmac._compat)
    check_stack(require_mmagic=False)
    if has_mmagic():
        from mmac import _register_all  # noqa: F401  (side effect: registration)
