"""Importing this module registers every mmac component into mmagic's registries.

It is what the configs name: ``custom_imports = dict(imports=['mmac.registration'], allow_failed_imports=False)``
(mmengine imports it when it reads the config). From Python, call :func:`mmac.register_all_modules`.
"""
from mmac.registry import register_all_modules

register_all_modules()
