"""The transformer contract: (z, y, alpha) -> z', a step in latent space meant to change an assessor's score by alpha.

Transformers are trained by `ganalyze_mem.train` (GANalyze). `alpha` is one number per sample (shape N).
"""

from __future__ import annotations

import torch
from torch import nn


class Transformer(nn.Module):
    """Base class: subclasses implement `forward(z, y, alpha)`."""

    def __init__(self, dim_z: int, num_classes: int):
        super().__init__()
        self.dim_z = dim_z
        self.num_classes = num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError
