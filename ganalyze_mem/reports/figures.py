"""Figure helpers for reports: one style (fonts readable at the size a figure is shown, 110 dpi, ~700 px wide),
labelled axes with units, and intervals drawn as bands or error bars. Agg backend: no display needed."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np

from ..stats import mean_ci

WIDTH = 6.4  # inches at 110 dpi: ~700 px, shown at that size in the 1100 px report column
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10, "ytick.labelsize": 10,
         "legend.fontsize": 9, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
         "axes.spines.right": False}


def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    pyplot.rcParams.update(STYLE)
    return pyplot


def to_png(fig, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt().close(fig)
    return buf.getvalue()


def subplots(n: int = 1, height: float = 3.4, ncols: int | None = None):
    ncols = ncols or min(n, 2)
    nrows = math.ceil(n / ncols)
    fig, axes = plt().subplots(nrows, ncols, figsize=(WIDTH if ncols == 1 else WIDTH * 1.5, height * nrows),
                               squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    for ax in flat[:n]:
        ax.locator_params(axis="x", nbins=6)  # tick labels that do not run into each other at 2 panels a row
    return fig, flat[:n]


def integer_x(*axes) -> None:
    """Whole-number ticks on the x axis (epochs, steps, episodes)."""
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))


def line(ax, x, y, low=None, high=None, label: str | None = None, color: str | None = None, marker: str = "o"):
    """A line with its interval as a band (when given)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    (h,) = ax.plot(x, y, marker=marker, ms=3.5, lw=1.6, label=label, color=color)
    if low is not None and high is not None:
        lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
        if np.isfinite(lo).any():
            ax.fill_between(x, lo, hi, alpha=0.22, color=h.get_color(), lw=0,
                            label=None if label is None else f"{label}: 95% CI")
    return h


def histogram(ax, values: Sequence[float], xlabel: str, bins: int | str = "auto"):
    """A histogram with the mean and its 95% CI marked."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    ax.hist(v, bins=bins, color="tab:blue", alpha=0.75, edgecolor="white")
    m, lo, hi = mean_ci(v).triple
    if np.isfinite(m):
        ax.axvline(m, color="tab:red", lw=1.5, label=f"mean {m:.3g}")
        if np.isfinite(lo):
            ax.axvspan(lo, hi, color="tab:red", alpha=0.15, label=f"95% CI [{lo:.3g}, {hi:.3g}]")
        ax.legend(loc="best")
    ax.set(xlabel=xlabel, ylabel="images (count)")


def scatter_fit(ax, x: Sequence[float], y: Sequence[float], xlabel: str, ylabel: str, identity: bool = True):
    """Scatter with the least-squares line and (optionally) y = x for reference."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ax.scatter(x, y, s=14, alpha=0.6, color="tab:blue")
    if identity and len(x):
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    if len(x) >= 2 and np.ptp(x) > 0:
        slope, icpt = np.polyfit(x, y, 1)
        xs = np.linspace(x.min(), x.max(), 20)
        ax.plot(xs, slope * xs + icpt, color="tab:red", lw=1.4, label=f"least squares (slope {slope:.2f})")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.legend(loc="best")
