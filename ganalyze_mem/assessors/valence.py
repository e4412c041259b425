"""Valence assessor: the EmoNet emotional-valence regressor that GANalyze (Goetschalckx et al., 2019) used as its
second assessor (a ResNet-50 with one output, trained on valence ratings).

Published checkpoint: GANalyze's ``EmoNet_valence_moments_resnet50_5_best.pth.tar``, a torch checkpoint holding a
``"state_dict"`` whose keys carry a wrapper prefix (``module.model.``) and name the last layer ``last_linear``
(Cadene's pretrainedmodels naming). `convert_emonet_state_dict` maps it to torchvision's ResNet-50 names.

Preprocessing as in GANalyze: images are brought to 256 x 256, ten 224 x 224 crops are taken (four corners, the
centre at offset 17, and the horizontal flip of each), ImageNet-normalised, scored, and the ten scores averaged.
All of it runs differentiably inside `forward`. The output is an unbounded regression value; `score_range` is nominal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..backbones import Normalize
from ..weight_specs import VALENCE_CHECKPOINT, VALENCE_URL
from ..weight_specs import valence_spec as weight_spec  # noqa: F401 (where the weights live)
from ..weights import load_into, load_state_dict, resolve_weights
from .base import Assessor
from .machinemem import _uninitialised_backbone, convert_state_dict

CHECKPOINT, SOURCE_URL = VALENCE_CHECKPOINT, VALENCE_URL
FULL, CROP = 256, 224


def ten_crop(images: torch.Tensor, crop: int = CROP) -> torch.Tensor:
    """N x 3 x S x S -> (10 N) x 3 x crop x crop: corners, centre (offset floor((S - crop) / 2) + 1) and their flips.

    Crops of one image are consecutive, so ``scores.view(N, 10).mean(1)`` averages per image.
    """
    size = images.shape[-1]
    far, mid = size - crop, (size - crop) // 2 + 1  # GANalyze's centre offset (17 for 256 -> 224)
    offsets = [(0, 0), (0, far), (far, 0), (far, far), (mid, mid)]
    crops = [images[..., i:i + crop, j:j + crop] for i, j in offsets]
    crops += [c.flip(-1) for c in crops]
    return torch.stack(crops, dim=1).flatten(0, 1)


def convert_emonet_state_dict(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """GANalyze's EmoNet checkpoint -> torchvision ResNet-50 (1 output) key names.

    Strips the ``"state_dict"`` wrapper and the ``module.`` / ``model.`` prefixes, renames ``last_linear`` to ``fc``
    and adds the BatchNorm batch counters that checkpoints of that age lack (shared with the MachineMem converter).
    """
    return convert_state_dict(state)


class Valence(Assessor):
    """EmoNet emotional valence (higher = more positive), averaged over GANalyze's ten crops."""

    name = "valence"
    score_range = (0.0, 1.0)
    higher_is = "more positive emotion"
    input_size = FULL

    def __init__(self, weights: str | os.PathLike | None = None, tencrop: bool = True):
        super().__init__()
        path = resolve_weights(weight_spec(), weights)
        self.model = _uninitialised_backbone("resnet50")
        load_into(self.model, convert_emonet_state_dict(load_state_dict(path)), path)  # strict
        self.normalize = Normalize()
        self.tencrop = tencrop
        self.weights_path = Path(path)
        self.freeze()

    def score(self, images: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        if not self.tencrop:
            x = F.interpolate(images, size=(CROP, CROP), mode="bilinear", align_corners=False, antialias=True)
            return self.model(self.normalize(x))[:, 0]
        x = ten_crop(self.resize(images))
        return self.model(self.normalize(x))[:, 0].view(n, 10).mean(dim=1)


def valence(weights: str | os.PathLike | None = None, tencrop: bool = True) -> Valence:
    """Registry factory: EmoNet valence from GANalyze's published checkpoint."""
    return Valence(weights, tencrop)
