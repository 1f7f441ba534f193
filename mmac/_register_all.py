"""Imports every module that registers a component, so that ``import mmac`` fills mmagic's registries."""
import mmac.datasets  # noqa: F401  ThighMRDataset, RandomRot90, RandomFlip2D, PackDomainInputs
import mmac.engine  # noqa: F401  AutocastOptimWrapper, CycleVisualizationHook, checkpoint loader
import mmac.evaluation.hooks  # noqa: F401  ThresholdDiceHook
import mmac.evaluation.metrics  # noqa: F401  ThresholdDiceMetric
import mmac.losses  # noqa: F401  CycleConsistencyLoss, AsymmetricCycleLoss, LSGANLoss, LogLikelihoodGANLoss
import mmac.models  # noqa: F401  UNetGenerator, ModularCycleGAN
