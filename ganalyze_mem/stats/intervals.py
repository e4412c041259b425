"""Intervals: the Student-t interval of a mean, the bootstrap (one way to draw resamples, one way to read an interval
off them), a difference of two groups' means, and slopes of a score on alpha.

- `t_half_width`: the one t half-width, t_{(1+c)/2, n-1} s / sqrt(n), the quantile from `scipy.stats.t.ppf`;
  `mean_ci` (mean with its t interval) is built on it.
- `resample_indices`: bootstrap resamples (indices drawn with replacement); calling it in chunks draws the same
  indices as one call. `percentile_interval` / `basic_interval`: the interval read off bootstrap values.
- `compare_groups`: difference of means with a bootstrap CI (`scipy.stats.bootstrap`), a permutation test
  (`scipy.stats.permutation_test`) and a Mann-Whitney U test (`scipy.stats.mannwhitneyu`), and Cohen's d.
- `row_slopes`: least-squares slope of each row on a common x; `strip_slope`: the slope of a score on alpha pooled
  over strips (one seed image made less and more), its interval by the strip rule: a percentile bootstrap over strips
  with 3 or more strips, a t interval on 1 degree of freedom (wide, honest) with 2, none with 1.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

NAN = float("nan")


def t_half_width(sd: float, n: int, confidence: float = 0.95) -> float:
    """Half-width of the Student-t interval of a mean of `n` values with sample SD `sd` (ddof 1):
    t_{(1+confidence)/2, n-1} sd / sqrt(n); NaN with fewer than 2 values."""
    if n is None or n < 2:
        return NAN
    return float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n))


@dataclass(frozen=True)
class MeanCI:
    n: int
    mean: float
    std: float
    low: float
    high: float

    def row(self, name: str) -> dict[str, float | int | str]:
        return {"set": name, "n": self.n, "mean": self.mean, "std": self.std, "ci_low": self.low, "ci_high": self.high}

    @property
    def triple(self) -> tuple[float, float, float]:
        """(mean, low, high)."""
        return self.mean, self.low, self.high


def mean_ci(x, confidence: float = 0.95, bounds: tuple[float, float] | None = None) -> MeanCI:
    """Mean of the finite values with its Student-t interval (`t_half_width`); NaN bounds with fewer than 2 values,
    the value itself when all are equal. `bounds`: the quantity's possible range (e.g. (0, 1) for a saturation); a
    t interval on a few values can reach past it, so its ends are clipped to the range instead of showing the
    impossible."""
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if len(x) < 2:
        m = float(x.mean()) if len(x) else NAN
        return MeanCI(len(x), m, NAN, NAN, NAN)
    if np.ptp(x) == 0:  # no spread: the interval is the value itself
        return MeanCI(len(x), float(x[0]), 0.0, float(x[0]), float(x[0]))
    m, sd = float(x.mean()), float(x.std(ddof=1))
    half = t_half_width(sd, len(x), confidence)
    low, high = m - half, m + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return MeanCI(len(x), m, sd, low, high)


# -- bootstrap --------------------------------------------------------------------------------------------------------
def resample_indices(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """`resamples` x `n` indices drawn with replacement from range(n): one bootstrap resample per row. Drawing in
    chunks (several calls on the same generator) gives the same indices as one call, so callers may bound memory."""
    return rng.integers(0, n, size=(resamples, n))


def percentile_interval(values, confidence: float = 0.95, min_finite: int = 1) -> tuple[float, float]:
    """Percentile bootstrap interval of the finite `values` (resamples whose statistic is undefined are NaN and
    dropped); NaN when fewer than `min_finite` are finite."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if len(v) < max(min_finite, 1):
        return NAN, NAN
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(v, [tail, 1 - tail])
    return float(lo), float(hi)


def basic_interval(observed: float, values, confidence: float = 0.95) -> tuple[float, float]:
    """Basic (reverse-percentile) bootstrap interval: 2 observed - the upper and lower percentiles. For statistics
    that resampling with replacement biases upwards (e.g. an alignment of repeated items)."""
    lo, hi = percentile_interval(values, confidence)
    return 2 * observed - hi, 2 * observed - lo


# -- two groups -------------------------------------------------------------------------------------------------------
def _mean_diff(a, b, axis=-1):
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


@dataclass(frozen=True)
class Comparison:
    diff: float  # mean(a) - mean(b)
    ci_low: float
    ci_high: float
    perm_p: float
    mwu_p: float
    cohens_d: float
    d_low: float = NAN
    d_high: float = NAN

    def rows(self, a: str, b: str, confidence: float) -> list[dict[str, float | str]]:
        pct = f"{confidence:.0%}"
        return [{"quantity": f"mean({a}) - mean({b})", "value": self.diff},
                {"quantity": f"{pct} bootstrap CI low", "value": self.ci_low},
                {"quantity": f"{pct} bootstrap CI high", "value": self.ci_high},
                {"quantity": "permutation test p (two-sided, difference of means)", "value": self.perm_p},
                {"quantity": "Mann-Whitney U p (two-sided)", "value": self.mwu_p},
                {"quantity": "Cohen's d", "value": self.cohens_d},
                {"quantity": f"Cohen's d {pct} bootstrap CI low", "value": self.d_low},
                {"quantity": f"Cohen's d {pct} bootstrap CI high", "value": self.d_high}]


def compare_groups(a: np.ndarray, b: np.ndarray, seed: int = 0, resamples: int = 9999,
                   confidence: float = 0.95) -> Comparison:
    """Difference of means of two independent samples, its bootstrap CI and two tests."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    diff = float(a.mean() - b.mean())
    if np.ptp(np.concatenate([a, b])) == 0:  # all scores equal: nothing to resample, no evidence of a difference
        return Comparison(diff, diff, diff, 1.0, 1.0, 0.0)
    boot = stats.bootstrap((a, b), _mean_diff, n_resamples=resamples, confidence_level=confidence,
                           vectorized=True, method="percentile", rng=np.random.default_rng(seed))
    perm = stats.permutation_test((a, b), _mean_diff, n_resamples=resamples, vectorized=True,
                                  alternative="two-sided", permutation_type="independent",
                                  rng=np.random.default_rng(seed + 1))
    mwu = stats.mannwhitneyu(a, b, alternative="two-sided")
    d = float(_cohens_d(a, b))
    with warnings.catch_warnings():  # resamples of a near-constant sample have no d; the interval is then NaN
        warnings.simplefilter("ignore")
        d_ci = stats.bootstrap((a, b), _cohens_d, n_resamples=resamples, confidence_level=confidence,
                               vectorized=True, method="percentile",
                               rng=np.random.default_rng(seed + 2)).confidence_interval
    return Comparison(diff, float(boot.confidence_interval.low), float(boot.confidence_interval.high),
                      float(perm.pvalue), float(mwu.pvalue), d, float(d_ci.low), float(d_ci.high))


def _cohens_d(a, b, axis=-1):
    """Difference of means over the pooled standard deviation (NaN where both samples are constant)."""
    na, nb = a.shape[axis], b.shape[axis]
    pooled = np.sqrt(((na - 1) * np.var(a, axis=axis, ddof=1) + (nb - 1) * np.var(b, axis=axis, ddof=1))
                     / max(na + nb - 2, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pooled > 0, (np.mean(a, axis=axis) - np.mean(b, axis=axis)) / pooled, np.nan)


# -- slopes on alpha --------------------------------------------------------------------------------------------------
def row_slopes(x, values) -> np.ndarray:
    """Least-squares slope of each row of `values` (rows x K) on the common `x` (K)."""
    x = np.asarray(x, dtype=np.float64)
    a = x - x.mean()
    v = np.asarray(values, dtype=np.float64)
    return (v - v.mean(1, keepdims=True)) @ a / float(a @ a)


def _pooled_slopes(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Least-squares slope of y on x with each point counted `weights[b, i]` times, one slope per row b (NaN where
    the weighted x has no spread)."""
    w = weights.astype(np.float64)
    total = w.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = x[None] - (w @ x)[:, None] / total
        dy = y[None] - (w @ y)[:, None] / total
        sxx = (w * dx * dx).sum(1)
        return np.where(sxx > 1e-12 * np.maximum((w * x * x).sum(1), 1e-300),
                        (w * dx * dy).sum(1) / np.where(sxx > 0, sxx, 1.0), np.nan)


@dataclass(frozen=True)
class StripSlope:
    slope: float  # least-squares slope pooled over every strip's points
    ci_low: float
    ci_high: float
    strips: int
    method: str  # how the interval was found, or why there is none

    @property
    def ci(self) -> list[float]:
        return [self.ci_low, self.ci_high]


def strip_slope(strips: Sequence[tuple[Sequence[float], Sequence[float]]], resamples: int = 2000, seed: int = 0,
                confidence: float = 0.95, picks: np.ndarray | None = None) -> StripSlope:
    """Slope of a score (or a score's change from the strip's seed image) on alpha, pooled over strips, with its
    interval by the strip rule (the alphas of one strip share a seed image, so strips, not points, are the unit):

    - 3 or more strips: percentile bootstrap over strips (strips resampled whole, `resamples` times);
    - 2 strips: a Student-t interval on 1 degree of freedom around the pooled slope, from the two strips' own slopes
      (wide: two strips say little about the spread between strips);
    - 1 strip: no interval (NaN), said in `method`.

    `strips`: one (alphas, values) pair per strip. `picks`: resamples x strips indices (`resample_indices`) to use
    instead of drawing them from `seed`, for a caller that bootstraps other statistics on the same resamples."""
    xs = [np.asarray(a, dtype=np.float64).ravel() for a, _ in strips]
    ys = [np.asarray(v, dtype=np.float64).ravel() for _, v in strips]
    k = len(xs)
    if not k:
        return StripSlope(NAN, NAN, NAN, 0, "no strips")
    x, y = np.concatenate(xs), np.concatenate(ys)
    member = np.repeat(np.arange(k), [len(a) for a in xs])
    slope = float(_pooled_slopes(x, y, np.ones((1, len(x))))[0])
    if k == 1:
        return StripSlope(slope, NAN, NAN, 1, "one strip: no interval (strips, not images, are the unit)")
    if k == 2:
        own = [float(_pooled_slopes(a, b, np.ones((1, len(a))))[0]) for a, b in zip(xs, ys, strict=True)]
        half = t_half_width(float(np.std(own, ddof=1)), 2, confidence) if np.isfinite(own).all() else NAN
        return StripSlope(slope, slope - half, slope + half, 2,
                          f"{confidence:.0%} t interval over 2 strips (1 degree of freedom): wide, as two strips say "
                          "little about the spread between strips")
    if picks is None:
        picks = resample_indices(np.random.default_rng(seed), k, resamples)
    lo, hi = NAN, NAN
    if len(picks):
        counts = np.zeros((len(picks), k))
        np.add.at(counts, (np.arange(len(picks))[:, None], picks), 1.0)
        lo, hi = percentile_interval(_pooled_slopes(x, y, counts[:, member]), confidence)
    return StripSlope(slope, lo, hi, k,
                      f"{confidence:.0%} percentile bootstrap over {k} strips ({len(picks)} resamples)")
