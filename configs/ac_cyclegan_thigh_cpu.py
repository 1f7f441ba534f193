# A CPU-sized variant of the default for the README's main job and the tests: 64 x 64 slices of the small
# synthetic cohort (`python tools/make_phantom.py --out data/phantom_demo --size 64 ...`), a 6-level U-Net
# with 16 base channels, a few hundred iterations.
_base_ = './ac_cyclegan_thigh.py'
data_root = 'data/phantom_demo'
image_size = 64
iters = 600
train_dataloader = dict(num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, size=image_size))
val_dataloader = dict(num_workers=0, persistent_workers=False, batch_size=16,
                      dataset=dict(data_root=data_root, size=image_size))
test_dataloader = val_dataloader
model = dict(generator=dict(num_down=6, base_channels=16), discriminator=dict(base_channels=16))
train_cfg = dict(max_iters=iters, val_interval=iters)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=iters))
custom_hooks = [dict(type='CycleVisualizationHook', interval=iters // 2), dict(type='ThresholdDiceHook')]
