"""RMS calibration error with adaptive binning, the measure that picks each episode's stage-(b) epoch
(Han et al., section 3 and appendix D; RMS calibration error of Hendrycks et al. 2018, adaptive binning of
Nguyen & O'Connor 2015).

Predictions are sorted by confidence and split into bins of (nearly) equal count, each holding at least `bin_size`
predictions (one bin when there are fewer). With |b| the size of bin b, conf_b its mean confidence and acc_b its
accuracy, the error is sqrt(sum_b |b| / N * (acc_b - conf_b) ** 2).
"""

from __future__ import annotations

import numpy as np
import torch


def adaptive_bins(confidence: np.ndarray, bin_size: int) -> list[np.ndarray]:
    """Indices of `confidence` split into floor(N / bin_size) bins (at least one) of consecutive confidences with
    sizes differing by at most one. Ties are broken by position, so the result is deterministic."""
    n = len(confidence)
    if n == 0:
        return []
    order = np.argsort(np.asarray(confidence), kind="stable")
    return np.array_split(order, max(1, n // max(1, int(bin_size))))


def rms_calibration_error(confidence, correct, bin_size: int = 100) -> float:
    """RMS calibration error of predictions with confidence in [0, 1] and `correct` in {0, 1}."""
    conf = _numpy(confidence)
    hit = _numpy(correct)
    if conf.shape != hit.shape or conf.ndim != 1:
        raise ValueError(f"confidence and correct must be 1-D of the same length, got {conf.shape} and {hit.shape}")
    if len(conf) == 0:
        return float("nan")
    total = 0.0
    for b in adaptive_bins(conf, bin_size):
        total += len(b) * (hit[b].mean() - conf[b].mean()) ** 2
    return float(np.sqrt(total / len(conf)))


def seen_calibration_error(p_seen, seen_labels, bin_size: int = 100) -> float:
    """Calibration error of seen/unseen predictions: the prediction is 'seen' when p_seen > 0.5 (the argmax of the
    2-way head), its confidence is max(p_seen, 1 - p_seen), and it is correct when it matches the label."""
    p = _numpy(p_seen)
    labels = _numpy(seen_labels).astype(bool)
    predicted = p > 0.5
    return rms_calibration_error(np.maximum(p, 1.0 - p), (predicted == labels).astype(np.float64), bin_size)


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)
