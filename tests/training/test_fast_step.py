"""The fast iteration (mmac.training.fast_step, ModularCycleGAN(fast_step=...)) against the plain wrapper path:
same losses, same weights; its configuration checks."""
import copy

import pytest
import torch

pytest.importorskip("mmagic")
from mmengine import MessageHub  # noqa: E402
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict  # noqa: E402

from mmac.training.fast_step import (  # noqa: E402
    batch_statistics_modules,
    check_wrapper,
    graph_enabled,
    graph_with_loss_scaling,
    host_sync_modules,
)
from mmac.training.guards import NonFiniteLossError  # noqa: E402
from mmac.training.image_pool import DeviceImagePool  # noqa: E402
from mmac.training.optim_wrappers import AutocastOptimWrapper  # noqa: E402
from tests.models.test_modular_cyclegan import ASYMMETRIC, SYMMETRIC, batch, build_model, count_calls  # noqa: E402


def wrappers(model, wrapper=OptimWrapper, **kwargs):
    return OptimWrapperDict(
        generators=wrapper(torch.optim.Adam(model.generators.parameters(), lr=1e-3, betas=(0.5, 0.999)), **kwargs),
        discriminators=wrapper(torch.optim.Adam(model.discriminators.parameters(), lr=1e-3, betas=(0.5, 0.999)),
                               **kwargs))


def assert_logs_close(want, got, rtol=1e-5, atol=1e-6):
    """Each iteration's logged losses: the same keys, values within rounding."""
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        assert w.keys() == g.keys(), i
        for k in w:
            torch.testing.assert_close(g[k], w[k], rtol=rtol, atol=atol, msg=f"iteration {i}, {k}")


def run(model, optim, batches):
    hub = MessageHub.get_current_instance()
    logs = []
    for i, data in enumerate(batches):
        hub.update_info('iter', i)
        logs.append(model.train_step(copy.deepcopy(data), optim))
    hub.update_info('iter', None)
    return logs


def pair(cycle_loss, wrapper=OptimWrapper, fast_step=None, model_kwargs=None, **wrapper_kwargs):
    plain = build_model(cycle_loss, **(model_kwargs or {}))
    plain.init_weights()
    fast = build_model(cycle_loss, fast_step=fast_step or {}, **(model_kwargs or {}))
    fast.load_state_dict(plain.state_dict())
    return (plain, wrappers(plain, wrapper, **wrapper_kwargs)), (fast, wrappers(fast, wrapper, **wrapper_kwargs))


BATCHES = [batch(n=2, seed=s) for s in range(4)]  # 8 images per domain: the image pools are still filling


@pytest.mark.parametrize("update_order", ["generators_first", "discriminators_first"])
@pytest.mark.parametrize("cycle_loss", [SYMMETRIC, ASYMMETRIC], ids=["L_C", "L_AC"])
def test_fast_step_equals_plain_step(cycle_loss, update_order):
    """Unbatched, the fast iteration runs the plain path's expressions: equal bit for bit."""
    (plain, plain_optim), (fast, fast_optim) = pair(cycle_loss, fast_step=dict(batch_forwards=False),
                                                     model_kwargs=dict(update_order=update_order))
    want, got = run(plain, plain_optim, BATCHES), run(fast, fast_optim, BATCHES)
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        assert w.keys() == g.keys(), i
        for k in w:
            assert torch.equal(w[k], g[k]), (i, k, w[k], g[k])
    for (name, p), q in zip(plain.named_parameters(), fast.parameters(), strict=True):
        assert torch.equal(p, q), name
    assert all(isinstance(b, DeviceImagePool) for b in fast.image_buffers.values())
    assert not fast.graphed_step.enabled  # cuda_graph='auto' on CPU: eager


@pytest.mark.parametrize("update_order", ["generators_first", "discriminators_first"])
@pytest.mark.parametrize("cycle_loss", [SYMMETRIC, ASYMMETRIC], ids=["L_C", "L_AC"])
def test_batched_forwards_match_plain_step_up_to_rounding(cycle_loss, update_order):
    """Instance norm keeps samples independent, so one batched call per network gives the same losses."""
    (plain, plain_optim), (fast, fast_optim) = pair(cycle_loss, model_kwargs=dict(update_order=update_order))
    assert fast.fast_step['batch_forwards'] is True  # 'auto': no batch-statistics layer
    want, got = run(plain, plain_optim, BATCHES), run(fast, fast_optim, BATCHES)
    assert_logs_close(want, got)
    # Compare what the trained networks compute, not their parameters: the bias of a conv followed by
    # instance norm has a zero gradient up to rounding, which Adam scales up to +-lr steps either way.
    probe = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(5)) * 2 - 1
    with torch.no_grad():
        for d in ('healthy', 'pathological'):
            torch.testing.assert_close(fast.generators[d](probe), plain.generators[d](probe), rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(fast.discriminators[d](probe), plain.discriminators[d](probe), rtol=1e-4,
                                       atol=1e-5)


@pytest.mark.parametrize("cycle_loss,id_weight,calls", [
    (SYMMETRIC, 0.5, {'healthy': 1, 'pathological': 2}),
    (ASYMMETRIC, 0.5, {'healthy': 1, 'pathological': 1}),
    (ASYMMETRIC, 0.0, {'healthy': 1, 'pathological': 1}),
], ids=["L_C", "L_AC", "L_AC-no-identity"])
def test_batched_forwards_call_each_generator_once_or_twice(cycle_loss, id_weight, calls):
    model = build_model(cycle_loss, id_loss_weight=id_weight, fast_step={})
    counts = count_calls(model)
    sizes = []
    for d in ('healthy', 'pathological'):
        model.generators[d].register_forward_hook(lambda m, i, o, d=d: sizes.append((d, i[0].shape[0])))
    model.train_step(batch(n=2), wrappers(model))
    assert counts == calls
    # L_AC: G on [y, x] (4 images), then F on [x, y, G(y)] (6 images); without identity [y] and [x, G(y)].
    if cycle_loss is ASYMMETRIC:
        assert sizes == ([('pathological', 4), ('healthy', 6)] if id_weight else
                         [('pathological', 2), ('healthy', 4)])


def test_batched_forwards_refused_with_batch_norm():
    norm = dict(type='BN')
    with pytest.raises(ValueError, match="batch_forwards=True would change the maths"):
        build_model(ASYMMETRIC, fast_step=dict(batch_forwards=True),
                    discriminator=dict(type='PatchDiscriminator', in_channels=1, base_channels=4, num_conv=3,
                                       norm_cfg=norm))
    model = build_model(ASYMMETRIC, fast_step={},
                        discriminator=dict(type='PatchDiscriminator', in_channels=1, base_channels=4, num_conv=3,
                                           norm_cfg=norm))
    assert model.fast_step['batch_forwards'] is False  # 'auto' falls back to separate calls


def test_fast_step_bf16_autocast_equals_plain_autocast():
    (plain, plain_optim), (fast, fast_optim) = pair(ASYMMETRIC, AutocastOptimWrapper,
                                                     fast_step=dict(batch_forwards=False))
    want, got = run(plain, plain_optim, BATCHES[:2]), run(fast, fast_optim, BATCHES[:2])
    for w, g in zip(want, got, strict=True):
        for k in w:
            assert torch.equal(g[k], w[k]), (k, g[k], w[k])


def test_channels_last_close_to_plain():
    (plain, plain_optim), (fast, fast_optim) = pair(ASYMMETRIC, fast_step=dict(channels_last=True))
    want, got = run(plain, plain_optim, BATCHES[:3]), run(fast, fast_optim, BATCHES[:3])
    conv = next(p for p in fast.generators.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    for w, g in zip(want, got, strict=True):
        for k in w:
            torch.testing.assert_close(g[k], w[k], rtol=1e-4, atol=1e-5)


def test_fast_step_stops_on_non_finite_loss():
    (_, _), (fast, fast_optim) = pair(ASYMMETRIC)
    poisoned = batch(n=2, seed=9)
    poisoned['inputs']['img_healthy'][0, 0, 0, 0] = float('nan')
    with pytest.raises(NonFiniteLossError, match="iteration 1"):
        run(fast, fast_optim, [BATCHES[0], poisoned])


def test_fast_step_configuration_errors():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['graph'\]"):
        build_model(ASYMMETRIC, fast_step=dict(graph=True))
    allowed = "allowed: True, False, 'auto'"
    with pytest.raises(ValueError, match=f"unknown fast_step.cuda_graph 'yes'; {allowed}"):
        build_model(ASYMMETRIC, fast_step=dict(cuda_graph='yes'))
    with pytest.raises(ValueError, match=f"unknown fast_step.batch_forwards 1.5; {allowed}"):
        build_model(ASYMMETRIC, fast_step=dict(batch_forwards=1.5))
    with pytest.raises(ValueError, match=f"unknown fast_step.cuda_graph 1; {allowed}"):  # 1 == True in Python
        build_model(ASYMMETRIC, fast_step=dict(cuda_graph=1))
    with pytest.raises(ValueError, match="discriminator_steps=1"):
        build_model(ASYMMETRIC, fast_step={}, discriminator_steps=2)
    model = build_model(ASYMMETRIC, fast_step=dict(cuda_graph=True))
    with pytest.raises(ValueError, match="needs the model on a CUDA device, it is on cpu"):
        model.train_step(batch(), wrappers(model))
    model = build_model(ASYMMETRIC, fast_step={})
    with pytest.raises(ValueError, match="accumulative_counts=2"):
        model.train_step(batch(), wrappers(model, accumulative_counts=2))
    with pytest.raises(ValueError, match="clip_grad"):
        model.train_step(batch(), wrappers(model, clip_grad=dict(max_norm=1.0)))
    # mmengine refuses AmpOptimWrapper without CUDA itself, so build an instance without its __init__ (the
    # check looks at the type only); the same on machines with and without CUDA.
    amp = AmpOptimWrapper.__new__(AmpOptimWrapper)
    with pytest.raises(ValueError, match="AmpOptimWrapper"):
        check_wrapper('generators', amp)


def _to_cuda(batches):
    return [dict(inputs={k: v.cuda() for k, v in b['inputs'].items()}, data_samples=b['data_samples'])
            for b in batches]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize("wrapper,tol", [(OptimWrapper, 1e-3), (AutocastOptimWrapper, 2e-2)], ids=["fp32", "bf16"])
def test_cuda_graph_step_tracks_plain_step_on_gpu(no_tf32, wrapper, tol):
    """Graph capture after 2 eager iterations, then replays: losses stay within tol of the plain path."""
    (plain, _), (fast, _) = pair(ASYMMETRIC, fast_step=dict(cuda_graph=True, warmup=2))
    plain.cuda(), fast.cuda()
    plain_optim, fast_optim = wrappers(plain, wrapper), wrappers(fast, wrapper)
    batches = _to_cuda([batch(n=1, seed=s) for s in range(8)])
    want, got = run(plain, plain_optim, batches), run(fast, fast_optim, batches)
    assert fast.graphed_step.captured and fast.graphed_step.calls == 8
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        for k in w:
            torch.testing.assert_close(g[k], w[k], rtol=tol, atol=tol, msg=f"iteration {i}, {k}")


def _disc(norm_cfg):
    return dict(type='PatchDiscriminator', in_channels=1, base_channels=4, num_conv=3, norm_cfg=norm_cfg)


def test_instance_norm_with_running_stats_counts_as_batch_statistics():
    """Its running statistics average over the batch of each call: a batched call would change them."""
    norm = dict(type='IN', track_running_stats=True)
    model = build_model(ASYMMETRIC, fast_step={}, discriminator=_disc(norm))
    assert model.fast_step['batch_forwards'] is False
    assert batch_statistics_modules(model)  # the discriminators' instance norms
    with pytest.raises(ValueError, match="batch_forwards=True would change the maths"):
        build_model(ASYMMETRIC, fast_step=dict(batch_forwards=True), discriminator=_disc(norm))
    assert build_model(ASYMMETRIC, fast_step={}).fast_step['batch_forwards'] is True  # plain IN: per sample


def test_batch_norm_running_stats_differ_batched_vs_separate():
    """Why batch norms and running-stat instance norms are flagged: the independent computation by hand."""
    for norm in (torch.nn.InstanceNorm2d(1, track_running_stats=True), torch.nn.BatchNorm2d(1)):
        a, b = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(0)).split(1)
        together, apart = norm, copy.deepcopy(norm)
        together(torch.cat([a, b]))
        apart(a), apart(b)
        assert not torch.allclose(together.running_mean, apart.running_mean)


def test_batch_norm_with_cumulative_average_is_never_captured():
    """momentum=None makes BatchNorm read float(num_batches_tracked) on the host at every call."""
    norm = dict(type='BN', momentum=None)
    cuda = torch.device('cuda', 0)  # only compared, no CUDA call is made
    model = build_model(ASYMMETRIC, fast_step=dict(cuda_graph=True), discriminator=_disc(norm))
    assert host_sync_modules(model)
    with pytest.raises(ValueError, match=r"cuda_graph=True cannot capture .*momentum=None"):
        graph_enabled(model.fast_step, model, cuda, distributed=False)
    model = build_model(ASYMMETRIC, fast_step={}, discriminator=_disc(norm))
    with pytest.warns(RuntimeWarning, match="momentum=None"):
        assert graph_enabled(model.fast_step, model, cuda, distributed=False) is False
    assert graph_enabled(model.fast_step, model, torch.device('cpu'), distributed=False) is False
    # With a momentum the same batch norm is capturable (it still uses batch statistics, so no batching).
    model = build_model(ASYMMETRIC, fast_step={}, discriminator=_disc(dict(type='BN')))
    assert not host_sync_modules(model) and graph_enabled(model.fast_step, model, cuda, distributed=False) is True


# ------------------------------------------------------------------ GPU (skipped without CUDA)
@pytest.fixture
def no_tf32():
    """Full fp32 matmuls and convolutions, so that batched and unbatched calls differ only by fp32 rounding."""
    previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous


def _assert_updates_close(fast, plain, before, lr):
    """One step's updates of each network agree: relative difference of the update vectors <= 0.2, and at most
    2 % of the elements differ by more than lr / 100.

    Bounds from CPU runs of the same comparison (eager fast step, batched calls): relative difference 0.03-0.07
    and 0.3-0.5 % of the elements, because Adam's first steps move every weight by about +-lr whatever the size
    of its gradient, so the sign of a gradient that is zero up to rounding decides; unbatched 0 and 0. A learning
    rate the step ignored gives 1.0 and 98 %.
    """
    for net in ('generators', 'discriminators'):
        names = [n for n, _ in plain.named_parameters() if n.startswith(net)]
        got = torch.cat([(dict(fast.named_parameters())[n].detach() - before[n]).flatten() for n in names])
        want = torch.cat([(dict(plain.named_parameters())[n].detach() - before[n]).flatten() for n in names])
        rel = float((got - want).norm() / want.norm())
        off = float(((got - want).abs() > lr / 100).float().mean())
        assert rel <= 0.2 and off <= 0.02, (net, rel, off)


def _set_lr(optim, lr):
    for name in ('generators', 'discriminators'):
        for group in optim[name].optimizer.param_groups:
            group['lr'] = lr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize("cycle_loss,model_kwargs,fast_kwargs,tol", [
    (ASYMMETRIC, {}, {}, 1e-4),
    (SYMMETRIC, {}, {}, 1e-4),  # L_C: the third generator call
    (ASYMMETRIC, dict(id_loss_weight=0.0), {}, 1e-4),
    (ASYMMETRIC, {}, dict(channels_last=True), 1e-3),
    (ASYMMETRIC, dict(update_order='discriminators_first'), {}, 1e-4),
    (ASYMMETRIC, {}, dict(batch_forwards=False), 1e-4),
], ids=["L_AC", "L_C", "L_AC-no-identity", "channels_last", "discriminators_first", "unbatched"])
def test_cuda_graph_replays_match_plain_steps_with_lr_change_on_gpu(no_tf32, cycle_loss, model_kwargs, fast_kwargs,
                                                                    tol):
    """Captured after 2 eager iterations and replayed, the learning rate halved before the 7th of 10 iterations.
    Before each iteration a plain model takes the graphed model's weights and Adam state; one plain step from
    there gives the replay's losses and weights. Comparing single steps keeps training from amplifying the
    batched calls' rounding, so the bounds stay tight enough to catch a frozen learning rate."""
    (plain, _), (fast, _) = pair(cycle_loss, fast_step=dict(cuda_graph=True, warmup=2, **fast_kwargs),
                                 model_kwargs=model_kwargs)
    plain.cuda(), fast.cuda()
    plain_optim, fast_optim = wrappers(plain), wrappers(fast)
    batches = _to_cuda([batch(n=1, seed=s) for s in range(10)])
    hub = MessageHub.get_current_instance()
    lr = 1e-3
    try:
        for i, data in enumerate(batches):
            if i == 6:
                lr = 5e-4
                _set_lr(plain_optim, lr), _set_lr(fast_optim, lr)
            if i > 0:  # the graphed model's state, written as a plain optimizer's (capturable=False); copied,
                # since Adam's load_state_dict keeps the very tensors it is given when device and dtype match
                plain.load_state_dict(fast.state_dict())
                plain_optim.load_state_dict(copy.deepcopy(fast_optim.state_dict()))
                assert not plain_optim['generators'].optimizer.param_groups[0].get('capturable')
            before = {n: p.detach().clone() for n, p in fast.named_parameters()}
            hub.update_info('iter', i)
            want = plain.train_step(copy.deepcopy(data), plain_optim)
            got = fast.train_step(copy.deepcopy(data), fast_optim)
            assert want.keys() == got.keys()
            for k in want:
                torch.testing.assert_close(got[k], want[k], rtol=tol, atol=tol / 100, msg=f"iteration {i}, {k}")
            _assert_updates_close(fast, plain, before, lr)
    finally:
        hub.update_info('iter', None)
    assert fast.graphed_step.captured and fast.graphed_step.calls == 10
    assert float(fast.graphed_step._lr_tensors[0][0]) == pytest.approx(5e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_image_pool_fills_and_keeps_swapping_under_cuda_graph(no_tf32):
    """A pool of 3 per domain, filled and used inside the captured iteration, deterministic algorithms on:
    over 300 replays every slot is rewritten many times and the count stops at the pool size."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        plain = build_model(ASYMMETRIC, buffer_size=3)
        fast = build_model(ASYMMETRIC, buffer_size=3, fast_step=dict(cuda_graph=True, warmup=1))
        fast.load_state_dict(plain.state_dict())
        fast.cuda()
        optim = wrappers(fast)
        hub = MessageHub.get_current_instance()
        snapshots = []
        for i in range(300):
            hub.update_info('iter', i)
            fast.train_step(_to_cuda([batch(n=1, seed=i)])[0], optim)
            snapshots.append(torch.stack([fast.image_buffers[d].storage.flatten(1)[:, :8].cpu()
                                          for d in ('healthy', 'pathological')]))
        hub.update_info('iter', None)
    finally:
        torch.use_deterministic_algorithms(previous)
    assert fast.graphed_step.captured
    assert all(int(fast.image_buffers[d].count) == 3 for d in ('healthy', 'pathological'))
    history = torch.stack(snapshots)  # (300, 2 domains, 3 slots, 8 values)
    changes = (history[1:] != history[:-1]).any(-1).sum(0)  # (2, 3): how often each slot was rewritten
    # Each slot is rewritten with probability 0.5 / 3 per replay once full: about 50 times in 300.
    assert (changes > 20).all(), changes


def test_state_of_a_graphed_run_resumes_on_cpu_plain_and_fast():
    """Checkpoint of a run whose Adams are capturable (as after a CUDA-graph capture) resumes on a CPU on the
    plain and the fast path, and both retrace a straight plain run."""
    import io

    (plain, plain_optim), (fast, fast_optim) = pair(ASYMMETRIC, fast_step=dict(batch_forwards=False))
    straight = run(plain, plain_optim, BATCHES)
    run(fast, fast_optim, BATCHES[:2])
    fast.graphed_step._make_capturable()  # what the first graphed call does on a GPU
    assert all(g['capturable'] for name in ('generators', 'discriminators')
               for g in fast_optim[name].optimizer.param_groups)
    buffer = io.BytesIO()
    torch.save(dict(model=fast.state_dict(), optim=fast_optim.state_dict()), buffer)
    for fast_step in (None, dict(batch_forwards=False)):
        buffer.seek(0)
        saved = torch.load(buffer, weights_only=True)
        model = build_model(ASYMMETRIC, fast_step=fast_step)
        model.load_state_dict(saved['model'])
        optim = wrappers(model)
        optim.load_state_dict(saved['optim'])
        hub = MessageHub.get_current_instance()
        logs = []
        for i, data in enumerate(BATCHES[2:], start=2):
            hub.update_info('iter', i)
            logs.append(model.train_step(copy.deepcopy(data), optim))
        hub.update_info('iter', None)
        for w, g in zip(straight[2:], logs, strict=True):
            for k in w:
                assert torch.equal(g[k], w[k]), (fast_step, k)
        for (name, p), q in zip(plain.named_parameters(), model.parameters(), strict=True):
            assert torch.equal(p, q), (fast_step, name)


def test_fast_step_fp16_loss_scaling_equals_plain_path():
    """fp16 autocast with dynamic loss scaling, eager fast step (unbatched) against the plain path: bit for bit,
    weights and the scalers' scales."""
    def fp16(optimizer):
        return AutocastOptimWrapper(optimizer, dtype='float16')

    (plain, plain_optim), (fast, fast_optim) = pair(ASYMMETRIC, fp16, fast_step=dict(batch_forwards=False))
    assert plain_optim['generators'].loss_scaler is not None
    want, got = run(plain, plain_optim, BATCHES[:2]), run(fast, fast_optim, BATCHES[:2])
    for w, g in zip(want, got, strict=True):
        for k in w:
            assert torch.equal(g[k], w[k]), (k, g[k], w[k])
    for (name, p), q in zip(plain.named_parameters(), fast.parameters(), strict=True):
        assert torch.equal(p, q), name
    for name in ('generators', 'discriminators'):
        assert plain_optim[name].loss_scaler.get_scale() == fast_optim[name].loss_scaler.get_scale()


def test_cuda_graph_refuses_fp16_loss_scaling():
    model = build_model(ASYMMETRIC, fast_step=dict(cuda_graph=True))
    net = torch.nn.Linear(1, 1)
    fp16 = AutocastOptimWrapper(torch.optim.Adam(net.parameters()), dtype='float16')
    bf16 = AutocastOptimWrapper(torch.optim.Adam(net.parameters()), dtype='bfloat16')
    with pytest.raises(ValueError, match=r"cannot capture fp16 loss scaling: optim_wrapper.discriminators .*"
                                         r"optim_wrapper.discriminators.dtype='bfloat16'"):
        graph_with_loss_scaling(model.fast_step, True, dict(generators=bf16, discriminators=fp16))
    assert graph_with_loss_scaling(model.fast_step, True, dict(generators=bf16, discriminators=bf16)) is True
    model = build_model(ASYMMETRIC, fast_step={})  # cuda_graph='auto': eager, with a warning
    with pytest.warns(RuntimeWarning, match="optim_wrapper.generators scales fp16 losses"):
        assert graph_with_loss_scaling(model.fast_step, True, dict(generators=fp16, discriminators=bf16)) is False


def test_batched_forwards_with_fidelity_loss_match_plain_step():
    """The fidelity term sees the batched call's split F(x) and x as the plain path does."""
    fidelity = dict(type='TranslationFidelityLoss', loss_weight=1.0, domain='healthy', scale=0.2)
    (plain, plain_optim), (fast, fast_optim) = pair(ASYMMETRIC, model_kwargs=dict(fidelity_loss=fidelity))
    want, got = run(plain, plain_optim, BATCHES), run(fast, fast_optim, BATCHES)
    assert all('fidelity_loss' in w for w in want)
    assert_logs_close(want, got)


def test_batched_forwards_with_histogram_discriminator_match_plain_step():
    """The histogram head scores each image alone, so one call on [fakes, reals] equals two calls."""
    disc = dict(type='HistogramPatchDiscriminator', in_channels=1, base_channels=4, num_conv=3,
                norm_cfg=dict(type='IN'), histogram_bins=16)
    (plain, plain_optim), (fast, fast_optim) = pair(ASYMMETRIC, model_kwargs=dict(discriminator=disc))
    assert batch_statistics_modules(fast) == []
    want, got = run(plain, plain_optim, BATCHES), run(fast, fast_optim, BATCHES)
    assert_logs_close(want, got)


def test_a_subclass_with_an_extra_loss_term_trains_the_same_with_and_without_the_fast_step():
    """The fast step drives the model through its public training interface (forward_cycles,
    generator_losses, ...): a subclass that adds a term in generator_losses keeps --fast working."""
    from mmagic.registry import MODELS

    from mmac.models import ModularCycleGAN

    @MODELS.register_module(name='ModularCycleGANWithGainPenalty', force=True)
    class WithGainPenalty(ModularCycleGAN):
        def generator_losses(self, real, fake, reconstructions, identities=None):
            losses = super().generator_losses(real, fake, reconstructions, identities)
            losses['gain_penalty'] = 0.1 * (fake['pathological'] - real['healthy']).abs().mean()
            return losses

    plain = build_model(ASYMMETRIC, type='ModularCycleGANWithGainPenalty')
    plain.init_weights()
    fast = build_model(ASYMMETRIC, type='ModularCycleGANWithGainPenalty', fast_step=dict(batch_forwards=False))
    fast.load_state_dict(plain.state_dict())
    assert type(plain) is WithGainPenalty and type(fast) is WithGainPenalty
    want, got = run(plain, wrappers(plain), BATCHES), run(fast, wrappers(fast), BATCHES)
    assert all('gain_penalty' in log for log in want + got)
    for w, g in zip(want, got, strict=True):
        for k in w:
            assert torch.equal(w[k], g[k]), k
    for (name, p), q in zip(plain.named_parameters(), fast.parameters(), strict=True):
        assert torch.equal(p, q), name
