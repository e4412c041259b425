"""Multiple-test correction: Holm's step-down procedure (Holm 1979) controls the family-wise error rate when several
tests stand side by side. Our own few lines (statsmodels is not a dependency); tests/test_stats.py checks them against
the definition on hand-computed examples."""

from __future__ import annotations

import numpy as np


def holm(pvalues) -> np.ndarray:
    """Holm-adjusted p-values (step-down, family-wise error rate), in input order; NaN stays NaN (and does not count
    as a test). With the m finite p-values sorted, p_(1) <= ... <= p_(m): adjusted p_(i) = min(1, max over j <= i of
    (m - j + 1) p_(j))."""
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
