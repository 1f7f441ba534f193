"""A hook that changes a loss module's weight during training (mmengine has schedulers for optimizer
settings only). The schedule's maths is :func:`mmac.losses.schedule.scheduled_weight`.

In a config, to hold the fidelity term of ``configs/ac_cyclegan_thigh_cpu_fidelity.py`` at 4 for the first half
of a 900-iteration run and drop it for the second::

    custom_hooks = [..., dict(type='LossWeightScheduleHook', loss='fidelity_loss', start_weight=4.0,
                              end_weight=0.0, end=450, mode='step')]

The weight is a function of the runner's iteration alone, so a resumed run continues on the schedule.
"""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from mmac._validate import check_int, check_type
from mmac.losses.schedule import check_schedule, weight_at
from mmac.registry import register


def loss_modules(model: nn.Module) -> list[str]:
    """Names of the model's direct children that carry a ``loss_weight`` (e.g. ``cycle_loss``, ``gan_loss``)."""
    return sorted(name for name, child in model.named_children() if hasattr(child, 'loss_weight'))


@register("HOOKS")
class LossWeightScheduleHook(Hook):
    """Set ``model.<loss>.loss_weight`` before every training iteration from a schedule.

    Args:
        loss: The model attribute holding the loss module, e.g. ``'fidelity_loss'``, ``'cycle_loss'``,
            ``'gan_loss'``. Defaults to ``'fidelity_loss'``.
        start_weight: Weight at the start, >= 0.
        end_weight: Weight at the end, >= 0.
        begin: First iteration of a linear change. Defaults to 0.
        end: ``'linear'``: the iteration at which ``end_weight`` is reached; ``'step'``: the first iteration
            with ``end_weight``.
        mode: ``'linear'`` or ``'step'``. Defaults to ``'linear'``.
        log_interval: Log the weight every this many iterations (and whenever it changes in a step).
            Defaults to 100.

    Raises:
        TypeError, ValueError: bad schedule settings (:func:`mmac.losses.schedule.check_schedule`), ``loss`` not
            a string; at the start of training, a model without that loss module (the message lists the ones
            it has); before the second iteration, a fast step that will capture a CUDA graph (a captured graph
            keeps the weight it saw). The fast step decides that in its first iteration, which runs eagerly, so
            the check reads its decision (``model.graphed_step.enabled``) before any capture.
    """

    priority = 'NORMAL'

    def __init__(self, loss: str = 'fidelity_loss', start_weight: float = 1.0, end_weight: float = 0.0,
                 begin: int = 0, end: int = 1, mode: str = 'linear', log_interval: int = 100) -> None:
        check_type(loss, str, 'loss', expected="a model attribute name such as 'fidelity_loss'")
        self.loss = loss
        self.start_weight, self.end_weight, self.begin, self.end = check_schedule(
            start_weight, end_weight, begin, end, mode)
        self.mode = mode
        self.log_interval = check_int(log_interval, 'log_interval', minimum=1)
        self._last: float | None = None

    def _model(self, runner) -> nn.Module:
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train(self, runner) -> None:
        model = self._model(runner)
        if not hasattr(getattr(model, self.loss, None), 'loss_weight'):
            raise ValueError(f"LossWeightScheduleHook: the model has no loss module {self.loss!r} with a "
                             f"loss_weight; it has {loss_modules(model)}")

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = self._model(runner)
        graphed = getattr(model, 'graphed_step', None)  # None before the fast step's first iteration
        if graphed is not None and graphed.enabled:
            raise ValueError(f"LossWeightScheduleHook changes {self.loss}.loss_weight during training, which a "
                             "captured CUDA graph would not see; set model.fast_step.cuda_graph=False")
        weight = weight_at(runner.iter, self.start_weight, self.end_weight, self.begin, self.end, self.mode)
        getattr(model, self.loss).loss_weight = weight
        if weight != self._last and (self._last is None or self.mode == 'step' or
                                     runner.iter % self.log_interval == 0):
            runner.logger.info(f'LossWeightScheduleHook: {self.loss}.loss_weight = {weight:g} at iteration '
                               f'{runner.iter}')
        self._last = weight
