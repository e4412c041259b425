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

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.devices import autocast
from ..core.files import atomic_write_text, json_safe
from ..seeding import parse_seeds
from ..stats import row_slopes, t_half_width
from ..transformers.base import keep_norm
from . import edit_checks
from .config import Components, TrainConfig
from .heldout_plot import plot_summary

MULTIPLES = (1, 2, 4, 8, 16, 64)  # alpha as multiples of the training range, for the reach along the direction


@dataclass
class HeldOut:
    seeds: list[int]
    z: torch.Tensor  # S x dim_z
    y: torch.Tensor  # S x num_classes
    base: torch.Tensor  # S: the assessor's score at alpha = 0
    alphas: list[float]  # the evaluation grid, 0 included
    ref: dict[str, Any] | None = None  # the seeds at alpha 0 for the edit checks (`edit_checks.reference`)


def alpha_grid(alpha_min: float, alpha_max: float, points: int = 5) -> list[float]:
    """`points` alphas evenly over [alpha_min, alpha_max], with 0 added when the range holds it."""
    grid = {round(float(a), 10) for a in np.linspace(alpha_min, alpha_max, points)}
    if alpha_min <= 0 <= alpha_max:
        grid.add(0.0)
    return sorted(grid)


@torch.no_grad()
def _score(c: Components, z: torch.Tensor, y: torch.Tensor, batch: int = 64, images: bool = False):
    """The assessor's scores of G(z, y) (and the images, on the CPU, with `images`)."""
    out, pics = [], []
    for i in range(0, len(z), batch):
        with autocast(c.device, c.autocast_dtype):
            x = c.generator(z[i:i + batch], y[i:i + batch])
            out.append(c.assessor(x).float())
        if images:
            pics.append(x.float().cpu())
    scores = torch.cat(out).cpu()
    return (scores, torch.cat(pics)) if images else scores


def make_heldout(c: Components, seeds: str, alpha_min: float, alpha_max: float, truncation: float) -> HeldOut:
    """The fixed held-out set of a run: latents of `seeds`, classes cycling over the run's pool, base scores."""
    s = parse_seeds(seeds)
    z = c.generator.latents(s, truncation).to(c.device)
    y = c.generator.one_hot([c.classes[i % len(c.classes)] for i in range(len(s))]).to(c.device)
    base, images = _score(c, z, y, images=True)
    return HeldOut(s, z, y, base, alpha_grid(alpha_min, alpha_max), edit_checks.reference(z, images, c.device.type))


def slope_stats(alphas: np.ndarray, change: np.ndarray) -> dict[str, float]:
    """Per-seed least-squares slopes of `change` (S x K) on `alphas` (K): mean, Student-t 95% interval, and the
    correlation and mean absolute error (|change - alpha|) over all points."""
    per_seed = row_slopes(alphas, change)
    n = len(per_seed)
    mean = float(per_seed.mean())
    half = t_half_width(float(per_seed.std(ddof=1)), n) if n > 1 else float("nan")
    flat_a = np.broadcast_to(alphas, change.shape).ravel()
    corr = float(np.corrcoef(flat_a, change.ravel())[0, 1]) if change.std() > 0 else float("nan")
    cv = float(per_seed.std(ddof=1) / abs(mean)) if n > 1 and mean != 0 else float("nan")
    return {"slope": mean, "slope_ci_low": mean - half, "slope_ci_high": mean + half, "corr": corr,
            "abs_error": float(np.abs(change - alphas).mean()), "seeds": n, "per_seed_cv": cv,
            "per_seed": [float(v) for v in per_seed]}


@torch.no_grad()
def evaluate(c: Components, held: HeldOut, transformer=None) -> dict[str, Any]:
    """Achieved change on the held-out set at every alpha of its grid, the slope with its 95% interval, and the edit
    checks at both extremes of the grid (`edit_checks`: identity, diversity, image integrity, and the verdict)."""
    t = transformer if transformer is not None else c.transformer
    was_training = t.training
    t.eval()
    cols, extremes = [], {}
    ends = {held.alphas[0]: "down", held.alphas[-1]: "up"}
    for a in held.alphas:
        if a == 0:  # T(z, y, 0) = z: no change by construction
            cols.append(torch.zeros(len(held.z)))
            continue
        moved = t(held.z, held.y, torch.full((len(held.z),), float(a), device=held.z.device))
        if a in ends and held.ref is not None:
            scores, images = _score(c, moved, held.y, images=True)
            extremes[ends[a]] = edit_checks.extreme_stats(held.ref, a, moved, images, c.device.type)
        else:
            scores = _score(c, moved, held.y)
        cols.append(scores - held.base)
    t.train(was_training)
    change = torch.stack(cols, 1).double().numpy()
    alphas = np.asarray(held.alphas, dtype=float)
    out = slope_stats(alphas, change)
    out["change_by_alpha"] = [float(v) for v in change.mean(0)]
    out["alphas"] = list(held.alphas)
    judged = edit_checks.judge(extremes)
    out["edit"] = {"extremes": extremes, **edit_checks.worst(extremes), **judged,
                   "feature_space": held.ref["feature_space"] if held.ref else None}
    out["check"] = edit_checks.check_verdict(out["slope"], judged)
    return out


def row_fields(ev: dict[str, Any]) -> dict[str, Any]:
    """The metrics.jsonl fields of one held-out evaluation (`evaluate`'s result)."""
    e = ev.get("edit", {})
    return {"heldout_slope": ev["slope"], "heldout_slope_ci_low": ev["slope_ci_low"],
            "heldout_slope_ci_high": ev["slope_ci_high"], "heldout_corr": ev["corr"],
            "heldout_abs_error": ev["abs_error"], "heldout_per_seed_cv": ev["per_seed_cv"],
            "heldout_seeds": ev["seeds"], "heldout_alphas": ev["alphas"],
            "heldout_change_by_alpha": ev["change_by_alpha"], "heldout_per_seed_slopes": ev["per_seed"],
            "heldout_check": ev.get("check"), "heldout_identity_cosine": e.get("identity_cosine"),
            "heldout_identity_cosine_min": e.get("identity_cosine_min"),
            "heldout_feature_ratio": e.get("feature_ratio"), "heldout_diversity": e.get("diversity"),
            "heldout_edit": e}


def plateaued(slopes: list[float], patience: int, tol: float) -> bool:
    """True when none of the last `patience` held-out slopes beat the best before them by more than `tol`."""
    if patience < 1 or len(slopes) <= patience:
        return False
    return max(slopes[-patience:]) <= max(slopes[:-patience]) + tol


LINEAR_STEP = ("one_direction", "class_dependent")  # T(z, y, m alpha) is the same direction m times longer


def bound_step(z0: torch.Tensor, z: torch.Tensor, max_step: float) -> torch.Tensor:
    """`z` at the norm of `z0`, rotated back toward `z0` where needed so that ||z - z0|| <= max_step * ||z0||
    (on the sphere, a bound on the angle: 2 asin(max_step / 2))."""
    moved = keep_norm(z0, z)
    if max_step >= 2:
        return moved
    n0 = z0.norm(dim=1, keepdim=True).clamp_min(1e-12)
    u = z0 / n0
    along = (moved * u).sum(1, keepdim=True)
    theta = torch.acos((along / n0).clamp(-1, 1))
    v = moved - along * u
    v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
    limit = 2 * math.asin(max_step / 2)
    capped = n0 * (math.cos(limit) * u + math.sin(limit) * v)
    return torch.where(theta > limit, capped, moved)


def _free_reach(c: Components, held: HeldOut, sign: int, seeds: int, steps: int, lr: float,
                max_step: float) -> torch.Tensor:
    """Per-seed score change reached by gradient ascent (sign +1) or descent (-1) on z, keeping each z's norm and
    its step within `max_step` * |z|, for the first `seeds` held-out seeds."""
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
            z.copy_(bound_step(z0, z, max_step))
    with torch.no_grad():
        best = torch.maximum(best, sign * _score(c, z.detach(), y))
    return sign * best - base


SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)  # step-length multiples for the loss-optimal length of the direction


@torch.no_grad()
def loss_by_scale(c: Components, held: HeldOut, transformer=None, linear: bool = True) -> dict[str, Any]:
    """The held-out GANalyze loss (mean of (change - alpha)^2) when every step is made `m` times longer.

    Only for transformers whose step is linear in alpha (`LINEAR_STEP`): there T(z, y, m alpha) is exactly the
    transformer with its directions multiplied by m, so the loss-minimising m says whether training left the
    direction at its own objective's optimum (m* ~ 1) or too short (m* > 1). The longer step counts as better only
    when the per-seed paired loss difference (1x minus m*) has a 95% interval above 0. For a nonlinear transformer
    T(z, y, m alpha) feeds the network an alpha it never saw (it extrapolates; it is no longer step): not computed.
    """
    if not linear:
        return {"applies": False, "why": "the step is nonlinear in alpha: T(z, y, m alpha) extrapolates the "
                "network's input rather than lengthening the step", "longer_step_helps": False}
    t = transformer if transformer is not None else c.transformer
    t.eval()
    alphas = [a for a in held.alphas if a != 0]
    rows, per_seed = [], {}
    for m in SCALES:
        cols = [_score(c, t(held.z, held.y, torch.full((len(held.z),), m * a, device=held.z.device)), held.y)
                - held.base for a in alphas]
        change = torch.stack(cols, 1).double().numpy()
        target = np.asarray(alphas)
        per_seed[m] = ((change - target) ** 2).mean(1)
        rows.append({"multiple": m, "loss": float(per_seed[m].mean()),
                     "slope": float(slope_stats(np.asarray([0.0, *alphas]),
                                                np.concatenate([np.zeros((len(change), 1)), change], 1))["slope"])})
    best = min(rows, key=lambda r: r["loss"])
    gain = edit_checks.paired_improvement(per_seed[1.0], per_seed[best["multiple"]])
    helps = bool(best["multiple"] >= 1.25 and gain["ci_low"] > 0)
    return {"applies": True, "by_scale": rows, "best_multiple": best["multiple"], "best_loss": best["loss"],
            "loss_drop_vs_1x": gain, "longer_step_helps": helps}


def attainable_range(c: Components, held: HeldOut, alpha_min: float, alpha_max: float, transformer=None,
                     free_seeds: int = 8, free_steps: int = 30, free_lr: float = 0.2,
                     max_step: float | None = None) -> dict[str, Any]:
    """The assessor's reachable score change on the held-out seeds within one step bound: along the direction
    (every seed; multiples whose mean step stays within the bound) and by free optimisation (Adam on z, `free_steps`
    steps, for the first `free_seeds` seeds: a lower bound of the true reach).

    The bound is ||z' - z|| <= max_step * ||z||, the run's own `max_step` where it has one, else the identity
    check's: a step no longer than z itself (cosine 0.5, `edit_checks.MIN_COSINE`), so that the range is what an
    edit can reach, not a replacement of the picture.
    """
    t = transformer if transformer is not None else c.transformer
    t.eval()
    if max_step is None:
        bound, source = math.sqrt(2 - 2 * edit_checks.MIN_COSINE), "identity check (cosine >= MIN_COSINE)"
    else:
        bound, source = float(max_step), "the run's max_step"
    along = []
    with torch.no_grad():
        for m in MULTIPLES:
            row = {"multiple": m}
            for side, a in (("up", m * alpha_max), ("down", m * alpha_min)):
                moved = t(held.z, held.y, torch.full((len(held.z),), float(a), device=held.z.device))
                row[f"alpha_{side}"] = float(a)
                row[f"change_{side}"] = float((_score(c, moved, held.y) - held.base).mean())
                row[f"step_{side}"] = float(((moved - held.z).norm(dim=1) / held.z.norm(dim=1)).mean())
            row["within_bound"] = max(row["step_up"], row["step_down"]) <= bound + 1e-6
            along.append(row)
    inside = [r for r in along if r["within_bound"]]
    if free_steps > 0:
        free_up = _free_reach(c, held, +1, free_seeds, free_steps, free_lr, bound)
        free_down = _free_reach(c, held, -1, free_seeds, free_steps, free_lr, bound)
    else:  # not measured
        free_up = free_down = torch.full((1,), float("nan"))
    return {"along_direction": along, "step_bound": bound, "step_bound_source": source,
            "direction_reach_up": max((r["change_up"] for r in inside), default=float("nan")),
            "direction_reach_down": min((r["change_down"] for r in inside), default=float("nan")),
            "free_reach_up": float(free_up.mean()), "free_reach_down": float(free_down.mean()),
            "free_reach_up_fraction_of_seeds": float((free_up >= alpha_max).double().mean()),
            "free_reach_down_fraction_of_seeds": float((free_down <= alpha_min).double().mean()),
            "free_seeds": len(free_up) if free_steps > 0 else 0, "free_steps": free_steps, "free_lr": free_lr,
            "base_score_mean": float(held.base.mean()), "base_score_sd": float(held.base.std()),
            "target_up": alpha_max, "target_down": alpha_min}


def slope_trend(history: list[dict[str, Any]], back: int = 3) -> dict[str, Any]:
    """Is the held-out slope still improving? Paired per-seed slope differences between the last evaluation and the
    one `back` evaluations earlier (the first where fewer), mean with a Student-t 95% interval over seeds."""
    rows = [r for r in history if r.get("heldout_per_seed_slopes")]
    if len(rows) < 2:
        return {"known": False, "improving": False, "why": "fewer than two evaluations with per-seed slopes"}
    last, earlier = rows[-1], rows[max(0, len(rows) - 1 - back)]
    d = edit_checks.paired_improvement(np.asarray(last["heldout_per_seed_slopes"]),
                                       np.asarray(earlier["heldout_per_seed_slopes"]))
    return {"known": True, "from_step": earlier["step"], "to_step": last["step"], **d,
            "improving": bool(d["ci_low"] > 0)}


def diagnose(fraction: float, reach: dict[str, Any], scale: dict[str, Any], cv: float,
             goal: float = edit_checks.MIN_SLOPE, transformer: str = "one_direction",
             edit: dict[str, Any] | None = None, trend: dict[str, Any] | None = None,
             consistency: dict[str, Any] | None = None) -> dict[str, str]:
    """Which of: template collapse, image destroyed, reaches target, saturated, under-trained, objective-limited.

    `fraction` is the held-out slope as a fraction of the target slope 1; `edit` the edit checks of the last
    evaluation (`evaluate`'s "edit"). A collapse or a destroyed picture is the verdict whatever the slope, and
    "reaches target" needs the slope and kept identity both. A shortfall is saturated when neither the direction nor
    free optimisation of z reaches `goal` times the target within the step bound; under-trained only from evidence
    for this transformer: the held-out slope still improving (`trend`, paired per-seed interval above 0), or for a
    linear step a longer step lowering the held-out loss (`loss_by_scale`, paired interval above 0); otherwise
    objective-limited.
    """
    def reaches(up: float, down: float) -> bool:
        return up >= goal * reach["target_up"] and down <= goal * reach["target_down"]

    free_known = np.isfinite(reach["free_reach_up"])
    along = reaches(reach["direction_reach_up"], reach["direction_reach_down"])
    free = reaches(reach["free_reach_up"], reach["free_reach_down"]) if free_known else along
    bound = 1.0 / (1.0 + cv ** 2) if np.isfinite(cv) else float("nan")
    free_text = (f"by free optimisation of z {reach['free_reach_down']:+.3g} .. {reach['free_reach_up']:+.3g}"
                 if free_known else "free optimisation not run")
    within = f"steps within {reach.get('step_bound', float('nan')):.2g} |z|"
    numbers = (f"held-out slope {fraction:.2f} of the target; {within}, the score moves "
               f"{reach['direction_reach_down']:+.3g} .. {reach['direction_reach_up']:+.3g} along the direction, "
               f"{free_text}; target {reach['target_down']:+.3g} .. {reach['target_up']:+.3g}; per-seed slopes vary "
               f"with CV {cv:.2f}")
    if scale.get("applies", True) and "best_multiple" in scale:
        numbers += (f" (one shared step's least-squares optimum has a mean slope near {bound:.2f}); held-out loss "
                    f"lowest at {scale['best_multiple']:g}x the learned step")
    if trend and trend.get("known"):
        numbers += (f"; slope change from step {trend['from_step']} to {trend['to_step']} {trend['mean']:+.3f} "
                    f"[{trend['ci_low']:+.3f}, {trend['ci_high']:+.3f}] (paired over seeds)")
    if edit:
        numbers += (f"; identity: cos(z, T(z)) {edit.get('identity_cosine', float('nan')):.2f} (min "
                    f"{edit.get('identity_cosine_min', float('nan')):.2f}), image distance "
                    f"{edit.get('feature_ratio', float('nan')):.2f} of two seeds'; diversity "
                    f"{edit.get('diversity', float('nan')):.2f} of alpha 0's")
    no_dir = ""
    if consistency and not consistency.get("consistent", True):
        no_dir = f" {consistency['verdict'].capitalize()} ({consistency['reason']})."
    failed = (edit or {}).get("failed")
    if failed == "template collapse":
        return {"verdict": failed, "reason": numbers + ": " + "; ".join(edit["failed_because"]) + ". The "
                "direction meets the slope by replacing the seeds' pictures (with one template), not by editing "
                "them; lower --lr, bound the step (--max-step) or train fewer samples." + no_dir}
    if failed == "image destroyed":
        return {"verdict": failed, "reason": numbers + ": " + "; ".join(edit["failed_because"]) + ". The "
                "direction changes the score by wrecking the picture; narrow the alpha range or bound the step."
                + no_dir}
    if fraction >= goal:
        return {"verdict": "reaches target", "reason": numbers + "."}
    improving = bool((trend or {}).get("improving"))
    if not along and ((free_known and not free) or (not free_known and not improving)):
        return {"verdict": "saturated", "reason": numbers + ": the assessor's attainable range on this generator "
                "within the step bound is smaller than the alpha range; lower --alpha-sd (or --alpha-min/--alpha-max "
                "with --alpha-range raw) to what it can reach." + no_dir}
    if improving or (transformer in LINEAR_STEP and scale.get("longer_step_helps")):
        why = ("the held-out slope is still improving (interval above 0)" if improving else
               "a longer step lowers the held-out loss (paired interval above 0)")
        return {"verdict": "under-trained", "reason": numbers + f": {why}; train longer or with a larger --lr."
                + no_dir}
    advice = ("more samples may let its z-dependent step even them out" if transformer == "nonlinear" else
              "try --transformer nonlinear (a step that depends on z)")
    return {"verdict": "objective-limited", "reason": numbers + ": no evidence of under-training and the target is "
            f"reachable within the step bound, but the seeds respond unequally; {advice}." + no_dir}


def write_summary(folder: str | Path, c: Components, held: HeldOut, history: list[dict[str, Any]], cfg: TrainConfig,
                  stopped: str, step: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """``heldout.json`` (final held-out slope, its history with per-seed slopes, the edit checks, the attainable
    range within the step bound, the direction-consistency diagnostic, the thresholds and the diagnosis; `extra`
    adds keys, e.g. the alpha range in SDs and the kept assessors' slopes) and ``heldout.png``
    (`heldout_plot.plot_summary`)."""
    folder = Path(folder)
    final = history[-1]
    if not final.get("heldout_edit") or "heldout_per_seed_slopes" not in final:  # a row logged by an older version
        final = {**final, **row_fields(evaluate(c, held))}
        history = [*history[:-1], final]
    trend = slope_trend(history, cfg.plateau_patience)
    max_step = getattr(cfg, "max_step", None)
    reach = attainable_range(c, held, cfg.alpha_min, cfg.alpha_max, free_seeds=cfg.range_seeds,
                             free_steps=cfg.range_steps, max_step=max_step)
    scale = loss_by_scale(c, held, linear=cfg.transformer in LINEAR_STEP)
    consistency = edit_checks.gradient_consistency(c, held.z, held.y, seed=cfg.seed)
    edit = final["heldout_edit"]
    diagnosis = diagnose(final["heldout_slope"], reach, scale, final["heldout_per_seed_cv"],
                         transformer=cfg.transformer, edit=edit, trend=trend, consistency=consistency)
    check = {"verdict": diagnosis["verdict"], "identity_kept": edit.get("identity_kept"),
             "identity_cosine": edit.get("identity_cosine"), "identity_cosine_min": edit.get("identity_cosine_min"),
             "feature_ratio": edit.get("feature_ratio"), "diversity": edit.get("diversity"),
             "step": edit.get("step"), "collapse": edit.get("collapse"), "destroyed": edit.get("destroyed"),
             "feature_space": edit.get("feature_space"), "extremes": edit.get("extremes")}
    summary = {
        "what": "GANalyze held-out check: achieved score change vs target alpha on fixed held-out seeds; target "
                f"slope 1 (goal >= {edit_checks.MIN_SLOPE}, with identity kept); slope = mean per-seed least-squares "
                "slope, 95% Student-t interval over seeds; identity, diversity and image integrity at both extremes "
                "of the alpha grid",
        "assessor": cfg.assessor, "generator": cfg.generator, "transformer": cfg.transformer, "step": step,
        "stopped": stopped, "seeds": held.seeds, "alphas": held.alphas, "goal_fraction": edit_checks.MIN_SLOPE,
        "max_step": max_step, "assessor_sd": getattr(cfg, "assessor_sd", None),
        "final": {k: v for k, v in final.items() if k not in ("kind", "heldout_edit")},
        "fraction_of_target": final["heldout_slope"],
        "check": check,
        "still_rising": trend["improving"], "slope_trend": trend,
        "history": [{"step": r["step"], "slope": r["heldout_slope"], "ci_low": r["heldout_slope_ci_low"],
                     "ci_high": r["heldout_slope_ci_high"], "per_seed": r.get("heldout_per_seed_slopes"),
                     "check": r.get("heldout_check"), "identity_cosine": r.get("heldout_identity_cosine"),
                     "feature_ratio": r.get("heldout_feature_ratio"), "diversity": r.get("heldout_diversity")}
                    for r in history],
        "attainable": reach, "loss_by_scale": scale, "direction_consistency": consistency,
        "thresholds": edit_checks.thresholds(), "diagnosis": diagnosis, **(extra or {}),
    }
    atomic_write_text(folder / "heldout.json", json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n")
    plot_summary(summary, folder / "heldout.png")
    return summary
