"""Edits, not replacements: whether a GANalyze direction edits each seed's picture or replaces it.

GANalyze (Goetschalckx et al., ICCV 2019) asks only that A(G(T(z, alpha))) = A(G(z)) + alpha. A transformer can meet
that by sending every seed to one template picture with the right score (template collapse), or by wrecking the
picture (turned grey, clipped to black or white, flattened): GANalyze's own known failure (its issue #5). A slope
check alone calls either a success. Here, at both extremes of the held-out alpha grid:

- identity: cosine of z and T(z, alpha) per seed (mean and min over seeds), the step ||T(z) - z|| / ||z||, and the
  distance between G(z) and G(T(z, alpha)) in pretrained image features (`ganalyze_mem.features`; downsampled pixels
  where that is not installed), relative to the median distance between different seeds' images at alpha 0;
- diversity: mean pairwise distance among the seeds' latents and images at the extreme, relative to alpha 0;
- image integrity: per seed, HSV saturation, the fraction of clipped pixel values and the spatial SD of luminance at
  the extreme against the seed image.

`gradient_consistency` asks the prior question: does the assessor have one direction on this generator at all? It
takes the assessor's gradient with respect to z at the held-out latents and measures how aligned the unit gradients
are (length of their mean) against the same statistic for random directions.

The thresholds are named constants, each with its reason; `THRESHOLDS` records them in heldout.json.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..core.devices import autocast
from ..errors import GanalyzeError

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.
from ..stats import basic_interval, resample_indices, t_half_width
from .config import Components

MIN_SLOPE = 0.7  # "reaches target": the direction gives at least 70% of the asked score change on held-out seeds
MIN_COSINE = 0.5  # identity: at cosine 0.5 a norm-keeping step is as long as z itself (||z' - z|| = ||z||)
MAX_FEATURE_RATIO = 0.9  # identity: the edited picture stays nearer its seed than another seed's picture does (1)
MIN_DIVERSITY = 0.5  # collapse: the seeds lose more than half their spread when they converge on one template
GREY_RATIO = 0.25  # greyscale: less than a quarter of the seed picture's colour saturation is left
FLAT_RATIO = 0.25  # flat: less than a quarter of the seed picture's spatial SD of luminance is left
CLIP_RISE = 0.5  # saturated: half of all pixel values more are pinned at 0 or 1 than in the seed picture
DESTROYED_SEEDS = 0.5  # a defect is a verdict only when at least half the seeds show it (it holds across seeds)
CHANCE_P = 0.05  # consistent gradients: random directions reach the same alignment in under 5% of draws
CLIP_EPS = 1.0 / 255  # a pixel value within one 8-bit level of 0 or 1 counts as clipped

THRESHOLDS = {
    "min_slope": (MIN_SLOPE, "reaches target: at least 70% of the asked score change on held-out seeds"),
    "min_cosine": (MIN_COSINE, "identity: below cosine 0.5 a norm-keeping step is longer than z itself"),
    "max_feature_ratio": (MAX_FEATURE_RATIO, "identity: edited picture within 0.9 of the typical (median) "
                                             "distance between two seeds' pictures: nearer its seed than another"),
    "min_diversity": (MIN_DIVERSITY, "template collapse: seeds keep at least half their spread (latents and images)"),
    "grey_ratio": (GREY_RATIO, "image destroyed (greyscale): under a quarter of the seed picture's saturation left"),
    "flat_ratio": (FLAT_RATIO, "image destroyed (flat): under a quarter of the seed picture's spatial SD left"),
    "clip_rise": (CLIP_RISE, "image destroyed (saturated): half of all pixel values more clipped at 0 or 1"),
    "destroyed_seeds": (DESTROYED_SEEDS, "a defect counts when at least half the seeds show it"),
    "chance_p": (CHANCE_P, "gradient alignment above chance: random directions reach it in under 5% of draws"),
}


def thresholds() -> dict[str, dict[str, Any]]:
    return {k: {"value": v, "why": why} for k, (v, why) in THRESHOLDS.items()}


# ------------------------------------------------------------------------------------------------ feature space

def _pixels(images: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.adaptive_avg_pool2d(images.float(), 32).flatten(1)


@functools.lru_cache(maxsize=2)
def feature_space(device: str = "cpu") -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    """The image embedding of the identity and diversity distances, and its name: ImageNet EfficientNet-Lite0
    features (`ganalyze_mem.features`), or 32 x 32 area-downsampled pixels where those are not installed."""
    try:
        from ..features import image_embedder

        return image_embedder("efficientnet_lite0", device=device), "efficientnet_lite0 (ImageNet) features"
    except (ImportError, GanalyzeError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        return _pixels, f"32 x 32 pixels (pretrained features unavailable: {why})"


@torch.no_grad()
def embed(images: torch.Tensor, device: str = "cpu", batch: int = 64) -> torch.Tensor:
    fn, _ = feature_space(device)
    out = [fn(images[i:i + batch].to(device)).float().cpu() for i in range(0, len(images), batch)]
    return torch.cat(out).flatten(1)


# ------------------------------------------------------------------------------------------------ image statistics

def image_stats(images: torch.Tensor) -> torch.Tensor:
    """Per image (N x 3 x H x W in [0, 1]): mean HSV saturation, fraction of clipped pixel values, spatial SD of
    luminance (Rec. 601). Returns N x 3."""
    x = images.float().clamp(0, 1)
    mx, mn = x.amax(1), x.amin(1)
    sat = ((mx - mn) / mx.clamp_min(1e-3)).mean((1, 2))
    clipped = ((x <= CLIP_EPS) | (x >= 1 - CLIP_EPS)).float().mean((1, 2, 3))
    lum = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    return torch.stack([sat, clipped, lum.std((1, 2), unbiased=False)], 1)


def _mean_pairwise(x: torch.Tensor) -> float:
    d = torch.cdist(x.double(), x.double())
    n = len(x)
    return float(d.sum() / (n * (n - 1))) if n > 1 else float("nan")


def reference(z: torch.Tensor, images: torch.Tensor, device: str = "cpu") -> dict[str, Any]:
    """What the extremes are compared with: the seeds at alpha 0 (features, image statistics, spreads)."""
    feats = embed(images, device)
    d = torch.cdist(feats.double(), feats.double())
    off = d[~torch.eye(len(d), dtype=torch.bool)]
    return {"z": z.detach().double().cpu(), "features": feats, "stats": image_stats(images.cpu()),
            "typical_distance": float(off.median()) if len(off) else float("nan"),
            "latent_spread": _mean_pairwise(z.detach().cpu()), "image_spread": _mean_pairwise(feats),
            "feature_space": feature_space(device)[1]}


def extreme_stats(ref: dict[str, Any], alpha: float, moved: torch.Tensor, images: torch.Tensor,
                  device: str = "cpu") -> dict[str, Any]:
    """Identity, diversity and image integrity of the seeds moved to one extreme `alpha`, against `ref`."""
    z0, z1 = ref["z"], moved.detach().double().cpu()
    cos = torch.nn.functional.cosine_similarity(z0, z1, dim=1)
    step = (z1 - z0).norm(dim=1) / z0.norm(dim=1).clamp_min(1e-12)
    feats = embed(images, device)
    ratio = (feats.double() - ref["features"].double()).norm(dim=1) / max(ref["typical_distance"], 1e-12)
    s0, s1 = ref["stats"].double(), image_stats(images.cpu()).double()
    sat_ratio = s1[:, 0] / s0[:, 0].clamp_min(1e-6)
    sd_ratio = s1[:, 2] / s0[:, 2].clamp_min(1e-6)
    clip_rise = s1[:, 1] - s0[:, 1]
    coloured = s0[:, 0] > 0.05  # a seed picture that is grey already cannot turn grey
    return {
        "alpha": float(alpha),
        "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
        "step_mean": float(step.mean()), "step_max": float(step.max()),
        "feature_ratio_mean": float(ratio.mean()), "feature_ratio_max": float(ratio.max()),
        "diversity_latent": _mean_pairwise(z1) / ref["latent_spread"],
        "diversity_image": _mean_pairwise(feats) / ref["image_spread"],
        "saturation_ratio": float(s1[:, 0].mean() / s0[:, 0].mean().clamp_min(1e-6)),
        "clipped_at_0": float(s0[:, 1].mean()), "clipped": float(s1[:, 1].mean()),
        "spatial_sd_ratio": float(s1[:, 2].mean() / s0[:, 2].mean().clamp_min(1e-6)),
        "grey_seeds": float(((sat_ratio < GREY_RATIO) & coloured).double().mean()),
        "flat_seeds": float((sd_ratio < FLAT_RATIO).double().mean()),
        "clipped_seeds": float((clip_rise > CLIP_RISE).double().mean()),
    }


def judge(extremes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Identity kept, template collapse and image destroyed from the `extreme_stats` of each extreme (down, up)."""
    identity, far, latent_spread, image_spread, destroyed = [], [], [], [], []
    for e in extremes.values():
        where = f"at alpha {e['alpha']:+.3g}"
        if e["cosine_mean"] < MIN_COSINE:
            identity.append(f"cos(z, T(z)) {e['cosine_mean']:.2f} < {MIN_COSINE} {where}")
        if e["feature_ratio_mean"] > MAX_FEATURE_RATIO:
            far.append(f"image distance {e['feature_ratio_mean']:.2f} of two seeds' > {MAX_FEATURE_RATIO} {where}")
        spread = (f"seeds' spread {e['diversity_latent']:.2f} (latents) / {e['diversity_image']:.2f} (images) of "
                  f"alpha 0's < {MIN_DIVERSITY} {where}")
        if e["diversity_latent"] < MIN_DIVERSITY:
            latent_spread.append(spread)
        elif e["diversity_image"] < MIN_DIVERSITY:
            image_spread.append(spread)
        for key, words in (("grey_seeds", "greyscale"), ("flat_seeds", "flat"), ("clipped_seeds", "saturated")):
            if e[key] >= DESTROYED_SEEDS:
                destroyed.append(f"{words} in {e[key]:.0%} of seeds {where}")
    # a wrecked picture is far from its seed in image features too, and wrecked pictures look alike (flat, grey):
    # with the latents kept (cosine) and apart, those image distances are the destroyed image's, not a collapse's
    failed = None
    if identity or latent_spread:
        failed = ("template collapse", latent_spread + identity + image_spread + far)
    elif destroyed:
        failed = ("image destroyed", destroyed)
    elif image_spread or far:
        failed = ("template collapse", image_spread + far)
    return {"identity_kept": not (identity or far), "identity_lost": identity + far,
            "diverse": not (latent_spread or image_spread), "collapse": latent_spread + image_spread + identity,
            "destroyed": destroyed, "failed": failed[0] if failed else None,
            "failed_because": failed[1] if failed else []}


def check_verdict(slope: float, judged: dict[str, Any]) -> str:
    """One verdict per evaluation: template collapse and image destroyed first (a slope then proves nothing), then
    "reaches target" (slope and identity both), else "below target"."""
    if judged["failed"]:
        return judged["failed"]
    if slope >= MIN_SLOPE and judged["identity_kept"]:
        return "reaches target"
    return "below target"


def worst(extremes: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The headline numbers over both extremes (the worse side of each)."""
    vals = list(extremes.values())
    if not vals:
        return {}
    return {"identity_cosine": min(e["cosine_mean"] for e in vals),
            "identity_cosine_min": min(e["cosine_min"] for e in vals),
            "feature_ratio": max(e["feature_ratio_mean"] for e in vals),
            "diversity": min(min(e["diversity_latent"], e["diversity_image"]) for e in vals),
            "step": max(e["step_mean"] for e in vals)}


def verdict_line(held: dict[str, Any]) -> str:
    """One markdown line for a page: the verdict with the slope, identity and diversity numbers, from heldout.json
    (or a transformer card's "heldout", "diagnosis" and "check"); "" when there is nothing to say."""
    d, ch = held.get("diagnosis") or {}, held.get("check") or {}
    f = held.get("final") or held.get("heldout") or {}
    if not d.get("verdict"):
        return ""

    def num(v: Any, digits: int = 2) -> str:
        return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"

    line = (f"Held-out check: **{d['verdict']}** (slope {num(f.get('heldout_slope'))} of the target "
            f"[{num(f.get('heldout_slope_ci_low'))}, {num(f.get('heldout_slope_ci_high'))}]")
    if ch:
        line += (f"; identity {'kept' if ch.get('identity_kept') else 'lost'}: cos(z, T(z)) "
                 f"{num(ch.get('identity_cosine'))} (min over seeds {num(ch.get('identity_cosine_min'))}), image "
                 f"distance {num(ch.get('feature_ratio'))} of two seeds'; diversity across seeds "
                 f"{num(ch.get('diversity'))} of alpha 0's")
    line += ")."
    cons = held.get("direction_consistency") or {}
    if cons and not cons.get("consistent", True):
        line += f" {cons['verdict'].capitalize()}."
    return line


# ------------------------------------------------------------------------------------------ gradient consistency

def _alignment(unit: torch.Tensor) -> float:
    return float(unit.mean(0).norm())


def _tangent_units(g: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """`g` without its component along z (every transformer keeps |z|, so the radial part moves nothing), unit rows."""
    u = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    t = g - (g * u).sum(1, keepdim=True) * u
    return t / t.norm(dim=1, keepdim=True).clamp_min(1e-12)


def gradient_consistency(c: Components, z: torch.Tensor, y: torch.Tensor, seed: int = 0, draws: int = 2000,
                         batch: int = 8) -> dict[str, Any]:
    """How aligned the assessor's gradients with respect to z are across latents, against random directions.

    The statistic is the length of the mean unit gradient (1: one direction raises every latent's score; about
    1 / sqrt(n) for unrelated directions), gradients taken in the sphere's tangent plane at each z. Its 95% interval
    is a basic bootstrap over latents; chance is the same statistic for `draws` sets of random tangent
    directions, and p the fraction of them at least as aligned.
    """
    grads = []
    for i in range(0, len(z), batch):
        zb = z[i:i + batch].detach().clone().requires_grad_(True)
        with torch.enable_grad(), autocast(c.device, c.autocast_dtype):
            s = c.assessor(c.generator(zb, y[i:i + batch])).float().sum()
        grads.append(torch.autograd.grad(s, zb)[0].detach().double().cpu())
    zc = z.detach().double().cpu()
    g = torch.cat(grads)
    keep = g.norm(dim=1) > 0
    unit = _tangent_units(g[keep], zc[keep])
    n = len(unit)
    observed = _alignment(unit) if n else float("nan")
    rng = torch.Generator().manual_seed(seed)
    picks = resample_indices(np.random.default_rng([seed, 0xA119]), n, draws) if n > 1 else []
    boot = [_alignment(unit[torch.from_numpy(i)]) for i in picks] if n > 1 else [observed]
    chance = np.asarray([_alignment(_tangent_units(torch.randn(n, zc.shape[1], generator=rng, dtype=torch.float64),
                                                   zc[keep])) for _ in range(draws)]) if n else np.asarray([np.nan])
    p = float((1 + (chance >= observed).sum()) / (1 + len(chance)))
    consistent = bool(n > 1 and p < CHANCE_P)
    # basic (reverse-percentile) bootstrap: resampling latents with replacement repeats some, which inflates the
    # alignment, so the plain percentiles would sit above the observed value
    lo, hi = basic_interval(observed, boot)
    lo = max(lo, 0.0)
    line = (f"mean unit gradient length {observed:.3f} [{lo:.3f}, {hi:.3f}] over {n} held-out latents; random "
            f"directions {float(chance.mean()):.3f} (95th percentile {float(np.percentile(chance, 95)):.3f}), "
            f"p = {p:.3g}")
    verdict = ("this assessor has a consistent direction on this generator" if consistent else
               "this assessor has no consistent direction on this generator")
    return {"alignment": observed, "alignment_ci_low": float(lo), "alignment_ci_high": float(hi), "latents": n,
            "zero_gradients": int((~keep).sum()), "chance_mean": float(chance.mean()),
            "chance_p95": float(np.percentile(chance, 95)), "p": p, "consistent": consistent,
            "verdict": verdict, "reason": line, "draws": draws}


def paired_improvement(now: np.ndarray, before: np.ndarray) -> dict[str, float]:
    """Mean per-seed difference `now - before` with a Student-t 95% interval (seeds are the unit)."""
    d = np.asarray(now, dtype=float) - np.asarray(before, dtype=float)
    n = len(d)
    mean = float(d.mean()) if n else float("nan")
    half = t_half_width(float(d.std(ddof=1)), n) if n > 1 else float("nan")
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "seeds": n}
