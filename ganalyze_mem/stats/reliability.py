"""Test-length reliability: the Spearman-Brown prophecy formula gives the reliability of a test k times as long (used
for split-half consistency of measured scores, of human scores in the memory game, and to project how many episodes
are needed)."""

from __future__ import annotations

import math

import numpy as np


def spearman_brown(r, factor: float = 2.0):
    """Reliability of a test `factor` times as long as one with reliability `r`: k r / (1 + (k - 1) r).
    Works on numbers and arrays; a number gives a float."""
    out = factor * np.asarray(r, dtype=np.float64) / (1.0 + (factor - 1.0) * np.asarray(r, dtype=np.float64))
    return float(out) if np.ndim(out) == 0 else out


def corrected(r):
    """Spearman-Brown for two halves, 2r / (1 + r), where rho is positive; a negative rho (no consistency) is
    reported as it is, since the correction would send it towards minus infinity."""
    r = np.asarray(r, dtype=np.float64)
    out = np.where(r > 0, spearman_brown(np.clip(r, 0, None)), r)
    return float(out) if out.ndim == 0 else out


def episodes_for(target: float, reliability: float | None, episodes: float) -> int | None:
    """Spearman-Brown projection: episodes needed for `target` reliability, from `reliability` at `episodes`
    (None when the reliability is not positive)."""
    if reliability is None or not math.isfinite(reliability) or reliability <= 0:
        return None
    if reliability >= 1:
        return 1
    return max(1, math.ceil(episodes * target * (1 - reliability) / (reliability * (1 - target)) - 1e-9))
