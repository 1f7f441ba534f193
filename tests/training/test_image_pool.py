"""DeviceImagePool against a plain list-based pool driven by the same random draws (mmagic's policy)."""
import pytest
import torch

from mmac.training.image_pool import DeviceImagePool, pool_update


def reference_pool(size, ratio, batches, uniforms, slots):
    """mmagic's GANImageBuffer policy written with a Python list, the draws given explicitly."""
    stored, returned = [], []
    for images, u, s in zip(batches, uniforms, slots, strict=True):
        out = []
        for i, image in enumerate(images):
            if len(stored) < size:
                stored.append(image.clone())
                out.append(image)
            elif u[i] < ratio:
                old = stored[s[i]].clone()
                stored[s[i]] = image.clone()
                out.append(old)
            else:
                out.append(image)
        returned.append(torch.stack(out))
    return returned, stored


@pytest.mark.parametrize("size,batch", [(3, 1), (4, 3), (1, 2)])
def test_pool_update_matches_list_pool(size, batch):
    g = torch.Generator().manual_seed(size * 10 + batch)
    batches = [torch.randn(batch, 1, 4, 4, generator=g) for _ in range(12)]
    uniforms = [torch.rand(batch, generator=g) for _ in batches]
    slots = [torch.randint(0, size, (batch,), generator=g) for _ in batches]
    expected, stored = reference_pool(size, 0.5, batches, uniforms, slots)
    storage = torch.zeros(size, 1, 4, 4)
    count = torch.zeros((), dtype=torch.int64)
    for images, u, s, want in zip(batches, uniforms, slots, expected, strict=True):
        got, count = pool_update(storage, count, images, u, s, 0.5)
        assert torch.equal(got, want)
    assert int(count) == size
    assert torch.equal(storage, torch.stack(stored))


def test_pool_swaps_about_ratio_of_the_time_once_full():
    torch.manual_seed(0)
    pool = DeviceImagePool(size=5, ratio=0.3)
    for i in range(5):  # fill: every image comes back as is
        image = torch.full((1, 1, 2, 2), float(i))
        assert torch.equal(pool.query(image), image)
    swapped = 0
    n = 4000
    for i in range(n):
        image = torch.full((1, 1, 2, 2), 100.0 + i)
        swapped += int(not torch.equal(pool.query(image), image))
    # Binomial(4000, 0.3): sd 29; 6 sd either side.
    assert abs(swapped - 0.3 * n) < 6 * (n * 0.3 * 0.7) ** 0.5


def test_returned_images_come_from_history():
    torch.manual_seed(1)
    pool = DeviceImagePool(size=4)
    seen = set()
    for i in range(50):
        image = torch.full((2, 1, 1, 1), float(i)) + torch.tensor([0.0, 0.5]).view(2, 1, 1, 1)
        seen.update(image.flatten().tolist())
        out = pool.query(image)
        assert set(out.flatten().tolist()) <= seen
    assert int(pool.count) == 4


def test_size_zero_passes_through_and_bad_arguments_rejected():
    images = torch.randn(2, 1, 3, 3)
    assert DeviceImagePool(0).query(images) is images
    with pytest.raises(ValueError, match="size"):
        DeviceImagePool(-1)
    with pytest.raises(ValueError, match="ratio"):
        DeviceImagePool(3, ratio=1.5)
    pool = DeviceImagePool(3)
    pool.query(images)
    with pytest.raises(ValueError, match=r"shape \(1, 3, 3\).*got \(1, 4, 4\)"):
        pool.query(torch.randn(1, 1, 4, 4))


#: aten ops that read a device value on the host, or (index_copy_/index_put_) do so on CUDA in deterministic mode.
HOST_SYNC_OPS = ('_local_scalar_dense', 'nonzero', 'index_copy', 'index_put', 'masked_select', 'item')


def test_pool_update_calls_no_host_sync_or_index_put_op():
    """Every aten op a pool update dispatches, recorded: none that a CUDA graph cannot capture."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Record(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(func.name())
            return func(*args, **(kwargs or {}))

    g = torch.Generator().manual_seed(0)
    storage, count = torch.zeros(2, 1, 3, 3), torch.zeros((), dtype=torch.int64)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with Record() as record:
            for _ in range(3):  # fills the pool of 2, then swaps
                pool_update(storage, count, torch.randn(2, 1, 3, 3, generator=g), torch.zeros(2),
                            torch.tensor([1, 0]), 0.5)
    finally:
        torch.use_deterministic_algorithms(previous)
    assert record.ops, "nothing recorded"
    bad = sorted({op for op in record.ops if any(name in op for name in HOST_SYNC_OPS)})
    assert not bad, bad


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_pool_filled_under_cuda_graph_swaps_and_varies_slots():
    """A pool of 4 filled and used inside a captured graph, deterministic mode on: over 400 replays the
    swaps happen about half the time, every slot is rewritten, and what comes back is the history."""
    torch.manual_seed(0)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        pool = DeviceImagePool(size=4, ratio=0.5)
        static = torch.zeros(1, 1, 2, 2, device='cuda')
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            pool.query(static)  # allocate the storage before the capture (one image stored)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream):
            out = pool.query(static)
        stored_ids, returned, swaps = [], [], 0
        for i in range(1, 401):
            static.fill_(float(i))
            graph.replay()
            value = float(out[0, 0, 0, 0])
            returned.append(value)
            swaps += int(value != i)
            stored_ids.append(pool.storage[:, 0, 0, 0].cpu())
    finally:
        torch.use_deterministic_algorithms(previous)
    assert int(pool.count) == 4
    # The first 3 replays fill the pool (image 0 came from the eager call): returned as is.
    assert returned[:3] == [1.0, 2.0, 3.0]
    # Binomial(397, 0.5): sd 10; 6 sd either side.
    assert abs(swaps - 0.5 * 397) < 60, swaps
    # Replay i + 1 returns its own image (i + 1) or, swapped, an earlier one; never a later one.
    assert all(v <= i + 1 for i, v in enumerate(returned))
    # Every slot changed its content over the replays (the slot draw is not frozen at capture).
    history = torch.stack(stored_ids)  # (400, 4)
    changes = (history[1:] != history[:-1]).sum(0)
    assert (changes > 10).all(), changes
