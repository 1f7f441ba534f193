# A variant beyond the paper: the CPU config plus a fixed-point loss on F, |F(sg(F(x))) - sg(F(x))|_1 with weight
# 0.5 (the identity loss's weight): F leaves its own pseudo-healthy output alone, as the identity loss asks of real
# healthy slices. It never compares F(x) with x, so F need keep no trace of the infiltration (mmac.losses.fixed_point).
# Aimed at what the cohort map measured for L_AC: F changing normal tissue outside the infiltration.
# The weight was set a priori (equal to the identity weight), not tuned on any reported cohort.
_base_ = './ac_cyclegan_thigh_cpu.py'
model = dict(fixed_point_loss=dict(type='FixedPointLoss', loss_weight=0.5, domain='healthy'))
