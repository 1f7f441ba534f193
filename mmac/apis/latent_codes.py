"""Does a latent-cycle G use its code? What the code changes in G's reconstruction of real pathological slices.

For a model trained with :class:`~mmac.losses.latent_cycle.LatentCycleLoss` (G = ``generators[domain]`` takes a
code, E = ``generators['latent_encoder']`` infers it), per slice x of a group: the code E gives (its mean's
magnitude and the posterior's spread) and G's reconstruction of x from F(x) with that code against one drawn from
the prior, ``|G(F(x), z) - x|`` on the 0-1 scale, and the mean intensity both reconstructions give the thigh
beside x's own. A code that carries the pathology lowers the error and brings the intensity (the fat) back to
x's; a collapsed code (E's posterior equal to the prior) changes nothing.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = ["code_effect", "code_translator"]


def _latent_loss(model):
    loss = getattr(model, "latent_cycle_loss", None)
    if loss is None:
        raise ValueError(f"{type(model).__name__} has no latent_cycle_loss: train it with a latent cycle "
                         "(configs/ac_cyclegan_thigh_cpu_latent.py)")
    return loss


def _check_slices(slices, name: str = "slices") -> np.ndarray:
    slices = np.asarray(slices, np.float32)
    if slices.ndim != 3 or slices.size == 0 or slices.min() < 0 or slices.max() > 1:
        raise ValueError(f"{name} must be (N, H, W) in [0, 1], got shape {slices.shape}")
    return slices


def code_effect(model, slices: np.ndarray, domain: str = "pathological") -> dict[str, float]:
    """Scores of the latent code on one group's slices.

    Args:
        model: A ``ModularCycleGAN`` with a ``latent_cycle_loss`` (``generators['latent_encoder']``).
        slices: Slices of ``domain``, (N, H, W) in [0, 1], at the model's training size.
        domain: The latent cycle's domain. Defaults to 'pathological'.

    Returns:
        ``code_mean`` (mean |posterior mean|), ``code_sigma`` (mean posterior standard deviation),
        ``error_code`` / ``error_prior`` (mean |G(F(x), z) - x| with E's code / a prior draw, 0-1 scale) and
        ``intensity`` / ``intensity_code`` / ``intensity_prior`` (mean of x and of both reconstructions over
        pixels above 5 % of the range in x).

    Raises:
        ValueError: The model has no latent cycle, or ``slices`` is not (N, H, W) in [0, 1].
    """
    loss = _latent_loss(model)
    slices = _check_slices(slices)
    gens = model.get_module(model.generators)
    x = torch.from_numpy(slices)[:, None] * 2 - 1  # (N, 1, H, W) in [-1, 1], the models' input range
    with torch.no_grad():
        fx = gens[model._get_opposite_domain(domain)](x).clamp(-1, 1)
        mean, logvar = gens["latent_encoder"](x)
        with_code = gens[domain](fx, noise=loss.code(mean, logvar)).clamp(-1, 1)
        with_prior = gens[domain](fx).clamp(-1, 1)
    x01, code01, prior01 = ((t[:, 0].numpy() + 1) / 2 for t in (x, with_code, with_prior))  # (N, H, W) in [0, 1]
    thigh = x01 > 0.05
    return dict(code_mean=float(mean.abs().mean()), code_sigma=float((0.5 * logvar).exp().mean()),
                error_code=float(np.abs(code01 - x01).mean()), error_prior=float(np.abs(prior01 - x01).mean()),
                intensity=float(x01[thigh].mean()), intensity_code=float(code01[thigh].mean()),
                intensity_prior=float(prior01[thigh].mean()))


def code_translator(model, code_slices: np.ndarray, domain: str = "pathological", batch_size: int = 16,
                    seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """G translating with the codes E infers from real slices, as a latent cycle with ``fake_codes='posterior'``
    made its fakes in training (each fake took the code of a real slice of ``domain``).

    Args:
        model: A ``ModularCycleGAN`` with a ``latent_cycle_loss`` (``generators['latent_encoder']``).
        code_slices: Real slices of ``domain`` whose codes G gets, (M, H, W) in [0, 1], at the model's training
            size; E encodes them once, and G gets each code as :meth:`LatentCycleLoss.code` gives it (the
            posterior's mean, or a draw when the loss samples).
        domain: The latent cycle's domain, G's output domain. Defaults to 'pathological'.
        batch_size: Slices per forward pass. Defaults to 16.
        seed: Seed of the pairing (and of the draws when the loss samples). Defaults to 0.

    Returns:
        ``translate(slices)``: (N, H, W) in [0, 1] -> G(slices, z) in [0, 1], each slice with the code of a
        slice of ``code_slices`` drawn at random (with replacement); one generator of draws serves every call,
        so a sequence of calls is reproducible.

    Raises:
        ValueError: The model has no latent cycle, or ``code_slices`` is not (M, H, W) in [0, 1]; from
            ``translate``, slices that are not (N, H, W) in [0, 1] of the code slices' size.
    """
    loss = _latent_loss(model)
    code_slices = _check_slices(code_slices, "code_slices")
    gens = model.get_module(model.generators)
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        posterior = [gens["latent_encoder"](torch.from_numpy(code_slices[s:s + batch_size])[:, None] * 2 - 1)
                     for s in range(0, len(code_slices), batch_size)]
    mean, logvar = (torch.cat(parts) for parts in zip(*posterior, strict=True))  # each (M, latent_channels, h, w)

    def translate(slices: np.ndarray) -> np.ndarray:
        slices = _check_slices(slices)
        if slices.shape[1:] != code_slices.shape[1:]:
            raise ValueError(f"slices of size {slices.shape[1:]} cannot take codes of slices of size "
                             f"{code_slices.shape[1:]}: both must be at the model's training size")
        pick = torch.from_numpy(rng.integers(len(code_slices), size=len(slices)))
        out = []
        with torch.no_grad():
            for s in range(0, len(slices), batch_size):
                chosen = pick[s:s + batch_size]
                code = mean[chosen]
                if loss.sample:
                    code = code + (0.5 * logvar[chosen]).exp() * torch.randn(code.shape, generator=generator)
                y = torch.from_numpy(slices[s:s + batch_size])[:, None] * 2 - 1  # (n, 1, H, W) in [-1, 1]
                out.append(((gens[domain](y, noise=code).clamp(-1, 1) + 1) / 2)[:, 0].numpy())
        return np.concatenate(out)

    return translate
