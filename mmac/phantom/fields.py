"""Smooth random 3-D fields sampled plane by plane (textures, infiltration patterns, septa waviness).

A field is white Gaussian noise on a coarse 3-D grid, low-pass filtered with an anisotropic Gaussian
(scipy.ndimage.gaussian_filter) and standardised to zero mean and unit standard deviation. Planes are
linearly interpolated along z and bilinearly upsampled onto the render grid, so a field is continuous along z
and costs one small interpolation per plane.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


class SmoothField:
    """A standardised smooth random field over the field of view and a z range.

    Args:
        rng: Random generator.
        n_render: Side of the square render grid the planes are returned on.
        fov: Field of view in mm. Defaults to 256.
        z_range: ``(z_min, z_max)`` in mm covered by the field.
        sigma: Gaussian correlation lengths ``(sx, sy, sz)`` in mm.
        coarsen: Render pixels per field grid cell in-plane (a divisor of ``n_render``). Defaults to 2.
        dz: Grid spacing along z in mm. Defaults to 3.5.
    """

    def __init__(self, rng: np.random.Generator, n_render: int, z_range: tuple[float, float],
                 sigma: tuple[float, float, float], fov: float = 256.0, coarsen: int = 2, dz: float = 3.5):
        if n_render % coarsen:
            raise ValueError(f"coarsen={coarsen} must divide the render grid size {n_render}")
        self.n_render = n_render
        self.coarsen = coarsen
        n = n_render // coarsen
        h = fov / n
        self.z0 = z_range[0] - 2 * dz
        self.dz = dz
        nz = int(np.ceil((z_range[1] - z_range[0]) / dz)) + 5
        white = rng.standard_normal((n, n, nz), dtype=np.float32)
        vol = ndimage.gaussian_filter(white, (sigma[0] / h, sigma[1] / h, sigma[2] / dz), mode="wrap")
        vol -= vol.mean()
        vol /= max(float(vol.std()), 1e-12)
        self.vol = np.ascontiguousarray(vol.transpose(2, 0, 1))    # (nz, n, n): contiguous planes

    def plane(self, z_mm: float) -> np.ndarray:
        """The field on the render grid at ``z_mm``, ``(n_render, n_render)`` float32."""
        u = float(np.clip((z_mm - self.z0) / self.dz, 0, self.vol.shape[0] - 1.000001))
        k = int(u)
        f = np.float32(u - k)
        p = (1 - f) * self.vol[k] + f * self.vol[k + 1]         # (n_g, n_g)
        if self.coarsen == 1:
            return p
        i0, i1, w0, w1 = self._interp
        # Separable linear upsampling without BLAS (no thread contention in parallel workers):
        p = np.ascontiguousarray((p[i0] * w0 + p[i1] * w1).T)  # (n_g, n_g) -> (n_render, n_g) -> transposed
        return (p[i0] * w0 + p[i1] * w1).T                      # (n_g, n_render) -> (n_render, n_render)

    @property
    def _interp(self):
        """Periodic linear-interpolation indices and weights from the coarse grid to render pixel centres."""
        if not hasattr(self, "_cache"):
            n = self.vol.shape[1]
            u = (np.arange(self.n_render) + 0.5) / self.coarsen - 0.5
            i0 = np.floor(u).astype(np.int64)
            w = (u - i0).astype(np.float32)[:, None]
            self._cache = (i0 % n, (i0 + 1) % n, 1 - w, w)
        return self._cache
