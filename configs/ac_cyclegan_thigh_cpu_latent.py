# A variant beyond the paper: the CPU config with a latent pathological cycle (after augmented CycleGAN). Under
# L_AC, F learns to remove pathology only from G's fakes, and G (trained by the GAN loss and the healthy cycle)
# adds about half the severe patients' fat fraction (docs/results.md). Here G (generators['pathological'], Y -> X)
# takes a 2-channel code on a grid 8 times coarser than the slice, drawn from N(0, I) for its fakes; an encoder E
# infers from a real pathological slice x and F(x) the code with which G gives x back,
# |G(sg(F(x)), z) - x|_1 + 0.05 KL(q(z | x, F(x)) || N(0, I)) (mmac.losses.latent_cycle), so G learns the patients'
# own pathology, severe included, and its fakes, which F's healthy cycle learns from, cover it. F(x) is detached:
# the term trains G and E only and never ties F(x) to x. Every setting was fixed before any run (the stochastic
# config's code, the symmetric loss's weight on the pathological cycle, BicycleGAN's KL ratio); measured in
# docs/results.md against the paper's losses on the same cohorts (development cohort: phantom seed 0).
_base_ = './ac_cyclegan_thigh_cpu.py'
latent_channels = 2
latent_stride = 8
model = dict(
    generator_overrides=dict(pathological=dict(noise_channels=latent_channels, noise_stride=latent_stride)),
    latent_encoder=dict(type='LatentEncoder', in_channels=2, latent_channels=latent_channels, stride=latent_stride,
                        base_channels=16),
    latent_cycle_loss=dict(type='LatentCycleLoss', loss_weight=1.0, kl_weight=0.05, domain='pathological'))
