# The baseline: CycleGAN's symmetric cycle loss L_C = w_c * (E_y |F(G(y)) - y|_1 + E_x |G(F(x)) - x|_1), w_c = 1.
_base_ = './_base_/thigh_cyclegan.py'
w_c = 1.0
model = dict(cycle_loss=dict(_delete_=True, type='CycleConsistencyLoss', loss_weight=w_c))
