# Paper grid (Table 1): asymmetric cycle loss L_AC with w_c = 0.25.
_base_ = '../_base_/thigh_cyclegan.py'
model = dict(cycle_loss=dict(type='AsymmetricCycleLoss', loss_weight=0.25, domain='healthy'))
