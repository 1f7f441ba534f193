"""Checkpoints: save, resume and load_from with torch's weights_only loader; NaN losses stop cleanly."""
import pytest
import torch

pytest.importorskip("mmagic")
from mmengine.hooks import Hook  # noqa: E402

from mmac.runner.launch import build_runner, load_config  # noqa: E402
from mmac.training.guards import NonFiniteLossError  # noqa: E402
from tests.conftest import CPU_CONFIG, tiny_options  # noqa: E402


def _train(work_dir, data_root, max_iters, resume=None, extra=None, fast=False, hooks=()):
    options = tiny_options(data_root, max_iters=max_iters, checkpoint_interval=2, deterministic=True)
    options.update(extra or {})
    cfg = load_config(str(CPU_CONFIG), work_dir=str(work_dir), cfg_options=options, resume=resume, fast=fast)
    runner = build_runner(cfg)
    for hook in hooks:
        runner.register_hook(hook)
    runner.train()
    return runner


def _load(path):
    from mmac.checkpoint import load_local_checkpoint

    return load_local_checkpoint(str(path), map_location="cpu")


@pytest.fixture(scope="module")
def straight_run(tiny_cohort, tmp_path_factory):
    work = tmp_path_factory.mktemp("straight")
    _train(work, tiny_cohort, max_iters=4)
    return work


def test_plain_torch_load_refuses_but_mmac_loader_accepts(straight_run):
    # torch >= 2.6 loads with weights_only=True: the message hub's objects are refused without the allowlist.
    with pytest.raises(Exception, match="weights_only|Unsupported global"):
        torch.load(straight_run / "iter_2.pth", map_location="cpu")
    assert _load(straight_run / "iter_2.pth")["meta"]["iter"] == 2


def test_resume_continues_where_it_stopped(straight_run, tiny_cohort, tmp_path):
    runner = _train(tmp_path, tiny_cohort, max_iters=4, resume=str(straight_run / "iter_2.pth"))
    assert runner.iter == 4
    resumed = _load(tmp_path / "iter_4.pth")
    straight = _load(straight_run / "iter_4.pth")
    # Weights: the resumed run retraces the straight one exactly (deterministic data, no buffer, CPU).
    for key, value in straight["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    # Optimizer state: Adam's step counters went on from 2 to 4, moments match the straight run.
    for name in ("generators", "discriminators"):
        steps = {int(s["step"]) for s in resumed["optimizer"][name]["state"].values()}
        assert steps == {4}, (name, steps)
        for idx, state in straight["optimizer"][name]["state"].items():
            torch.testing.assert_close(resumed["optimizer"][name]["state"][idx]["exp_avg"], state["exp_avg"],
                                       rtol=1e-5, atol=1e-7)
    assert resumed["meta"]["iter"] == 4


@pytest.mark.parametrize("resume", [False, True], ids=["straight", "resumed-from-plain"])
def test_fast_iteration_retraces_plain_training(straight_run, tiny_cohort, tmp_path, resume):
    """tools/train.py --fast through the runner: same weights and Adam state as the plain run (CPU: eager)."""
    # Separate network calls: the plain path's expressions, so the weights must match to rounding (batched
    # calls are compared in tests/training/test_fast_step.py).
    runner = _train(tmp_path, tiny_cohort, max_iters=4, fast=True, extra={"model.fast_step.batch_forwards": False},
                    resume=str(straight_run / "iter_2.pth") if resume else None)
    assert runner.model.fast_step == dict(cuda_graph='auto', channels_last=False, warmup=3, batch_forwards=False)
    assert runner.model.graphed_step is not None and not runner.model.graphed_step.enabled
    fast, plain = _load(tmp_path / "iter_4.pth"), _load(straight_run / "iter_4.pth")
    for key, value in plain["state_dict"].items():
        torch.testing.assert_close(fast["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    for name in ("generators", "discriminators"):
        assert {int(s["step"]) for s in fast["optimizer"][name]["state"].values()} == {4}


class _CapturableHook(Hook):
    """After the second iteration, makes the fast step's Adams capturable as a CUDA-graph capture does on a GPU,
    so that the checkpoint written then (iter_2.pth) comes from capturable optimizers."""

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter == 1:
            runner.model.graphed_step._make_capturable()


@pytest.mark.parametrize("fast", [False, True], ids=["plain", "fast"])
def test_checkpoint_of_capturable_optimizers_resumes_on_cpu(straight_run, tiny_cohort, tmp_path, fast):
    """Saved through the runner from capturable Adams, the checkpoint resumes on a CPU on either path (plain Adam
    asserts on capturable=True off CUDA) and retraces the straight plain run."""
    unbatched = {"model.fast_step.batch_forwards": False}
    graphed = _train(tmp_path / "graphed", tiny_cohort, max_iters=2, fast=True, extra=unbatched,
                     hooks=[_CapturableHook()])
    assert graphed.optim_wrapper["generators"].optimizer.param_groups[0]["capturable"] is True
    saved = _load(tmp_path / "graphed" / "iter_2.pth")
    for name in ("generators", "discriminators"):
        assert all(g["capturable"] is False for g in saved["optimizer"][name]["param_groups"])
    _train(tmp_path / "resumed", tiny_cohort, max_iters=4, fast=fast, extra=unbatched if fast else None,
           resume=str(tmp_path / "graphed" / "iter_2.pth"))
    resumed, plain = _load(tmp_path / "resumed" / "iter_4.pth"), _load(straight_run / "iter_4.pth")
    for key, value in plain["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    for name in ("generators", "discriminators"):
        assert {int(s["step"]) for s in resumed["optimizer"][name]["state"].values()} == {4}


def test_fast_flag_needs_modular_cyclegan(tiny_cohort, tmp_path):
    options = tiny_options(tiny_cohort)
    options["model.type"] = "CycleGAN"
    with pytest.raises(ValueError, match="--fast needs model.type='ModularCycleGAN', the config has 'CycleGAN'"):
        load_config(str(CPU_CONFIG), work_dir=str(tmp_path), cfg_options=options, fast=True)


def test_load_from_initialises_weights_only(straight_run, tiny_cohort, tmp_path):
    options = tiny_options(tiny_cohort, max_iters=1, checkpoint_interval=1, deterministic=True)
    cfg = load_config(str(CPU_CONFIG), work_dir=str(tmp_path), cfg_options=options)
    cfg.load_from = str(straight_run / "iter_4.pth")
    runner = build_runner(cfg)
    runner.train()
    assert runner.iter == 1  # a fresh schedule, not a resume


class _PoisonHook(Hook):
    """Turns the batch of one iteration into NaNs."""

    def __init__(self, at):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            for key, images in data_batch["inputs"].items():
                data_batch["inputs"][key] = [torch.full_like(img, float("nan")) for img in images]


def test_nan_loss_stops_training_and_keeps_last_checkpoint(tiny_cohort, tmp_path):
    options = tiny_options(tiny_cohort, max_iters=6, checkpoint_interval=2, deterministic=True)
    cfg = load_config(str(CPU_CONFIG), work_dir=str(tmp_path), cfg_options=options)
    runner = build_runner(cfg)
    runner.register_hook(_PoisonHook(at=3))
    with pytest.raises(NonFiniteLossError, match=r"iteration 3: loss_\w+ = nan"):
        runner.train()
    assert (tmp_path / "iter_2.pth").exists()
    assert not (tmp_path / "iter_4.pth").exists()
    good = _load(tmp_path / "iter_2.pth")
    assert all(torch.isfinite(v).all() for v in good["state_dict"].values() if v.is_floating_point())


class _CountIterations(Hook):
    def __init__(self):
        self.count = 0

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.count += 1


def _stopped_at_2(straight_run, folder):
    """A copy of the straight run as if it had stopped after iteration 2 in ``folder`` (its own last_checkpoint)."""
    import shutil

    shutil.copytree(straight_run, folder)
    (folder / "iter_4.pth").unlink()
    (folder / "last_checkpoint").write_text(str(folder / "iter_2.pth"))
    return folder


def test_resume_in_a_moved_work_dir_continues_from_its_own_checkpoint(straight_run, tiny_cohort, tmp_path):
    """mmengine's last_checkpoint holds the absolute path at saving time; after `mv a b` it names nothing."""
    import shutil

    moved = tmp_path / "b"
    shutil.move(_stopped_at_2(straight_run, tmp_path / "a"), moved)
    runner = _train(moved, tiny_cohort, max_iters=4, resume="auto")
    assert runner.cfg.load_from == str(moved / "iter_2.pth") and runner.iter == 4
    resumed, straight = _load(moved / "iter_4.pth"), _load(straight_run / "iter_4.pth")
    for key, value in straight["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_resume_in_a_copied_work_dir_never_reads_the_original(straight_run, tiny_cohort, tmp_path):
    """The copy's last_checkpoint still names the original's iter_4.pth, which exists: mmengine would resume from
    it (and train nothing); the copy resumes from its own latest checkpoint, iter_2.pth."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(straight_run, copy)
    (copy / "iter_4.pth").unlink()
    assert (copy / "last_checkpoint").read_text().strip() == str(straight_run / "iter_4.pth")
    counter = _CountIterations()
    runner = _train(copy, tiny_cohort, max_iters=4, resume="auto", hooks=[counter])
    assert counter.count == 2 and runner.iter == 4  # from iteration 2 to 4
    assert runner.cfg.load_from == str(copy / "iter_2.pth")


def test_resume_in_an_empty_work_dir_starts_fresh(tiny_cohort, tmp_path, monkeypatch):
    import mmengine.logging

    logged = []
    monkeypatch.setattr(mmengine.logging, "print_log", lambda msg, *args, **kwargs: logged.append(msg))
    runner = _train(tmp_path, tiny_cohort, max_iters=2, resume="auto")
    assert runner.iter == 2 and not runner.cfg.resume and runner.cfg.load_from is None
    assert any("nothing to resume, starting fresh" in line for line in logged), logged


def test_latest_checkpoint_looks_only_inside_the_work_dir(tmp_path):
    from mmac.runner.launch import latest_checkpoint

    elsewhere = tmp_path / "original"
    elsewhere.mkdir()
    (elsewhere / "iter_8.pth").write_bytes(b"x")
    run = tmp_path / "run"
    run.mkdir()
    assert latest_checkpoint(str(run)) is None
    for name in ("iter_4.pth", "iter_6.pth", "epoch_1.pth", "iter_x.pth"):
        (run / name).write_bytes(b"x")
    assert latest_checkpoint(str(run)) == str(run / "iter_6.pth")  # the largest n without last_checkpoint
    (run / "last_checkpoint").write_text(str(elsewhere / "iter_4.pth"))
    assert latest_checkpoint(str(run)) == str(run / "iter_4.pth")  # its name, in this work dir
    (run / "last_checkpoint").write_text(str(elsewhere / "iter_8.pth"))  # exists, but elsewhere
    assert latest_checkpoint(str(run)) == str(run / "iter_6.pth")


def test_resume_refuses_a_last_checkpoint_without_its_file(tmp_path):
    (tmp_path / "last_checkpoint").write_text("/cluster/work/run/iter_900.pth")
    with pytest.raises(FileNotFoundError, match=r"names /cluster/work/run/iter_900.pth, but iter_900.pth is not in "
                                                r".*--resume-from CKPT, or delete last_checkpoint to start fresh"):
        load_config(str(CPU_CONFIG), work_dir=str(tmp_path), cfg_options=tiny_options(tmp_path), resume="auto")
