# The default: the paper's asymmetric cycle loss L_AC = 2 * w_c * E_y |F(G(y)) - y|_1 with w_c = 1,
# U-Net CycleGAN, 256 x 256 thigh MR slices, 16 epochs at batch size 1 (Gadermayr et al., ISBI 2021).
_base_ = './_base_/thigh_cyclegan.py'
w_c = 1.0
model = dict(cycle_loss=dict(type='AsymmetricCycleLoss', loss_weight=w_c, domain='healthy'))
