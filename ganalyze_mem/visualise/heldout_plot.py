"""``heldout.png``: the held-out check of a GANalyze run at a glance, its verdict in the title.

Top: held-out slope during training (95% band), final change vs alpha, attainable range within the step bound.
Bottom: identity (cosine of z and T(z), image distance) and diversity during training against their thresholds, and
the image-integrity ratios at both extremes of the alpha grid (`edit_checks`).
"""

from __future__ import annotations

from typing import Any

from ..core.files import atomic_path
from . import edit_checks as E

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `matplotlib`.

GOOD, BAD, SHORT = "tab:green", "tab:red", "tab:orange"


def verdict_colour(verdict: str) -> str:
    if verdict == "reaches target":
        return GOOD
    return BAD if verdict in ("template collapse", "image destroyed") else SHORT


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)


def plot_summary(summary: dict[str, Any], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7.4))
    h = summary["history"]
    steps = [r["step"] for r in h]
    ax = axes[0, 0]
    ax.plot(steps, [r["slope"] for r in h], "o-", ms=3, label="held-out slope")
    ax.fill_between(steps, [_nan(r["ci_low"]) for r in h], [_nan(r["ci_high"]) for r in h], alpha=0.25,
                    label="95% CI over seeds")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="target 1")
    ax.axhline(summary["goal_fraction"], color="grey", ls=":", lw=1, label=f"goal {summary['goal_fraction']}")
    ax.set(title="held-out slope during training", xlabel="step", ylabel="slope (change / alpha)")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    f = summary["final"]
    a = f["heldout_alphas"]
    ax.plot(a, a, "k--", lw=1, label="target")
    ax.plot(a, f["heldout_change_by_alpha"], "o-", label=f"achieved (slope {f['heldout_slope']:.2f})")
    ax.set(title="final: mean change vs alpha", xlabel="alpha", ylabel="score change")
    ax.legend(fontsize=7)
    ax = axes[0, 2]
    r = summary["attainable"]
    inside = [x for x in r["along_direction"] if x.get("within_bound", True)]
    m = [x["multiple"] for x in inside]
    ax.semilogx(m, [x["change_up"] for x in inside], "o-", color="C2", label="along +direction")
    ax.semilogx(m, [x["change_down"] for x in inside], "o-", color="C3", label="along -direction")
    for v, ls, lab in ((r["free_reach_up"], "-.", "free optimisation"), (r["free_reach_down"], "-.", None),
                       (r["target_up"], "--", "target"), (r["target_down"], "--", None)):
        if v is not None:
            ax.axhline(v, color="k" if ls == "--" else "grey", ls=ls, lw=1, label=lab)
    if not inside:
        steps_1x = r["along_direction"][0] if r["along_direction"] else {}
        ax.text(0.5, 0.5, f"no multiple of alpha within the step bound:\nat 1x the steps are "
                f"{max(_nan(steps_1x.get('step_up')), _nan(steps_1x.get('step_down'))):.2g} |z|",
                ha="center", va="center", transform=ax.transAxes, fontsize=9, color=BAD)
    ax.set(title=f"attainable range, steps <= {_nan(r.get('step_bound')):.2g} |z|",
           xlabel="alpha / training alpha", ylabel="mean score change")
    ax.legend(fontsize=7)

    ax = axes[1, 0]
    ax.plot(steps, [_nan(x.get("identity_cosine")) for x in h], "o-", ms=3, color="C0",
            label="cos(z, T(z)), worse extreme")
    ax.plot(steps, [_nan(x.get("feature_ratio")) for x in h], "s-", ms=3, color="C1",
            label="image distance / two seeds'")
    ax.axhline(E.MIN_COSINE, color="C0", ls=":", lw=1, label=f"cosine >= {E.MIN_COSINE}")
    ax.axhline(E.MAX_FEATURE_RATIO, color="C1", ls=":", lw=1, label=f"distance <= {E.MAX_FEATURE_RATIO}")
    ax.set(title="identity of each seed (kept: blue high, orange low)", xlabel="step", ylabel="ratio / cosine")
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    ax.plot(steps, [_nan(x.get("diversity")) for x in h], "o-", ms=3, color="C4",
            label="spread of seeds at the extremes / at alpha 0")
    ax.axhline(1.0, color="k", ls="--", lw=1)
    ax.axhline(E.MIN_DIVERSITY, color="C4", ls=":", lw=1, label=f"collapse below {E.MIN_DIVERSITY}")
    ax.set(title="diversity across seeds", xlabel="step", ylabel="ratio (1 = as diverse as alpha 0)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    ax = axes[1, 2]
    ext = (summary.get("check") or {}).get("extremes") or {}
    keys = [("saturation_ratio", "saturation"), ("spatial_sd_ratio", "spatial SD")]
    width = 0.35
    for i, side in enumerate(("down", "up")):
        e = ext.get(side)
        if not e:
            continue
        xs = [j + (i - 0.5) * width for j in range(len(keys) + 1)]
        vals = [_nan(e.get(k)) for k, _ in keys] + [_nan(e.get("clipped"))]
        ax.bar(xs, vals, width, label=f"alpha {e['alpha']:+.3g}", color="C3" if side == "down" else "C2")
        if i == 0:
            ax.plot([len(keys) - width, len(keys) + width], [_nan(e.get("clipped_at_0"))] * 2, "k-", lw=2,
                    label="clipped at alpha 0")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="as at alpha 0 (ratios)")
    ax.axhline(E.GREY_RATIO, color="grey", ls=":", lw=1, label=f"grey / flat below {E.GREY_RATIO}")
    ax.set_xticks(range(len(keys) + 1), [k[1] + " ratio" for k in keys] + ["clipped fraction"])
    ax.set(title="image integrity at the extremes", ylabel="ratio to alpha 0 / fraction")
    ax.legend(fontsize=7)

    d, check = summary["diagnosis"], summary.get("check") or {}
    cons = summary.get("direction_consistency") or {}
    line = (f"{d['verdict'].upper()}: slope {f['heldout_slope']:.2f} [{_nan(f['heldout_slope_ci_low']):.2f}, "
            f"{_nan(f['heldout_slope_ci_high']):.2f}]; identity cos {_nan(check.get('identity_cosine')):.2f}, "
            f"image distance {_nan(check.get('feature_ratio')):.2f}; diversity {_nan(check.get('diversity')):.2f}")
    fig.suptitle(line, color=verdict_colour(d["verdict"]), fontsize=12, fontweight="bold")
    if cons:
        fig.text(0.5, 0.005, f"{cons.get('verdict', '')}: {cons.get('reason', '')}", ha="center", fontsize=8,
                 color="k" if cons.get("consistent") else BAD)
    fig.tight_layout(rect=(0, 0.02, 1, 0.96))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
