"""Held-out evaluation of a GANalyze transformer during training, and the assessor's attainable range along it.

GANalyze (Goetschalckx et al., ICCV 2019) asks T to change the assessor's score by alpha. The training loss alone does
not say whether it does so on images it never saw, nor why it falls short. Here:

- `HeldOut`: a fixed set of held-out latents (per-seed `Generator.latents`, a stream training never draws from; the
  class of seed s is the s-th class of the pool, cycling), scored once at alpha = 0. `evaluate` computes the achieved
  change A(G(T(z, y, alpha))) - A(G(z, y)) on a fixed alpha grid over the training range; the slope of change on
  alpha is the mean of the per-seed least-squares slopes (equal to the pooled slope, as every seed uses the same
  grid), with a Student-t 95% interval over seeds (seeds are independent, the alphas of one seed are not). The target
  slope is 1.
- `plateaued`: the rule for stopping when the held-out slope stops improving.
- `attainable_range`: how far the assessor's score can move on this generator, (a) along the learned direction at
  alpha far beyond the training range (bigger step: T(z, y, m * alpha_max)), and (b) by free gradient ascent and
  descent on each seed's z (norm kept, as every transformer does). `diagnose` compares both with the target range to
  tell under-training (the direction reaches the target at a larger alpha, i.e. it is too short) from saturation
  (not even free optimisation reaches the target: the assessor's range on this generator is too small) from a
  transformer too simple for the assessor (free optimisation reaches it, the one direction does not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats

from ..seeding import parse_seeds

MULTIPLES = (1, 2, 4, 8, 16, 64)  # alpha as multiples of the training range, for the reach along the direction


@dataclass
class HeldOut:
    seeds: list[int]
    z: torch.Tensor  # S x dim_z
    y: torch.Tensor  # S x num_classes
    base: torch.Tensor  # S: the assessor's score at alpha = 0
    alphas: list[float]  # the evaluation grid, 0 included


def alpha_grid(alpha_min: float, alpha_max: float, points: int = 5) -> list[float]:
    """`points` alphas evenly over [alpha_min, alpha_max], with 0 added when the range holds it."""
    grid = {round(float(a), 10) for a in np.linspace(alpha_min, alpha_max, points)}
    if alpha_min <= 0 <= alpha_max:
        grid.add(0.0)
    return sorted(grid)


@torch.no_grad()
def _score(c, z: torch.Tensor, y: torch.Tensor, batch: int = 64) -> torch.Tensor:
    from .train import autocast

    out = []
    for i in range(0, len(z), batch):
        with autocast(c.device, c.autocast_dtype):
            out.append(c.assessor(c.generator(z[i:i + batch], y[i:i + batch])).float())
    return torch.cat(out).cpu()


def make_heldout(c, seeds: str, alpha_min: float, alpha_max: float, truncation: float) -> HeldOut:
    """The fixed held-out set of a run: latents of `seeds`, classes cycling over the run's pool, base scores."""
    s = parse_seeds(seeds)
    z = c.generator.latents(s, truncation).to(c.device)
    y = c.generator.one_hot([c.classes[i % len(c.classes)] for i in range(len(s))]).to(c.device)
    return HeldOut(s, z, y, _score(c, z, y), alpha_grid(alpha_min, alpha_max))


def slope_stats(alphas: np.ndarray, change: np.ndarray) -> dict[str, float]:
    """Per-seed least-squares slopes of `change` (S x K) on `alphas` (K): mean, Student-t 95% interval, and the
    correlation and mean absolute error (|change - alpha|) over all points."""
    a = alphas - alphas.mean()
    per_seed = (change - change.mean(1, keepdims=True)) @ a / float(a @ a)
    n = len(per_seed)
    mean = float(per_seed.mean())
    half = float(stats.t.ppf(0.975, n - 1) * per_seed.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    flat_a = np.broadcast_to(alphas, change.shape).ravel()
    corr = float(np.corrcoef(flat_a, change.ravel())[0, 1]) if change.std() > 0 else float("nan")
    cv = float(per_seed.std(ddof=1) / abs(mean)) if n > 1 and mean != 0 else float("nan")
    return {"slope": mean, "slope_ci_low": mean - half, "slope_ci_high": mean + half, "corr": corr,
            "abs_error": float(np.abs(change - alphas).mean()), "seeds": n, "per_seed_cv": cv}


@torch.no_grad()
def evaluate(c, held: HeldOut, transformer=None) -> dict[str, Any]:
    """Achieved change on the held-out set at every alpha of its grid, and the slope with its 95% interval."""
    t = transformer if transformer is not None else c.transformer
    was_training = t.training
    t.eval()
    cols = []
    for a in held.alphas:
        if a == 0:  # T(z, y, 0) = z: no change by construction
            cols.append(torch.zeros(len(held.z)))
            continue
        moved = t(held.z, held.y, torch.full((len(held.z),), float(a), device=held.z.device))
        cols.append(_score(c, moved, held.y) - held.base)
    t.train(was_training)
    change = torch.stack(cols, 1).double().numpy()
    alphas = np.asarray(held.alphas, dtype=float)
    out = slope_stats(alphas, change)
    out["change_by_alpha"] = [float(v) for v in change.mean(0)]
    out["alphas"] = list(held.alphas)
    return out


def plateaued(slopes: list[float], patience: int, tol: float) -> bool:
    """True when none of the last `patience` held-out slopes beat the best before them by more than `tol`."""
    if patience < 1 or len(slopes) <= patience:
        return False
    return max(slopes[-patience:]) <= max(slopes[:-patience]) + tol


def _free_reach(c, held: HeldOut, sign: int, seeds: int, steps: int, lr: float) -> torch.Tensor:
    """Per-seed score change reached by gradient ascent (sign +1) or descent (-1) on z, keeping each z's norm, for the
    first `seeds` held-out seeds."""
    from ..transformers.base import keep_norm
    from .train import autocast

    z0, y, base = held.z[:seeds].detach(), held.y[:seeds], held.base[:seeds]
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    best = base.clone() * sign
    for _ in range(steps):
        with autocast(c.device, c.autocast_dtype):
            s = c.assessor(c.generator(z, y)).float()
        best = torch.maximum(best, sign * s.detach().cpu())
        opt.zero_grad(set_to_none=True)
        (-sign * s).sum().backward()
        opt.step()
        with torch.no_grad():
            z.copy_(keep_norm(z0, z))
    with torch.no_grad():
        best = torch.maximum(best, sign * _score(c, z.detach(), y))
    return sign * best - base


SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)  # step-length multiples for the loss-optimal length of the direction


@torch.no_grad()
def loss_by_scale(c, held: HeldOut, transformer=None) -> dict[str, Any]:
    """The held-out GANalyze loss (mean of (change - alpha)^2) when every step is made `m` times longer.

    For `one_direction` and `class_dependent`, T(z, y, m alpha) is exactly the transformer with its directions
    multiplied by m, so the loss-minimising m says whether training left the direction at its own objective's
    optimum (m* ~ 1) or too short (m* > 1: under-trained). The per-seed slopes' coefficient of variation CV bounds the
    slope that a mean-squared-error fit of one step length can give: 1 / (1 + CV^2) for gains that vary by seed.
    """
    t = transformer if transformer is not None else c.transformer
    t.eval()
    alphas = [a for a in held.alphas if a != 0]
    rows = []
    for m in SCALES:
        cols = [_score(c, t(held.z, held.y, torch.full((len(held.z),), m * a, device=held.z.device)), held.y)
                - held.base for a in alphas]
        change = torch.stack(cols, 1).double().numpy()
        target = np.asarray(alphas)
        rows.append({"multiple": m, "loss": float(((change - target) ** 2).mean()),
                     "slope": float(slope_stats(np.asarray([0.0, *alphas]),
                                                np.concatenate([np.zeros((len(change), 1)), change], 1))["slope"])})
    best = min(rows, key=lambda r: r["loss"])
    return {"by_scale": rows, "best_multiple": best["multiple"], "best_loss": best["loss"]}


def attainable_range(c, held: HeldOut, alpha_min: float, alpha_max: float, transformer=None, free_seeds: int = 8,
                     free_steps: int = 30, free_lr: float = 0.2) -> dict[str, Any]:
    """The assessor's reachable score change on the held-out seeds: along the direction (every seed) and by free
    optimisation (Adam on z, `free_steps` steps, for the first `free_seeds` seeds: a lower bound of the true reach)."""
    t = transformer if transformer is not None else c.transformer
    t.eval()
    along = []
    with torch.no_grad():
        for m in MULTIPLES:
            row = {"multiple": m}
            for side, a in (("up", m * alpha_max), ("down", m * alpha_min)):
                moved = t(held.z, held.y, torch.full((len(held.z),), float(a), device=held.z.device))
                row[f"alpha_{side}"] = float(a)
                row[f"change_{side}"] = float((_score(c, moved, held.y) - held.base).mean())
            along.append(row)
    if free_steps > 0:
        free_up = _free_reach(c, held, +1, free_seeds, free_steps, free_lr)
        free_down = _free_reach(c, held, -1, free_seeds, free_steps, free_lr)
    else:  # not measured
        free_up = free_down = torch.full((1,), float("nan"))
    return {"along_direction": along,
            "direction_reach_up": max(r["change_up"] for r in along),
            "direction_reach_down": min(r["change_down"] for r in along),
            "free_reach_up": float(free_up.mean()), "free_reach_down": float(free_down.mean()),
            "free_reach_up_fraction_of_seeds": float((free_up >= alpha_max).double().mean()),
            "free_reach_down_fraction_of_seeds": float((free_down <= alpha_min).double().mean()),
            "free_seeds": len(free_up) if free_steps > 0 else 0, "free_steps": free_steps, "free_lr": free_lr,
            "base_score_mean": float(held.base.mean()), "base_score_sd": float(held.base.std()),
            "target_up": alpha_max, "target_down": alpha_min}


def diagnose(fraction: float, reach: dict[str, Any], scale: dict[str, Any], cv: float,
             goal: float = 0.7, transformer: str = "one_direction") -> dict[str, str]:
    """Which of: reaches the target, under-trained, saturated (the assessor's range) or objective-limited.

    `fraction` is the held-out slope as a fraction of the target slope 1. Under-trained: the held-out loss is lower
    with a longer step (`loss_by_scale` best multiple >= 1.25), so the direction has not reached its own objective's
    optimum. Saturated: neither the direction at up to 64x the training alpha nor free optimisation of z reaches
    `goal` times the target change. Objective-limited: the direction sits at its loss optimum and the assessor can
    reach the target, but the per-seed gains differ (CV) so that the mean-squared-error optimum of one shared step
    has a mean slope of about 1 / (1 + CV^2); a transformer whose step depends on z can do better.
    """
    def reaches(up: float, down: float) -> bool:
        return up >= goal * reach["target_up"] and down <= goal * reach["target_down"]

    free_known = np.isfinite(reach["free_reach_up"])
    along = reaches(reach["direction_reach_up"], reach["direction_reach_down"])
    free = reaches(reach["free_reach_up"], reach["free_reach_down"]) if free_known else along
    m = scale["best_multiple"]
    bound = 1.0 / (1.0 + cv ** 2) if np.isfinite(cv) else float("nan")
    free_text = (f"by free optimisation of z {reach['free_reach_down']:+.3g} .. {reach['free_reach_up']:+.3g}"
                 if free_known else "free optimisation not run")
    numbers = (f"held-out slope {fraction:.2f} of the target; along the direction the score moves "
               f"{reach['direction_reach_down']:+.3g} .. {reach['direction_reach_up']:+.3g} (up to "
               f"{MULTIPLES[-1]}x the training alpha), {free_text}; target {reach['target_down']:+.3g} .. "
               f"{reach['target_up']:+.3g}; held-out loss lowest at {m:g}x the learned step; per-seed slopes vary "
               f"with CV {cv:.2f}, so one shared step's least-squares optimum has a mean slope near {bound:.2f}")
    if fraction >= goal:
        return {"verdict": "reaches target", "reason": numbers + "."}
    if not free and not along:
        return {"verdict": "saturated", "reason": numbers + ": the assessor's attainable range on this generator "
                "is smaller than the alpha range; lower --alpha-sd (or --alpha-min/--alpha-max with --alpha-range "
                "raw) to what it can reach."}
    if m >= 1.25:
        return {"verdict": "under-trained", "reason": numbers + ": a longer step lowers the held-out loss, so the "
                "direction has not reached its objective's optimum; train longer or with a larger --lr."}
    advice = ("more samples may let its z-dependent step even them out" if transformer == "nonlinear" else
              "try --transformer nonlinear (a step that depends on z)")
    return {"verdict": "objective-limited", "reason": numbers + ": the direction is at its loss optimum and the "
            f"target is reachable, but the seeds respond unequally to one step; {advice}."}


def json_safe(obj: Any) -> Any:
    """`obj` with NaN and infinities as None, so that the JSON it becomes is standard (readable by any parser)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_summary(folder, c, held: HeldOut, history: list[dict[str, Any]], cfg, stopped: str,
                  step: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """``heldout.json`` (final held-out slope, its history, the attainable range and the diagnosis; `extra` adds
    keys, e.g. the alpha range in SDs and the kept assessors' slopes) and ``heldout.png`` (slope vs step with its 95%
    band, final change vs alpha, reach along the direction)."""
    import json
    from pathlib import Path

    from ..rundir import atomic_write_text

    folder = Path(folder)
    final = history[-1]
    rising = len(history) >= 2 and final["heldout_slope"] > history[-2]["heldout_slope"] + cfg.plateau_tol
    reach = attainable_range(c, held, cfg.alpha_min, cfg.alpha_max, free_seeds=cfg.range_seeds,
                             free_steps=cfg.range_steps)
    scale = loss_by_scale(c, held)
    diagnosis = diagnose(final["heldout_slope"], reach, scale, final["heldout_per_seed_cv"],
                         transformer=cfg.transformer)
    summary = {
        "what": "GANalyze held-out check: achieved score change vs target alpha on fixed held-out seeds; target "
                "slope 1 (goal >= 0.7); slope = mean per-seed least-squares slope, 95% Student-t interval over seeds",
        "assessor": cfg.assessor, "generator": cfg.generator, "transformer": cfg.transformer, "step": step,
        "stopped": stopped, "seeds": held.seeds, "alphas": held.alphas, "goal_fraction": 0.7,
        "final": {k: v for k, v in final.items() if k != "kind"},
        "fraction_of_target": final["heldout_slope"],
        "still_rising": rising,
        "history": [{"step": r["step"], "slope": r["heldout_slope"], "ci_low": r["heldout_slope_ci_low"],
                     "ci_high": r["heldout_slope_ci_high"]} for r in history],
        "attainable": reach, "loss_by_scale": scale, "diagnosis": diagnosis, **(extra or {}),
    }
    atomic_write_text(folder / "heldout.json", json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n")
    plot_summary(summary, folder / "heldout.png")
    return summary


def plot_summary(summary: dict[str, Any], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..rundir import atomic_path

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    h = summary["history"]
    ax = axes[0]
    steps = [r["step"] for r in h]
    ax.plot(steps, [r["slope"] for r in h], "o-", ms=3, label="held-out slope")
    ax.fill_between(steps, [r["ci_low"] for r in h], [r["ci_high"] for r in h], alpha=0.25, label="95% CI")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="target")
    ax.axhline(summary["goal_fraction"], color="grey", ls=":", lw=1, label="goal 0.7")
    ax.set(title="held-out slope during training", xlabel="step", ylabel="slope (change / alpha)")
    ax.legend(fontsize=7)
    ax = axes[1]
    f = summary["final"]
    a = f["heldout_alphas"]
    ax.plot(a, a, "k--", lw=1, label="target")
    ax.plot(a, f["heldout_change_by_alpha"], "o-", label=f"achieved (slope {f['heldout_slope']:.2f})")
    ax.set(title="final: mean change vs alpha", xlabel="alpha", ylabel="score change")
    ax.legend(fontsize=7)
    ax = axes[2]
    r = summary["attainable"]
    m = [x["multiple"] for x in r["along_direction"]]
    ax.semilogx(m, [x["change_up"] for x in r["along_direction"]], "o-", color="C2", label="along +direction")
    ax.semilogx(m, [x["change_down"] for x in r["along_direction"]], "o-", color="C3", label="along -direction")
    for v, ls, lab in ((r["free_reach_up"], "-.", "free optimisation"), (r["free_reach_down"], "-.", None),
                       (r["target_up"], "--", "target"), (r["target_down"], "--", None)):
        ax.axhline(v, color="k" if ls == "--" else "grey", ls=ls, lw=1, label=lab)
    ax.set(title=f"attainable range: {summary['diagnosis']['verdict']}", xlabel="alpha / training alpha",
           ylabel="mean score change")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
