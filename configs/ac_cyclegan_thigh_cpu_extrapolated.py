# A variant beyond the paper: the CPU config plus an extrapolated healthy cycle, |F(clip(y + k sg(G(y) - y))) - y|_1
# with k ~ U[1, 2] per sample and weight 2 (the weight of the paper's healthy cycle at w_c = 1). Under L_AC, F learns
# from G's synthetic pathology, and G adds about half the fat fraction of the severe patients (docs/results.md);
# scaling G's change by up to 2 shows F severe-looking inputs with the healthy slice as target. The term trains F
# only and never compares F(x) with a real pathological x (mmac.losses.extrapolated_cycle).
# max_scale = 2 and the weight were set a priori (the fat-fraction ratio and the cycle's own weight), then checked
# on the development cohort (phantom seed 0) before any reported cohort.
_base_ = './ac_cyclegan_thigh_cpu.py'
model = dict(extrapolated_cycle_loss=dict(type='ExtrapolatedCycleLoss', loss_weight=2.0, max_scale=2.0,
                                          domain='healthy'))
