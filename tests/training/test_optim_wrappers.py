"""Mixed precision: the autocast dtype --amp picks, fp16 loss scaling checked by hand, config switching."""
import contextlib

import pytest
import torch

pytest.importorskip("mmagic")
from mmengine.config import Config  # noqa: E402

from mmac.training.optim_wrappers import AMP_DTYPES, AutocastOptimWrapper, default_amp_dtype, enable_amp  # noqa: E402


def test_auto_dtype_is_bf16_on_cpu_and_bf16_capable_gpus_else_fp16(monkeypatch):
    assert default_amp_dtype('cpu') == 'bfloat16'
    monkeypatch.setattr(torch.cuda, 'device', lambda d: contextlib.nullcontext())
    for supported, want in ((True, 'bfloat16'), (False, 'float16')):
        monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda supported=supported: supported)
        assert default_amp_dtype(torch.device('cuda', 0)) == want


def _linear(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 1)


def test_bf16_wrapper_has_no_loss_scaler():
    net = _linear()
    for dtype in ('auto', 'bfloat16'):
        wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(net.parameters(), lr=0.1), dtype=dtype)
        assert wrapper.cast_dtype == torch.bfloat16 and wrapper.loss_scaler is None


def test_fp16_backward_scales_and_step_unscales_by_hand():
    """Gradients are scale x the true ones after backward; the step then equals plain SGD on the true ones."""
    x, y = torch.tensor([[1.0, -2.0, 0.5]]), torch.tensor([[0.25]])
    net, ref = _linear(), _linear()
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(net.parameters(), lr=0.1), dtype='float16',
                                   loss_scale=dict(init_scale=1024.0))
    assert wrapper.cast_dtype == torch.float16
    wrapper.backward(((net(x) - y) ** 2).sum())
    # By hand: d/dw (w.x + b - y)^2 = 2 (w.x + b - y) x, and d/db = 2 (w.x + b - y).
    residual = float((ref.weight @ x[0] + ref.bias - y[0, 0]).detach())
    torch.testing.assert_close(net.weight.grad, 1024.0 * 2 * residual * x)
    wrapper.step()
    with torch.no_grad():
        torch.testing.assert_close(net.weight, ref.weight - 0.1 * 2 * residual * x)
        torch.testing.assert_close(net.bias, ref.bias - 0.1 * 2 * residual)


def test_fp16_inf_gradient_skips_the_step_and_halves_the_scale():
    net = _linear()
    before = [p.detach().clone() for p in net.parameters()]
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(net.parameters(), lr=0.1), dtype='float16')
    wrapper.backward((net(torch.ones(1, 3)) * float('inf')).sum())
    wrapper.step()
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before, strict=True))
    assert wrapper.loss_scaler.get_scale() == 2.0 ** 15  # default init_scale 2^16 times backoff_factor 0.5


def test_fp16_scaler_state_saved_and_loaded():
    net = _linear()
    a = AutocastOptimWrapper(optimizer=torch.optim.SGD(net.parameters(), lr=0.1), dtype='float16',
                             loss_scale=dict(init_scale=256.0))
    a.backward(net(torch.ones(1, 3)).sum())
    a.step()
    state = a.state_dict()
    assert state['loss_scaler']['scale'] == 256.0
    b = AutocastOptimWrapper(optimizer=torch.optim.SGD(net.parameters(), lr=0.1), dtype='float16')
    b.load_state_dict(state)
    assert b.loss_scaler.get_scale() == 256.0
    assert 'loss_scaler' not in b.optimizer.state_dict()


def test_bad_dtype_and_loss_scale_rejected():
    net = _linear()
    with pytest.raises(ValueError, match=r"dtype must be one of \('auto', 'bfloat16', 'float16'\), got 'fp8'"):
        AutocastOptimWrapper(optimizer=torch.optim.SGD(net.parameters(), lr=0.1), dtype='fp8')
    with pytest.raises(TypeError, match="loss_scale must be 'dynamic', a float or a dict, got 'static'"):
        AutocastOptimWrapper(optimizer=torch.optim.SGD(net.parameters(), lr=0.1), dtype='float16',
                             loss_scale='static')


def _gan_cfg(**generators):
    return Config(dict(optim_wrapper=dict(generators=dict(optimizer=dict(type='Adam'), **generators),
                                          discriminators=dict(optimizer=dict(type='Adam')))))


def test_enable_amp_defaults_to_auto_and_keeps_a_configured_dtype():
    cfg = _gan_cfg(dtype='float16')
    assert sorted(enable_amp(cfg)) == ['discriminators', 'generators']
    assert cfg.optim_wrapper.generators.dtype == 'float16'
    assert cfg.optim_wrapper.discriminators.dtype == 'auto'
    assert {cfg.optim_wrapper[k].type for k in ('generators', 'discriminators')} == {'AutocastOptimWrapper'}
    assert 'auto' in AMP_DTYPES
    with pytest.raises(ValueError, match="optim_wrapper 'generators' has dtype 'half'"):
        enable_amp(_gan_cfg(dtype='half'))
    with pytest.raises(ValueError, match="--amp dtype must be one of"):
        enable_amp(_gan_cfg(), dtype='half')
