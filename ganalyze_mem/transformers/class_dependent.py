"""GANalyze's `class_dependent` transformer: one direction per class, T(z, y, alpha) = z + alpha * (W y + b).

Goetschalckx et al. (ICCV 2019): a linear map from the class vector to a direction, so each ImageNet class can find
its own way to change the assessor's score; for a one-hot y this is one learned vector per class plus a shared one.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Transformer


class ClassDependent(Transformer):
    """z' = z + alpha * (W y + b), rescaled to the norm of z."""

    def __init__(self, dim_z: int, num_classes: int, seed: int = 0, max_step: float | None = None,
                 alpha_scale: float = 1.0):
        super().__init__(dim_z, num_classes, max_step, alpha_scale)
        self.to_direction = nn.utils.skip_init(nn.Linear, self.num_classes, self.dim_z)  # no global-RNG init
        g = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():  # initialise from our own generator, never the global RNG
            # a one-hot y picks one column: give each column and the bias a standard normal share, as one_direction
            self.to_direction.weight.copy_(torch.randn(self.dim_z, self.num_classes, generator=g) / 2**0.5)
            self.to_direction.bias.copy_(torch.randn(self.dim_z, generator=g) / 2**0.5)

    def direction(self, z: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return self.to_direction(y.to(z.dtype))
