"""The project's statistics, in one place (every flow imports from here):

- `intervals`: the Student-t half-width and mean interval, the bootstrap (resample indices, percentile and basic
  intervals), two-group comparison, per-row slopes and the strip-slope interval;
- `correlation`: Spearman/Pearson (scalar and row-wise), bootstrap and Fisher-z intervals of a correlation;
- `reliability`: Spearman-Brown (prophecy, two-half correction, episodes needed);
- `corrections`: Holm's adjustment for several tests side by side.

Where scipy has the computation (t and normal quantiles, spearmanr, rankdata, bootstrap, permutation tests) it is
called; tests/test_stats.py checks each function against hand- or scipy-computed values and that no other module
carries its own copy.
"""

from .corrections import holm, holm_note
from .correlation import (
    bootstrap_spearman,
    bootstrap_spearman_matrix,
    correlation_cis,
    fisher_ci,
    pearson_rows,
    rho_label,
    spearman,
    spearman_matrix,
    spearman_row,
    spearman_rows,
    strength,
)
from .intervals import (
    Comparison,
    MeanCI,
    StripSlope,
    basic_interval,
    compare_groups,
    mean_ci,
    percentile_interval,
    resample_indices,
    row_slopes,
    strip_slope,
    t_half_width,
)
from .reliability import corrected, episodes_for, spearman_brown

__all__ = ["Comparison", "MeanCI", "StripSlope", "basic_interval", "bootstrap_spearman", "bootstrap_spearman_matrix",
           "compare_groups", "corrected", "correlation_cis", "episodes_for", "fisher_ci", "holm", "holm_note",
           "mean_ci", "pearson_rows", "percentile_interval", "resample_indices", "rho_label", "row_slopes",
           "spearman", "spearman_brown", "spearman_matrix", "spearman_row", "spearman_rows", "strength",
           "strip_slope", "t_half_width"]
