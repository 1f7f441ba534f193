# A variant beyond the paper: the CPU config with a stochastic G. The paper's G maps one healthy slice to one
# pathological slice; under L_AC, F learns what pathology looks like only from G's fakes, so a G that can make
# one pathology per slice shows F a narrow part of what patients have. Here G (generators['pathological'], Y -> X)
# takes two channels of smooth noise beside the slice (mmac.models.unet.UNetGenerator noise_channels), so one
# healthy slice maps to many pathological ones; F stays deterministic. No term ties F(x) to x.
# Measured in docs/results.md (chosen on the development cohort, phantom seed 0).
_base_ = './ac_cyclegan_thigh_cpu.py'
model = dict(generator_overrides=dict(pathological=dict(noise_channels=2, noise_stride=8)))
