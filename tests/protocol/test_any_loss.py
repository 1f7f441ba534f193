"""Any registered cycle loss through the whole protocol: grid, runs, report, with no change to mmac."""
import pandas as pd
import pytest

pytest.importorskip('mmagic')


def user_config(tmp_path, body=''):
    from tests.conftest import CPU_CONFIG

    path = tmp_path / 'my_study.py'
    path.write_text(f"_base_ = '{CPU_CONFIG}'\n"
                    "custom_imports = dict(imports=['mmac.registration', 'tests.protocol.user_cycle_loss'],\n"
                    "                      allow_failed_imports=False)\n"
                    "cycle_losses = dict(L_W=dict(type='WeightedCycleLoss', healthy_weight=3.0))\n" + body)
    return str(path)


def cli_options(cohort):
    from tests.conftest import tiny_options

    options = tiny_options(cohort, max_iters=2)
    options.pop('custom_hooks')
    return [f'{k}={v}' for k, v in options.items()]


def load_tool(name):
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location(f'any_loss_tool_{name}', REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_user_loss_runs_through_cross_validate_and_the_report(tiny_cohort, tmp_path):
    from mmac.report import make_report

    out = tmp_path / 'cv'
    rc = load_tool('cross_validate').main(['--config', user_config(tmp_path), '--losses', 'L_C', 'L_W',
                                           'WeightedCycleLoss', '--weights', '1', '--folds', '0', '--repeats', '1',
                                           '--iters', '2', '--out', str(out), '--no-progress', '--cfg-options',
                                           *cli_options(tiny_cohort)])
    assert rc == 0
    results = pd.read_csv(out / 'results.csv')
    assert set(results['loss']) == {'L_C', 'L_W', 'WeightedCycleLoss'}
    # The run's model trained with the user's loss and its options (a name of cycle_losses), or with the
    # registered type and its defaults (a type name), each at loss_weight = w_c.
    from mmengine.config import Config

    trained = Config.fromfile(str(out / 'runs' / 'L_W_wc1_f0_r0' / 'run_config.py'), import_custom_modules=False)
    assert trained.model.cycle_loss == dict(type='WeightedCycleLoss', loss_weight=1.0, healthy_weight=3.0)
    by_type = Config.fromfile(str(out / 'runs' / 'WeightedCycleLoss_wc1_f0_r0' / 'run_config.py'),
                              import_custom_modules=False)
    assert by_type.model.cycle_loss == dict(type='WeightedCycleLoss', loss_weight=1.0)

    written = make_report(out, reference='L_C')
    files = written['files']
    table = pd.read_csv(files['table1_long.csv'])
    assert {'L_W, w_c=1', 'WeightedCycleLoss, w_c=1', 'L_C (b), w_c=1'} <= set(table['column'])
    tests = pd.read_csv(files['pvalues.csv'])
    assert {'L_W vs L_C', 'WeightedCycleLoss vs L_C', 'L_W vs original'} <= set(tests['comparison'])
    spread = pd.read_csv(files['loss_difference.csv'])
    assert set(spread['comparison']) == {'L_W - L_C', 'WeightedCycleLoss - L_C'}
    assert 'fig3.png' in files and 'boxplots.png' in files  # Fig. 3 shows L_C beside the first other loss
    report = files['report.md'].read_text()
    assert 'L_W - L_C' in report and 'F(x) of the L_W run' in report
    # Another reference: everything against L_W.
    again = make_report(out, out_dir=tmp_path / 'against_L_W', reference='L_W')
    assert set(pd.read_csv(again['files']['loss_difference.csv'])['comparison']) == {
        'L_C - L_W', 'WeightedCycleLoss - L_W'}


def test_cross_validate_refuses_an_unknown_loss_or_a_bad_option_before_training(tiny_cohort, tmp_path, capsys):
    tool = load_tool('cross_validate')
    common = ['--weights', '1', '--folds', '0', '--repeats', '1', '--iters', '2', '--out', str(tmp_path / 'cv'),
              '--cfg-options', *cli_options(tiny_cohort)]
    assert tool.main(['--config', user_config(tmp_path), '--losses', 'L_C', 'NoSuchLoss', *common]) == 2
    err = capsys.readouterr().err
    assert "--losses NoSuchLoss: not one of the paper's losses (L_C, L_AC), not a name in the config's " \
           "cycle_losses (L_W)" in err
    bad = user_config(tmp_path, "cycle_losses = dict(L_W=dict(type='WeightedCycleLoss', healthy_weigth=3.0))\n")
    assert tool.main(['--config', bad, '--losses', 'L_W', *common]) == 2
    err = capsys.readouterr().err
    assert "--losses L_W" in err and "did you mean 'healthy_weight'" in err
    assert tool.main(['--config', user_config(tmp_path), '--losses', 'L-W', *common]) == 2
    assert "letters, digits and underscores" in capsys.readouterr().err
    assert not (tmp_path / 'cv').exists()


def test_cycle_loss_config_table():
    from mmac.protocol.grid import cycle_loss_config

    assert cycle_loss_config('L_AC', 0.5) == dict(type='AsymmetricCycleLoss', loss_weight=0.5, domain='healthy')
    assert cycle_loss_config('Mine', 2.0) == dict(type='Mine', loss_weight=2.0)
    assert cycle_loss_config('L_M', 2.0, dict(L_M=dict(type='Mine', k=1))) == dict(type='Mine', loss_weight=2.0,
                                                                                   k=1)
    assert cycle_loss_config('L_M', 2.0, dict(L_M=dict(type='Mine', loss_weight=5.0)))['loss_weight'] == 5.0
    with pytest.raises(ValueError, match="must be a loss config dict with a 'type'"):
        cycle_loss_config('L_M', 1.0, dict(L_M=dict(k=1)))


def test_the_grid_configs_take_their_loss_from_the_protocol_table():
    from mmengine.config import Config

    from mmac.protocol.grid import cycle_loss_config
    from tests.conftest import REPO

    weights = {'025': 0.25, '050': 0.5, '100': 1.0}
    configs = sorted((REPO / 'configs' / 'grid').glob('*.py'))
    assert len(configs) == 6
    for path in configs:
        loss = 'L_AC' if path.name.startswith('ac_') else 'L_C'
        w_c = weights[path.stem.rsplit('_wc', 1)[1]]
        assert Config.fromfile(str(path)).model.cycle_loss == cycle_loss_config(loss, w_c), path.name
