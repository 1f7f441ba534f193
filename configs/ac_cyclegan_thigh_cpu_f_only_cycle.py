# A variant beyond the paper: the CPU config with L_AC_F, the paper's asymmetric cycle 2 w_c |F(sg(G(y))) - y|_1
# whose gradient reaches F only (AsymmetricCycleLoss(translation_grad=0)). With the paper's L_AC the healthy cycle
# also trains G, and G can then make pathology that F undoes easily: the cohort map measured G adding about half the
# severe patients' fat fraction (docs/results.md). Here G is trained by its adversarial and identity losses alone,
# so its fakes follow the pathological slices D_X sees, and the cycle teaches F on pairs (G(y), y) that G cannot
# shape for F. Nothing compares F(x) with x. translation_grad = 0 was set a priori (the pure form), not tuned.
#   python tools/cross_validate.py --config configs/ac_cyclegan_thigh_cpu_f_only_cycle.py --losses L_AC_F L_AC L_C
_base_ = './ac_cyclegan_thigh_cpu.py'
cycle_losses = dict(L_AC_F=dict(type='AsymmetricCycleLoss', domain='healthy', translation_grad=0.0))
