"""Statistics shared by every flow: multiple-test correction and test-length reliability.

Holm's step-down procedure (Holm 1979) controls the family-wise error rate when several tests stand side by side;
the Spearman-Brown prophecy formula gives the reliability of a test k times as long (used for split-half
consistency of measured scores, of human scores in the memory game, and to project how many episodes are needed).
"""

from __future__ import annotations

import numpy as np


def holm(pvalues) -> np.ndarray:
    """Holm-adjusted p-values (step-down, family-wise error rate), in input order; NaN stays NaN."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def holm_note(count: int, alpha: float = 0.05) -> str:
    """The sentence a report states next to `count` tests side by side."""
    return (f"{count} tests side by side: p_holm is Holm-adjusted over the {count} (family-wise error rate "
            f"{alpha:g}); read p_holm < {alpha:g}, not the raw p, as a finding.")


def spearman_brown(r, factor: float = 2.0):
    """Reliability of a test `factor` times as long as one with reliability `r`: k r / (1 + (k - 1) r).
    Works on numbers and arrays; a number gives a float."""
    out = factor * np.asarray(r, dtype=np.float64) / (1.0 + (factor - 1.0) * np.asarray(r, dtype=np.float64))
    return float(out) if np.ndim(out) == 0 else out
