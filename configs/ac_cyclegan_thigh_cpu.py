# A CPU-sized variant of the default for the README's main job, the CPU protocol and the tests: 64 x 64 slices
# of a small synthetic cohort (tools/demo.py makes it in data/demo_cohort), a 6-level U-Net with 16 base channels.
# Deviations from the paper, each measured on the development cohort (phantom seed 0, fold 1 of 2; the numbers
# are in docs/science.md), so that training learns something in a few minutes on 2 cores:
# - batch size 4 and lr 2e-4;
# - residual generators, F(x) = x + U(x): the paper's U-Net has no full-resolution path and needs thousands of
#   iterations to reproduce a slice (trained on the identity alone it was still at L1 0.08 after 300 iterations),
#   so short trainings returned blurred disks without femur, fat ring or septa;
# - discriminators with one strided layer (num_conv=1, receptive field 16 px = 64 mm at 4 mm pixels), the
#   physical field of the paper's 70 px PatchGAN at 1 mm pixels; the 70 px field covers a whole 64 px slice and
#   judges the thigh's outline instead of the texture of its muscle.
# Everything else is the default config's (w_c = 1, identity weight 0.5, LSGAN, generators updated first).
_base_ = './ac_cyclegan_thigh.py'
data_root = 'data/demo_cohort'
image_size = 64
iters = 900
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False, dataset=dict(size=image_size))
val_dataloader = dict(num_workers=0, persistent_workers=False, batch_size=16, dataset=dict(size=image_size))
test_dataloader = val_dataloader
model = dict(generator=dict(num_down=6, base_channels=16, residual=True),
             discriminator=dict(base_channels=16, num_conv=1))
optim_wrapper = dict(generators=dict(optimizer=dict(lr=2e-4)), discriminators=dict(optimizer=dict(lr=2e-4)))
train_cfg = dict(max_iters=iters, val_interval=iters)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=iters))
custom_hooks = [dict(type='CycleVisualizationHook', interval=iters // 2), dict(type='ThresholdDiceHook')]
