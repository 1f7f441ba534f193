"""NaN/inf guard and gradient averaging (single process: a no-op) without mmagic."""
import pytest
import torch

from mmac.training.guards import NonFiniteLossError, average_gradients, check_finite


def test_finite_losses_pass():
    check_finite({'a': torch.tensor(1.0), 'b': torch.tensor([2.0, 3.0])}, iteration=5)


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_names_iteration_term_and_value(bad):
    with pytest.raises(NonFiniteLossError, match=rf"iteration 12: cycle_loss = {bad}") as info:
        check_finite({'loss_gan': torch.tensor(0.5), 'cycle_loss': torch.tensor(bad)}, iteration=12)
    assert 'loss_gan' not in str(info.value)


def test_unknown_iteration_is_said():
    with pytest.raises(NonFiniteLossError, match='unknown iteration'):
        check_finite({'x': torch.tensor(float('nan'))}, iteration=None)


def test_average_gradients_is_a_noop_without_process_group():
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.tensor([1.0, 2.0, 3.0])
    average_gradients([p])
    assert p.grad.tolist() == [1.0, 2.0, 3.0]
