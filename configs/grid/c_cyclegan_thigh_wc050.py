# Paper grid (Table 1): symmetric cycle loss L_C with w_c = 0.5.
_base_ = '../_base_/thigh_cyclegan.py'
model = dict(cycle_loss=dict(_delete_=True, type='CycleConsistencyLoss', loss_weight=0.5))
