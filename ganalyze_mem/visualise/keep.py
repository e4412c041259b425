"""Constrained directions (``--keep``): a GANalyze direction whose effect on named side assessors is held at zero.

A direction that makes images "more memorable" to a predictor may do so by making them brighter; a user asks whether
it is more than that by keeping brightness fixed. The constraint is a penalty, not a projection (a projection of the
latent step cannot hold an image-space score fixed for a nonlinear generator): the training loss gains
keep_weight * SD_A^2 * mean over sides S of mean(((S(G(T(z, y, alpha))) - S(G(z, y))) / SD_S)^2), each side's change
in its own SDs (measured like the main assessor's, `calibrate.measure_sd`), scaled by SD_A^2 so that keep_weight
compares a side change of one side SD with a shortfall of one main SD (keep_weight 10: the side counts ten times as
much). The held-out check reports each side's slope on alpha (`kept_slopes`): zero is success.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..core.devices import autocast
from .config import Components
from .heldout import HeldOut, slope_stats


def penalty(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], sd: dict[str, float]) -> torch.Tensor:
    """Mean over side assessors of the mean squared change in that side's SDs."""
    terms = [((after[name] - before[name]) / sd[name]).pow(2).mean() for name in before]
    return torch.stack(terms).mean()


@torch.no_grad()
def _side_scores(c: Components, z: torch.Tensor, y: torch.Tensor, batch: int = 64) -> dict[str, torch.Tensor]:
    out: dict[str, list[torch.Tensor]] = {name: [] for name in c.sides}
    for i in range(0, len(z), batch):
        with autocast(c.device, c.autocast_dtype):
            images = c.generator(z[i:i + batch], y[i:i + batch])
            for name, a in c.sides.items():
                out[name].append(a(images).float().cpu())
    return {name: torch.cat(v) for name, v in out.items()}


@torch.no_grad()
def kept_slopes(c: Components, held: HeldOut, transformer=None) -> dict[str, dict[str, Any]]:
    """Each kept assessor's held-out change per unit alpha (of the main assessor's target): the mean per-seed slope
    with its Student-t 95% interval over seeds (`heldout.slope_stats`), on the held-out set's alpha grid; also in SDs
    (side SDs per SD of the main assessor) where the SDs are known."""
    t = transformer if transformer is not None else c.transformer
    was_training = t.training
    t.eval()
    base = _side_scores(c, held.z, held.y)
    cols: dict[str, list[torch.Tensor]] = {name: [] for name in c.sides}
    for a in held.alphas:
        if a == 0:
            for name in cols:
                cols[name].append(torch.zeros(len(held.z)))
            continue
        moved = t(held.z, held.y, torch.full((len(held.z),), float(a), device=held.z.device))
        for name, s in _side_scores(c, moved, held.y).items():
            cols[name].append(s - base[name])
    t.train(was_training)
    alphas = np.asarray(held.alphas, dtype=float)
    main_sd = c.cfg.assessor_sd if c.cfg is not None else None
    side_sd = (c.cfg.keep_sd or {}) if c.cfg is not None else {}
    out = {}
    for name, col in cols.items():
        st = slope_stats(alphas, torch.stack(col, 1).double().numpy())
        unit = main_sd / side_sd[name] if main_sd and side_sd.get(name) else float("nan")
        out[name] = {"slope": st["slope"], "ci_low": st["slope_ci_low"], "ci_high": st["slope_ci_high"],
                     "slope_in_sd": st["slope"] * unit, "ci_low_in_sd": st["slope_ci_low"] * unit,
                     "ci_high_in_sd": st["slope_ci_high"] * unit, "seeds": st["seeds"]}
    return out
