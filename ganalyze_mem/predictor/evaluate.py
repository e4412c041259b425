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
from tqdm.auto import tqdm

from ..backbones import Normalize
from .data import ImageScores, loader, raise_image_errors


class Regressor(nn.Module):
    """A backbone with a 1-output head, fed [0, 1] images, normalised or not (``normalization`` "imagenet"/"none")."""

    def __init__(self, backbone: nn.Module, normalization: str):
        super().__init__()
        self.net = backbone
        self.norm = Normalize() if normalization == "imagenet" else nn.Identity()

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


def _corr_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each row pair of x and y (along the last axis); NaN where a row is constant."""
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(-1) / np.sqrt((x * x).sum(-1) * (y * y).sum(-1))


def bootstrap_intervals(predicted, measured, resamples: int = 2000, seed: int = 0,
                        confidence: float = 0.95) -> dict[str, list[float] | None]:
    """Percentile bootstrap intervals (images resampled with replacement, pairs kept) of Spearman's rho and Pearson's
    r: ``{"spearman_ci": [lo, hi], "pearson_ci": [lo, hi]}``; None with fewer than 3 images or constant input."""
    p = np.asarray(predicted, dtype=np.float64)
    m = np.asarray(measured, dtype=np.float64)
    out: dict[str, list[float] | None] = {"spearman_ci": None, "pearson_ci": None}
    if len(p) < 3 or np.ptp(p) == 0 or np.ptp(m) == 0:
        return out
    rng = np.random.default_rng(seed)
    tail = (1 - confidence) / 2 * 100
    for name in ("spearman", "pearson"):
        values = []
        for start in range(0, resamples, 500):  # chunks keep memory at 500 x n
            idx = rng.integers(0, len(p), size=(min(500, resamples - start), len(p)))
            bp, bm = p[idx], m[idx]
            if name == "spearman":
                bp, bm = stats.rankdata(bp, axis=-1), stats.rankdata(bm, axis=-1)
            values.append(_corr_rows(bp, bm))
        v = np.concatenate(values)
        v = v[np.isfinite(v)]
        if len(v) >= resamples // 2:
            out[f"{name}_ci"] = [float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))]
    return out


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
    batches = tqdm(loader(dataset, batch_size, num_workers), desc=desc, leave=False, disable=not progress, unit="batch")
    for images, _, idx, errors in batches:
        raise_image_errors(dataset.table, idx, errors)
        out.append(model(images.to(device)).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)
