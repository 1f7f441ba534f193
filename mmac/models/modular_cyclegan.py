"""A CycleGAN whose cycle, identity and adversarial losses are injected, computing only the cycles that count.

Gadermayr et al., "An Asymmetric Cycle-Consistency Loss for Dealing with Many-to-One Mappings in Image
Translation: A Study on Thigh MR Scans" (ISBI 2021): with X = pathological and Y = healthy slices,
F = ``generators['healthy']`` (X -> Y) and G = ``generators['pathological']`` (Y -> X), the asymmetric loss
keeps only the cycle F(G(y)); the model then never runs G(F(x)).

mmagic's :class:`~mmagic.models.CycleGAN` hard-codes ``F.l1_loss`` and an LSGAN objective in its loss
functions and runs both cycles whatever the loss; it also calls its networks around the
DistributedDataParallel wrappers (``get_module``), so multi-process gradients are never averaged. This model
keeps mmagic's constructor, data flow and logged loss names (``loss_gan_g_<domain>``, ``cycle_loss``,
``id_loss``, ``loss_gan_d_<domain>``, plus the totals ``loss_g`` and ``loss_d``), and fixes those three points.
``update_order`` chooses between the original CycleGAN's order (generators first, the default) and stock
mmagic's (discriminators first); with the latter, the default symmetric loss, stock weights and no image pool
it takes stock ``CycleGAN``'s training steps exactly (tests/models/test_modular_cyclegan.py).

With ``fast_step`` set, ``train_step`` hands the iteration to :class:`~mmac.training.fast_step.FastCycleGANStep`,
which bypasses the optimizer wrappers' Python machinery, keeps the discriminators' image history on the device
and, on a GPU, captures the whole iteration in one CUDA graph; it computes this model's loss expressions.
"""
from __future__ import annotations

import torch
from mmagic.models.editors.cyclegan import CycleGAN
from mmagic.models.utils import set_requires_grad
from mmagic.registry import MODELS
from mmagic.structures import DataSample
from mmengine import MessageHub
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmac.registry import register
from mmac.training.fast_step import FastCycleGANStep, check_fast_step_cfg
from mmac.training.graphed_step import GraphedStep
from mmac.training.guards import average_gradients, check_finite

Tensor = torch.Tensor

#: Key of the latent encoder (``latent_encoder=``) among the generators, whose optimizer trains it.
LATENT_ENCODER = 'latent_encoder'

#: Allowed values of ``ModularCycleGAN(update_order=...)``.
UPDATE_ORDERS = ('generators_first', 'discriminators_first')


def _plain_state_dict_keys(model: torch.nn.Module, state_dict: dict, prefix: str, local_metadata) -> None:
    """State-dict hook: drop a wrapper's ``module.`` after a direct child's name (see ModularCycleGAN)."""
    from mmengine.model import is_model_wrapper

    wrapped = [(f'{prefix}{name}.module.', f'{prefix}{name}.') for name, child in model._modules.items()
               if child is not None and is_model_wrapper(child)]
    _rename(state_dict, wrapped)


def _loaded_keys(model: torch.nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load pre-hook: give the checkpoint's keys the form the calling loader expects.

    mmengine's loader (test, resume, ``load_from``) unwraps model wrappers and wants the plain names; torch's own
    ``load_state_dict`` on a model whose generators and discriminators are DDP-wrapped wants
    ``generators.module.*``. Checkpoints saved either way load either way.
    """
    from mmengine.model import is_model_wrapper

    for name in _CHILDREN_WITH_WRAPPERS:
        plain, wrapped = f'{prefix}{name}.', f'{prefix}{name}.module.'
        _rename(state_dict, [(wrapped, plain)])  # every checkpoint to the plain names first
        child = model._modules.get(name)
        if getattr(model, '_torch_load', False) and child is not None and is_model_wrapper(child):
            _rename(state_dict, [(plain, wrapped)])


def _rename(state_dict: dict, pairs: list[tuple[str, str]]) -> None:
    for key in list(state_dict):
        for old, new in pairs:
            if key.startswith(old):
                state_dict[new + key[len(old):]] = state_dict.pop(key)
                break


_CHILDREN_WITH_WRAPPERS = ('generators', 'discriminators')  # what mmagic's separate DDP wraps in this model


@register("MODELS")
class ModularCycleGAN(CycleGAN):
    """CycleGAN with pluggable losses.

    Training interface: both iterations, the plain one (:meth:`train_step` through mmengine's optimizer wrappers)
    and the fast one (:class:`~mmac.training.fast_step.FastCycleGANStep`, ``fast_step=``), compute an iteration
    from the same public methods, so a subclass that changes one of them trains the same either way:

    * :attr:`domains`, :meth:`cycle_domains`: the two domains and those whose cycle the cycle loss needs;
    * :meth:`forward_cycles` (or :meth:`batched_generator_outputs`, the same outputs in fewer calls): the
      translations, the cycles and the identity mappings of an iteration;
    * :meth:`generator_losses`: every generator loss term from those outputs (override it to add one);
    * :meth:`discriminator_losses`: the discriminators' terms on the buffered fakes;
    * :meth:`name_total`: the logged total's name.

    Args:
        *args: Passed to :class:`mmagic.models.CycleGAN` (``generator``, ``discriminator``, domains,
            ``data_preprocessor`` ...).
        cycle_loss: Config of the cycle-consistency loss, e.g.
            ``dict(type='AsymmetricCycleLoss', loss_weight=1.0, domain='healthy')``. Its ``forward`` takes
            ``(reconstructions, originals)`` dicts keyed by domain and it answers ``needs_cycle(domain)``.
            Defaults to the symmetric ``CycleConsistencyLoss`` with ``loss_weight`` taken from
            ``loss_config['cycle_loss_weight']`` (10 when absent, mmagic's default), i.e. stock CycleGAN.
        gan_loss: Config of the adversarial loss, called as ``loss(pred, target_is_real)``. Defaults to
            ``dict(type='LSGANLoss')`` (mmagic's objective); ``dict(type='LogLikelihoodGANLoss')`` is the
            paper's eq. 1.
        id_loss_weight: Weight of the identity loss ``|F(y) - y|_1 + |G(x) - x|_1``; 0 skips the identity
            forwards. Defaults to ``loss_config['id_loss_weight']`` or 0.5 (half the GAN weight, the paper).
        id_loss: Config of the identity loss. Defaults to mmagic's ``L1Loss`` with ``id_loss_weight``.
        fidelity_loss: Config of an optional penalty on how far a translation departs from its source, logged
            as ``fidelity_loss``, e.g. ``dict(type='TranslationFidelityLoss', loss_weight=1.0, domain='healthy',
            penalty='bounded_l1', scale=0.2)`` for ``|F(x) - x|`` (see :mod:`mmac.losses.fidelity`). Its
            ``forward`` takes ``(translations, sources)`` dicts keyed by the translation's target domain. Not
            in the paper; defaults to None (no such term).
        test_in_train_mode: Run ``val_step``/``test_step`` in train mode as mmagic's ``forward_test`` does
            (dropout and batch statistics active). Defaults to False (eval mode).
        check_finite: Stop with :class:`~mmac.training.guards.NonFiniteLossError` naming the iteration and the
            loss term when a loss is NaN/inf, before any optimizer step. Costs one host sync per update.
            Defaults to True.
        update_order: ``'generators_first'`` (default; the original CycleGAN and the paper: the generators
            step against the current discriminators, then the discriminators step on the new fakes' history)
            or ``'discriminators_first'`` (mmagic's stock ``CycleGAN``: the discriminators step first, then the
            generators against the updated discriminators). The generators' forwards run once either way.
        fast_step: None (default) trains through the optimizer wrappers as mmengine does. A dict switches
            to the fast iteration (:mod:`mmac.training.fast_step`), with keys ``cuda_graph`` (True, False or
            ``'auto'``: capture when the model is on a GPU, not distributed, without host-syncing layers or
            fp16 loss scaling, and go on eagerly if the capture fails; default ``'auto'``), ``channels_last``
            (default False),
            ``warmup`` (eager iterations before the capture, default 3) and ``batch_forwards`` (run all inputs
            of a network in one batched call: 2 generator calls per iteration for L_AC, 3 for L_C, one per
            discriminator; ``'auto'``, the default, does so when no layer uses batch statistics, where the
            result is the same up to rounding). It needs plain ``OptimWrapper`` or
            ``AutocastOptimWrapper`` (``--amp``) wrappers without gradient accumulation or clipping,
            ``discriminator_steps=1`` and ``disc_init_steps=0``; the discriminators' image history then
            lives on the device and draws from torch's generator instead of numpy's.
        fixed_point_loss: Config of an optional loss that asks the generator of its ``domain`` to leave its own
            translations alone, logged as ``fixed_point_loss``: one more forward ``F(sg(F(x)))`` per iteration
            (:mod:`mmac.losses.fixed_point`; not in the paper). Defaults to None.
        extrapolated_cycle_loss: Config of an optional second cycle through the generator of its ``domain``, on
            the other generator's change scaled by a random factor, logged as ``extrapolated_cycle_loss``:
            ``|F(y + k * sg(G(y) - y)) - y|_1``, one more forward per iteration
            (:mod:`mmac.losses.extrapolated_cycle`; not in the paper). Defaults to None.
        generator_overrides: Per domain, keys that the generator of that domain takes over the shared
            ``generator`` config, e.g. ``dict(pathological=dict(noise_channels=2))`` for a stochastic G that
            makes many pathologies from one healthy slice (configs/ac_cyclegan_thigh_cpu_stochastic.py); the
            domain's generator is built again from the merged config. Defaults to None (both generators from
            ``generator``, as stock CycleGAN).
        latent_encoder: Config of an encoder from a slice to a code posterior, e.g.
            ``dict(type='LatentEncoder', in_channels=1, latent_channels=2, stride=8)``; kept among the generators
            under ``'latent_encoder'`` (their optimizer trains it). Only with ``latent_cycle_loss``.
        latent_cycle_loss: Config of an optional cycle through a code, logged as ``latent_cycle_loss``:
            ``|G(sg(F(x)), z) - x|_1`` with z the code ``latent_encoder(x)`` gives (a draw or the mean), plus a
            KL term, for a stochastic generator of its ``domain`` (``generator_overrides`` with ``noise_channels``
            and ``noise_stride`` equal to the encoder's ``latent_channels`` and ``stride``); one more forward of
            the encoder and of that generator per iteration (:mod:`mmac.losses.latent_cycle`, after augmented
            CycleGAN; not in the paper; configs/ac_cyclegan_thigh_cpu_latent.py). With its
            ``fake_codes='posterior'`` the generator's translations take codes the encoder infers from the real
            slices of its domain (one more encoder forward, without gradient). Defaults to None.
        **kwargs: Passed to :class:`mmagic.models.CycleGAN` (``buffer_size``, ``loss_config`` ...).
    """

    def __init__(self,
                 *args,
                 cycle_loss: dict | None = None,
                 gan_loss: dict | None = None,
                 id_loss_weight: float | None = None,
                 id_loss: dict | None = None,
                 fidelity_loss: dict | None = None,
                 test_in_train_mode: bool = False,
                 check_finite: bool = True,
                 update_order: str = 'generators_first',
                 fast_step: dict | None = None,
                 generator_overrides: dict | None = None,
                 fixed_point_loss: dict | None = None,
                 extrapolated_cycle_loss: dict | None = None,
                 latent_encoder: dict | None = None,
                 latent_cycle_loss: dict | None = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.generator_overrides = self._override_generators(generator_overrides)
        if len(self._reachable_domains) != 2:
            raise ValueError(f"ModularCycleGAN translates between two domains, got reachable_domains="
                             f"{self._reachable_domains}")
        loss_config = self.loss_config or {}
        if cycle_loss is None:
            cycle_loss = dict(type='CycleConsistencyLoss',
                              loss_weight=loss_config.get('cycle_loss_weight', 10.0))
        if gan_loss is None:
            gan_loss = dict(type='LSGANLoss')
        if id_loss_weight is None:
            id_loss_weight = loss_config.get('id_loss_weight', 0.5)
        if id_loss_weight < 0:
            raise ValueError(f"id_loss_weight must be >= 0, got {id_loss_weight}")
        if id_loss is None:
            id_loss = dict(type='L1Loss', loss_weight=id_loss_weight)
        self.cycle_loss = MODELS.build(cycle_loss)
        self.gan_loss = MODELS.build(gan_loss)
        self.id_loss_weight = float(id_loss_weight)
        self.id_loss = MODELS.build(id_loss) if id_loss_weight > 0 else None
        self.fidelity_loss = None if fidelity_loss is None else MODELS.build(fidelity_loss)
        self.fixed_point_loss = None if fixed_point_loss is None else MODELS.build(fixed_point_loss)
        self.extrapolated_cycle_loss = (None if extrapolated_cycle_loss is None
                                        else MODELS.build(extrapolated_cycle_loss))
        self.latent_cycle_loss = None if latent_cycle_loss is None else MODELS.build(latent_cycle_loss)
        for name in ('fixed_point_loss', 'extrapolated_cycle_loss', 'latent_cycle_loss'):
            extra = getattr(self, name)
            if extra is not None and extra.domain not in self._reachable_domains:
                raise ValueError(f"{name} domain {extra.domain!r} is not one of the model's "
                                 f"reachable_domains {self._reachable_domains}")
        self._build_latent_encoder(latent_encoder)
        self.test_in_train_mode = test_in_train_mode
        self.check_finite = check_finite
        if update_order not in UPDATE_ORDERS:
            raise ValueError(f"update_order must be one of {UPDATE_ORDERS}, got {update_order!r}")
        self.update_order = update_order
        self.fast_step = check_fast_step_cfg(fast_step, self)
        self._fast: FastCycleGANStep | None = None
        unknown = [d for d in (self.cycle_loss.active_domains or ()) if d not in self._reachable_domains]
        if unknown:
            raise ValueError(f"cycle_loss {type(self.cycle_loss).__name__} is active on domain(s) {unknown}, "
                             f"but the model's reachable_domains are {self._reachable_domains}; set the loss's "
                             "domain to one of them")
        # Distributed training wraps the generators and discriminators each in their own DDP (mmagic's
        # MMSeparateDistributedDataParallel), and the runner saves model.state_dict(): the keys would read
        # 'generators.module.healthy...', which mmengine's loader (it unwraps wrappers, expecting the plain names)
        # and a single-process model cannot load. Checkpoints keep the plain names, and old ones are read too.
        self._register_state_dict_hook(_plain_state_dict_keys)
        self._register_load_state_dict_pre_hook(_loaded_keys, with_module=True)

    def _override_generators(self, overrides: dict | None) -> dict:
        """Rebuild the generator of each domain named in ``overrides`` from the shared config merged with its keys.

        Raises:
            ValueError: A domain that is not one of the model's reachable domains, or overrides not a dict of dicts.
        """
        overrides = dict(overrides or {})
        for domain, keys in overrides.items():
            if domain not in self._reachable_domains:
                raise ValueError(f"generator_overrides names domain {domain!r}; the model's domains are "
                                 f"{self._reachable_domains}")
            if not isinstance(keys, dict):
                raise ValueError(f"generator_overrides[{domain!r}] must be a dict of generator keys, got {keys!r}")
            self.generators[domain] = MODELS.build({**self._gen_cfg, **keys})
        return overrides

    def _build_latent_encoder(self, config: dict | None) -> None:
        """Build ``latent_encoder`` among the generators and check it fits ``latent_cycle_loss``'s generator.

        Raises:
            ValueError: One of the two options without the other, or an encoder whose code does not fit the
                generator's noise (channels, grid) or whose input channels are not the generator's.
        """
        loss = self.latent_cycle_loss
        if (config is None) != (loss is None):
            given, missing = ('latent_encoder', 'latent_cycle_loss') if loss is None else ('latent_cycle_loss',
                                                                                            'latent_encoder')
            raise ValueError(f"{given} needs {missing}: the latent cycle runs the encoder and the loss together "
                             "(see configs/ac_cyclegan_thigh_cpu_latent.py)")
        if config is None:
            return
        encoder = MODELS.build(config)
        generator = self.generators[loss.domain]
        wanted = {'noise_channels': encoder.latent_channels, 'noise_stride': encoder.stride,
                  'in_channels': encoder.in_channels}
        found = {key: getattr(generator, key, None) for key in wanted}
        if found != wanted:
            raise ValueError(f"latent_encoder (latent_channels={encoder.latent_channels}, stride={encoder.stride}, "
                             f"in_channels={encoder.in_channels}) does not fit the {loss.domain!r} generator "
                             f"({found}); the generator needs noise_channels={encoder.latent_channels} and "
                             f"noise_stride={encoder.stride} (generator_overrides), and the encoder the "
                             "generator's in_channels (it encodes a slice of that generator's domain)")
        self.generators[LATENT_ENCODER] = encoder

    def load_state_dict(self, state_dict, *args, **kwargs):
        """torch's ``load_state_dict``, with the keys put in the form a DDP-wrapped model wants
        (:func:`_loaded_keys`); mmengine's loader does not come through here."""
        self._torch_load = True
        try:
            return super().load_state_dict(state_dict, *args, **kwargs)
        finally:
            self._torch_load = False

    def init_weights(self) -> None:
        """Initialise every generator and discriminator with its own ``init_weights``.

        mmagic's ``BaseTranslationModel.init_weights`` attaches ``_params_init_info`` to the networks, after
        which mmagic's ``generation_init_weights`` fails on any submodule that is neither a conv nor a batch
        norm (``UnboundLocalError: init_info``), e.g. the ``PatchDiscriminator`` itself.
        """
        for domain in self._reachable_domains:
            self.get_module(self.generators)[domain].init_weights()
            if self.discriminators is not None:
                self.get_module(self.discriminators)[domain].init_weights()

    # ------------------------------------------------------------------ training
    @property
    def domains(self) -> tuple[str, ...]:
        """The model's two domains (mmagic's ``reachable_domains``), e.g. ``('healthy', 'pathological')``."""
        return tuple(self._reachable_domains)

    def _other(self, domain: str) -> str:
        return self._get_opposite_domain(domain)

    def cycle_domains(self) -> list[str]:
        """Domains whose cycle (``domain -> other -> domain``) the cycle loss needs."""
        return [d for d in self._reachable_domains if self.cycle_loss.needs_cycle(d)]

    def forward_cycles(self, real: dict[str, Tensor], cycles: bool = True):
        """Translations and the cycles the cycle loss needs, in mmagic's ``CycleGAN`` call order.

        Args:
            real: Real images per domain, each (N, C, H, W) (or (N, C, D, H, W)).
            cycles: Also run the cycles (False when the generators are not updated this iteration).

        Returns:
            ``(fake, reconstructions)``: ``fake[d]`` = ``generators[d](real[other(d)])`` for every domain and
            ``reconstructions[s]`` = ``generators[s](fake[other(s)])`` (the cycle that starts and ends in ``s``)
            for the cycle domains, shapes as ``real``.
        """
        gens = self.get_module(self.generators)
        needed = self.cycle_domains() if cycles else []
        codes = self.translation_codes(real)
        fake: dict[str, Tensor] = {}
        reconstructions: dict[str, Tensor] = {}
        for target in self._reachable_domains:
            source = self._other(target)
            # fake[d] = generators[d](real[other(d)]): F(x) under 'healthy', G(y) under 'pathological'.
            fake[target] = gens[target](real[source], **({'noise': codes[target]} if target in codes else {}))
            if source in needed:
                reconstructions[source] = gens[source](self._cycle_input(fake[target]))
        return fake, {d: reconstructions[d] for d in needed}

    def _cycle_input(self, translation: Tensor) -> Tensor:
        """``translation`` as the cycle's second generator takes it: the cycle loss's ``cycle_input`` (which may
        scale the cycle's gradient into the first generator), or ``translation`` for losses without one."""
        cycle_input = getattr(self.cycle_loss, 'cycle_input', None)
        return translation if cycle_input is None else cycle_input(translation)

    def generator_losses(self, real: dict[str, Tensor], fake: dict[str, Tensor],
                          reconstructions: dict[str, Tensor],
                          identities: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """Adversarial, cycle and identity losses of the generators, under stock ``CycleGAN``'s names.

        Args:
            real: Real images per domain, each (N, C, H, W) (or (N, C, D, H, W)).
            fake: ``fake[d]`` = ``generators[d](real[other(d)])``, same shapes.
            reconstructions: ``reconstructions[d]`` = ``generators[d](fake[other(d)])`` for the cycle domains.
            identities: ``identities[d]`` = ``generators[d](real[d])`` for every domain, or None to compute them
                here (each just before its domain's adversarial term, as stock ``CycleGAN`` does). Unused
                without identity loss.

        Returns:
            ``loss_gan_g_<domain>`` per domain, ``cycle_loss``, (identity weight > 0) ``id_loss``, (with a
            ``fidelity_loss``) ``fidelity_loss``, (with a ``fixed_point_loss``) ``fixed_point_loss`` and (with an
            ``extrapolated_cycle_loss``) ``extrapolated_cycle_loss`` and (with a ``latent_cycle_loss``)
            ``latent_cycle_loss`` (and ``code_cycle_loss`` when its ``code_weight`` > 0), each ().
        """
        gens, discs = self.get_module(self.generators), self.get_module(self.discriminators)
        losses, ids = {}, {}
        for d in self._reachable_domains:
            if self.id_loss is not None:
                ids[d] = identities[d] if identities is not None else gens[d](real[d])
            losses[f'loss_gan_g_{d}'] = self.gan_loss(discs[d](fake[d]), True)
        losses['cycle_loss'] = self.cycle_loss(reconstructions, real)
        if self.id_loss is not None:
            losses['id_loss'] = sum(self.id_loss(ids[d], real[d]) for d in self._reachable_domains)
        if self.fidelity_loss is not None:
            # fake[d] came from real[other(d)]: F(x) is held to x under 'healthy', G(y) to y under 'pathological'.
            losses['fidelity_loss'] = self.fidelity_loss(fake, {d: real[self._other(d)] for d in fake})
        if self.fixed_point_loss is not None:
            d = self.fixed_point_loss.domain
            once = fake[d].detach()
            losses['fixed_point_loss'] = self.fixed_point_loss({d: gens[d](once)}, {d: once})
        if self.extrapolated_cycle_loss is not None:
            d = self.extrapolated_cycle_loss.domain
            # fake[other(d)] = generators[other(d)](real[d]): G(y) for d = 'healthy'.
            scaled = self.extrapolated_cycle_loss.extrapolate(real[d], fake[self._other(d)])
            losses['extrapolated_cycle_loss'] = self.extrapolated_cycle_loss(gens[d](scaled), real[d])
        if self.latent_cycle_loss is not None:
            losses['latent_cycle_loss'], mean = self._latent_cycle(real, fake)
            if self.latent_cycle_loss.code_weight > 0:
                losses['code_cycle_loss'] = self._code_cycle(fake, mean)
        return losses

    def _latent_cycle(self, real: dict[str, Tensor], fake: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """The latent cycle's loss: ``G(F(x), z) vs x`` with z the code of ``E(x)`` (d = the loss's domain,
        x = ``real[d]``, F(x) = ``fake[other(d)]``, G = ``generators[d]``); also E's posterior mean of x."""
        gens = self.get_module(self.generators)
        d = self.latent_cycle_loss.domain
        translated = fake[self._other(d)]  # F(x) for d = 'pathological', (N, C, H, W)
        if self.latent_cycle_loss.detach_translation:
            translated = translated.detach()
        mean, logvar = gens[LATENT_ENCODER](real[d])  # each (N, latent, h, w)
        reconstruction = gens[d](translated, noise=self.latent_cycle_loss.code(mean, logvar))
        return self.latent_cycle_loss(reconstruction, real[d], mean, logvar), mean

    def _code_cycle(self, fake: dict[str, Tensor], mean: Tensor) -> Tensor:
        """The code cycle ``|E(G(y, z)) - sg(z)|``: ``fake[d]`` = G(y, z) took the codes of ``real[d]``
        (:meth:`translation_codes`), whose posterior mean is ``mean``; E's weights are held, so only G learns."""
        encoder = self.get_module(self.generators)[LATENT_ENCODER]
        held = {name: p.detach() for name, p in encoder.named_parameters()}
        encoded, _ = torch.func.functional_call(encoder, held, (fake[self.latent_cycle_loss.domain],))
        return self.latent_cycle_loss.code_cycle(encoded, mean)

    def translation_codes(self, real: dict[str, Tensor]) -> dict[str, Tensor]:
        """Codes for the translations of a generator whose latent cycle takes them from the posterior.

        Returns:
            ``{d: z}`` with z the code (a draw or the mean, without gradient) of the latent encoder's posterior of
            ``real[d]``, (N, latent_channels, *S / stride), for the latent cycle's domain d when its ``fake_codes``
            is ``'posterior'``; else ``{}`` (every generator draws its own noise, if it has any).
        """
        loss = self.latent_cycle_loss
        if loss is None or loss.fake_codes != 'posterior':
            return {}
        with torch.no_grad():
            mean, logvar = self.get_module(self.generators)[LATENT_ENCODER](real[loss.domain])
            return {loss.domain: loss.code(mean, logvar)}

    def batched_generator_outputs(self, real: dict[str, Tensor]):
        """Every generator output of an iteration in 2 calls (L_AC) or 3 (L_C) instead of 5 or 6.

        Inputs of one generator are concatenated along the batch and run as one forward: ``gens[first]``
        translates and (identity loss) maps its own domain; ``gens[second]`` does the same plus the cycle that
        needs ``gens[first]``'s translation; a last call closes the other cycle when the loss needs it.
        Identical maths only for networks without batch statistics (see ``fast_step.batch_forwards``).

        Returns:
            ``(fake, reconstructions, identities)`` as :meth:`generator_losses` takes them.
        """
        gens = self.get_module(self.generators)
        cycles = self.cycle_domains()
        codes = self.translation_codes(real)
        first = next((self._other(d) for d in self._reachable_domains if d in cycles), self._reachable_domains[0])
        second = self._other(first)
        fake: dict[str, Tensor] = {}
        reconstructions: dict[str, Tensor] = {}
        identities: dict[str, Tensor] = {}

        def run(domain: str, parts: list[tuple]) -> None:
            extra = {}
            if domain in codes:  # the translation takes the given codes, the other parts draws from the prior
                net = gens[domain]
                extra['noise'] = torch.cat([codes[domain] if store is fake else
                                            torch.randn(net.noise_shape(t), device=t.device, dtype=t.dtype)
                                            for store, _, t in parts])
            out = gens[domain](torch.cat([t for _, _, t in parts]), **extra)  # (sum of the parts' N, C, H, W)
            for (store, key, _t), chunk in zip(parts, out.split([t.shape[0] for _, _, t in parts]), strict=True):
                store[key] = chunk

        with_id = self.id_loss is not None
        run(first, [(fake, first, real[second])] + ([(identities, first, real[first])] if with_id else []))
        run(second, [(fake, second, real[first])] + ([(identities, second, real[second])] if with_id else [])
            + ([(reconstructions, second, self._cycle_input(fake[first]))] if second in cycles else []))
        if first in cycles:
            run(first, [(reconstructions, first, self._cycle_input(fake[second]))])
        return fake, {d: reconstructions[d] for d in cycles}, identities

    def discriminator_losses(self, real: dict[str, Tensor], fake: dict[str, Tensor],
                              batched: bool = False) -> dict[str, Tensor]:
        """Discriminator losses on buffered fakes, halved as in CycleGAN: ``loss_gan_d_<domain>``, each ().

        ``0.5 * (gan(D(fake), False) + gan(D(real), True))`` per domain, as stock ``CycleGAN`` logs it.
        ``batched`` runs each discriminator once on the buffered fakes and the real images concatenated.
        """
        discs = self.get_module(self.discriminators)
        losses = {}
        for d in self._reachable_domains:
            fake_d = self.image_buffers[d].query(fake[d].detach())
            if batched:
                pred_fake, pred_real = discs[d](torch.cat([fake_d, real[d].to(fake_d.dtype)])).split(
                    [fake_d.shape[0], real[d].shape[0]])  # (N_fake + N_real, ...) -> two parts
            else:
                pred_fake, pred_real = discs[d](fake_d), discs[d](real[d])
            losses[f'loss_gan_d_{d}'] = 0.5 * (self.gan_loss(pred_fake, False) + self.gan_loss(pred_real, True))
        return losses

    def _update(self, wrapper: OptimWrapper, losses: dict[str, Tensor], module: torch.nn.Module,
                iteration: int | None) -> dict[str, Tensor]:
        """Check, back-propagate, average gradients over ranks and step ``wrapper``."""
        if self.check_finite:
            check_finite(losses, iteration)
        loss, log_vars = self.parse_losses(losses)
        wrapper.backward(wrapper.scale_loss(loss))
        if wrapper.should_update():
            average_gradients(module.parameters())
            wrapper.step()
            wrapper.zero_grad()
        return {k: v.detach() for k, v in log_vars.items()}

    @staticmethod
    def name_total(log_vars: dict[str, Tensor], name: str) -> dict[str, Tensor]:
        """``log_vars`` with the total ``'loss'`` of :meth:`parse_losses` renamed to ``name``."""
        return {k if k != 'loss' else name: v for k, v in log_vars.items()}

    @property
    def graphed_step(self) -> GraphedStep | None:
        """The fast step's :class:`~mmac.training.graphed_step.GraphedStep`, once the first fast iteration built it."""
        return None if self._fast is None else self._fast.graphed

    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> dict[str, Tensor]:
        """One CycleGAN iteration, the two updates in ``update_order``: the fast step when ``fast_step`` is set
        (:class:`~mmac.training.fast_step.FastCycleGANStep`), else the plain one through the optimizer wrappers.

        Args:
            data: A batch from the dataloader with ``inputs['img_<domain>']`` for both domains.
            optim_wrapper: Wrappers under ``'generators'`` and ``'discriminators'``.

        Returns:
            Detached scalar tensors to log, under stock ``CycleGAN``'s names (``loss_gan_g_<domain>``,
            ``cycle_loss``, ``id_loss``, ``loss_gan_d_<domain>``) plus the totals ``loss_g`` and ``loss_d``.
        """
        iteration = MessageHub.get_current_instance().get_info('iter')
        data = self.data_preprocessor(data, True)
        real = {d: data['inputs'][f'img_{d}'] for d in self._reachable_domains}
        if self.fast_step is None:
            return self._plain_train_step(real, optim_wrapper, iteration)
        if self._fast is None:
            self._fast = FastCycleGANStep(self, optim_wrapper, self.fast_step, next(iter(real.values())).device)
        return self._fast(real, iteration)

    def _plain_train_step(self, real: dict[str, Tensor], optim_wrapper: OptimWrapperDict,
                          iteration: int | None) -> dict[str, Tensor]:
        """The iteration through the optimizer wrappers, on preprocessed images per domain, each (N, C, H, W)."""
        step = 0 if iteration is None else iteration
        gen_wrapper, disc_wrapper = optim_wrapper['generators'], optim_wrapper['discriminators']
        update_gen = ((step + 1) % (self.discriminator_steps * disc_wrapper._accumulative_counts) == 0
                      and step >= self.disc_init_steps)
        gens_first = self.update_order == 'generators_first'

        def update_generators() -> dict[str, Tensor]:
            set_requires_grad(self.discriminators, False)
            try:
                losses = self.generator_losses(real, fake, reconstructions)
                return self.name_total(self._update(gen_wrapper, losses, self.generators, iteration), 'loss_g')
            finally:
                set_requires_grad(self.discriminators, True)

        log_vars = {}
        with gen_wrapper.optim_context(self.generators), torch.set_grad_enabled(update_gen):
            fake, reconstructions = self.forward_cycles(real, cycles=update_gen)
            if update_gen and gens_first:
                log_vars.update(update_generators())
        with disc_wrapper.optim_context(self.discriminators):
            disc_log = self._update(disc_wrapper, self.discriminator_losses(real, fake), self.discriminators,
                                    iteration)
        if update_gen and not gens_first:
            # Stock CycleGAN's order: the generators step against the discriminators just updated.
            with gen_wrapper.optim_context(self.generators):
                log_vars.update(update_generators())
        log_vars.update(self.name_total(disc_log, 'loss_d'))
        return log_vars

    # ------------------------------------------------------------------ inference
    def forward_test(self, img: Tensor, target_domain: str, **kwargs) -> dict:
        """Translate ``img`` to ``target_domain`` in eval mode (or train mode, see ``test_in_train_mode``)."""
        was_training = self.training
        self.train(self.test_in_train_mode)
        try:
            with torch.no_grad():
                target = self.translation(img, target_domain=target_domain, **kwargs)
        finally:
            self.train(was_training)
        return dict(source=img, target=target)

    def _predict(self, data: dict) -> list[DataSample]:
        """Translate every domain present in ``data['inputs']``.

        Each output sample carries the input sample's fields plus ``fake_<target>`` (the translation) and
        ``real_<source>`` (the input), both de-normalised to the data range (0-255), shape (C, H, W).
        """
        data = self.data_preprocessor(data)
        inputs, data_samples = data['inputs'], data['data_samples']
        present = [d for d in self._reachable_domains if f'img_{d}' in inputs]
        if not present:
            raise ValueError(f"no input image found: expected one of "
                             f"{[f'img_{d}' for d in self._reachable_domains]} in data['inputs'], got "
                             f"{list(inputs)}")
        outputs = {src: self.forward_test(inputs[f'img_{src}'], target_domain=self._other(src))['target']
                   for src in present}
        samples = data_samples.split() if data_samples is not None else []
        batch = []
        for idx in range(inputs[f'img_{present[0]}'].shape[0]):
            sample = DataSample()
            if samples:
                sample.update(samples[idx])
            ref = samples[idx] if samples else None
            for src in present:
                key = f'img_{src}'
                fake = self.data_preprocessor.destruct(outputs[src][idx], ref, key)
                real = self.data_preprocessor.destruct(inputs[key][idx], ref, key)
                sample.set_tensor_data({f'fake_{self._other(src)}': fake, f'real_{src}': real})
            batch.append(sample)
        return batch

    def val_step(self, data: dict) -> list[DataSample]:
        """Translations of a validation batch; see :meth:`_predict`."""
        return self._predict(data)

    def test_step(self, data: dict) -> list[DataSample]:
        """Translations of a test batch; see :meth:`_predict`."""
        return self._predict(data)
