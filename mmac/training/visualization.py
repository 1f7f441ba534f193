"""A hook that shows what a CycleGAN does: grids of x, F(x), G(F(x)) and y, G(y), F(G(y)) during training."""
from __future__ import annotations

import os.path as osp

import torch
from mmengine.hooks import Hook

from mmac.registry import register


@register("HOOKS")
class CycleVisualizationHook(Hook):
    """Every ``interval`` iterations, translate a fixed training batch and save an image grid.

    Columns: real, translated, reconstructed; one row per image, the model's first domain first. For the
    thigh configs (domains ``healthy``, ``pathological``) the rows read y | G(y) | F(G(y)) and then
    x | F(x) | G(F(x)), for up to ``num_samples`` images of each domain (F = ``generators['healthy']``,
    G = ``generators['pathological']``). The grid goes to
    ``<work_dir>/vis/iter_<n>.png`` and to the runner's visualizer (so to TensorBoard when the
    ``TensorboardVisBackend`` is configured).

    Args:
        interval: Iterations between grids. Defaults to 1000.
        num_samples: Images per domain. Defaults to 4.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 1000, num_samples: int = 4):
        if interval < 1 or num_samples < 1:
            raise ValueError(f"interval and num_samples must be >= 1, got {interval}, {num_samples}")
        self.interval = interval
        self.num_samples = num_samples
        self._fixed: dict | None = None

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._fixed is None and data_batch is not None:
            self._fixed = data_batch

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._fixed is None or not self.every_n_train_iters(runner, self.interval):
            return
        grid = self.make_grid(runner.model)
        path = osp.join(runner.work_dir, 'vis', f'iter_{runner.iter + 1}.png')
        import mmengine
        from torchvision.utils import save_image
        mmengine.mkdir_or_exist(osp.dirname(path))
        save_image(grid, path)
        image = (grid.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()  # (H, W, 3)
        runner.visualizer.add_image('cycle', image, step=runner.iter + 1)

    @torch.no_grad()
    def make_grid(self, model) -> torch.Tensor:
        """The grid as a float (3, H, W) tensor in [0, 1]."""
        from mmengine.model import is_model_wrapper
        from torchvision.utils import make_grid

        model = model.module if is_model_wrapper(model) else model
        data = model.data_preprocessor(self._fixed, True)
        domains = list(model.domains)
        was_training = model.training
        model.eval()
        try:
            rows = []
            for src in domains:
                tgt = model._get_opposite_domain(src)
                real = data['inputs'][f'img_{src}'][:self.num_samples]
                fake = model.translation(real, target_domain=tgt)
                rec = model.translation(fake, target_domain=src)
                rows.append(torch.stack([real, fake, rec], dim=1).flatten(0, 1))  # (3n, C, H, W), row-major
        finally:
            model.train(was_training)
        images = torch.cat(rows).float().cpu()  # (6n, C, H, W)
        images = ((images + 1) / 2).clamp(0, 1)
        return make_grid(images, nrow=3, padding=2, pad_value=1.0)
