"""Figures of a predictor fit, in the style of the ResMem paper (Needell & Bainbridge): predicted against measured
scores with Spearman's rho, the distributions of measured and predicted scores (estimated densities, measured in blue,
predicted in orange, as in its figures 6-12), and held-out metrics per epoch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.stats import gaussian_kde

from ..core.files import atomic_path
from .evaluate import metrics

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `matplotlib`.


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def scatter(measured, predicted, path: str | os.PathLike, title: str = "",
            score_range: tuple[float, float] | None = None) -> Path:
    """Predicted vs measured scores, with the identity line and rho / r / MSE in the title."""
    plt = _pyplot()
    m, p = np.asarray(measured, float), np.asarray(predicted, float)
    k = metrics(p, m)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(m, p, s=12, alpha=0.6, color="tab:blue", edgecolors="none")
    lo = min(m.min(), p.min()) if score_range is None else score_range[0]
    hi = max(m.max(), p.max()) if score_range is None else score_range[1]
    lo, hi = min(lo, m.min(), p.min()), max(hi, m.max(), p.max())
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--", label="predicted = measured")
    ax.set_xlabel("measured score")
    ax.set_ylabel("predicted score")
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    ax.set_title(f"{title}\nSpearman ρ = {fmt(k['spearman'])}, Pearson r = {fmt(k['pearson'])}, "
                 f"MSE = {fmt(k['mse'])}, n = {len(m)}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    out = _save(fig, Path(path))
    plt.close(fig)
    return out


def _density(values: np.ndarray, grid: np.ndarray) -> np.ndarray | None:
    if len(values) < 2 or np.ptp(values) == 0:
        return None
    return gaussian_kde(values)(grid)


def distributions(measured, predicted, path: str | os.PathLike, title: str = "") -> Path:
    """Estimated densities of measured (blue) and predicted (orange) scores, with their mean and SD."""
    plt = _pyplot()
    m, p = np.asarray(measured, float), np.asarray(predicted, float)
    both = np.concatenate([m, p])
    pad = 0.1 * max(np.ptp(both), 1e-3)
    grid = np.linspace(both.min() - pad, both.max() + pad, 400)
    fig, ax = plt.subplots(figsize=(6, 4))
    for values, name, color in ((m, "measured", "tab:blue"), (p, "predicted", "tab:orange")):
        label = f"{name}: mean {values.mean():.3f}, SD {values.std():.3f}"
        dens = _density(values, grid)
        if dens is None:  # a constant: a vertical line
            ax.axvline(values.mean(), color=color, label=label)
        else:
            ax.plot(grid, dens, color=color, label=label)
            ax.fill_between(grid, dens, color=color, alpha=0.15)
    ax.set_xlabel("score")
    ax.set_ylabel("estimated density")
    ax.set_title(title or "score distributions", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = _save(fig, Path(path))
    plt.close(fig)
    return out


def curves(records: list[dict], path: str | os.PathLike) -> Path:
    """Training loss and validation-split Spearman / Pearson / MSE per epoch (the figures that chose the epoch)."""
    plt = _pyplot()
    ep = [r["epoch"] for r in records]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(ep, [r.get("train_loss") for r in records], marker="o", label="train MSE (augmented)")
    if any(r.get("val_mse") is not None for r in records):
        a.plot(ep, [r.get("val_mse") for r in records], marker="o", label="validation MSE")
    a.set_xlabel("epoch")
    a.set_yscale("log")
    a.legend(fontsize=8)
    for key, name in (("val_spearman", "Spearman ρ"), ("val_pearson", "Pearson r")):
        vals = [np.nan if r.get(key) is None else r[key] for r in records]
        b.plot(ep, vals, marker="o", label=f"validation {name}")
    b.set_xlabel("epoch")
    b.legend(fontsize=8)
    fig.tight_layout()
    out = _save(fig, Path(path))
    plt.close(fig)
    return out
