"""From a config to an mmengine Runner: loading a config with the command lines' options
(:mod:`mmac.runner.launch`) and checking it before anything runs (:mod:`mmac.runner.config_checks`).

Nothing is imported here: the command lines parse their arguments without loading torch.
"""
