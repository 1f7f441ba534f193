"""Two gloo ranks with different data must end with identical parameters (gradients averaged across ranks).

mmagic's CycleGAN calls its networks around the DistributedDataParallel wrappers (``get_module``), so the
wrappers' gradient hooks never arm; the stock model is run through the same harness to show the test can
fail, and ModularCycleGAN must pass it both under mmengine's MMSeparateDistributedDataParallel and with no
DDP hooks at all.
"""
import os
import sys

import pytest
import torch
import torch.multiprocessing as mp

pytest.importorskip("mmagic")

ITERS = 3


def _worker(rank, world, init_file, model_types, out_dir):
    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    from mmengine.registry import init_default_scope

    from mmac import register_all_modules

    register_all_modules()
    init_default_scope("mmagic")
    for model_type in model_types:
        _train(rank, model_type, out_dir)
    dist.destroy_process_group()


def _train(rank, model_type, out_dir):
    from mmagic.registry import MODELS
    from mmagic.structures import DataSample
    from mmengine import MessageHub
    from mmengine.model.wrappers import MMSeparateDistributedDataParallel
    from mmengine.optim import OptimWrapper, OptimWrapperDict

    torch.manual_seed(100 + rank)  # different initial weights: the wrapper must broadcast rank 0's
    cfg = dict(
        type=model_type.split("+")[0],
        data_preprocessor=dict(type="DataPreprocessor", data_keys=["img_healthy", "img_pathological"]),
        generator=dict(type="UNetGenerator", num_down=4, base_channels=4),
        discriminator=dict(type="PatchDiscriminator", in_channels=1, base_channels=4, num_conv=2,
                           norm_cfg=dict(type="IN")),
        default_domain="healthy", reachable_domains=["healthy", "pathological"],
        related_domains=["healthy", "pathological"], buffer_size=0)
    if model_type.startswith("ModularCycleGAN"):
        cfg["cycle_loss"] = dict(type="AsymmetricCycleLoss", loss_weight=1.0)
    if model_type.endswith("+fast"):
        cfg["fast_step"] = dict()  # eager on CPU, batched calls, gradients all-reduced inside the step
    model = MODELS.build(cfg)
    wrapped = MMSeparateDistributedDataParallel(model, broadcast_buffers=False, find_unused_parameters=True)
    optim = OptimWrapperDict(
        generators=OptimWrapper(torch.optim.Adam(model.generators.parameters(), lr=1e-2)),
        discriminators=OptimWrapper(torch.optim.Adam(model.discriminators.parameters(), lr=1e-2)))
    hub = MessageHub.get_current_instance()
    g = torch.Generator().manual_seed(rank)  # different data on each rank
    for it in range(ITERS):
        hub.update_info("iter", it)
        data = dict(inputs=dict(img_healthy=torch.rand(2, 1, 16, 16, generator=g) * 255,
                                img_pathological=torch.rand(2, 1, 16, 16, generator=g) * 255),
                    data_samples=[DataSample(), DataSample()])
        wrapped.train_step(data, optim)
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()},
               os.path.join(out_dir, f"{model_type}_rank{rank}.pth"))


@pytest.fixture(scope="module")
def differing(tmp_path_factory):
    """Parameter names that differ between the two ranks after training, per model type."""
    out = tmp_path_factory.mktemp("ddp")
    types = ("ModularCycleGAN", "ModularCycleGAN+fast", "CycleGAN")
    mp.start_processes(_worker, args=(2, str(out / "dist_init"), types, str(out)), nprocs=2,
                       start_method="spawn")
    result = {}
    for t in types:
        a, b = torch.load(out / f"{t}_rank0.pth"), torch.load(out / f"{t}_rank1.pth")
        result[t] = [k for k in a if not torch.allclose(a[k], b[k], rtol=0, atol=1e-6)]
    return result


def test_modular_cyclegan_ranks_stay_identical(differing):
    assert differing["ModularCycleGAN"] == []


def test_fast_iteration_ranks_stay_identical(differing):
    assert differing["ModularCycleGAN+fast"] == []


def test_stock_cyclegan_ranks_diverge(differing):
    # The bug this project fixes: without averaged gradients, ranks train different models.
    assert any(k.startswith("generators") for k in differing["CycleGAN"])
