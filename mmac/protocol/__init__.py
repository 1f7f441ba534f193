"""The paper's cross-validation grid as a library: run specs, one run, the resumable grid, result files."""
from mmac.protocol.grid import LOSSES, RunSpec, make_grid

__all__ = ["LOSSES", "RunSpec", "make_grid"]
