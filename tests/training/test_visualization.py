"""CycleVisualizationHook lays out real | translated | reconstructed per image and writes a PNG."""
import pytest
import torch

pytest.importorskip('mmagic')
from mmagic.structures import DataSample  # noqa: E402

from mmac.training.visualization import CycleVisualizationHook  # noqa: E402
from tests.models.test_modular_cyclegan import ASYMMETRIC, SIZE, build_model  # noqa: E402


def test_grid_layout():
    model = build_model(ASYMMETRIC)
    hook = CycleVisualizationHook(interval=1, num_samples=2)
    hook.before_train_iter(None, 0, dict(
        inputs=dict(img_healthy=torch.zeros(3, 1, SIZE, SIZE), img_pathological=torch.full((3, 1, SIZE, SIZE), 255.)),
        data_samples=[DataSample() for _ in range(3)]))
    grid = hook.make_grid(model)
    pad = 2
    # 3 columns (real, fake, reconstruction), 2 images x 2 domains = 4 rows
    assert grid.shape == (3, 4 * (SIZE + pad) + pad, 3 * (SIZE + pad) + pad)
    # first column, rows 3-4: the pathological inputs (255 -> 1.0); rows 1-2: healthy inputs (0 -> 0.0)
    first = slice(pad, pad + SIZE)
    assert torch.all(grid[0, first, first] == 0.0)
    row3 = slice(2 * (SIZE + pad) + pad, 3 * (SIZE + pad))
    assert torch.all(grid[0, row3, first] == 1.0)


def test_bad_arguments():
    with pytest.raises(ValueError):
        CycleVisualizationHook(interval=0)
