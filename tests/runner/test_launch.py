"""mmac.runner.launch: one data_root for the three loaders of a config."""
import warnings

import pytest

pytest.importorskip("mmagic")

from mmac.runner.launch import LOADERS, load_config  # noqa: E402
from tests.conftest import CPU_CONFIG, REPO  # noqa: E402


def user_config(tmp_path, body: str):
    path = tmp_path / "my_study.py"
    path.write_text(body)
    return str(path)


def documented_config() -> str:
    """The user config of docs/real_data.md ("# configs/my_study.py" block), its base made absolute."""
    text = (REPO / "docs" / "real_data.md").read_text()
    block = text.split("# configs/my_study.py\n", 1)[1].split("```", 1)[0]
    assert block.count("\n") == 4, block  # the four lines the docs promise
    return block.replace("'./ac_cyclegan_thigh.py'", f"'{REPO}/configs/ac_cyclegan_thigh.py'")


def test_documented_user_config_points_every_loader_at_the_study(tmp_path):
    config = user_config(tmp_path, documented_config())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = load_config(config)
    assert not [w for w in caught if "data_root" in str(w.message)]  # no loader disagrees with the top level
    assert [cfg[k].dataset.data_root for k in LOADERS] == ["/data/thigh_study"] * 3
    assert cfg.work_dir == "./work_dirs/my_study" and cfg.train_cfg.max_iters == 16000
    assert cfg.model.cycle_loss.type == "AsymmetricCycleLoss"


@pytest.mark.parametrize("config", [CPU_CONFIG, REPO / "configs" / "ac_cyclegan_thigh.py",
                                    REPO / "configs" / "c_cyclegan_thigh.py"])
def test_cfg_option_data_root_reaches_every_loader(config):
    cfg = load_config(str(config), cfg_options={"data_root": "/elsewhere"})
    assert [cfg[k].dataset.data_root for k in LOADERS] == ["/elsewhere"] * 3


def test_shipped_default_data_roots():
    assert {load_config(str(CPU_CONFIG))[k].dataset.data_root for k in LOADERS} == {"data/demo_cohort"}
    cfg = load_config(str(REPO / "configs" / "ac_cyclegan_thigh.py"))
    assert {cfg[k].dataset.data_root for k in LOADERS} == {"data/phantom"}


def test_a_loader_naming_its_own_root_keeps_it_and_is_warned_about():
    with pytest.warns(UserWarning, match=r"val_dataloader.dataset.data_root='/site_b' differs"):
        cfg = load_config(str(CPU_CONFIG), cfg_options={"data_root": "/site_a",
                                                        "val_dataloader.dataset.data_root": "/site_b"})
    assert cfg.train_dataloader.dataset.data_root == "/site_a"
    assert cfg.val_dataloader.dataset.data_root == "/site_b"


def test_none_without_a_top_level_data_root(tmp_path):
    config = user_config(tmp_path, f"_base_ = '{REPO}/configs/ac_cyclegan_thigh.py'\ndata_root = None\n")
    with pytest.raises(ValueError, match="train_dataloader.dataset.data_root is None.*no top-level data_root"):
        load_config(config)


def test_documented_mask_labels_reach_the_three_loaders(tmp_path):
    text = (REPO / "docs" / "real_data.md").read_text()
    block = "train_dataloader" + text.split("```python\ntrain_dataloader", 1)[1].split("```", 1)[0]
    cfg = load_config(user_config(tmp_path, documented_config() + block))
    assert [cfg[k].dataset.mask_labels for k in LOADERS] == [[1, 2, 3, 4, 5, 6, 7, 8]] * 3
    assert cfg.test_dataloader.dataset.split == "val" and cfg.train_dataloader.dataset.split == "train"


def test_readme_shows_the_documented_user_config():
    readme = (REPO / "README.md").read_text()
    assert "# configs/my_study.py\n" + documented_config().replace(f"'{REPO}/configs/ac_cyclegan_thigh.py'",
                                                                  "'./ac_cyclegan_thigh.py'") in readme


def test_cfg_options_read_lists_of_dicts_as_configs_write_them():
    from mmac.runner.launch import parse_cfg_options

    options = parse_cfg_options(["visualizer.vis_backends=[dict(type='VisBackend'), "
                                 "dict(type='TensorboardVisBackend', save_dir='a,b')]", "a=[1,2]", "b=x"])
    assert options == {"visualizer.vis_backends": [{"type": "VisBackend"},
                                                   {"type": "TensorboardVisBackend", "save_dir": "a,b"}],
                       "a": [1, 2], "b": "x"}
    assert parse_cfg_options(["k=(dict(n=-1, t=True, s=None),)"]) == {"k": ({"n": -1, "t": True, "s": None},)}
    with pytest.raises(ValueError, match=r"--cfg-options x: 'os.system\(1\)' is not a literal"):
        parse_cfg_options(["x=[dict(a=os.system(1))]"])
    with pytest.raises(ValueError, match="--cfg-options y: cannot read"):
        parse_cfg_options(["y=[dict(a=1)"])
