"""Fit F and G to the synthetic cohort's truth, as a start for the unpaired training (a diagnostic).

F learns x -> t and G learns t -> x (L1, paired) on the training part of one fold; the checkpoint starts an
unpaired training with ``load_from``, so that one can see whether L_C or L_AC keeps an F that already removes
the infiltration (docs/science.md, rows BF-BJ). Needs the phantom's healthy counterparts; see
mmac.apis.oracle.

    python tools/oracle_start.py configs/ac_cyclegan_thigh_cpu.py --data-root data/phantom_dev --fold 0 \\
        --num-folds 2 --iters 800 --out oracle_f0.pth
    python tools/cross_validate.py --config configs/ac_cyclegan_thigh_cpu.py --losses L_AC L_C --folds 0 ... \\
        --cfg-options load_from=oracle_f0.pth ...       # one grid call per fold: each fold has its checkpoint
"""
from __future__ import annotations

import argparse
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the config whose model (F, G, discriminators) is fitted and saved')
    parser.add_argument('--data-root', required=True, help='synthetic cohort folder (with manifest.csv)')
    parser.add_argument('--fold', type=int, required=True, help='the fold whose training part is used')
    parser.add_argument('--num-folds', type=int, default=5, help='patient-level folds (default 5)')
    parser.add_argument('--iters', type=int, default=800, help='Adam steps (default 800)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the batches and the model (default 0)')
    parser.add_argument('--out', required=True, help='checkpoint to write')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmac.engine.launch import cli_error

    try:
        import torch

        from mmac import register_all_modules
        from mmac.apis.oracle import pretrain_with_truth, truth_pairs
        from mmac.engine.launch import load_config

        register_all_modules(init_default_scope=True)
        from mmagic.registry import MODELS

        cfg = load_config(args.config)
        size = cfg.test_dataloader.dataset.get('size', 256)
        x, t, subjects = truth_pairs(args.data_root, args.fold, args.num_folds, size)
        print(f'{len(x)} slice pairs of {len(subjects)} training subjects of fold {args.fold}: {", ".join(subjects)}')
        torch.manual_seed(args.seed)
        model = MODELS.build(cfg.model)
        pretrain_with_truth(model, x, t, args.iters, args.out, seed=args.seed)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        return cli_error(exc)
    print(f'checkpoint: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
