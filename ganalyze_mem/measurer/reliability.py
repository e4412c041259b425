"""How reliable a measurement is: split-half consistency over random episode splits (the psychometrics of
memorability: Isola et al. 2011 average Spearman's rho over 25 random splits of participants, Khosla et al. 2015
likewise), corrected for the full length with Spearman-Brown, with a bootstrap 95 % interval; the Spearman-Brown
projection of how many episodes would reach a reliability of 0.8; and each image's standard error.

A measurement of several parts (sets A of |A| = n each) is judged as a whole by splitting every part's episodes at
random and correlating the half scores of all targets together; the bootstrap resamples targets within each part.
One odd/even split is a noisy estimate (one draw of the random-split distribution); it is kept for comparison.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy.stats import rankdata

from ..stats import spearman_brown

SPLITS = 100  # random splits averaged for the point estimate
SPLITS_PER_RESAMPLE = 5  # random splits averaged inside each bootstrap resample
CHUNK = 200  # bootstrap resamples computed at once (bounds memory)


def corrected(r):
    """Spearman-Brown for two halves, 2r / (1 + r), where rho is positive; a negative rho (no consistency) is
    reported as it is, since the correction would send it towards minus infinity."""
    r = np.asarray(r, dtype=np.float64)
    out = np.where(r > 0, spearman_brown(np.clip(r, 0, None)), r)
    return float(out) if out.ndim == 0 else out


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rho between matching rows of `a` and `b` (R x N; average ranks for ties); NaN where a row is
    constant."""
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def half_masks(n_episodes: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random splits of `n_episodes` episodes: True for the first half (n // 2 episodes), False for the
    second (the rest)."""
    order = np.argsort(rng.random((count, n_episodes)), axis=1)
    return order < n_episodes // 2


def split_half_rho(matrices: list[np.ndarray], masks: list[np.ndarray], columns: list[np.ndarray] | None = None
                   ) -> np.ndarray:
    """Spearman's rho between the two halves' scores of all targets, one value per split.

    `matrices[p]`: episodes x targets of part p (0/1 seen or p(seen)); `masks[p]`: splits x episodes (True: first
    half); `columns[p]`: splits x targets indices of part p's targets in each split (a bootstrap resample), or None
    for all targets once."""
    first, second = [], []
    for p, (m, mask) in enumerate(zip(matrices, masks, strict=True)):
        m = np.asarray(m, dtype=np.float64)
        w1 = mask.astype(np.float64)
        w2 = 1.0 - w1
        h1 = (w1 @ m) / w1.sum(1, keepdims=True)
        h2 = (w2 @ m) / w2.sum(1, keepdims=True)
        if columns is not None:
            rows = np.arange(len(mask))[:, None]
            h1, h2 = h1[rows, columns[p]], h2[rows, columns[p]]
        first.append(h1)
        second.append(h2)
    return spearman_rows(np.concatenate(first, axis=1), np.concatenate(second, axis=1))


def episodes_for(target: float, reliability: float | None, episodes: float) -> int | None:
    """Spearman-Brown projection: episodes needed for `target` reliability, from `reliability` at `episodes`
    (None when the reliability is not positive)."""
    if reliability is None or not math.isfinite(reliability) or reliability <= 0:
        return None
    if reliability >= 1:
        return 1
    return max(1, math.ceil(episodes * target * (1 - reliability) / (reliability * (1 - target)) - 1e-9))


def reliability(matrices: list[np.ndarray], bootstrap: int = 1000, seed: int = 0, splits: int = SPLITS,
                target: float = 0.8) -> dict[str, Any]:
    """Split-half consistency of the scores from `matrices` (one episodes x targets matrix per part).

    ``spearman_brown``: Spearman-Brown correction (`corrected`) of Spearman's rho averaged over `splits` random
    halvings;
    ``ci95``: percentile bootstrap interval over `bootstrap` resamples of the targets (within each part), each
    averaging its own random splits; ``episodes_for_0.8`` (for `target`): the projected episodes per part;
    ``odd_even``: the single odd/even split, for comparison."""
    matrices = [np.asarray(m, dtype=np.float64) for m in matrices]
    episodes = [len(m) for m in matrices]
    n = sum(m.shape[1] for m in matrices)
    mean_m = float(np.mean(episodes)) if episodes else 0.0
    out: dict[str, Any] = {"spearman_brown": None, "rho_halves": None, "ci95": [None, None], "episodes": mean_m,
                           "targets": n, "splits": splits, "bootstrap": bootstrap,
                           f"episodes_for_{target}": None, "odd_even": None}
    if min(episodes, default=0) < 2 or n < 3:
        out["note"] = "needs at least 2 episodes per part and 3 targets"
        return out
    rng = np.random.default_rng([int(seed), 0x5B])
    rho = split_half_rho(matrices, [half_masks(e, splits, rng) for e in episodes])
    if not np.isfinite(rho).any():
        out["note"] = "every split gives a half in which all images score the same"
        return out
    r = float(np.nanmean(rho))
    sb = corrected(r)
    odd_even = split_half_rho(matrices, [(np.arange(e) % 2 == 0)[None] for e in episodes])[0]
    out.update(rho_halves=r, spearman_brown=sb, odd_even=None if not np.isfinite(odd_even)
               else corrected(float(odd_even)), rho_sd_over_splits=float(np.nanstd(rho)))
    out[f"episodes_for_{target}"] = episodes_for(target, sb, mean_m)
    if bootstrap > 0:
        values = []
        for start in range(0, bootstrap, CHUNK):
            b = min(CHUNK, bootstrap - start)
            rows = b * SPLITS_PER_RESAMPLE
            masks = [half_masks(e, rows, rng) for e in episodes]
            cols = []
            for m in matrices:
                pick = rng.integers(0, m.shape[1], (b, m.shape[1]))
                cols.append(np.repeat(pick, SPLITS_PER_RESAMPLE, axis=0))
            rho_b = split_half_rho(matrices, masks, cols).reshape(b, SPLITS_PER_RESAMPLE)
            with warnings.catch_warnings():  # a resample whose every split is constant: NaN, dropped below
                warnings.simplefilter("ignore", RuntimeWarning)
                values.append(np.nanmean(rho_b, axis=1))
        rb = np.concatenate(values)
        rb = rb[np.isfinite(rb)]
        if len(rb):
            lo, hi = np.percentile(corrected(rb), [2.5, 97.5])
            out["ci95"] = [float(lo), float(hi)]
    return out


def standard_errors(matrix: np.ndarray) -> np.ndarray:
    """Each image's standard error: the SD of its per-episode values over sqrt(episodes) (NaN with one episode)."""
    m = np.asarray(matrix, dtype=np.float64)
    if len(m) < 2:
        return np.full(m.shape[1], np.nan)
    return m.std(axis=0, ddof=1) / math.sqrt(len(m))
