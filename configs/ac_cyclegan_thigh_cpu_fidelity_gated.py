# The main job's config (CPU settings + fidelity term) with gated residual generators (not in the paper):
#     F(x) = x + sigmoid(m(x)) * tanh(r(x))      (UNetGenerator(gated=True), images in [-1, 1])
# A per-pixel gate lets F leave a pixel exactly as it was. Measured on the development cohort (phantom seed 0,
# docs/science.md, row BA) against the fidelity config; run on the demo cohort by
#     python tools/demo.py --seed S --config configs/ac_cyclegan_thigh_cpu_fidelity_gated.py --out <folder>
_base_ = './ac_cyclegan_thigh_cpu_fidelity.py'
model = dict(generator=dict(gated=True))
