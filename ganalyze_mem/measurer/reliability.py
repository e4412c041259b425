"""How reliable a measurement is: split-half consistency over random episode splits (the psychometrics of
memorability: Isola et al. 2011 average Spearman's rho over 25 random splits of participants, Khosla et al. 2015
likewise), corrected for the full length with Spearman-Brown, with a bootstrap 95 % interval; the Spearman-Brown
projection of how many episodes would reach a reliability of 0.8 (`stats.episodes_for`); and each image's standard
error. Spearman-Brown (`stats.corrected`) and the row-wise rank
correlation (`stats.spearman_rows`) come from `ganalyze_mem.stats`.

A measurement of several parts (sets A of |A| = n each) is judged as a whole by splitting every part's episodes at
random and correlating the half scores of all targets together; the bootstrap resamples targets within each part.
One odd/even split is a noisy estimate (one draw of the random-split distribution); it is kept for comparison.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..stats import corrected, episodes_for, percentile_interval, resample_indices, spearman_rows

SPLITS = 100  # random splits averaged for the point estimate
SPLITS_PER_RESAMPLE = 5  # random splits averaged inside each bootstrap resample
CHUNK = 200  # bootstrap resamples computed at once (bounds memory)


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
                pick = resample_indices(rng, m.shape[1], b)
                cols.append(np.repeat(pick, SPLITS_PER_RESAMPLE, axis=0))
            rho_b = split_half_rho(matrices, masks, cols).reshape(b, SPLITS_PER_RESAMPLE)
            with warnings.catch_warnings():  # a resample whose every split is constant: NaN, dropped below
                warnings.simplefilter("ignore", RuntimeWarning)
                values.append(np.nanmean(rho_b, axis=1))
        lo, hi = percentile_interval(corrected(np.concatenate(values)))
        if np.isfinite(lo):
            out["ci95"] = [lo, hi]
    return out


def standard_errors(matrix: np.ndarray) -> np.ndarray:
    """Each image's standard error: the SD of its per-episode values over sqrt(episodes) (NaN with one episode)."""
    m = np.asarray(matrix, dtype=np.float64)
    if len(m) < 2:
        return np.full(m.shape[1], np.nan)
    return m.std(axis=0, ddof=1) / math.sqrt(len(m))
