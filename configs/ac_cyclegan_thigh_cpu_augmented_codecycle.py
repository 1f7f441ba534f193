# Augmented CycleGAN's second cycle on the finer-code augmented variant
# (configs/ac_cyclegan_thigh_cpu_augmented_fine.py): a fake G(y, z), made with the code z of a patient's slice, must
# give that code back to the encoder, 1.0 |E(G(y, z)) - sg(z)|_1, with E's weights held so that the term trains G only
# (LatentCycleLoss.code_weight; logged as code_cycle_loss). With the latent cycle alone G learns to add back what F
# removed from x, about half the severe patients' fat (G adds 0.30 to healthy muscle with their codes, where they have
# 0.49; tools/pathology_coverage.py on work_dirs/map/aug4_s3, fold 0): F's healthy cycle then learns from milder
# pathology than the patients'. The code cycle asks G's fakes to carry what E reads as the patient's pathology, at its
# strength. The weight is augmented CycleGAN's (equal to the image cycles'), set a priori; checked on the development
# cohort (phantom seed 0) first: 0.813, +0.010 against L_C (p = 0.006). Phantom seeds 3-5, two training seeds,
# severe patients: +0.006 (+0.003 to +0.009) against L_C, p = 0.0002, ahead in all six runs; +0.024 against the
# paper's L_AC (one training seed); removal 0.50 against L_C's 0.47 (docs/results.md, Result 3).
#   python tools/cross_validate.py --config configs/ac_cyclegan_thigh_cpu_augmented_codecycle.py --losses L_AUG ...
_base_ = './ac_cyclegan_thigh_cpu_augmented_fine.py'
model = dict(latent_cycle_loss=dict(code_weight=1.0))
