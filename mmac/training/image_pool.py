"""An on-device image history pool for GAN discriminators, free of host synchronisation.

CycleGAN shows its discriminators a history of generated images (Shrivastava et al., 2017): mmagic's
``GANImageBuffer`` keeps a Python list and draws with ``numpy.random``, so its decisions happen on the host
and cannot be replayed by a CUDA graph. :class:`DeviceImagePool` implements the same policy with tensors
only, drawing its randomness from torch's generator on the images' device:

* while the pool holds fewer than ``size`` images, each incoming image is stored and returned as is;
* once it is full, with probability ``ratio`` the image replaces a uniformly chosen stored one, which is
  returned instead; otherwise the incoming image is returned and the pool is left alone.

The decisions are made per image of the batch, in order, as mmagic does. The draws differ from mmagic's
(torch's generator instead of numpy's), the distribution does not.
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor


def pool_update(storage: Tensor, count: Tensor, images: Tensor, uniform: Tensor, slots: Tensor,
                ratio: float = 0.5) -> tuple[Tensor, Tensor]:
    """Pass ``images`` through the pool ``(storage, count)`` with given random draws; no host sync.

    The chosen slot is read with ``index_select`` and written with a masked ``torch.where`` over the whole
    storage, not with ``index_copy_``/``index_put_``: under ``torch.use_deterministic_algorithms(True)`` CUDA
    runs those through a sorting path that reads ``index.max()`` on the host, which a CUDA graph cannot capture.
    The masked write reads and writes the whole storage once per image (about 13 MB for 50 images of 256 x 256
    in fp32, some microseconds on a current GPU), little next to the networks' passes.

    Args:
        storage: Stored images, (size, *image_shape); updated in place.
        count: Number of filled slots, a 0-dim int64 tensor on ``storage``'s device; updated in place.
        images: Incoming batch, (N, *image_shape).
        uniform: (N,) draws in [0, 1): image ``i`` swaps with a stored one when ``uniform[i] < ratio``.
        slots: (N,) int64 draws in [0, size): the stored image image ``i`` swaps with.
        ratio: Probability of returning a stored image once the pool is full.

    Returns:
        ``(returned, count)``: the (N, *image_shape) images to show the discriminator, and ``count``.
    """
    size = storage.shape[0]
    slot_ids = torch.arange(size, device=storage.device).view(size, *[1] * (storage.dim() - 1))  # (size, 1, ...)
    out = []
    for i in range(images.shape[0]):
        image = images[i:i + 1]                                   # (1, *image_shape)
        filling = count < size                                    # () bool
        swap = (~filling) & (uniform[i] < ratio)                  # () bool
        slot = torch.where(filling, count, slots[i]).reshape(1)   # (1,) int64
        old = storage.index_select(0, slot)                       # (1, *image_shape)
        out.append(torch.where(swap, old, image))
        write = (slot_ids == slot) & (filling | swap)             # (size, 1, ...) bool: at most one slot
        storage.copy_(torch.where(write, image, storage))         # (size, *image_shape)
        count.add_(filling.to(count.dtype))
    return torch.cat(out, 0), count


class DeviceImagePool:
    """Drop-in for mmagic's ``GANImageBuffer`` (same ``query``) that keeps its images on the device.

    Args:
        size: Number of images kept; 0 disables the pool (``query`` returns its input).
        ratio: Probability of answering with a stored image once the pool is full. Defaults to 0.5.
        generator: Optional ``torch.Generator`` on the images' device; defaults to torch's default one
            (which is what a CUDA graph replays correctly).
    """

    def __init__(self, size: int, ratio: float = 0.5, generator: torch.Generator | None = None):
        if size < 0:
            raise ValueError(f"image pool size must be >= 0, got {size}")
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"image pool ratio must be in [0, 1], got {ratio}")
        self.size = size
        self.ratio = ratio
        self.generator = generator
        self.storage: Tensor | None = None
        self.count: Tensor | None = None

    def reset(self) -> None:
        """Forget every stored image."""
        self.storage = None
        self.count = None

    def query(self, images: Tensor) -> Tensor:
        """Return the images the discriminator sees for the batch ``images`` (N, *image_shape)."""
        if self.size == 0:
            return images
        images = images.detach()
        if self.storage is None or self.storage.shape[1:] != images.shape[1:] \
                or self.storage.device != images.device or self.storage.dtype != images.dtype:
            if self.storage is not None:
                raise ValueError(f"DeviceImagePool holds images of shape {tuple(self.storage.shape[1:])}, "
                                 f"{self.storage.dtype} on {self.storage.device}; got "
                                 f"{tuple(images.shape[1:])}, {images.dtype} on {images.device}")
            self.storage = images.new_zeros((self.size, *images.shape[1:]))
            self.count = torch.zeros((), dtype=torch.int64, device=images.device)
        n = images.shape[0]
        uniform = torch.rand(n, device=images.device, generator=self.generator)
        slots = torch.randint(0, self.size, (n,), device=images.device, generator=self.generator)
        returned, _ = pool_update(self.storage, self.count, images, uniform, slots, self.ratio)
        return returned
