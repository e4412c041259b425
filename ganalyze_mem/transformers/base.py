"""The transformer contract: (z, y, alpha) -> z', a step in latent space meant to change an assessor's score by alpha.

Transformers are trained by `ganalyze_mem.visualise.train` (GANalyze, Goetschalckx et al., ICCV 2019). `alpha` is one
number per sample (shape N). Every transformer returns ``z`` itself at ``alpha = 0`` and keeps the norm of each
sample's z (`keep_norm`), so that a step moves along the sphere the generator was trained on instead of off it.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GanalyzeError


def keep_norm(z: torch.Tensor, moved: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Rescale each row of `moved` to the norm of the same row of `z`.

    The original GANalyze PyTorch code rescaled by the norm of the whole batch (``z.norm() * z' / z'.norm()``), which
    makes one sample's result depend on the other samples in its batch and on the batch size; a strip made at batch
    size 1 would differ from the same seed trained at batch size 4. Per-sample rescaling keeps the intent (stay near
    the latent distribution's typical radius) while making T(z_i) a function of z_i alone.
    """
    return moved * (z.norm(dim=1, keepdim=True) / moved.norm(dim=1, keepdim=True).clamp_min(eps))


RENORMS = ("sample", "batch")


def batch_norm_like(z: torch.Tensor, moved: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """GANalyze's renormalisation, for exact replication (``--renorm batch``): `moved` rescaled to the norm of the
    whole batch `z` (``z.norm() * moved / moved.norm()``), so a sample's result depends on its batch."""
    return moved * (z.norm() / moved.norm().clamp_min(eps))


class Transformer(nn.Module):
    """Base class: subclasses implement `direction(z, y, alpha)`, a step per sample; `forward` applies it.

    ``forward(z, y, alpha) = keep_norm(z, z + alpha * direction(z, y, alpha))``.
    """

    def __init__(self, dim_z: int, num_classes: int):
        super().__init__()
        self.dim_z = int(dim_z)
        self.num_classes = int(num_classes)
        self.renorm = "sample"  # or "batch" (GANalyze's); set after construction, recorded in the card

    def extra_config(self) -> dict:
        """Constructor arguments beyond dim_z and num_classes, saved with a trained transformer."""
        return {}

    def direction(self, z: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def check(self, z: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
        """Validate shapes; return alpha as an N x 1 tensor on z's device and dtype."""
        if z.ndim != 2 or z.shape[1] != self.dim_z:
            raise GanalyzeError(f"{type(self).__name__}: z must be N x {self.dim_z}, got {tuple(z.shape)}.")
        if y.ndim != 2 or y.shape != (z.shape[0], self.num_classes):
            raise GanalyzeError(f"{type(self).__name__}: y must be N x {self.num_classes}, got {tuple(y.shape)}.")
        alpha = torch.as_tensor(alpha, dtype=z.dtype, device=z.device)
        if alpha.ndim == 0:
            alpha = alpha.expand(z.shape[0])
        if alpha.shape != (z.shape[0],):
            raise GanalyzeError(f"alpha must be one number per sample ({z.shape[0]}), got {tuple(alpha.shape)}.")
        return alpha[:, None]

    def forward(self, z: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
        a = self.check(z, y, alpha)
        moved = z + a * self.direction(z, y, a)
        return batch_norm_like(z, moved) if self.renorm == "batch" else keep_norm(z, moved)
