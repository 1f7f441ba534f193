# The augmented variant (configs/ac_cyclegan_thigh_cpu_augmented.py) with a finer code: G's code and E's output
# on a grid 4 times coarser than the slice instead of 8 (16 x 16 cells at 64 px), so the code can say where the
# fat is at the scale of a muscle. Chosen a priori as "finer" and checked on the development cohort (phantom seed
# 0) first; then measured on phantom seeds 3-5 (docs/results.md, Result 3).
#   L_AUG:  w_c |F(G(y, z')) - y|_1 + 1.0 |G(F(x), E(x)) - x|_1 + 0.005 KL (L_C's weights, the pathological cycle
#           given the code).
#   L_AUG2: the same with the healthy cycle doubled, 2 w_c |F(G(y, z')) - y|_1: the paper's L_AC weight on the
#           cycle that trains F to remove, with the latent pathological cycle added.
#   python tools/cross_validate.py --config configs/ac_cyclegan_thigh_cpu_augmented_fine.py --losses L_AUG ...
_base_ = './ac_cyclegan_thigh_cpu_augmented.py'
latent_stride = 4
cycle_losses = dict(L_AUG2=dict(type='CycleConsistencyLoss', domain_weights=dict(healthy=2.0)))
model = dict(
    generator_overrides=dict(pathological=dict(noise_stride=latent_stride)),
    latent_encoder=dict(stride=latent_stride))
