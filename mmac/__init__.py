"""mmac: the asymmetric cycle-consistency loss of Gadermayr et al. for many-to-one unpaired translation.

``import mmac`` is light: it loads no mmagic, mmcv, diffusers or transformers, so the pure torch/numpy core
(losses, U-Net, phantom, evaluation maths) and every ``--help`` start at once. Registration into mmagic
happens where OpenMMLab projects do it: the configs name the registering module,
``custom_imports = dict(imports=['mmac.registration'], allow_failed_imports=False)``, and Python code calls
:func:`mmac.register_all_modules` (see :mod:`mmac.registry`).
"""
from mmac._compat import apply_numpy2_shim
from mmac.registry import register_all_modules

__version__ = "0.1.0"
__all__ = ["register_all_modules"]

apply_numpy2_shim()  # numpy 2: the np.bool8 alias mmagic 1.2.0 names, before anything imports mmagic
