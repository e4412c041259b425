"""The assessor contract: images in [0, 1] -> one score per image.

Assessors are frozen but differentiable with respect to their input (GANalyze back-propagates through them). Each
does its own resizing and normalisation inside `forward`, and declares its score range and which way is "more".
"""

from __future__ import annotations

import torch
from torch import nn

from ..images import check_images


class Assessor(nn.Module):
    """Base class: subclasses implement `score(images) -> N`."""

    name: str = "assessor"
    score_range: tuple[float, float] = (0.0, 1.0)
    higher_is: str = "more"
    input_size: int | None = None  # the side the network wants; None when any size works

    def freeze(self) -> Assessor:
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def train(self, mode: bool = True) -> Assessor:
        # An assessor is a fixed measuring instrument: BatchNorm and dropout always in eval mode.
        return super().train(False)

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        if self.input_size is None or images.shape[-2:] == (self.input_size, self.input_size):
            return images
        return nn.functional.interpolate(images, size=(self.input_size, self.input_size), mode="bilinear",
                                         align_corners=False, antialias=True)

    def score(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, f"{self.name} input")
        out = self.score(images)
        return out.reshape(images.shape[0])
