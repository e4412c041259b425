"""An `adaptive` transformer: a direction per class, and a step length that depends on where z is.

T(z, y, alpha) = z + alpha * (|z| / alpha_scale) * (W y + b) * exp(h(z, embed(y))), rescaled to the norm of z.

Why: GANalyze's `class_dependent` transformer (Goetschalckx et al., ICCV 2019) gives each class one step. When the
assessor's gain along that step varies from latent to latent within a class (per-latent gains g with coefficient of
variation CV), the least-squares step reaches a mean slope of 1 / (1 + CV^2) of the target and no more: on the
`photoedit` generator the demo predictor's gains vary with CV ~0.8, which caps `class_dependent` near 0.62 of its
target however long it trains. Here a small network h rescales the class's step per latent (by a factor in
[e^-3, e^3], starting at 1), so the step can be long where the assessor responds weakly and short where it responds
strongly; the direction itself stays the class's, so the edit keeps one meaning per class.

Units: the step is written in units of |z| at the training range's largest |alpha| (`alpha_scale`), the units of
`max_step`: W y + b of norm 0.3 means "30 % of |z| at the range's edge", whatever the assessor's score scale. So one
learning rate (about 0.05 with Adam) fits every assessor, where `one_direction` and `class_dependent` need a learning
rate matched to 1 / alpha (an assessor with SD 0.01 needs steps of ~100 per unit alpha).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Transformer

GAIN_LIMIT = 3.0  # the per-latent factor is exp(3 tanh(h / 3)): within [e^-3, e^3], smooth


def _linear(n_in: int, n_out: int, bias: bool = True) -> nn.Linear:
    return nn.utils.skip_init(nn.Linear, n_in, n_out, bias=bias)  # nn.Linear's own init would use the global RNG


class Adaptive(Transformer):
    """z' = z + alpha * (|z| / alpha_scale) * (W y + b) * exp(h(z, embed(y))), rescaled to the norm of z."""

    def __init__(self, dim_z: int, num_classes: int, seed: int = 0, hidden: int = 64, class_dim: int = 16,
                 init_step: float = 0.1, max_step: float | None = None, alpha_scale: float = 1.0):
        super().__init__(dim_z, num_classes, max_step, alpha_scale)
        self.hidden, self.class_dim, self.init_step = int(hidden), int(class_dim), float(init_step)
        self.to_direction = _linear(self.num_classes, self.dim_z)
        self.embed = _linear(self.num_classes, self.class_dim, bias=False)
        self.gain = nn.Sequential(_linear(self.dim_z + self.class_dim, self.hidden), nn.SiLU(),
                                  _linear(self.hidden, 1))
        self._init(int(seed))

    @torch.no_grad()
    def _init(self, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)  # every parameter from our own generator, never the global RNG
        # a one-hot y picks a column plus the bias: a random direction of norm about init_step (in |z| at the edge)
        scale = self.init_step / math.sqrt(2 * self.dim_z)
        self.to_direction.weight.copy_(torch.randn(self.dim_z, self.num_classes, generator=g) * scale)
        self.to_direction.bias.copy_(torch.randn(self.dim_z, generator=g) * scale)
        for layer in (self.embed, self.gain[0], self.gain[2]):
            bound = 1.0 / math.sqrt(layer.in_features)
            layer.weight.copy_((torch.rand(layer.weight.shape, generator=g) * 2 - 1) * bound)
            if layer.bias is not None:
                layer.bias.copy_((torch.rand(layer.bias.shape, generator=g) * 2 - 1) * bound)
        # the factor starts within 1 % of 1 (training starts as `class_dependent`); small, not zero, weights so that
        # gradients reach the earlier layers from the first step
        self.gain[2].weight.mul_(0.01)
        self.gain[2].bias.zero_()

    def extra_config(self) -> dict:
        return {**super().extra_config(), "hidden": self.hidden, "class_dim": self.class_dim,
                "init_step": self.init_step}

    def step_factor(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The per-latent length factor (N x 1), in [e^-3, e^3]."""
        # z itself, not z / |z|: how far an edit has saturated depends on the size of each coordinate
        h = self.gain(torch.cat([z, self.embed(y.to(z.dtype))], dim=1))
        return torch.exp(GAIN_LIMIT * torch.tanh(h / GAIN_LIMIT))

    def direction(self, z: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        radius = z.norm(dim=1, keepdim=True) / self.alpha_scale
        return self.to_direction(y.to(z.dtype)) * self.step_factor(z, y) * radius
