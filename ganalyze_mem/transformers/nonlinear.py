"""A `nonlinear` transformer: the step is a small network of z, y and alpha, T = z + alpha * f(z/|z|, W y, alpha).

GANalyze (Goetschalckx et al., ICCV 2019) trains linear steps; a network lets the direction depend on where z is and
how far to go, at the price of being harder to interpret. The output layer starts with small weights and a standard
normal bias, so training starts close to a `one_direction` transformer and learns deviations from it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Transformer


def _linear(n_in: int, n_out: int, bias: bool = True) -> nn.Linear:
    return nn.utils.skip_init(nn.Linear, n_in, n_out, bias=bias)  # nn.Linear's own init would use the global RNG


class Nonlinear(Transformer):
    """z' = z + alpha * f(z / |z|, embed(y), alpha), rescaled to the norm of z; f is an MLP with SiLU."""

    def __init__(self, dim_z: int, num_classes: int, seed: int = 0, hidden: int = 256, class_dim: int = 32,
                 max_step: float | None = None, alpha_scale: float = 1.0):
        super().__init__(dim_z, num_classes, max_step, alpha_scale)
        self.hidden, self.class_dim = int(hidden), int(class_dim)
        self.embed = _linear(self.num_classes, self.class_dim, bias=False)
        self.net = nn.Sequential(
            _linear(self.dim_z + self.class_dim + 1, self.hidden), nn.SiLU(),
            _linear(self.hidden, self.hidden), nn.SiLU(),
            _linear(self.hidden, self.dim_z),
        )
        self._init(int(seed))

    @torch.no_grad()
    def _init(self, seed: int) -> None:
        # every parameter from our own generator (PyTorch's default uniform bound), never the global RNG
        g = torch.Generator().manual_seed(seed)
        for layer in [self.embed, *[m for m in self.net if isinstance(m, nn.Linear)]]:
            bound = 1.0 / math.sqrt(layer.in_features)
            layer.weight.copy_((torch.rand(layer.weight.shape, generator=g) * 2 - 1) * bound)
            if layer.bias is not None:
                layer.bias.copy_((torch.rand(layer.bias.shape, generator=g) * 2 - 1) * bound)
        last = self.net[-1]
        last.weight.mul_(0.01)  # small, not zero: gradients must reach the earlier layers from the first step
        last.bias.copy_(torch.randn(last.bias.shape, generator=g))

    def extra_config(self) -> dict:
        return {**super().extra_config(), "hidden": self.hidden, "class_dim": self.class_dim}

    def direction(self, z: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        unit = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return self.net(torch.cat([unit, self.embed(y.to(z.dtype)), alpha], dim=1))
