"""LossWeightScheduleHook: on a stand-in runner, and in a real tiny training run."""
from types import SimpleNamespace
from unittest import mock

import pytest

pytest.importorskip('mmagic')
from mmac.training.loss_schedule import LossWeightScheduleHook, loss_modules  # noqa: E402
from tests.models.test_modular_cyclegan import batch, build_model, optim  # noqa: E402

FIDELITY = dict(type='TranslationFidelityLoss', loss_weight=4.0)


def runner_for(model, iteration=0):
    return SimpleNamespace(model=model, iter=iteration, logger=mock.Mock())


def test_sets_the_weight_before_each_iteration():
    model = build_model(fidelity_loss=FIDELITY)
    hook = LossWeightScheduleHook('fidelity_loss', start_weight=4.0, end_weight=0.0, end=8)
    runner = runner_for(model)
    hook.before_train(runner)
    seen = []
    for i in range(10):
        runner.iter = i
        hook.before_train_iter(runner, i)
        seen.append(model.fidelity_loss.loss_weight)
    assert seen == pytest.approx([4.0, 3.5, 3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.0, 0.0])


def test_other_losses_and_logging():
    model = build_model()
    hook = LossWeightScheduleHook('cycle_loss', start_weight=1.0, end_weight=4.0, end=3, mode='step')
    runner = runner_for(model)
    hook.before_train(runner)
    for i in range(5):
        runner.iter = i
        hook.before_train_iter(runner, i)
    assert model.cycle_loss.loss_weight == 4.0
    logged = [c.args[0] for c in runner.logger.info.call_args_list]
    assert logged == ['LossWeightScheduleHook: cycle_loss.loss_weight = 1 at iteration 0',
                      'LossWeightScheduleHook: cycle_loss.loss_weight = 4 at iteration 3']


def test_missing_loss_names_the_ones_there():
    model = build_model()
    hook = LossWeightScheduleHook('fidelity_loss', start_weight=1.0, end_weight=0.0, end=10)
    with pytest.raises(ValueError, match="no loss module 'fidelity_loss'") as err:
        hook.before_train(runner_for(model))
    assert str(loss_modules(model)) in str(err.value)
    assert {'cycle_loss', 'gan_loss'} <= set(loss_modules(model))


def test_bad_arguments():
    with pytest.raises(TypeError, match='loss'):
        LossWeightScheduleHook(3, start_weight=1.0, end_weight=0.0, end=10)
    with pytest.raises(ValueError, match='end > begin'):
        LossWeightScheduleHook('cycle_loss', start_weight=1.0, end_weight=0.0, begin=5, end=2)
    with pytest.raises(ValueError, match='log_interval'):
        LossWeightScheduleHook('cycle_loss', start_weight=1.0, end_weight=0.0, end=2, log_interval=0)


def test_an_eager_fast_step_is_accepted():
    """On a CPU the fast step runs eagerly: after its first iteration the hook goes on setting the weight."""
    model = build_model(fidelity_loss=FIDELITY, fast_step=dict(cuda_graph='auto'))
    hook = LossWeightScheduleHook('fidelity_loss', start_weight=4.0, end_weight=0.0, end=2)
    runner = runner_for(model)
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    model.train_step(batch(), optim(model))
    assert model.graphed_step is not None and not model.graphed_step.enabled
    runner.iter = 1
    hook.before_train_iter(runner, 1)
    assert model.fidelity_loss.loss_weight == pytest.approx(2.0)


def test_refuses_a_graph_that_would_freeze_the_weight():
    """A fast step that decided to capture (its first, eager iteration done) stops the run before the capture."""
    model = build_model(fidelity_loss=FIDELITY, fast_step=dict(cuda_graph='auto'))
    hook = LossWeightScheduleHook('fidelity_loss', start_weight=1.0, end_weight=0.0, end=10)
    runner = runner_for(model, iteration=1)
    hook.before_train(runner)
    model._fast = SimpleNamespace(graphed=SimpleNamespace(enabled=True))  # as FastCycleGANStep on a GPU
    with pytest.raises(ValueError, match='cuda_graph=False'):
        hook.before_train_iter(runner, 1)


def test_in_a_training_run(tiny_cohort, tmp_path):
    """The fidelity term is 0 from the step on: the schedule reaches the loss the model computes."""
    from mmac.runner.launch import build_runner, load_config
    from tests.conftest import tiny_options
    from tests.tiny_model import ROOT

    options = tiny_options(tiny_cohort, max_iters=4, checkpoint_interval=4)
    options['custom_hooks'] = [dict(type='LossWeightScheduleHook', loss='fidelity_loss', start_weight=4.0,
                                    end_weight=0.0, end=2, mode='step')]
    cfg = load_config(str(ROOT / 'configs' / 'ac_cyclegan_thigh_cpu_fidelity.py'), work_dir=str(tmp_path),
                      cfg_options=options)
    runner = build_runner(cfg)
    runner.train()
    history = runner.message_hub.get_scalar('train/fidelity_loss').data[0]
    assert len(history) == 4
    assert all(v > 0 for v in history[:2])
    assert list(history[2:]) == [0.0, 0.0]
    assert runner.model.fidelity_loss.loss_weight == 0.0


def test_a_resumed_run_continues_on_the_schedule():
    """A fresh hook (as after a resume) whose first iteration is 6 sets the weight of iteration 6, not of 0."""
    model = build_model(fidelity_loss=FIDELITY)
    hook = LossWeightScheduleHook('fidelity_loss', start_weight=4.0, end_weight=0.0, end=8)
    runner = runner_for(model, iteration=6)
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    assert model.fidelity_loss.loss_weight == pytest.approx(1.0)
