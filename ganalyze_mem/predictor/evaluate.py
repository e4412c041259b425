"""Evaluation of a memorability predictor on held-out images: predictions with the deterministic transform and the
metrics the paper and ResMem report (Spearman's rho, Pearson's r, MSE).

The deterministic transform is the assessors' own: the whole image resized to image_size x image_size (antialiased
bilinear), normalised inside `Regressor`, no crop. So the numbers a run reports are the numbers `--assessor NAME`
gives once the run is promoted.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats
from torch import nn

from ..backbones import normalizer
from ..progress import bar
from ..stats import correlation_cis
from .data import ImageScores, loader, raise_image_errors


class Regressor(nn.Module):
    """A backbone with a 1-output head, fed [0, 1] images, normalised or not (``normalization`` "imagenet"/"none")."""

    def __init__(self, backbone: nn.Module, normalization: str):
        super().__init__()
        self.net = backbone
        self.norm = normalizer(normalization)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(images)).reshape(images.shape[0])


def metrics(predicted, measured) -> dict[str, float | None]:
    """Spearman's rho, Pearson's r and MSE; a correlation that is undefined (constant input) is None."""
    p = np.asarray(predicted, dtype=np.float64)
    m = np.asarray(measured, dtype=np.float64)
    out: dict[str, float | None] = {"mse": float(np.mean((p - m) ** 2)) if len(p) else None}
    for name, fn in (("spearman", stats.spearmanr), ("pearson", stats.pearsonr)):
        value = None
        if len(p) >= 2 and np.ptp(p) > 0 and np.ptp(m) > 0:
            value = float(fn(p, m)[0])
            value = value if math.isfinite(value) else None
        out[name] = value
    return out


def bootstrap_intervals(predicted, measured, resamples: int = 2000, seed: int = 0,
                        confidence: float = 0.95) -> dict[str, list[float] | None]:
    """Percentile bootstrap intervals of Spearman's rho and Pearson's r (`stats.correlation_cis`):
    ``{"spearman_ci": [lo, hi], "pearson_ci": [lo, hi]}``."""
    return correlation_cis(predicted, measured, resamples, seed, confidence)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, dataset, indices: list[int], batch_size: int, device: str,
                          num_workers: int = 0) -> int:
    """Re-estimate every BatchNorm's running mean and variance as plain averages over `indices` of `dataset`
    ("precise BN"); returns the number of batches used. The training forward pass is unaffected (it uses batch
    statistics); evaluation then uses statistics of the current weights instead of a lagging running average."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or len(indices) < 2:
        return 0
    if len(indices) % batch_size == 1:  # a batch of one image has no batch statistics
        indices = indices[:-1]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    was_training = model.training
    model.train()
    batches = 0
    for images, _, idx, errors in loader(dataset, batch_size, num_workers, order=list(indices)):
        raise_image_errors(dataset.table, idx, errors)
        model(images.to(device))
        batches += 1
    for m, momentum in zip(bns, momenta, strict=True):
        m.momentum = momentum
    model.train(was_training)
    return batches


@torch.no_grad()
def predict(model: Regressor, dataset: ImageScores, batch_size: int, device: str, num_workers: int = 0,
            progress: bool = False, desc: str = "evaluate") -> np.ndarray:
    """Predictions for every item of `dataset`, in order, in float32 with the model in eval mode."""
    was_training = model.training
    model.eval()
    out = []
    batches = bar(loader(dataset, batch_size, num_workers), desc=desc, leave=False, show=progress, unit="batch")
    for images, _, idx, errors in batches:
        raise_image_errors(dataset.table, idx, errors)
        out.append(model(images.to(device)).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)
