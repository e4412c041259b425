"""What a GANalyze transformer does to a generator's named latent factors (Goetschalckx et al., ICCV 2019; the
MachineMem paper's claim, Han et al., section 5.3: more objects, more contrast and darker images are more memorable
to machines). Generators with named factors (`collage`: objects, size, brightness, contrast; `photoedit`: the edit
parameters) have `factors(z)` and `parts()`.

`factor_trends` steps held-out latents along the transformer (bigger step, T(z, y, alpha) for every alpha) and reads
the generator's factors and any assessors' scores at each alpha; `summarize_trend` describes one factor's trend;
`factor_plot` draws all of them. The replicated test of a claim is in `replicate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `torch`, `scipy`,
# `matplotlib`.


def factor_trends(generator, transformer, z, y, alphas: list[float], scorers: dict[str, Any]) -> dict[str, Any]:
    """Generator factors and scores along GANalyze strips: T(z, y, alpha) for every alpha (bigger-step mode).

    Returns per factor/score an S x K array (seeds x alphas) and the latent shift per part of the latent layout.
    """
    import torch

    with torch.no_grad():
        zs = torch.stack([z if a == 0 else transformer(z, y, torch.full((len(z),), float(a))) for a in alphas], 1)
        values: dict[str, list] = {}
        for k in range(len(alphas)):
            for n, v in generator.factors(zs[:, k]).items():
                values.setdefault(n, []).append(v)
            if scorers:
                x = generator(zs[:, k], y)
                for n, a in scorers.items():
                    values.setdefault(f"score:{n}", []).append(a(x).float())
        arrays = {n: torch.stack(v, 1).double().numpy() for n, v in values.items()}
        shift = (zs[:, -1] - zs[:, 0]).double()  # from the most negative to the most positive alpha
    parts = generator.parts()
    energy = (shift ** 2).mean(0)
    total = float(energy.sum())
    share = {p: float(energy[idx].sum()) / total if total > 0 else 0.0 for p, idx in parts.items()}
    mean_shift = {p: float(shift[:, idx].mean()) for p, idx in parts.items()}
    return {"arrays": arrays, "share": share, "mean_shift": mean_shift}


def summarize_trend(values: np.ndarray, alphas: list[float]) -> dict[str, float]:
    """Slope per unit alpha (within seeds), Spearman over all points, the share of seeds that rise from the first to
    the last alpha, and the change across the strip in SDs of the factor over random samples (alpha = 0)."""
    from scipy.stats import spearmanr

    a = np.broadcast_to(np.asarray(alphas, dtype=float), values.shape)
    ac, vc = a - a.mean(1, keepdims=True), values - values.mean(1, keepdims=True)
    slope = float((ac * vc).sum() / (ac * ac).sum())
    rho, p = spearmanr(a.ravel(), values.ravel())
    sd = float(values[:, len(alphas) // 2].std())
    change = float(values[:, -1].mean() - values[:, 0].mean())
    return {"slope": slope, "spearman": float(np.nan_to_num(rho)), "p": float(np.nan_to_num(p, nan=1.0)),
            "rise_fraction": float((values[:, -1] > values[:, 0]).mean()), "change": change,
            "change_sd": change / sd if sd > 0 else float("nan"),
            "at_min": float(values[:, 0].mean()), "at_max": float(values[:, -1].mean())}


def factor_plot(arrays: dict[str, np.ndarray], alphas: list[float], path: Path, highlight=(),
                title: str = "Collage factors along the learned direction") -> Path:
    """Mean change of every factor along the direction, in SDs over random samples (alpha = 0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=100)
    for name, v in arrays.items():
        sd = v[:, len(alphas) // 2].std() or 1.0
        m = (v.mean(0) - v[:, len(alphas) // 2].mean()) / sd
        ax.plot(alphas, m, marker="o", lw=2.2 if name in highlight else 1.2, ls="-" if ":" not in name else "--",
                label=name)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("alpha (target change of the predicted MachineMem score)")
    ax.set_ylabel("mean change (SDs over random samples)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
