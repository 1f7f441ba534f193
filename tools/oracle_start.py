r"""Fit F and G to the synthetic cohort's truth, as a start for the unpaired training (a diagnostic).

F learns x -> t and G learns t -> x (L1, paired) on the training part of a fold; the checkpoint starts an
unpaired training with ``load_from``, so that one can see whether L_C or L_AC keeps an F that already removes
the infiltration (docs/science.md, rows BF-BJ). Needs the phantom's healthy counterparts; see
mmac.apis.oracle. With several folds, {fold} in --out names each fold's checkpoint, and one grid call trains
every fold from its own:

    python tools/oracle_start.py configs/ac_cyclegan_thigh_cpu.py --data-root data/phantom_dev \
        --folds 0 1 --num-folds 2 --iters 800 --out starts/truth_f{fold}.pth
    python tools/cross_validate.py --config configs/ac_cyclegan_thigh_cpu.py --folds 0 1 ... \
        --cfg-options load_from=starts/truth_f{fold}.pth ...
"""
from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the config whose model (F, G, discriminators) is fitted and saved')
    parser.add_argument('--data-root', required=True, help='synthetic cohort folder (with manifest.csv)')
    parser.add_argument('--folds', '--fold', dest='folds', type=int, nargs='+', required=True,
                        help='the folds whose training parts are used, one checkpoint each')
    parser.add_argument('--num-folds', type=int, default=5, help='patient-level folds (default 5)')
    parser.add_argument('--iters', type=int, default=800, help='Adam steps (default 800)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the batches and the model (default 0)')
    parser.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE',
                        help='overrides of the config (its model and test size), as in tools/train.py; give the '
                             'grid the same ones')
    parser.add_argument('--out', required=True,
                        help='checkpoint to write; {fold} in it becomes the fold (needed with several folds)')
    args = parser.parse_args(argv)
    if len(args.folds) != len(set(args.folds)):
        parser.error(f'duplicate --folds: {args.folds}')
    if len(args.folds) > 1 and '{fold}' not in args.out:
        parser.error(f'--out {args.out!r} needs {{fold}} with several --folds, or each fold would overwrite it')
    bad = [f for f in args.folds if not 0 <= f < args.num_folds]
    if bad:
        parser.error(f'--folds {bad} outside [0, {args.num_folds}) (--num-folds {args.num_folds})')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmac.runner.launch import cli_error

    try:
        import torch

        from mmac import register_all_modules
        from mmac.apis.oracle import pretrain_with_truth, training_patients, truth_pairs
        from mmac.runner.launch import load_config, parse_cfg_options

        register_all_modules(init_default_scope=True)
        from mmagic.registry import MODELS

        cfg = load_config(args.config, cfg_options=parse_cfg_options(args.cfg_options))
        size = cfg.test_dataloader.dataset.get('size', 256)
        for fold in args.folds:  # every fold checked before the first is fitted
            training_patients(args.data_root, fold, args.num_folds)
        for fold in args.folds:
            x, t, subjects = truth_pairs(args.data_root, fold, args.num_folds, size)
            out = args.out.replace('{fold}', str(fold))
            print(f'fold {fold}: {len(x)} slice pairs of {len(subjects)} training subjects: {", ".join(subjects)}')
            torch.manual_seed(args.seed)
            model = MODELS.build(cfg.model)
            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
            pretrain_with_truth(model, x, t, args.iters, out, seed=args.seed)
            print(f'checkpoint: {out}')
    except (FileNotFoundError, ValueError, TypeError) as exc:
        return cli_error(exc)
    return 0


if __name__ == '__main__':
    from mmac._compat import quiet_third_party_warnings

    quiet_third_party_warnings()
    sys.exit(main())
