"""Statistics shared by the studies, all computed by scipy.stats (no hand-rolled tests):

- `mean_ci`: mean with a Student-t confidence interval (`scipy.stats.ttest_1samp(...).confidence_interval`),
- `compare_groups`: difference of means with a bootstrap CI (`scipy.stats.bootstrap`), a permutation test
  (`scipy.stats.permutation_test`) and a Mann-Whitney U test (`scipy.stats.mannwhitneyu`),
- `spearman`: Spearman's rho with its p-value (`scipy.stats.spearmanr`), NaN-safe, and `spearman_row` with its
  percentile bootstrap 95% interval (`correlation_cis`),
- `holm`: Holm's step-down adjustment of p-values, for many tests reported side by side.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class MeanCI:
    n: int
    mean: float
    std: float
    low: float
    high: float

    def row(self, name: str) -> dict[str, float | int | str]:
        return {"set": name, "n": self.n, "mean": self.mean, "std": self.std, "ci_low": self.low, "ci_high": self.high}


def mean_ci(x: np.ndarray, confidence: float = 0.95,
            bounds: tuple[float, float] | None = None) -> MeanCI:
    """Mean with its Student-t interval. `bounds`: the quantity's possible range (e.g. (0, 1) for a saturation); a
    t interval on a few values can reach past it, so its ends are clipped to the range instead of showing the
    impossible."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        m = float(x.mean()) if len(x) else float("nan")
        return MeanCI(len(x), m, float("nan"), float("nan"), float("nan"))
    if np.ptp(x) == 0:  # t interval is degenerate (and scipy warns); the interval is the value itself
        return MeanCI(len(x), float(x[0]), 0.0, float(x[0]), float(x[0]))
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(confidence)
    low, high = float(ci.low), float(ci.high)
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return MeanCI(len(x), float(x.mean()), float(x.std(ddof=1)), low, high)


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
    d_low: float = float("nan")
    d_high: float = float("nan")

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


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    """(rho, p, n) over pairs where both are finite; NaN when fewer than 3 pairs or a constant input."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan"), float("nan"), n
    res = stats.spearmanr(x[ok], y[ok])
    return float(res.statistic), float(res.pvalue), n


def strength(rho: float) -> str:
    """The paper's wording for |rho| (section 5.1): moderate >= 0.3, weak >= 0.15, very weak >= 0.08."""
    if not np.isfinite(rho):
        return "n/a"
    r = abs(rho)
    return "strong" if r >= 0.5 else "moderate" if r >= 0.3 else "weak" if r >= 0.15 else \
        "very weak" if r >= 0.08 else "negligible"


def _corr_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each row pair of x and y (along the last axis); NaN where a row is constant."""
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(-1) / np.sqrt((x * x).sum(-1) * (y * y).sum(-1))


def correlation_cis(predicted, measured, resamples: int = 2000, seed: int = 0, confidence: float = 0.95,
                    which: tuple[str, ...] = ("spearman", "pearson")) -> dict[str, list[float] | None]:
    """Percentile bootstrap intervals (items resampled with replacement, pairs kept) of Spearman's rho and Pearson's
    r between two paired samples: ``{"spearman_ci": [lo, hi], "pearson_ci": [lo, hi]}``; None with fewer than 3
    finite pairs or a constant input."""
    p = np.asarray(predicted, dtype=np.float64)
    m = np.asarray(measured, dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(m)
    p, m = p[ok], m[ok]
    out: dict[str, list[float] | None] = {"spearman_ci": None, "pearson_ci": None}
    if len(p) < 3 or np.ptp(p) == 0 or np.ptp(m) == 0:
        return out
    rng = np.random.default_rng(seed)
    tail = (1 - confidence) / 2 * 100
    for name in which:
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


def spearman_row(x: np.ndarray, y: np.ndarray, resamples: int = 2000, seed: int = 0) -> dict[str, float | int]:
    """Spearman's rho, its p-value, n and a percentile bootstrap 95% interval, as table columns."""
    rho, p, n = spearman(x, y)
    ci = correlation_cis(x, y, resamples, seed, which=("spearman",))["spearman_ci"] if np.isfinite(rho) else None
    lo, hi = ci if ci else (float("nan"), float("nan"))
    return {"rho": rho, "rho_ci_low": lo, "rho_ci_high": hi, "p": p, "n": n}


def rho_label(row: dict) -> str:
    """``rho = +0.41 [+0.20, +0.58]`` from a `spearman_row` (the interval is always shown with the estimate)."""
    rho, lo, hi = row["rho"], row["rho_ci_low"], row["rho_ci_high"]
    if not np.isfinite(rho):
        return "rho = n/a"
    return f"rho = {rho:+.2f} [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) else f"rho = {rho:+.2f} [interval n/a]"
