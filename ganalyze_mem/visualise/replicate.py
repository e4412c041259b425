"""Replicated verdicts: a claim about what a learned GANalyze direction does holds only if independent training seeds
agree on it.

Per replicate (one training seed, its own held-out latents): the effect of the direction on a factor is the paired
change of that factor from the lowest to the highest alpha on each held-out latent, in SDs of the factor over the
latents at alpha = 0, with a Student-t 95% interval and a two-sided one-sample t-test over latents (latents are
independent; the alphas of one latent are not, so they are never counted as separate observations).

Across replicates: the seeds agree when every replicate's interval excludes 0 on the same side. The combined test is
Stouffer's signed-z combination of the replicates' two-sided p-values (replicates are independent: different
training seeds and held-out latents), Holm-corrected over the claims tested side by side. The mean effect over
replicates carries its own Student-t interval (over seeds: it shows how much the answer varies between trainings).
The verdict is "agrees" / "opposes" (with the expected sign) only when the seeds agree and the Holm-adjusted
combined p is below 0.05, and every replicate's transformer does steer the assessor (held-out slope interval above
0: otherwise it is no "more memorable" direction); otherwise "inconclusive".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from ..stats import holm, mean_ci

ALPHA = 0.05


def paired_effect(values: np.ndarray) -> dict[str, float]:
    """Effect of the direction on one factor in one replicate; `values` is latents x alphas (alphas ascending)."""
    values = np.asarray(values, dtype=float)
    ref = float(values[:, values.shape[1] // 2].std(ddof=1)) if len(values) > 1 else 0.0
    scale = ref if ref > 0 else 1.0
    d = (values[:, -1] - values[:, 0]) / scale
    ci = mean_ci(d)
    if len(d) > 1 and np.ptp(d) > 0:
        p = float(stats.ttest_1samp(d, 0.0).pvalue)
    else:
        p = 1.0 if not len(d) or float(d.mean()) == 0 else 0.0
    return {"effect_sd": float(d.mean()), "ci_low": ci.low, "ci_high": ci.high, "p": p, "n_latents": len(d),
            "raw_change": float((values[:, -1] - values[:, 0]).mean()), "sd_at_alpha0": ref}


def stouffer(effects: Sequence[float], pvalues: Sequence[float]) -> tuple[float, float]:
    """Signed Stouffer z of independent two-sided tests and its two-sided p."""
    z = [math.copysign(float(stats.norm.isf(max(p, 1e-300) / 2)), e) if e != 0 else 0.0
         for e, p in zip(effects, pvalues, strict=True)]
    total = sum(z) / math.sqrt(len(z))
    return total, float(2 * stats.norm.sf(abs(total)))


def replicated_claims(per_replicate: Sequence[dict[str, np.ndarray]], seeds: Sequence[int],
                      claims: dict[str, tuple[int, str]], steers: Sequence[bool] | None = None) -> list[dict[str, Any]]:
    """Per-seed effects, the combined Holm-corrected test and the verdict of each claim (factor -> (sign, words)).

    `steers` says per replicate whether its transformer does move the assessor's score on held-out seeds by editing
    them (held-out slope's interval above 0, no template collapse or destroyed image); where one does not, it is no
    "more memorable" direction and every verdict is
    "inconclusive" (the effects are still reported).
    """
    not_steering = [int(s) for s, ok in zip(seeds, steers or [True] * len(seeds), strict=True) if not ok]
    out = []
    for factor, (sign, words) in claims.items():
        per_seed = [{"seed": int(s), **paired_effect(arrays[factor])} for s, arrays in zip(seeds, per_replicate,
                                                                                             strict=True)]
        effects = [r["effect_sd"] for r in per_seed]
        z, p = stouffer(effects, [r["p"] for r in per_seed])
        across = mean_ci(np.asarray(effects))
        up = all(r["ci_low"] > 0 for r in per_seed)
        down = all(r["ci_high"] < 0 for r in per_seed)
        out.append({"factor": factor, "claim": words, "expected_sign": sign, "per_seed": per_seed,
                    "combined": {"mean_effect_sd": across.mean, "ci_low": across.low, "ci_high": across.high,
                                 "stouffer_z": z, "p": p},
                    "seeds_agree": bool(up or down), "direction": "up" if up else "down" if down else "mixed"})
    adjusted = holm([c["combined"]["p"] for c in out]).tolist()
    for c, ph in zip(out, adjusted, strict=True):
        c["combined"]["p_holm"] = ph
        if not_steering:
            c["verdict"] = "inconclusive"
            c["reason"] = (f"the transformer of seed(s) {', '.join(map(str, not_steering))} does not steer: its "
                           "held-out slope interval is not above 0, or it reaches the slope by template collapse or "
                           "a destroyed image rather than an edit")
        elif c["seeds_agree"] and ph < ALPHA:
            c["verdict"] = "agrees" if (c["direction"] == "up") == (c["expected_sign"] > 0) else "opposes"
            c["reason"] = f"every seed's interval on the same side of 0 and Holm p {ph:.2g} < {ALPHA}"
        else:
            c["verdict"] = "inconclusive"
            c["reason"] = ("the seeds disagree (an interval includes 0 or crosses to the other side)"
                           if not c["seeds_agree"] else f"Holm p {ph:.2g} >= {ALPHA}")
    return out


METHOD = ("Per replicate (training seed): paired change of the factor from the lowest to the highest alpha on each "
          "held-out latent, in SDs of the factor at alpha 0; Student-t 95% interval and t-test over latents. "
          "Combined: Stouffer's signed z over replicates, Holm-corrected over the claims. Verdict 'agrees'/'opposes' "
          "only when every replicate's interval excludes 0 on the same side and the Holm-adjusted combined p < 0.05 "
          "and every replicate's transformer raises the assessor's score on held-out seeds; otherwise "
          "'inconclusive'. The mean effect over replicates has a Student-t interval over seeds.")
