"""Correlations and their intervals, computed by scipy.stats where it has them (spearmanr, rankdata, norm.ppf):

- `spearman`: Spearman's rho with its p-value, NaN-safe; `strength`: the paper's wording for |rho|.
- `pearson_rows` / `spearman_rows`: the one row-wise (vectorised) correlation, over the pairs where both values are
  finite, so that a bootstrap's thousands of resamples cost one call.
- `correlation_cis`: percentile bootstrap intervals of rho and r between paired samples; `bootstrap_spearman` and
  `spearman_row` (table columns) on top of it, `rho_label` to print one.
- `fisher_ci`: the approximate interval of a correlation by Fisher's z, where no paired values are kept.
- `spearman_matrix` / `bootstrap_spearman_matrix`: rho between every pair of columns, and over bootstrap resamples of
  the rows.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .intervals import percentile_interval, resample_indices

NAN = float("nan")


def spearman(x, y) -> tuple[float, float, int]:
    """(rho, p, n) over pairs where both are finite; NaN when fewer than 3 pairs or a constant input."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return NAN, NAN, n
    res = stats.spearmanr(x[ok], y[ok])
    return float(res.statistic), float(res.pvalue), n


def strength(rho: float) -> str:
    """The paper's wording for |rho| (section 5.1): moderate >= 0.3, weak >= 0.15, very weak >= 0.08."""
    if not np.isfinite(rho):
        return "n/a"
    r = abs(rho)
    return "strong" if r >= 0.5 else "moderate" if r >= 0.3 else "weak" if r >= 0.15 else \
        "very weak" if r >= 0.08 else "negligible"


def pearson_rows(x, y, ok=None) -> np.ndarray:
    """Pearson's r between matching rows of `x` and `y` (along the last axis), over the entries where `ok` is True
    (default: all); NaN for rows with fewer than 3 such entries or no spread."""
    x, y = np.atleast_2d(np.asarray(x, np.float64)), np.atleast_2d(np.asarray(y, np.float64))
    if ok is None:
        m = np.full(x.shape[:-1], x.shape[-1])
        dx = x - x.mean(axis=-1, keepdims=True)
        dy = y - y.mean(axis=-1, keepdims=True)
    else:
        m = ok.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mx = np.where(ok, x, 0.0).sum(axis=-1, keepdims=True) / m[..., None]
            my = np.where(ok, y, 0.0).sum(axis=-1, keepdims=True) / m[..., None]
        dx, dy = np.where(ok, x - mx, 0.0), np.where(ok, y - my, 0.0)
    den = np.sqrt((dx * dx).sum(axis=-1) * (dy * dy).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (dx * dy).sum(axis=-1) / np.where(den > 0, den, 1.0)
    return np.where((m < 3) | ~(den > 0), np.nan, r)


def spearman_rows(x, y) -> np.ndarray:
    """Spearman's rho between matching rows of `x` and `y` (Pearson's r on average ranks, `scipy.stats.rankdata`),
    over the pairs where both are finite; NaN for rows with fewer than 3 such pairs or no spread."""
    x, y = np.atleast_2d(np.asarray(x, np.float64)), np.atleast_2d(np.asarray(y, np.float64))
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.all():
        return pearson_rows(stats.rankdata(x, axis=-1), stats.rankdata(y, axis=-1))
    # missing pairs rank above every present value, so the present values keep the ranks they have among themselves
    rx = stats.rankdata(np.where(ok, x, np.inf), axis=-1)
    ry = stats.rankdata(np.where(ok, y, np.inf), axis=-1)
    return pearson_rows(rx, ry, ok)


def correlation_cis(predicted, measured, resamples: int = 2000, seed: int = 0, confidence: float = 0.95,
                    which: tuple[str, ...] = ("spearman", "pearson")) -> dict[str, list[float] | None]:
    """Percentile bootstrap intervals (items resampled with replacement, pairs kept) of Spearman's rho and Pearson's
    r between two paired samples: ``{"spearman_ci": [lo, hi], "pearson_ci": [lo, hi]}``; None with fewer than 3
    finite pairs, a constant input, or fewer than half the resamples defined."""
    p = np.asarray(predicted, dtype=np.float64)
    m = np.asarray(measured, dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(m)
    p, m = p[ok], m[ok]
    out: dict[str, list[float] | None] = {"spearman_ci": None, "pearson_ci": None}
    if len(p) < 3 or np.ptp(p) == 0 or np.ptp(m) == 0:
        return out
    rng = np.random.default_rng(seed)
    for name in which:
        row = spearman_rows if name == "spearman" else pearson_rows
        values = [row(p[idx], m[idx]) for idx in  # chunks keep memory at 500 x n
                  (resample_indices(rng, len(p), min(500, resamples - start)) for start in range(0, resamples, 500))]
        lo, hi = percentile_interval(np.concatenate(values), confidence, min_finite=max(resamples // 2, 1))
        if np.isfinite(lo):
            out[f"{name}_ci"] = [lo, hi]
    return out


def bootstrap_spearman(x, y, resamples: int = 2000, seed: int = 0,
                       confidence: float = 0.95) -> tuple[float, float, float]:
    """Spearman's rho with its percentile bootstrap interval (pairs resampled): (rho, low, high), NaN where
    undefined."""
    rho = spearman(x, y)[0]
    if not np.isfinite(rho):
        return NAN, NAN, NAN
    ci = correlation_cis(x, y, resamples, seed, confidence, which=("spearman",))["spearman_ci"]
    return (rho, *ci) if ci else (rho, NAN, NAN)


def spearman_row(x, y, resamples: int = 2000, seed: int = 0) -> dict[str, float | int]:
    """Spearman's rho, its p-value, n and a percentile bootstrap 95% interval, as table columns."""
    rho, p, n = spearman(x, y)
    ci = correlation_cis(x, y, resamples, seed, which=("spearman",))["spearman_ci"] if np.isfinite(rho) else None
    lo, hi = ci if ci else (NAN, NAN)
    return {"rho": rho, "rho_ci_low": lo, "rho_ci_high": hi, "p": p, "n": n}


def rho_label(row: dict) -> str:
    """``rho = +0.41 [+0.20, +0.58]`` from a `spearman_row` (the interval is always shown with the estimate)."""
    rho, lo, hi = row["rho"], row["rho_ci_low"], row["rho_ci_high"]
    if not np.isfinite(rho):
        return "rho = n/a"
    return f"rho = {rho:+.2f} [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) else f"rho = {rho:+.2f} [interval n/a]"


def fisher_ci(r: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Approximate interval of a correlation by Fisher's z (for Spearman's rho: SE 1.03/sqrt(n-3), Fieller et al.
    1957); NaN for n < 4 or no r."""
    if r is None or not np.isfinite(r) or n is None or n < 4:
        return NAN, NAN
    z = math.atanh(max(min(r, 0.999999), -0.999999))
    half = stats.norm.ppf(0.5 + confidence / 2) * 1.03 / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)


def spearman_matrix(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rho, p) M x M via scipy.stats.spearmanr over the columns."""
    res = stats.spearmanr(matrix, axis=0)
    rho, p = np.atleast_2d(res.statistic), np.atleast_2d(res.pvalue)
    if rho.shape == (1, 1):  # two columns: scipy returns scalars
        rho = np.array([[1.0, float(res.statistic)], [float(res.statistic), 1.0]])
        p = np.array([[0.0, float(res.pvalue)], [float(res.pvalue), 0.0]])
    return rho, p


def bootstrap_spearman_matrix(matrix: np.ndarray, resamples: int, seed: int = 0) -> np.ndarray:
    """Spearman matrices (resamples x M x M) of bootstrap resamples of the rows (items) of an items x M matrix."""
    rng = np.random.default_rng(seed)
    n = len(matrix)
    out = np.empty((resamples, matrix.shape[1], matrix.shape[1]))
    for b, idx in enumerate(resample_indices(rng, n, resamples)):
        ranks = stats.rankdata(matrix[idx], axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[b] = np.corrcoef(ranks, rowvar=False)
    return out
