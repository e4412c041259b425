"""CropMix as published (issue 10): only the pasted view is colour-permuted, and the base crop is chosen at random."""

from __future__ import annotations

import numpy as np
import torch

from ganalyze_mem.predictor.augment import TrainAugment, mix_order


def _recoloured(prob: float, n: int = 400) -> torch.Tensor:
    """Per image, the fraction of output pixels whose colour is not the input's (R, G, B) = (0.1, 0.5, 0.9)."""
    rgb = torch.tensor([0.1, 0.5, 0.9])[None, :, None, None].expand(n, 3, 40, 40).contiguous()
    aug = TrainAugment(32, color_permute=prob, erase_prob=0.0, flip_prob=0.0)
    out = aug.cropmix(rgb, torch.Generator().manual_seed(0))
    same = (out - rgb[:, :, :32, :32]).abs().amax(dim=1) < 1e-4
    return 1.0 - same.float().mean(dim=(1, 2))


def test_only_the_pasted_view_is_recoloured():
    frac = _recoloured(1.0)
    # The base is never permuted: no image comes out wholly recoloured, and on average the pasted box covers
    # E[1 - lambda] = 1/2 of the image (Beta(1, 1)), clipped at the borders.
    assert float(frac.max()) < 0.99
    assert 0.2 < float(frac.mean()) < 0.5
    half = _recoloured(0.5)
    images = float((half > 0).float().mean())
    assert 0.4 < images < 0.6  # about half of the images hold a recoloured pasted view
    assert float((half > 0.99).float().mean()) == 0.0
    assert float(_recoloured(0.0).max()) == 0.0


def test_base_crop_is_chosen_at_random():
    order = mix_order(np.random.default_rng(0), 2000, 2)
    assert sorted(order[0].tolist()) == [0, 1]
    base_small = float((order[:, 0] == 0).mean())
    assert 0.45 < base_small < 0.55  # the smaller-scale crop is the base for half of the images, not always
    three = mix_order(np.random.default_rng(1), 3000, 3)
    assert all(0.28 < float((three[:, 0] == k).mean()) < 0.39 for k in range(3))
