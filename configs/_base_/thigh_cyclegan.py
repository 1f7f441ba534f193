# The paper's CycleGAN on thigh MR (Gadermayr et al., ISBI 2021), on top of mmagic's stock CycleGAN config:
# U-Net generators F (pathological -> healthy) and G (healthy -> pathological), 1-channel PatchGAN
# discriminators, Adam lr 1e-4, batch size 1, 16 epochs, rotation by multiples of 90 degrees and flips,
# identity weight half the GAN weight. Cycle loss and w_c are set by the configs that inherit this one.
_base_ = 'mmagic::cyclegan/cyclegan_lsgan-resnet-in_1xb1-80kiters_facades.py'
custom_imports = dict(imports=['mmac.registration'], allow_failed_imports=False)  # registers mmac's components

# ---------------------------------------------------------------- data
# The default data is the synthetic cohort: `python tools/make_phantom.py --out data/phantom`.
# For real scans set data_root, the folder holding manifest.csv (see README, "Real data"), in a config that
# inherits this one or with `--cfg-options data_root=...`: the three loaders below leave their data_root None,
# and mmac's tools (mmac.runner.launch.load_config) fill it from this one key.
data_root = 'data/phantom'
manifest = 'manifest.csv'
image_size = 256
fold = 0          # test fold of the patient-level 5-fold cross-validation
num_folds = 5
fold_seed = 0
domains = ['healthy', 'pathological']
# One epoch = the longer domain's training slices: with the default cohort (21 healthy subjects x 53 slices,
# 4/5 of them in a training fold) about 900 slices, so the paper's 16 epochs are about 14,400 iterations.
iters_per_epoch = 900
num_epochs = 16

train_pipeline = [
    dict(type='RandomRot90', keys=['img_healthy', 'img_pathological'], prob=1.0, share_random_params=False),
    dict(type='RandomFlip2D', keys=['img_healthy', 'img_pathological'], directions=['horizontal', 'vertical'],
         prob=0.5, share_random_params=False),
    dict(type='PackDomainInputs', keys=['img_healthy', 'img_pathological'],
         data_keys=['img_healthy', 'img_pathological'],
         meta_keys=['subject_healthy', 'slice_index_healthy', 'subject_pathological', 'group_pathological',
                    'slice_index_pathological']),
]
test_pipeline = [
    dict(type='PackDomainInputs', keys=['img_pathological'],
         data_keys=['img_pathological', 'gt_mask', 'img_healthy_truth', 'fat_fraction'],
         meta_keys=['subject', 'group', 'slice_index']),
]

train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, type='ThighMRDataset', data_root=None, manifest=manifest, split='train',
                 fold=fold, num_folds=num_folds, fold_seed=fold_seed, size=image_size, resize_mode='fit',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(_delete_=True, type='ThighMRDataset', data_root=None, manifest=manifest, split='val',
                 fold=fold, num_folds=num_folds, fold_seed=fold_seed, size=image_size, resize_mode='fit',
                 annotation_every=4, pipeline=test_pipeline))
# 'val' and 'test' are the same subjects (the fold's test part): nothing is selected on validation (fixed
# schedule, no best checkpoint), so validating during training only reports the test metric as it goes.
test_dataloader = val_dataloader

# ---------------------------------------------------------------- model
model = dict(
    type='ModularCycleGAN',
    data_preprocessor=dict(type='DataPreprocessor', data_keys=None),
    generator=dict(_delete_=True, type='UNetGenerator', in_channels=1, out_channels=1, num_down=8,
                   base_channels=64, norm_cfg=dict(type='IN'), use_dropout=False),
    discriminator=dict(in_channels=1),
    default_domain='healthy',
    reachable_domains=domains,
    related_domains=domains,
    cycle_loss=dict(type='AsymmetricCycleLoss', loss_weight=1.0, domain='healthy'),
    gan_loss=dict(type='LSGANLoss'),
    id_loss_weight=0.5,
    loss_config=dict(_delete_=True))

# ---------------------------------------------------------------- schedule
optim_wrapper = dict(
    generators=dict(optimizer=dict(type='Adam', lr=1e-4, betas=(0.5, 0.999))),
    discriminators=dict(optimizer=dict(type='Adam', lr=1e-4, betas=(0.5, 0.999))))
param_scheduler = []  # the paper trains at a constant learning rate
train_cfg = dict(by_epoch=False, max_iters=iters_per_epoch * num_epochs, val_begin=1,
                 val_interval=iters_per_epoch * 2)
val_cfg = dict(_delete_=True, type='ValLoop')
test_cfg = dict(_delete_=True, type='TestLoop')

# ---------------------------------------------------------------- evaluation and what training shows
# The paper's figure: optimal two-threshold Dice of the muscle on F(x) against the original slice x.
dice_metric = dict(type='ThresholdDiceMetric', translated_key='fake_healthy', original_key='real_pathological')
val_evaluator = dict(_delete_=True, type='mmengine.Evaluator', metrics=[dice_metric])
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=iters_per_epoch * 2, max_keep_ckpts=3, less_keys=[], greater_keys=[]))
custom_hooks = [
    dict(type='CycleVisualizationHook', interval=iters_per_epoch),
    dict(type='ThresholdDiceHook'),
]
# TensorBoard (or Weights & Biases) besides the local files: `tools/train.py CONFIG --vis-backend tensorboard`,
# or in a config that inherits this one:
#   visualizer = dict(vis_backends=[dict(type='VisBackend'), dict(type='TensorboardVisBackend')])
randomness = dict(seed=0, diff_rank_seed=True)
