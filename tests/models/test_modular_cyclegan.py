"""ModularCycleGAN: which cycles run, loss values against an independent computation, inference mode, NaN guard."""
import copy

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("mmagic")
from mmagic.registry import MODELS  # noqa: E402
from mmagic.structures import DataSample  # noqa: E402
from mmengine.optim import OptimWrapper, OptimWrapperDict  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from mmac import register_all_modules  # noqa: E402
from mmac.training.guards import NonFiniteLossError  # noqa: E402

register_all_modules()
init_default_scope('mmagic')

SIZE = 32


def build_model(cycle_loss=None, **kwargs):
    cfg = dict(
        type='ModularCycleGAN',
        data_preprocessor=dict(type='DataPreprocessor', data_keys=['img_healthy', 'img_pathological']),
        generator=dict(type='UNetGenerator', num_down=5, base_channels=4),
        discriminator=dict(type='PatchDiscriminator', in_channels=1, base_channels=4, num_conv=3,
                           norm_cfg=dict(type='IN'), init_cfg=dict(type='normal', gain=0.02)),
        default_domain='healthy', reachable_domains=['healthy', 'pathological'],
        related_domains=['healthy', 'pathological'])
    if cycle_loss is not None:
        cfg['cycle_loss'] = cycle_loss
    cfg.update(kwargs)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def optim(model, lr=1e-4):
    return OptimWrapperDict(
        generators=OptimWrapper(torch.optim.Adam(model.generators.parameters(), lr=lr)),
        discriminators=OptimWrapper(torch.optim.Adam(model.discriminators.parameters(), lr=lr)))


def batch(n=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return dict(inputs=dict(img_healthy=torch.rand(n, 1, SIZE, SIZE, generator=g) * 255,
                            img_pathological=torch.rand(n, 1, SIZE, SIZE, generator=g) * 255),
                data_samples=[DataSample() for _ in range(n)])


def count_calls(model):
    counts = {'healthy': 0, 'pathological': 0}
    for d in counts:
        model.generators[d].register_forward_hook(lambda m, i, o, d=d: counts.__setitem__(d, counts[d] + 1))
    return counts


SYMMETRIC = dict(type='CycleConsistencyLoss', loss_weight=1.0)
ASYMMETRIC = dict(type='AsymmetricCycleLoss', loss_weight=1.0, domain='healthy')


def test_symmetric_loss_runs_both_cycles():
    model = build_model(SYMMETRIC)
    counts = count_calls(model)
    model.train_step(batch(), optim(model))
    # F: F(x), F(G(y)), F(y) (identity); G: G(y), G(F(x)), G(x) (identity)
    assert counts == {'healthy': 3, 'pathological': 3}


def test_asymmetric_loss_never_runs_g_of_f_x():
    model = build_model(ASYMMETRIC)
    counts = count_calls(model)
    model.train_step(batch(), optim(model))
    # G(F(x)) is the one call the asymmetric loss drops: 5 generator forwards instead of 6.
    assert counts == {'healthy': 3, 'pathological': 2}


def test_no_identity_forwards_when_weight_zero():
    model = build_model(ASYMMETRIC, id_loss_weight=0.0)
    counts = count_calls(model)
    log = model.train_step(batch(), optim(model))
    assert counts == {'healthy': 2, 'pathological': 1}
    assert 'id_loss' not in log


@pytest.mark.parametrize('loss_cfg', [SYMMETRIC, ASYMMETRIC], ids=['L_C', 'L_AC'])
def test_logged_losses_match_independent_computation(loss_cfg):
    model = build_model(dict(loss_cfg, loss_weight=0.5), id_loss_weight=0.5)
    reference = copy.deepcopy(model)
    data = batch()
    log = model.train_step(copy.deepcopy(data), optim(model))

    # Independent computation with the untouched copy: normalise as the preprocessor does ((v - 127.5) / 127.5).
    x = (data['inputs']['img_pathological'] - 127.5) / 127.5
    y = (data['inputs']['img_healthy'] - 127.5) / 127.5
    f, g = reference.generators['healthy'], reference.generators['pathological']
    with torch.no_grad():
        cyc_y = F.l1_loss(f(g(y)), y)
        cyc_x = F.l1_loss(g(f(x)), x)
        ident = F.l1_loss(f(y), y) + F.l1_loss(g(x), x)
        d_y = reference.discriminators['healthy']
        gan_f = ((d_y(f(x)) - 1) ** 2).mean()
    expected_cycle = 2 * 0.5 * cyc_y if loss_cfg is ASYMMETRIC else 0.5 * (cyc_x + cyc_y)
    assert float(log['cycle_loss']) == pytest.approx(expected_cycle.item(), rel=1e-4)
    assert float(log['id_loss']) == pytest.approx(0.5 * ident.item(), rel=1e-4)
    assert float(log['loss_gan_g_healthy']) == pytest.approx(gan_f.item(), rel=1e-4)


def test_parameters_change_after_a_step():
    model = build_model(ASYMMETRIC)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train_step(batch(), optim(model, lr=1e-2))
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith('generators.healthy') for k in changed)
    assert any(k.startswith('generators.pathological') for k in changed)
    assert any(k.startswith('discriminators') for k in changed)


def test_unknown_cycle_domain_rejected():
    with pytest.raises(ValueError, match="zebra"):
        build_model(dict(type='AsymmetricCycleLoss', domain='zebra'))


def test_default_cycle_loss_is_symmetric_with_loss_config_weight():
    model = build_model(None, loss_config=dict(cycle_loss_weight=3.0, id_loss_weight=0.25))
    assert type(model.cycle_loss).__name__ == 'CycleConsistencyLoss'
    assert model.cycle_loss.loss_weight == 3.0
    assert model.id_loss_weight == 0.25


def _record_modes(model):
    modes = []
    model.generators['healthy'].register_forward_hook(lambda m, i, o: modes.append(m.training))
    return modes


def test_val_step_translates_present_domains_in_eval_mode():
    model = build_model(ASYMMETRIC)
    model.train()
    modes = _record_modes(model)
    data = batch(n=3)
    del data['inputs']['img_healthy']
    out = model.val_step(data)
    assert modes == [False]
    assert model.training  # restored
    assert len(out) == 3
    assert out[0].fake_healthy.shape == (1, SIZE, SIZE)
    assert 'fake_pathological' not in out[0]
    # real_pathological is the input back in the data range
    torch.testing.assert_close(out[1].real_pathological, data['inputs']['img_pathological'][1], atol=1e-3,
                               rtol=0)


def test_test_in_train_mode_option():
    model = build_model(ASYMMETRIC, test_in_train_mode=True)
    model.eval()
    modes = _record_modes(model)
    model.test_step(batch())
    assert modes == [True]
    assert not model.training


def test_nan_loss_stops_before_update():
    model = build_model(ASYMMETRIC)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = batch()
    data['inputs']['img_healthy'][0, 0, 0, 0] = float('nan')
    from mmengine import MessageHub
    MessageHub.get_current_instance().update_info('iter', 7)
    try:
        with pytest.raises(NonFiniteLossError, match=r"iteration 7: .*loss_\w+ = nan"):
            model.train_step(data, optim(model))
    finally:
        MessageHub.get_current_instance().update_info('iter', None)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def _stock_and_modular(update_order, **kwargs):
    """mmagic's CycleGAN and ModularCycleGAN with its defaults (symmetric loss, LSGAN, stock weights), same weights."""
    common = dict(loss_config=dict(cycle_loss_weight=10.0, id_loss_weight=0.5), buffer_size=0, **kwargs)
    modular = build_model(None, update_order=update_order, **common)
    modular.init_weights()
    stock = build_model(None, type='CycleGAN', **common)
    stock.load_state_dict(modular.state_dict())
    return stock, modular


def _adam(model):
    return OptimWrapperDict(**{
        name: OptimWrapper(torch.optim.Adam(getattr(model, name).parameters(), lr=2e-3, betas=(0.5, 0.999)))
        for name in ('generators', 'discriminators')})


def _train(model, optim_wrapper, batches):
    from mmengine import MessageHub

    hub = MessageHub.get_current_instance()
    logs = []
    try:
        for i, data in enumerate(batches):
            hub.update_info('iter', i)
            logs.append(model.train_step(copy.deepcopy(data), optim_wrapper))
    finally:
        hub.update_info('iter', None)
    return logs


#: mmagic's stock CycleGAN generator (the horse2zebra config's), shrunk.
RESNET = dict(type='ResnetGenerator', in_channels=1, out_channels=1, base_channels=4, norm_cfg=dict(type='IN'),
              use_dropout=False, num_blocks=1, padding_mode='reflect', init_cfg=dict(type='normal', gain=0.02))


@pytest.mark.parametrize('generator', [None, RESNET], ids=['unet', 'resnet'])
def test_discriminators_first_takes_stock_cyclegan_steps(generator):
    """Stock order, symmetric loss, stock weights, no image pool: the weights of mmagic's CycleGAN, bit for bit."""
    stock, modular = _stock_and_modular('discriminators_first', **({'generator': generator} if generator else {}))
    assert type(stock).__name__ == 'CycleGAN' and type(modular.cycle_loss).__name__ == 'CycleConsistencyLoss'
    batches = [batch(n=2, seed=s) for s in range(5)]
    start = [p.detach().clone() for p in modular.parameters()]
    want, got = _train(stock, _adam(stock), batches), _train(modular, _adam(modular), batches)
    for (name, p), q in zip(stock.named_parameters(), modular.parameters(), strict=True):
        assert torch.equal(p, q), name
    # Every parameter trained.
    assert all(not torch.equal(p, q) for p, q in zip(start, modular.parameters(), strict=True))
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        # Stock names are kept; the totals loss_g / loss_d are logged beside them.
        assert set(w) - {'loss'} <= set(g), (i, sorted(w), sorted(g))
        for k in set(w) - {'loss'}:
            # mmagic 1.2.0 logs a quarter of each discriminator's loss: ``_loss_d *= 0.5`` halves in place the
            # tensor parse_losses also returned as 'loss', which it then logs times 0.5 again. ModularCycleGAN
            # logs the half it optimises, so that the logged terms add up to loss_d.
            scale = 2.0 if k.startswith('loss_gan_d_') else 1.0
            torch.testing.assert_close(g[k], scale * w[k].detach(), rtol=1e-6, atol=0, msg=f"iteration {i}, {k}")
        torch.testing.assert_close(g['loss_g'], w['loss'], rtol=1e-6, atol=0)
        torch.testing.assert_close(g['loss_d'], g['loss_gan_d_healthy'] + g['loss_gan_d_pathological'])


def test_generators_first_differs_from_stock_order():
    """The default order is the paper's: after a few iterations the weights leave stock CycleGAN's."""
    stock, modular = _stock_and_modular('generators_first')
    batches = [batch(n=2, seed=s) for s in range(3)]
    _train(stock, _adam(stock), batches), _train(modular, _adam(modular), batches)
    gens = [not torch.equal(p, q)
            for p, q in zip(stock.generators.parameters(), modular.generators.parameters(), strict=True)]
    assert any(gens)


def test_logged_names_are_stock_cyclegan_names():
    log = build_model(SYMMETRIC).train_step(batch(), optim(build_model(SYMMETRIC)))
    assert set(log) == {'loss_gan_g_healthy', 'loss_gan_g_pathological', 'cycle_loss', 'id_loss', 'loss_g',
                        'loss_gan_d_healthy', 'loss_gan_d_pathological', 'loss_d'}


def test_update_order_rejects_unknown_value():
    with pytest.raises(ValueError, match=r"update_order must be one of \('generators_first', "
                                         r"'discriminators_first'\), got 'disc'"):
        build_model(ASYMMETRIC, update_order='disc')


def test_fidelity_loss_holds_f_of_x_to_x():
    """The optional fidelity term is rho(F(x) - x), computed here independently; absent, nothing is logged."""
    fidelity = dict(type='TranslationFidelityLoss', loss_weight=0.7, domain='healthy', penalty='bounded_l1',
                    scale=0.2)
    model = build_model(ASYMMETRIC, fidelity_loss=fidelity)
    reference = copy.deepcopy(model)
    data = batch()
    log = model.train_step(copy.deepcopy(data), optim(model))
    x = (data['inputs']['img_pathological'] - 127.5) / 127.5
    with torch.no_grad():
        change = (reference.generators['healthy'](x) - x).abs()
    expected = 0.7 * (0.2 * (1 - torch.exp(-change / 0.2))).mean()
    assert float(log['fidelity_loss']) == pytest.approx(expected.item(), rel=1e-4)
    plain = build_model(ASYMMETRIC)
    assert 'fidelity_loss' not in plain.train_step(batch(), optim(plain))


def test_checkpoint_keys_of_a_distributed_run_are_the_plain_ones(tmp_path):
    """Distributed training wraps the generators and discriminators each in DDP; the saved state dict must still
    carry the plain names, so that a single-process model (tools/test.py, translate) loads it strictly, and a
    checkpoint saved before with 'generators.module.' in its keys must load too."""
    import socket

    import torch.distributed as dist
    from mmengine.runner.checkpoint import load_state_dict
    from torch.nn.parallel import DistributedDataParallel

    plain = build_model()
    names = set(plain.state_dict())
    assert not [k for k in names if '.module.' in k]
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=0, world_size=1)
    try:
        wrapped = build_model()
        wrapped.generators = DistributedDataParallel(wrapped.generators)
        wrapped.discriminators = DistributedDataParallel(wrapped.discriminators)
        saved = wrapped.state_dict()
        assert set(saved) == names  # plain names, not generators.module.<domain>...
        # the old form, as runs saved it before: loads strictly into a plain model, the same tensors
        old = {k.replace('generators.', 'generators.module.', 1).replace('discriminators.', 'discriminators.module.',
                                                                         1): v.clone() for k, v in saved.items()}
        assert any(k.startswith('generators.module.') for k in old)
        fresh = build_model()
        load_state_dict(fresh, old, strict=True)
        for key, value in fresh.state_dict().items():
            assert torch.equal(value, saved[key]), key
        fresh.load_state_dict({k: v for k, v in old.items()}, strict=True)  # torch's own loader too
        # torch's own round trip on the distributed model, and the old form into it, as torch-level code does it
        wrapped.load_state_dict(wrapped.state_dict(), strict=True)
        wrapped.load_state_dict({k: v.clone() for k, v in old.items()}, strict=True)
        # and a plain checkpoint into the distributed model, as resume does through mmengine's loader
        load_state_dict(wrapped, {k: v.clone() for k, v in plain.state_dict().items()}, strict=True)
        assert torch.equal(wrapped.generators.module['healthy'].state_dict()[next(iter(
            plain.generators['healthy'].state_dict()))], next(iter(plain.generators['healthy'].state_dict().values())))
    finally:
        dist.destroy_process_group()


def test_generator_overrides_make_g_stochastic_and_leave_f_deterministic():
    model = build_model(ASYMMETRIC, generator_overrides=dict(pathological=dict(noise_channels=2)))
    F_, G = model.generators['healthy'], model.generators['pathological']
    assert F_.noise_channels == 0 and G.noise_channels == 2
    x = torch.rand(2, 1, SIZE, SIZE) * 2 - 1
    with torch.no_grad():
        assert torch.equal(F_(x), F_(x))
        assert not torch.allclose(G(x), G(x))  # a new pathology on every call
    # The model trains with a stochastic G, with the plain and the fast step alike.
    for fast in (None, dict(cuda_graph=False)):
        model = build_model(ASYMMETRIC, generator_overrides=dict(pathological=dict(noise_channels=2)),
                            fast_step=fast)
        log_vars = model.train_step(batch(), optim(model))
        assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())


def test_generator_overrides_refuse_an_unknown_domain():
    with pytest.raises(ValueError, match='reachable|domains'):
        build_model(ASYMMETRIC, generator_overrides=dict(zebra=dict(noise_channels=1)))


def test_fixed_point_loss_runs_f_once_more_on_its_own_detached_output():
    fp = dict(type='FixedPointLoss', loss_weight=1.0, domain='healthy')
    model = build_model(ASYMMETRIC, fixed_point_loss=fp)
    real = {'healthy': torch.rand(2, 1, SIZE, SIZE) * 2 - 1, 'pathological': torch.rand(2, 1, SIZE, SIZE) * 2 - 1}
    fake, rec = model.forward_cycles(real)
    with torch.no_grad():
        expected = (model.generators['healthy'](fake['healthy'].detach()) - fake['healthy']).abs().mean()
    counts = count_calls(model)
    losses = model.generator_losses(real, fake, rec)
    assert losses['fixed_point_loss'].item() == pytest.approx(expected.item(), rel=1e-5)
    assert counts['healthy'] == 2  # identity F(y) and the fixed point F(F(x))
    for fast in (None, dict(cuda_graph=False)):
        model = build_model(ASYMMETRIC, fixed_point_loss=fp, fast_step=fast)
        log_vars = model.train_step(batch(), optim(model))
        assert 'fixed_point_loss' in log_vars
    with pytest.raises(ValueError, match='reachable_domains'):
        build_model(ASYMMETRIC, fixed_point_loss=dict(fp, domain='zebra'))


def test_extrapolated_cycle_runs_f_on_g_change_scaled_and_leaves_g_alone():
    ext = dict(type='ExtrapolatedCycleLoss', loss_weight=1.0, max_scale=2.0, domain='healthy')
    model = build_model(ASYMMETRIC, extrapolated_cycle_loss=ext)
    real = {'healthy': torch.rand(2, 1, SIZE, SIZE) * 2 - 1, 'pathological': torch.rand(2, 1, SIZE, SIZE) * 2 - 1}
    fake, rec = model.forward_cycles(real)
    torch.manual_seed(3)
    k = 1.0 + torch.rand(2)  # the draw the loss makes after the same seed
    y, gy = real['healthy'], fake['pathological']
    with torch.no_grad():  # an independent computation of |F(clip(y + k (G(y) - y))) - y|
        scaled = (y + k.view(2, 1, 1, 1) * (gy - y)).clamp(-1, 1)
        expected = (model.generators['healthy'](scaled) - y).abs().mean()
    counts = count_calls(model)
    torch.manual_seed(3)
    losses = model.generator_losses(real, fake, rec)
    assert losses['extrapolated_cycle_loss'].item() == pytest.approx(expected.item(), rel=1e-5)
    assert counts['healthy'] == 2  # identity F(y) and F on the extrapolated slice
    model.zero_grad()
    losses['extrapolated_cycle_loss'].backward()
    assert all(p.grad is None for p in model.generators['pathological'].parameters())  # G gets nothing from it
    assert any(p.grad is not None for p in model.generators['healthy'].parameters())
    for fast in (None, dict(cuda_graph=False)):
        model = build_model(ASYMMETRIC, extrapolated_cycle_loss=ext, fast_step=fast)
        log_vars = model.train_step(batch(), optim(model))
        assert 'extrapolated_cycle_loss' in log_vars and torch.isfinite(log_vars['extrapolated_cycle_loss'])
    with pytest.raises(ValueError, match='reachable_domains'):
        build_model(ASYMMETRIC, extrapolated_cycle_loss=dict(ext, domain='zebra'))


LATENT = dict(type='LatentCycleLoss', loss_weight=1.0, kl_weight=0.05, domain='pathological')
ENCODER = dict(type='LatentEncoder', in_channels=1, latent_channels=2, stride=8, base_channels=4)
STOCHASTIC_G = dict(pathological=dict(noise_channels=2, noise_stride=8))


def test_latent_cycle_reproduces_x_through_a_code_and_gives_f_no_gradient():
    model = build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER,
                        latent_cycle_loss=LATENT, id_loss_weight=0.0)  # G's identity forward would draw first
    gens = model.generators
    real = {'healthy': torch.rand(2, 1, SIZE, SIZE) * 2 - 1, 'pathological': torch.rand(2, 1, SIZE, SIZE) * 2 - 1}
    fake, rec = model.forward_cycles(real)
    x, fx = real['pathological'], fake['healthy']
    with torch.no_grad():  # an independent computation: E, one draw after the same seed, G, then L1 + KL
        mean, logvar = gens['latent_encoder'](x)
        torch.manual_seed(7)
        z = mean + (0.5 * logvar).exp() * torch.randn(2, 2, SIZE // 8, SIZE // 8)
        gfx = gens['pathological'](fx, noise=z)
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).mean()
        expected = (gfx - x).abs().mean() + 0.05 * kl
    counts = count_calls(model)
    torch.manual_seed(7)
    losses = model.generator_losses(real, fake, rec)
    assert losses['latent_cycle_loss'].item() == pytest.approx(expected.item(), rel=1e-5)
    assert counts == {'healthy': 0, 'pathological': 1}  # G once more (on F(x)); F not at all
    model.zero_grad()
    losses['latent_cycle_loss'].backward()
    assert all(p.grad is None for p in gens['healthy'].parameters())  # F(x) is detached: no tie of F(x) to x
    for name in ('pathological', 'latent_encoder'):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gens[name].parameters())


def test_latent_cycle_without_the_stop_gradient_is_augmented_cyclegans_cycle():
    model = build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER,
                        latent_cycle_loss=dict(LATENT, detach_translation=False), id_loss_weight=0.0)
    real = {'healthy': torch.rand(2, 1, SIZE, SIZE) * 2 - 1, 'pathological': torch.rand(2, 1, SIZE, SIZE) * 2 - 1}
    fake, rec = model.forward_cycles(real)
    model.generator_losses(real, fake, rec)['latent_cycle_loss'].backward()
    assert any(p.grad is not None for p in model.generators['healthy'].parameters())


def test_latent_encoder_trains_with_the_generators_in_both_iterations():
    for fast in (None, dict(cuda_graph=False)):
        model = build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER,
                            latent_cycle_loss=LATENT, fast_step=fast)
        encoder = model.generators['latent_encoder']
        before = [p.detach().clone() for p in encoder.parameters()]
        log_vars = model.train_step(batch(), optim(model))
        assert 'latent_cycle_loss' in log_vars and torch.isfinite(log_vars['latent_cycle_loss'])
        assert any(not torch.equal(b, p) for b, p in zip(before, encoder.parameters(), strict=True))
        assert any(k.startswith('generators.latent_encoder.') for k in model.state_dict())


def test_latent_cycle_configuration_errors():
    with pytest.raises(ValueError, match='latent_cycle_loss needs latent_encoder'):
        build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_cycle_loss=LATENT)
    with pytest.raises(ValueError, match='latent_encoder needs latent_cycle_loss'):
        build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER)
    with pytest.raises(ValueError, match='noise_channels=2 and noise_stride=8'):
        build_model(ASYMMETRIC, latent_encoder=ENCODER, latent_cycle_loss=LATENT)  # a deterministic G
    with pytest.raises(ValueError, match='noise_stride=4'):
        build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=dict(ENCODER, stride=4),
                    latent_cycle_loss=LATENT)
    with pytest.raises(ValueError, match='reachable_domains'):
        build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER,
                    latent_cycle_loss=dict(LATENT, domain='zebra'))


def test_posterior_codes_carry_each_patients_code_into_gs_translation_in_both_forward_paths():
    model = build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER,
                        latent_cycle_loss=dict(LATENT, fake_codes='posterior'))
    real = {'healthy': torch.rand(2, 1, SIZE, SIZE) * 2 - 1, 'pathological': torch.rand(2, 1, SIZE, SIZE) * 2 - 1}
    with torch.no_grad():  # the independent computation: G(y_i, z_i), z_i a posterior draw for x_i
        mean, logvar = model.generators['latent_encoder'](real['pathological'])
        torch.manual_seed(11)
        z = mean + (0.5 * logvar).exp() * torch.randn(mean.shape)
        expected = model.generators['pathological'](real['healthy'], noise=z)
        torch.manual_seed(11)
        fake, _ = model.forward_cycles(real)
        torch.manual_seed(11)
        batched, _, _ = model.batched_generator_outputs(real)
    assert torch.allclose(fake['pathological'], expected, atol=1e-6)
    assert torch.allclose(batched['pathological'], expected, atol=1e-5)
    assert model.translation_codes(real)['pathological'].requires_grad is False  # E learns from its cycle only
    prior = build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER, latent_cycle_loss=LATENT)
    assert prior.translation_codes(real) == {}
    means = build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER,
                        latent_cycle_loss=dict(LATENT, fake_codes='posterior', sample=False))
    with torch.no_grad():
        assert torch.equal(means.translation_codes(real)['pathological'],
                           means.generators['latent_encoder'](real['pathological'])[0])
    for fast in (None, dict(cuda_graph=False)):
        model = build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER,
                            latent_cycle_loss=dict(LATENT, fake_codes='posterior'), fast_step=fast)
        assert torch.isfinite(model.train_step(batch(), optim(model))['latent_cycle_loss'])


def test_code_cycle_asks_gs_fakes_to_give_their_codes_back_and_trains_g_only():
    model = build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER, id_loss_weight=0.0,
                        latent_cycle_loss=dict(LATENT, fake_codes='posterior', sample=False, code_weight=2.0))
    gens = model.generators
    real = {'healthy': torch.rand(2, 1, SIZE, SIZE) * 2 - 1, 'pathological': torch.rand(2, 1, SIZE, SIZE) * 2 - 1}
    fake, rec = model.forward_cycles(real)
    with torch.no_grad():  # the independent computation: z = E(x)'s mean, G(y, z), E's mean of it, 2 * L1 to z
        z = gens['latent_encoder'](real['pathological'])[0]
        again = gens['latent_encoder'](gens['pathological'](real['healthy'], noise=z))[0]
        expected = 2.0 * (again - z).abs().mean()
    losses = model.generator_losses(real, fake, rec)
    assert losses['code_cycle_loss'].item() == pytest.approx(expected.item(), rel=1e-5)
    model.zero_grad()
    losses['code_cycle_loss'].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gens['pathological'].parameters())
    assert all(p.grad is None for p in gens['latent_encoder'].parameters())  # E is held: only G learns
    assert all(p.grad is None for p in gens['healthy'].parameters())  # G(y) starts from a real y: F is not involved
    off = build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER,
                      latent_cycle_loss=dict(LATENT, fake_codes='posterior'))
    assert 'code_cycle_loss' not in off.generator_losses(real, *off.forward_cycles(real))
    for fast in (None, dict(cuda_graph=False)):
        model = build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER, fast_step=fast,
                            latent_cycle_loss=dict(LATENT, fake_codes='posterior', sample=False, code_weight=1.0))
        assert torch.isfinite(model.train_step(batch(), optim(model))['code_cycle_loss'])


def test_cycle_trains_f_only_when_translation_grad_is_zero_in_both_forward_paths():
    f_only = dict(ASYMMETRIC, translation_grad=0.0)
    real = {'healthy': torch.rand(2, 1, SIZE, SIZE) * 2 - 1, 'pathological': torch.rand(2, 1, SIZE, SIZE) * 2 - 1}
    paper, model = build_model(ASYMMETRIC), build_model(f_only)  # same seed: same weights
    for outputs in (lambda m: m.forward_cycles(real)[1], lambda m: m.batched_generator_outputs(real)[1]):
        expected = outputs(paper)['healthy']
        reconstruction = outputs(model)['healthy']
        assert torch.allclose(reconstruction, expected, atol=1e-5)  # the same F(G(y)) ...
        for m, rec, g_learns in ((paper, expected, True), (model, reconstruction, False)):
            m.zero_grad()
            rec.abs().mean().backward()
            g_grads = [p.grad for p in m.generators['pathological'].parameters()]
            assert any(g is not None and g.abs().sum() > 0 for g in g_grads) == g_learns  # ... G learns only in one
            assert any(p.grad is not None for p in m.generators['healthy'].parameters())
    fake, rec = model.forward_cycles(real)
    model.zero_grad()
    model.generator_losses(real, fake, rec)['loss_gan_g_pathological'].backward()
    assert any(p.grad is not None for p in model.generators['pathological'].parameters())  # G's GAN term stays
    for fast in (None, dict(cuda_graph=False)):
        m = build_model(f_only, fast_step=fast)
        assert torch.isfinite(m.train_step(batch(), optim(m))['cycle_loss'])
