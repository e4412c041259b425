"""GANalyze's `one_direction` transformer: one learned vector theta, T(z, y, alpha) = z + alpha * theta.

Goetschalckx et al. (ICCV 2019), section 3: the simplest transformer, the same direction for every class. Like the
original, theta starts as a standard normal draw (here from the run's own generator, never the global RNG).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Transformer


class OneDirection(Transformer):
    """z' = z + alpha * theta (theta norm-bounded, see `Transformer`), rescaled to the norm of z."""

    def __init__(self, dim_z: int, num_classes: int, seed: int = 0, max_step: float | None = None,
                 alpha_scale: float = 1.0):
        super().__init__(dim_z, num_classes, max_step, alpha_scale)
        g = torch.Generator().manual_seed(int(seed))
        self.theta = nn.Parameter(torch.randn(1, self.dim_z, generator=g))

    def direction(self, z: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return self.theta.expand(z.shape[0], -1)
