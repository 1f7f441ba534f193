"""mmac.runner.config_checks: misspelt keys, data knobs that would not reach the loaders, data checked first."""
import pytest

pytest.importorskip("mmagic")

from mmac.runner.config_checks import apply_data_knobs, assigned_names, check_top_level_keys  # noqa: E402
from mmac.runner.launch import LOADERS, load_config  # noqa: E402
from tests.conftest import CPU_CONFIG, REPO  # noqa: E402

BASE = f"_base_ = '{REPO}/configs/ac_cyclegan_thigh.py'\n"


def user_config(tmp_path, body: str) -> str:
    path = tmp_path / "my_study.py"
    path.write_text(body)
    return str(path)


def test_assigned_names_are_the_files_own(tmp_path):
    config = user_config(tmp_path, BASE + "a = 1\nb: int = 2\nc, (d, e) = 3, (4, 5)\nf += 1\nif True:\n    g = 1\n")
    assert assigned_names(config) == {"_base_", "a", "b", "c", "d", "e", "f"}


def test_a_misspelt_data_root_is_refused(tmp_path):
    # Without the check the loaders keep the base's data/phantom and training runs on the synthetic cohort.
    config = user_config(tmp_path, BASE + "data_rot = '/data/thigh_study'\n")
    with pytest.raises(ValueError, match=r"my_study.py: unknown top-level key 'data_rot'; did you mean 'data_root'"):
        load_config(config)
    with pytest.raises(ValueError, match=r"--cfg-options: unknown top-level key 'data_rot'; did you mean 'data_root'"):
        load_config(str(CPU_CONFIG), cfg_options={"data_rot": "/x"})
    with pytest.raises(ValueError, match="did you mean 'num_folds'"):
        load_config(user_config(tmp_path, BASE + "num_fold = 2\n"))
    with pytest.raises(ValueError, match="did you mean 'work_dir'"):
        load_config(user_config(tmp_path, BASE + "work_dirs = './w'\n"))
    with pytest.raises(ValueError, match="did you mean 'custom_hooks'"):
        load_config(user_config(tmp_path, BASE + "costum_hooks = []\n"))


def test_own_variables_and_overrides_pass(tmp_path):
    config = user_config(tmp_path, BASE + "study = 'hip'\niters = 10\ndata_root = '/d'\nlr = 3e-4\n"
                                          "train_pipeline = []\ntest_pipeline = []\n")
    cfg = load_config(config)
    assert cfg.study == "hip" and cfg.train_dataloader.dataset.data_root == "/d" and cfg.train_pipeline == []
    # a new key close to an inherited variable of the base (not a runner key or data knob) is the user's own
    assert load_config(user_config(tmp_path, BASE + "train_pipelines = 1\n")).train_pipelines == 1


@pytest.mark.parametrize("config", sorted((REPO / "configs").glob("*.py")) + sorted((REPO / "configs" / "grid")
                                                                                    .glob("*.py")), ids=str)
def test_every_shipped_config_passes_the_checks(config):
    load_config(str(config))


def test_top_level_data_knobs_reach_the_loaders(tmp_path):
    config = user_config(tmp_path, BASE + "data_root = '/d'\nimage_size = 64\nfold = 1\nnum_folds = 2\n"
                                          "fold_seed = 3\nmanifest = 'study.csv'\n")
    logged = []
    cfg = load_config(config)
    for key in LOADERS:
        dataset = cfg[key].dataset
        assert (dataset.size, dataset.fold, dataset.num_folds, dataset.fold_seed, dataset.manifest) == \
            (64, 1, 2, 3, "study.csv"), key
    # what apply_data_knobs says it did, on a fresh load (nothing left to do the second time)
    from mmengine.config import Config

    raw = Config.fromfile(config)
    lines = apply_data_knobs(raw, config, log=logged.append)
    assert lines == logged and "config: image_size = 64 applied to train_dataloader, val_dataloader, " \
                                 "test_dataloader (dataset.size)" in lines
    assert apply_data_knobs(raw, config, log=logged.append) == []


def test_loader_options_win_over_the_knob():
    # The shipped CPU config sets image_size = 64 itself; a loader given on the command line keeps its own size.
    cfg = load_config(str(CPU_CONFIG), cfg_options={"test_dataloader.dataset.size": 128})
    assert (cfg.train_dataloader.dataset.size, cfg.val_dataloader.dataset.size,
            cfg.test_dataloader.dataset.size) == (64, 64, 128)
    cfg = load_config(str(CPU_CONFIG), cfg_options={"image_size": 96})
    assert {cfg[k].dataset.size for k in LOADERS} == {96}


def test_loaders_that_disagree_with_the_knob_and_each_other_are_refused(tmp_path):
    config = user_config(tmp_path, BASE + "image_size = 64\ntrain_dataloader = dict(dataset=dict(size=96))\n")
    with pytest.raises(ValueError, match=r"image_size = 64 at top level, but the loaders disagree "
                                         r"\(train_dataloader.dataset.size=96, val_dataloader.dataset.size=256"):
        load_config(config)


def test_check_top_level_keys_needs_the_user_to_have_set_the_key(tmp_path):
    from mmengine.config import Config

    config = user_config(tmp_path, BASE)
    cfg = Config.fromfile(config)
    cfg["data_rootx"] = 1  # present, but neither in the file nor in the options: inherited, not the user's
    check_top_level_keys(cfg, config)


def test_preflight_explains_a_misspelt_dataset_argument(tiny_cohort):
    from mmac.runner.config_checks import preflight_datasets

    cfg = load_config(str(CPU_CONFIG), cfg_options={"data_root": str(tiny_cohort),
                                                    "train_dataloader.dataset.mask_label": [1]})
    with pytest.raises(ValueError, match=r"train_dataloader.dataset: ThighMRDataset has no argument 'mask_label'; "
                                         r"did you mean 'mask_labels'\? Allowed: manifest, data_root, .*size"):
        preflight_datasets(cfg)


def test_preflight_passes_good_data(tiny_cohort):
    from mmac.runner.config_checks import preflight_datasets

    preflight_datasets(load_config(str(CPU_CONFIG), cfg_options={"data_root": str(tiny_cohort)}))


def test_top_level_pipelines_reach_their_loaders(tmp_path):
    """The base builds the loaders' pipelines from train_pipeline and test_pipeline; a user's own reach them."""
    config = user_config(tmp_path, BASE
                         + "train_pipeline = [dict(type='PackDomainInputs', keys=['img_healthy'])]\n"
                         + "test_pipeline = [dict(type='PackDomainInputs', keys=['img_pathological'])]\n")
    cfg = load_config(config)
    assert [p['keys'] for p in cfg.train_dataloader.dataset.pipeline] == [['img_healthy']]
    assert [p['keys'] for p in cfg.val_dataloader.dataset.pipeline] == [['img_pathological']]
    assert [p['keys'] for p in cfg.test_dataloader.dataset.pipeline] == [['img_pathological']]
    # the shipped configs are untouched: their loaders hold the base's pipelines already
    base = load_config(str(REPO / "configs" / "ac_cyclegan_thigh.py"))
    assert base.train_dataloader.dataset.pipeline[0]['type'] == 'RandomRot90'


def test_no_config_of_the_mmagic_zoo_is_taken_for_a_typo():
    """Every config mmagic ships, checked as if it set every key itself (stricter than loading it): none has a key
    the check would refuse (variables it reads, like the CycleGAN configs' dataroot, are its own)."""
    import glob
    import os

    import mmagic

    from mmac.runner.config_checks import misspelt_keys

    root = os.path.join(os.path.dirname(mmagic.__file__), ".mim", "configs")
    files = sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True))
    assert len(files) > 100
    assert [(os.path.relpath(f, root), misspelt_keys(f, [])) for f in files if misspelt_keys(f, [])] == []


def test_a_variable_the_file_reads_is_its_own(tmp_path):
    config = user_config(tmp_path, BASE + "dataroot = '/d'\ndata_root = dataroot\n"
                                          "gen_cfg = dict(type='UNetGenerator', num_down=5)\n"
                                          "model = dict(generator=gen_cfg)\n")
    assert load_config(config).data_root == "/d"


def test_preflight_finds_the_thigh_dataset_inside_a_wrapper(tiny_cohort):
    """A RepeatDataset around the thigh dataset is built by the runner as it is; the preflight checks the inner
    dataset (whose misspelt argument it names where it sits) and never gives the wrapper a pipeline."""
    from mmac.runner.config_checks import preflight_datasets

    cfg = load_config(str(CPU_CONFIG), cfg_options={"data_root": str(tiny_cohort)})
    inner = cfg.train_dataloader.dataset
    cfg.train_dataloader.dataset = dict(type="RepeatDataset", times=2, dataset=inner)
    preflight_datasets(cfg)
    cfg.train_dataloader.dataset = dict(type="RepeatDataset", times=2, dataset=dict(inner, mask_label=[1]))
    with pytest.raises(ValueError, match=r"train_dataloader.dataset.dataset: ThighMRDataset has no argument "
                                         r"'mask_label'"):
        preflight_datasets(cfg)


def test_a_knob_and_loader_options_that_contradict_each_other_are_refused():
    """--cfg-options num_folds=3 beside loaders the options pin at 5 (as the presets do): one has to go."""
    pinned = {f"{k}.dataset.num_folds": 5 for k in LOADERS}
    with pytest.raises(ValueError, match=r"--cfg-options sets num_folds=3 and also train_dataloader.dataset."
                                         r"num_folds=5, val_dataloader.dataset.num_folds=5"):
        load_config(str(CPU_CONFIG), cfg_options=dict(pinned, num_folds=3))
    cfg = load_config(str(CPU_CONFIG), cfg_options=dict(pinned, num_folds=5))  # agreeing: fine
    assert {cfg[k].dataset.num_folds for k in LOADERS} == {5}


# Every data knob at top level, each with a value other than the dataset's default (and the base config's).
KNOB_VALUES = dict(manifest="manifest.csv", image_size=32, fold=1, num_folds=2, fold_seed=3, resize_mode="pad",
                   annotation_every=2, annotation_offset=1, mask_labels=[1], random_pairing=False, cache=False,
                   disk_cache=False, load_workers=1, progress=False, lazy_init=True, max_refetch=7)
# What the built ThighMRDataset shows of each knob: attribute and value.
BUILT = dict(manifest=("ann_file", None), image_size=("size", 32), fold=("fold", 1), num_folds=("num_folds", 2),
             fold_seed=("fold_seed", 3), resize_mode=("resize_mode", "pad"), annotation_every=("annotation_every", 2),
             annotation_offset=("annotation_offset", 1), mask_labels=("mask_labels", (1,)),
             random_pairing=("random_pairing", False), cache=("cache", False), disk_cache=("disk_cache", None),
             load_workers=("load_workers", 1), progress=("progress", False), lazy_init=("_fully_initialized", False),
             max_refetch=("max_refetch", 7))


def test_every_dataset_argument_is_a_knob_or_said_where_to_set():
    import inspect

    from mmac.datasets.thigh_mr import ThighMRDataset
    from mmac.runner.config_checks import DATA_KNOBS, LOADER_ONLY

    arguments = set(inspect.signature(ThighMRDataset.__init__).parameters) - {"self"}
    assert arguments == set(DATA_KNOBS.values()) | set(LOADER_ONLY)
    assert set(KNOB_VALUES) == set(BUILT) == set(DATA_KNOBS) - {"data_root"}


def test_every_top_level_data_knob_reaches_the_built_datasets(tiny_cohort, tmp_path):
    """A top-level mask_labels used to stay in the config only: Dice then counted every label as muscle."""
    from mmagic.registry import DATASETS

    body = f"data_root = {str(tiny_cohort)!r}\n" + "".join(f"{k} = {v!r}\n" for k, v in KNOB_VALUES.items())
    cfg = load_config(user_config(tmp_path, BASE + body))
    for key in LOADERS:
        dataset = DATASETS.build(cfg[key].dataset)
        assert dataset.data_root == str(tiny_cohort), key
        for knob, (attribute, value) in BUILT.items():
            expected = str(tiny_cohort / KNOB_VALUES[knob]) if knob == "manifest" else value
            assert getattr(dataset, attribute) == expected, (key, knob)


def test_a_data_knob_from_cfg_options_reaches_the_loaders():
    cfg = load_config(str(CPU_CONFIG), cfg_options={"mask_labels": [1, 2], "resize_mode": "resize"})
    assert [cfg[k].dataset.mask_labels for k in LOADERS] == [[1, 2]] * 3
    assert {cfg[k].dataset.resize_mode for k in LOADERS} == {"resize"}


def test_a_knob_left_to_the_default_in_one_loader_is_no_disagreement(tmp_path):
    # The base sets annotation_every in the val loader only; the train loader takes the dataset's default.
    cfg = load_config(user_config(tmp_path, BASE + "annotation_every = 2\n"))
    assert [cfg[k].dataset.annotation_every for k in LOADERS] == [2, 2, 2]


@pytest.mark.parametrize("key, value, hint", [
    ("size", 64, "the top-level key is image_size"),
    ("split", "'val'", r"set <loader>.dataset.split"),
    ("test_mode", True, r"set <loader>.dataset.test_mode"),
    ("subjects", "['S01']", r"set <loader>.dataset.subjects"),
    ("pipeline", "[]", "train_pipeline and test_pipeline"),
    ("domains", "['fat', 'lean']", "model.reachable_domains"),
])
def test_a_top_level_key_that_reaches_no_loader_is_refused(tmp_path, key, value, hint):
    with pytest.raises(ValueError, match=rf"my_study.py: the top-level key '{key}' reaches no loader \(.*{hint}"):
        load_config(user_config(tmp_path, BASE + f"{key} = {value}\n"))
    with pytest.raises(ValueError, match=rf"--cfg-options: the top-level key '{key}' reaches no loader"):
        load_config(str(CPU_CONFIG), cfg_options={key: 1})


def test_loader_only_keys_the_file_uses_itself_pass(tmp_path):
    config = user_config(tmp_path, BASE + "subjects = ['S01']\ntrain_dataloader = dict(dataset=dict(fold=None, "
                                          "subjects=subjects))\ndomains = ['healthy', 'pathological']\n")
    assert load_config(config).train_dataloader.dataset.subjects == ["S01"]


def test_a_data_knob_without_a_thigh_loader_is_refused(tmp_path):
    config = user_config(tmp_path, f"_base_ = '{REPO}/configs/ac_cyclegan_horse2zebra.py'\nmask_labels = [1]\n")
    with pytest.raises(ValueError, match="the top-level key 'mask_labels' reaches no loader: none of "
                                         "train_dataloader, val_dataloader, test_dataloader has a ThighMRDataset"):
        load_config(config)


def test_a_misspelt_new_knob_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown top-level key 'mask_label'; did you mean 'mask_labels'"):
        load_config(user_config(tmp_path, BASE + "mask_label = [1, 2]\n"))


def test_a_config_dumped_into_a_work_dir_is_not_taken_for_typos(tiny_model):
    """mmengine's dump holds every base variable as the file's own (mmagic's stock ``dataroot``): it loads."""
    from mmac.runner.config_checks import is_dumped_config

    assert 'dataroot' in assigned_names(str(tiny_model.config)) and is_dumped_config(
        assigned_names(str(tiny_model.config)))
    load_config(str(tiny_model.config))  # used to raise "unknown top-level key 'dataroot'"
    with pytest.raises(ValueError, match="did you mean 'data_root'"):  # its --cfg-options are still checked
        load_config(str(tiny_model.config), cfg_options={"data_rot": "/x"})


def test_a_u_net_deeper_than_the_slices_allow_is_refused_with_the_depth_that_fits():
    from mmac.runner.config_checks import preflight_model

    cfg = load_config(str(CPU_CONFIG), cfg_options={"model.generator.num_down": 7})  # 64 px slices: 6 fits
    with pytest.raises(ValueError, match=r"train_dataloader\.dataset\.size = 64.*num_down <= 6"):
        preflight_model(cfg)
    preflight_model(load_config(str(CPU_CONFIG)))


@pytest.mark.parametrize("options, message", [
    ({"train_cfg.max_iter": 3}, "IterBasedTrainLoop has no argument 'max_iter'; did you mean 'max_iters'?"),
    ({"train_cfg.max_iters": 0}, r"train_cfg\.max_iters must be an integer >= 1, got 0"),
    ({"train_cfg.val_interval": -2}, r"train_cfg\.val_interval must be an integer >= 1"),
    ({"val_dataloader.batch_size": 0}, r"val_dataloader\.batch_size must be an integer >= 1, got 0"),
    ({"optim_wrapper.discriminators.optimizer.lr": -0.1},
     r"optim_wrapper\.discriminators\.optimizer\.lr must be a number >= 0, got -0\.1"),
    ({"optim_wrapper.generators.optimizer.type": "Adamm"},
     "'Adamm' is not in the optimizer registry; did you mean 'Adam'"),
])
def test_training_checks_refuse_loops_loaders_and_optimizers(options, message):
    from mmac.runner.config_checks import preflight_training

    with pytest.raises(ValueError, match=message):
        preflight_training(load_config(str(CPU_CONFIG), cfg_options=options))


def test_training_checks_pass_every_shipped_cpu_config():
    from mmac.runner.config_checks import preflight_training

    for config in sorted((REPO / "configs").glob("*_cpu*.py")):
        preflight_training(load_config(str(config)))
