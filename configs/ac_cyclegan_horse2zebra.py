# Drop-in: mmagic's unmodified stock horse2zebra CycleGAN with the asymmetric cycle loss. Only the model type
# changes and a cycle_loss is added (w_c = 10 as in the stock config; the cycle kept starts from zebra images).
# update_order keeps the stock loop's order (discriminators, then generators against the updated ones), so that
# switching the loss is the only change; the thigh configs keep the paper's order (generators first).
_base_ = 'mmagic::cyclegan/cyclegan_lsgan-resnet-in_1xb1-270kiters_horse2zebra.py'
custom_imports = dict(imports=['mmac.registration'], allow_failed_imports=False)  # registers mmac's components
model = dict(type='ModularCycleGAN', cycle_loss=dict(type='AsymmetricCycleLoss', loss_weight=10., domain='zebra'),
             update_order='discriminators_first')
