# The GPU protocol preset's config (tools/cross_validate.py --preset gpu): the paper's U-Net CycleGAN (7 levels at
# 128 px, 64 base channels, identity weight 0.5) on 128 x 128 slices of a synthetic cohort, 2,000 iterations per
# run, so that the 30 runs of Table 1 fit about 8 minutes on one H100-class GPU with --fast and 8 runs packed per
# GPU. It carries over what the CPU configuration measured on the development cohort (docs/science.md): batch size
# 4 and lr 2e-4, residual generators (a short training starts at the identity), and discriminators whose receptive
# field keeps the paper's physical size: num_conv=2 gives 34 px = 68 mm at 2 mm pixels (the paper: 70 px at 1 mm).
# Not yet run on a GPU; its chain is rehearsed on a CPU by --preset rehearsal.
_base_ = './ac_cyclegan_thigh.py'
data_root = 'data/protocol_gpu'
image_size = 128
iters = 2000
train_dataloader = dict(batch_size=4, dataset=dict(size=image_size))
val_dataloader = dict(dataset=dict(size=image_size))
test_dataloader = val_dataloader
model = dict(generator=dict(num_down=7, residual=True), discriminator=dict(num_conv=2))
optim_wrapper = dict(generators=dict(optimizer=dict(lr=2e-4)), discriminators=dict(optimizer=dict(lr=2e-4)))
train_cfg = dict(max_iters=iters, val_interval=iters)
default_hooks = dict(checkpoint=dict(interval=iters))
custom_hooks = [dict(type='CycleVisualizationHook', interval=iters), dict(type='ThresholdDiceHook')]
