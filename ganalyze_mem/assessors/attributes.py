"""Differentiable pixel-statistic assessors that need no weights: brightness (HSV value), saturation, contrast and
colourfulness (Hasler & Suesstrunk, 2003). They are positive controls for GANalyze training, since their "right
answer" is known, and image attributes in the paper's section 5.1.
"""

from __future__ import annotations

import torch

from .base import Assessor


class Brightness(Assessor):
    """Mean HSV value (max over RGB) of the image, in [0, 1]."""

    name = "brightness"
    higher_is = "brighter"

    def score(self, images: torch.Tensor) -> torch.Tensor:
        return images.amax(dim=1).mean(dim=(1, 2))


class Saturation(Assessor):
    """Mean HSV saturation, (max - min) / max per pixel, in [0, 1]."""

    name = "saturation"
    higher_is = "more saturated"

    def score(self, images: torch.Tensor) -> torch.Tensor:
        mx, mn = images.amax(dim=1), images.amin(dim=1)
        return ((mx - mn) / mx.clamp_min(1e-3)).mean(dim=(1, 2))


class Contrast(Assessor):
    """RMS contrast: standard deviation of luminance (Rec. 601 weights), in [0, 0.5]."""

    name = "contrast"
    score_range = (0.0, 0.5)
    higher_is = "more contrast"

    def score(self, images: torch.Tensor) -> torch.Tensor:
        lum = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
        return (lum.var(dim=(1, 2), unbiased=False) + 1e-8).sqrt()


class Colorfulness(Assessor):
    """Hasler & Suesstrunk colourfulness, sqrt(s_rg^2 + s_yb^2) + 0.3 sqrt(m_rg^2 + m_yb^2), on 0-255 RGB.

    About 0 for grey images; 100+ for very colourful ones.
    """

    name = "colorfulness"
    score_range = (0.0, 200.0)
    higher_is = "more colourful"

    def score(self, images: torch.Tensor) -> torch.Tensor:
        x = images * 255.0
        rg = x[:, 0] - x[:, 1]
        yb = 0.5 * (x[:, 0] + x[:, 1]) - x[:, 2]
        std = (rg.var(dim=(1, 2), unbiased=False) + yb.var(dim=(1, 2), unbiased=False) + 1e-6).sqrt()
        mean = (rg.mean(dim=(1, 2)) ** 2 + yb.mean(dim=(1, 2)) ** 2 + 1e-6).sqrt()
        return std + 0.3 * mean
