# Variants beyond the paper: cycles whose gradient reaches only the generator that closes them
# (translation_grad=0 on the cycle loss; mmac.losses.cycle). Run them by name with tools/cross_validate.py --losses.
#   L_AC_F: the paper's asymmetric cycle, 2 w_c |F(sg(G(y))) - y|_1. With the paper's L_AC the healthy cycle also
#           trains G, and G can then make pathology that F undoes easily: the cohort map measured G adding about
#           half the severe patients' fat fraction (docs/results.md). Here G is trained by its adversarial and
#           identity losses alone, so its fakes follow the pathological slices D_X sees, and the cycle teaches F on
#           pairs (G(y), y) that G cannot shape for F.
#   L_C_SG: both cycles, each training its closing generator only: w_c (|F(sg(G(y))) - y|_1 + |G(sg(F(x))) - x|_1).
#           The pathological cycle now trains G alone to put a patient's pathology back on F(x), so G learns the
#           patients' own pathology, and F is never asked to keep traces of the infiltration for G.
# Neither compares F(x) with x through F's gradient. translation_grad = 0 was set a priori (the pure form).
# Development cohort (phantom seed 0, severe, against the same cohort's paper runs; docs/results.md): L_AC_F
# -0.001 (-0.011 to +0.006) against L_AC, G's fat fraction 0.31 against 0.23; L_C_SG +0.003 (-0.008 to +0.015)
# against L_AC and -0.003 (-0.020 to +0.004) against L_C; L_C_SG on phantom seed 3: -0.041 (-0.077 to -0.018)
# against L_C, L_AC_F -0.029 (-0.094 to -0.018). Neither reaches L_C.
#   python tools/cross_validate.py --config configs/ac_cyclegan_thigh_cpu_f_only_cycle.py --losses L_AC_F L_C_SG
_base_ = './ac_cyclegan_thigh_cpu.py'
cycle_losses = dict(L_AC_F=dict(type='AsymmetricCycleLoss', domain='healthy', translation_grad=0.0),
                    L_C_SG=dict(type='CycleConsistencyLoss', translation_grad=0.0))
