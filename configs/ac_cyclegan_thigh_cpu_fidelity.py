# The CPU config plus a fidelity term that holds F(x) to x (not in the paper; mmac.losses.fidelity):
#     4 * mean_pixels 0.1 * (1 - exp(-|F(x) - x| / 0.1))      (images in [-1, 1])
# Small departures of F(x) from x cost as under L1; removing heavy infiltration (a change of many times 0.1) costs
# at most 0.1 per pixel. It gives F the anchor to real infiltrated slices that L_AC takes away with the
# pathological cycle, without asking F to keep the infiltration. Weight and scale were chosen on the development
# cohort (phantom seed 0; docs/science.md, rows AE-AG), not on the demo or protocol cohorts.
# The config of the README's main job (tools/demo.py) and of the CPU protocol preset (--preset cpu).
_base_ = './ac_cyclegan_thigh_cpu.py'
model = dict(fidelity_loss=dict(type='TranslationFidelityLoss', loss_weight=4.0, domain='healthy',
                                penalty='bounded_l1', scale=0.1))
