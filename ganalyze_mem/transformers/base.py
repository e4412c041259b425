"""The transformer contract: (z, y, alpha) -> z', a step in latent space meant to change an assessor's score by alpha.

Transformers are trained by `ganalyze_mem.visualise.train` (GANalyze, Goetschalckx et al., ICCV 2019). `alpha` is one
number per sample (shape N). Every transformer returns ``z`` itself at ``alpha = 0`` and keeps the norm of each
sample's z (`keep_norm`), so that a step moves along the sphere the generator was trained on instead of off it.

Steps are bounded (`max_step`): GANalyze's transformers bound nothing, and a trained one can learn to replace every
image by one template (steps of twice |z|; GANalyze's own issue #5). Here the per-unit-alpha step d is soft-clamped in
norm, d * c tanh(|d| / c) / |d| with c = max_step |z| / alpha_scale, so that |z' - z| <= max_step |z| (before the
norm-keeping rescale) at |alpha| = alpha_scale (the training range's largest |alpha|) and grows linearly with |alpha|
beyond it (strips at k alpha). The clamp is smooth (gradients never vanish at the bound) and near the identity for
steps well inside it.
"""

from __future__ import annotations

import math
import warnings

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


def soft_clamp(d: torch.Tensor, limit: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Each row of `d` with its norm mapped through ``limit * tanh(norm / limit)``: below `limit` always, the identity
    to first order for rows much shorter than it."""
    norm = d.norm(dim=1, keepdim=True)
    return d * (limit * torch.tanh(norm / limit) / norm.clamp_min(eps))


RENORMS = ("sample", "batch")


def batch_norm_like(z: torch.Tensor, moved: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """GANalyze's renormalisation, for exact replication (``--renorm batch``): `moved` rescaled to the norm of the
    whole batch `z` (``z.norm() * moved / moved.norm()``), so a sample's result depends on its batch."""
    return moved * (z.norm() / moved.norm().clamp_min(eps))


_warned_unbounded: set[str] = set()


def warn_unbounded(where: str) -> None:
    """Say once per source that a transformer saved before steps were bounded is used unbounded."""
    if where in _warned_unbounded:
        return
    _warned_unbounded.add(where)
    warnings.warn(f"{where}: this transformer was saved before steps were bounded (no max_step in its card); it is "
                  "used unbounded, as it was trained. Retrain it to get bounded edits.", stacklevel=3)


class Transformer(nn.Module):
    """Base class: subclasses implement `direction(z, y, alpha)`, a step per unit alpha; `forward` applies it.

    ``forward(z, y, alpha) = keep_norm(z, z + alpha * bound(direction(z, y, alpha)))``, where `bound` is the soft norm
    clamp of the module docstring when `max_step` is set (None: unbounded, as GANalyze and old checkpoints).
    """

    def __init__(self, dim_z: int, num_classes: int, max_step: float | None = None, alpha_scale: float = 1.0):
        super().__init__()
        self.dim_z = int(dim_z)
        self.num_classes = int(num_classes)
        if max_step is not None and not (math.isfinite(max_step) and max_step > 0):
            raise GanalyzeError(f"max_step must be a positive finite number (or None: unbounded), got {max_step}.")
        if not (math.isfinite(alpha_scale) and alpha_scale > 0):
            raise GanalyzeError(f"alpha_scale must be a positive finite number, got {alpha_scale}.")
        self.max_step = None if max_step is None else float(max_step)
        self.alpha_scale = float(alpha_scale)
        self.renorm = "sample"  # or "batch" (GANalyze's); set after construction, recorded in the card

    def extra_config(self) -> dict:
        """Constructor arguments beyond dim_z and num_classes, saved with a trained transformer."""
        return {"max_step": self.max_step, "alpha_scale": self.alpha_scale}

    def direction(self, z: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def bounded(self, z: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """The per-unit-alpha step `d` under the bound: |d| < max_step |z| / alpha_scale."""
        if self.max_step is None:
            return d
        limit = (self.max_step / self.alpha_scale) * z.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return soft_clamp(d, limit)

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

    def step(self, z: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
        """z' - z before the norm-keeping rescale: alpha times the bounded per-unit-alpha step."""
        a = self.check(z, y, alpha)
        return a * self.bounded(z, self.direction(z, y, a))

    def forward(self, z: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
        moved = z + self.step(z, y, alpha)
        return batch_norm_like(z, moved) if self.renorm == "batch" else keep_norm(z, moved)
