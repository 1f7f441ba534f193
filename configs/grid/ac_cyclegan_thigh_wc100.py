# Paper grid (Table 1): asymmetric cycle loss L_AC with w_c = 1.0. The loss config comes from the protocol's one table
# (mmac.protocol.grid.LOSSES, as tools/cross_validate.py builds its runs); mmengine keeps the imported function
# out of the config.
_base_ = '../_base_/thigh_cyclegan.py'
from mmac.protocol.grid import cycle_loss_config  # noqa: E402

model = dict(cycle_loss=dict(_delete_=True, **cycle_loss_config('L_AC', 1.0)))
