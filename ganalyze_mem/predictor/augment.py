"""Training augmentation of the MachineMem predictor (Han et al., section 4 and appendix C), on image tensors.

- CropMix (Han et al., 2022, "CropMix: sampling a rich input distribution via multi-scale cropping"): each image is
  cropped ``crops`` times, crop k with an area fraction drawn from the k-th equal slice of ``crop_scale`` (0.8-1.0 in
  the paper), so the crops cover distinct scales. Each crop is resized to the output size; one crop, chosen at
  random, is the base, and each other crop is a pasted view: it gets the intermediate augmentation (a random
  permutation of its colour channels, with probability ``color_permute``) and is mixed in with CutMix (Yun et al.,
  2019): a box of it, with area fraction 1 - lambda, lambda ~ Beta(alpha, alpha), replaces the same box of the mix.
  The base is never recoloured. All crops come from one image, so the regression target stays the image's score.
- Horizontal flip applied in a YOCO manner (Han et al., 2022, "You Only Cut Once"): each image is cut into two halves,
  along its height or its width at random, each half is flipped on its own, and the halves are put back together.
- Random erasing (Zhong et al., 2020): with probability p a box covering 2-33% of the image, aspect ratio in
  (0.3, 3.3), is filled with uniform random values.

All draws come from the caller's `torch.Generator`, so a batch is augmented the same way on every run and device.
Images stay in [0, 1] (the project's image contract); normalisation happens afterwards, inside the model wrapper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

# the five non-identity permutations of (R, G, B)
_PERMS = torch.tensor([[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])


def _rng(g: torch.Generator) -> np.random.Generator:
    """A NumPy generator seeded from `g` (for Beta draws, which torch cannot take a generator for)."""
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=g)))


def sample_boxes(rng: np.random.Generator, n: int, h: int, w: int, scale: tuple[float, float],
                 ratio: tuple[float, float], tries: int = 10) -> np.ndarray:
    """n boxes (top, left, height, width) with area fraction in `scale` and aspect w/h in `ratio`, inside h x w.

    Like RandomResizedCrop: up to `tries` draws per box; when none fits, the largest centred box of the clamped ratio.
    """
    out = np.zeros((n, 4), dtype=np.float64)
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for i in range(n):
        for _ in range(tries):
            area = h * w * rng.uniform(*scale)
            r = math.exp(rng.uniform(*log_r))
            bw, bh = math.sqrt(area * r), math.sqrt(area / r)
            if bw <= w and bh <= h:
                out[i] = (rng.uniform(0, h - bh), rng.uniform(0, w - bw), bh, bw)
                break
        else:
            r = min(max(w / h, ratio[0]), ratio[1])
            bw, bh = (w, w / r) if w / h <= r else (h * r, h)
            out[i] = ((h - bh) / 2, (w - bw) / 2, bh, bw)
    return out


def crop_resize(images: torch.Tensor, boxes: np.ndarray, size: int) -> torch.Tensor:
    """Crop each image (row k of `boxes` applies to image k) and resize the crop to size x size (bilinear)."""
    t = torch.as_tensor(boxes, dtype=torch.float32, device=images.device)
    rois = torch.stack([torch.arange(len(t), device=images.device, dtype=torch.float32),
                        t[:, 1], t[:, 0], t[:, 1] + t[:, 3], t[:, 0] + t[:, 2]], dim=1)
    return roi_align(images, rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=2, aligned=True)


def box_masks(boxes: np.ndarray, height: int, width: int, device) -> torch.Tensor:
    """N x 1 x height x width masks that are 1 inside each (top, left, height, width) box."""
    t = torch.as_tensor(boxes, dtype=torch.float32, device=device)
    ys = torch.arange(height, device=device, dtype=torch.float32) + 0.5
    xs = torch.arange(width, device=device, dtype=torch.float32) + 0.5
    inside_y = (ys[None] >= t[:, :1]) & (ys[None] < t[:, :1] + t[:, 2:3])
    inside_x = (xs[None] >= t[:, 1:2]) & (xs[None] < t[:, 1:2] + t[:, 3:4])
    return (inside_y[:, :, None] & inside_x[:, None, :])[:, None].float()


def cutmix_boxes(rng: np.random.Generator, n: int, size: int, alpha: float) -> np.ndarray:
    """CutMix boxes: area fraction 1 - lambda, lambda ~ Beta(alpha, alpha), uniform centre, clipped to the image."""
    lam = rng.beta(alpha, alpha, size=n)
    cut = size * np.sqrt(1.0 - lam)
    cy, cx = rng.uniform(0, size, size=n), rng.uniform(0, size, size=n)
    y1, y2 = np.clip(cy - cut / 2, 0, size), np.clip(cy + cut / 2, 0, size)
    x1, x2 = np.clip(cx - cut / 2, 0, size), np.clip(cx + cut / 2, 0, size)
    return np.stack([y1, x1, y2 - y1, x2 - x1], axis=1)


def mix_order(rng: np.random.Generator, n: int, crops: int) -> np.ndarray:
    """n x crops: for each image, a random order of its crops; column 0 is the base, the others are pasted on it."""
    return np.argsort(rng.random((n, crops)), axis=1)


def color_permute(images: torch.Tensor, prob: float, g: torch.Generator) -> torch.Tensor:
    """Permute the RGB channels of each image with probability `prob` (a non-identity permutation)."""
    n = images.shape[0]
    apply = torch.rand(n, generator=g) < prob
    choice = torch.randint(0, len(_PERMS), (n,), generator=g)
    perms = torch.where(apply[:, None], _PERMS[choice], torch.arange(3).expand(n, 3)).to(images.device)
    return torch.gather(images, 1, perms[:, :, None, None].expand_as(images))


def yoco_flip(images: torch.Tensor, prob: float, g: torch.Generator) -> torch.Tensor:
    """Horizontal flip in a YOCO manner: cut in two along H or W, flip each half with probability `prob`."""
    n, _, h, w = images.shape
    along_width = (torch.rand(n, generator=g) < 0.5).to(images.device)
    flips = (torch.rand(n, 2, generator=g) < prob).to(images.device)

    def flip_some(x: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
        return torch.where(which[:, None, None, None], x.flip(-1), x)

    hw, hh = w // 2, h // 2
    by_width = torch.cat([flip_some(images[..., :hw], flips[:, 0]), flip_some(images[..., hw:], flips[:, 1])], dim=-1)
    by_height = torch.cat([flip_some(images[..., :hh, :], flips[:, 0]), flip_some(images[..., hh:, :], flips[:, 1])],
                          dim=-2)
    return torch.where(along_width[:, None, None, None], by_width, by_height)


def random_erase(images: torch.Tensor, prob: float, g: torch.Generator, scale=(0.02, 0.33), ratio=(0.3, 3.3)
                 ) -> torch.Tensor:
    """Random erasing with uniform random fill, applied to each image with probability `prob`."""
    n, c, h, w = images.shape
    apply = (torch.rand(n, generator=g) < prob).tolist()
    rng = _rng(g)
    boxes = sample_boxes(rng, n, h, w, scale, ratio)
    if not any(apply):
        return images
    idx = [i for i, a in enumerate(apply) if a]
    mask = box_masks(boxes[idx], h, w, images.device)
    fill = torch.rand(len(idx), c, h, w, generator=g).to(images.device)
    out = images.clone()
    out[idx] = images[idx] * (1 - mask) + fill * mask
    return out


@dataclass
class TrainAugment:
    """CropMix (with CutMix and colour permutation) -> YOCO horizontal flip -> random erasing, on [0, 1] batches."""

    size: int
    crop_scale: tuple[float, float] = (0.8, 1.0)
    crops: int = 2
    color_permute: float = 0.5
    cutmix_alpha: float = 1.0
    erase_prob: float = 0.5
    flip_prob: float = 0.5
    ratio: tuple[float, float] = (3 / 4, 4 / 3)

    def cropmix(self, images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """CropMix as published: ``crops`` crops of one image from disjoint scale slices; one of them, chosen at
        random per image, is the base; each other crop is colour-permuted (the intermediate augmentation, with
        probability ``color_permute``) and pasted onto the base with a CutMix box."""
        n, _, h, w = images.shape
        rng = _rng(g)
        lo, hi = self.crop_scale
        step = (hi - lo) / self.crops
        views = [crop_resize(images, sample_boxes(rng, n, h, w, (lo + k * step, lo + (k + 1) * step), self.ratio),
                             self.size) for k in range(self.crops)]
        order = mix_order(rng, n, self.crops)
        stacked = torch.stack(views)  # crops x N x 3 x size x size
        rows = torch.arange(n, device=images.device)
        mixed = stacked[torch.as_tensor(order[:, 0], device=images.device), rows]
        for k in range(1, self.crops):
            pasted = color_permute(stacked[torch.as_tensor(order[:, k], device=images.device), rows],
                                   self.color_permute, g)
            mask = box_masks(cutmix_boxes(rng, n, self.size, self.cutmix_alpha), self.size, self.size, images.device)
            mixed = mixed * (1 - mask) + pasted * mask
        return mixed.clamp_(0, 1)

    def __call__(self, images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        x = self.cropmix(images, g)
        x = yoco_flip(x, self.flip_prob, g)
        return random_erase(x, self.erase_prob, g)


def plain_resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """The no-augmentation training transform: resize the batch to size x size."""
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
