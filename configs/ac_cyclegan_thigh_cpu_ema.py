# A variant beyond the paper's losses, for either loss: the CPU config with F and G tested (and saved) as an
# exponential moving average of their weights over the training iterations (mmengine's EMAHook; momentum 0.01,
# about the last 100 of 900 iterations). GAN weights oscillate from iteration to iteration; under L_AC nothing ties
# F to real pathological slices but the adversarial loss, so F's last iterate may carry more of that noise than
# L_C's. Compare L_AC and L_C both with it (tools/cross_validate.py --config this file).
# The momentum was set a priori and checked on the development cohort (phantom seed 0) before any reported cohort.
_base_ = './ac_cyclegan_thigh_cpu.py'
custom_hooks = [dict(type='CycleVisualizationHook', interval=450), dict(type='ThresholdDiceHook'),
                dict(type='EMAHook', momentum=0.01, priority='ABOVE_NORMAL')]
