"""Viewing-angle study (the paper's appendix H, "Viewing angle"): score every view of one object and ask whether
views that show more of the object are more memorable to machines.

Input: a NeRF-synthetic scene folder (e.g. ``nerf_synthetic/lego``; the paper used lego and mic), or an object
rendered offline here from cameras on a sphere (`render.render_scene`, written in the same format and read by the
same reader). Output: the top-10 and bottom-10 views as montages (the paper's figure), the score over the sphere of
camera directions, and Spearman correlations of the score with how much a view shows (`nerf.view_measures`).
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..errors import GanalyzeError
from ..stats import holm, holm_note, rho_label, spearman_row, strength
from .common import montage, new_report, open_report_dir, score_label
from .config import NerfViewsConfig
from .nerf import SPLITS, read_scene, view_measures
from .render import RenderConfig, render_scene
from .scoring import Scorer, write_scores

MEASURES = {
    "foreground_area": "share of the image covered by the object",
    "silhouette_complexity": "P^2 / (4 pi A) of the silhouette",
    "edge_density": "share of pixels on Canny edges",
    "visible_faces": "axis directions covering >= 5% of the object (needs depth)",
    "orientation_entropy": "entropy of the 6-way surface-orientation split (needs depth)",
}


def _splits(text: str) -> tuple[str, ...]:
    out = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in out if s not in SPLITS]
    if bad or not out:
        raise GanalyzeError(f"--splits: expected a comma-separated subset of {', '.join(SPLITS)}, got '{text}'.")
    return out


def _scatter_grid(scores: np.ndarray, measures: dict[str, np.ndarray], rhos: dict[str, dict], ylabel: str):
    names = [n for n in measures if np.isfinite(measures[n]).any()]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(3.2 * max(1, len(names)), 3.0), squeeze=False)
    for ax, n in zip(axes[0], names, strict=False):
        v = measures[n]
        ax.scatter(v, scores, s=10, alpha=0.6)
        ax.set_xlabel(n, fontsize=8)
        ax.set_title(rho_label(rhos[n]), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel, fontsize=8)
    fig.tight_layout()
    return fig


def _sphere_figure(az: np.ndarray, el: np.ndarray, scores: np.ndarray, label: str):
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    sc = ax.scatter(az, el, c=scores, cmap="viridis", s=40, edgecolors="k", linewidths=0.3)
    ax.set_xlabel("camera azimuth (degrees)")
    ax.set_ylabel("camera elevation (degrees)")
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.grid(alpha=0.3)
    fig.colorbar(sc, ax=ax, label=label)
    return fig


def views_verdict(rows: list[dict]) -> str:
    """One sentence on the paper's trend (views that show more of the object score higher): supported where some
    measure's rho is positive with Holm-adjusted p < 0.05 and none is significantly negative, opposed in the
    mirror case, else inconclusive."""
    tested = [r for r in rows if np.isfinite(r["p_holm"])]
    up = [r["measure"] for r in tested if r["rho"] > 0 and r["p_holm"] < 0.05]
    down = [r["measure"] for r in tested if r["rho"] < 0 and r["p_holm"] < 0.05]
    if not tested:
        return "**Verdict: inconclusive**: no measure could be tested on these views."
    if up and not down:
        return (f"**Verdict: supports** the paper's trend: views that show more of the object score higher "
                f"({', '.join(up)}: positive rho, Holm-adjusted p < 0.05).")
    if down and not up:
        return (f"**Verdict: opposes** the paper's trend: views that show more of the object score lower "
                f"({', '.join(down)}: negative rho, Holm-adjusted p < 0.05).")
    why = (f"the measures disagree ({', '.join(up)} positive, {', '.join(down)} negative)" if up else
           "no measure's correlation with the score is significant after Holm's correction")
    return f"**Verdict: inconclusive**: {why}; more views, or a more reliable assessor, may decide."


def run_nerf_views(scorer: Scorer, scene: str | os.PathLike | None = None, render: str | None = None,
                   cfg: NerfViewsConfig | None = None, out: str | os.PathLike | None = None) -> Path:
    """Score the views of a scene (or of an object rendered now) and report; return the report folder."""
    cfg = cfg or NerfViewsConfig()
    if (scene is None) == (render is None):
        raise GanalyzeError("Give either a NeRF-synthetic scene folder (--scene) or an object to render (--render).")
    rcfg = cfg.render or RenderConfig()
    options = {"top": cfg.top, "splits": cfg.splits, "scene": str(scene) if scene else None, "render": render,
               "render_options": vars(rcfg) if render else None}
    run = open_report_dir("nerf-views", out, options, scorer)
    if render:
        scene = render_scene(render, run.path / "scene", rcfg)
    data = read_scene(scene, _splits(cfg.splits) if not render else ("test",))
    views = data.views
    if len(views) < 3:
        raise GanalyzeError(f"{scene} has {len(views)} views; at least 3 are needed.")
    files = [v.image for v in views]
    scores = scorer.score_files(files)
    if not np.isfinite(scores).all():
        raise GanalyzeError(f"{int((~np.isfinite(scores)).sum())} views of {scene} could not be scored: "
                            f"{getattr(scorer, 'problems', ['?'])[0]}")
    measures = {n: np.empty(len(views)) for n in MEASURES}
    for i, v in enumerate(views):
        for n, x in view_measures(v, data.camera_angle_x).items():
            measures[n][i] = x
    az = np.array([v.azimuth for v in views])
    el = np.array([v.elevation for v in views])
    write_scores(run.path / "scores.csv", files, scores,
                 extra={"split": [v.split for v in views], "azimuth": [f"{a:.2f}" for a in az],
                        "elevation": [f"{e:.2f}" for e in el],
                        **{n: [f"{x:.6g}" for x in m] for n, m in measures.items()}})

    splits = ", ".join(sorted({v.split for v in views}))
    source = (f"rendered offline with pybullet: `{render}`, {len(views)} views, {rcfg.size} px" if render
              else f"NeRF-synthetic scene {scene} ({len(views)} views from {splits})")
    rep = new_report("Viewing angle: which views are most memorable?", "nerf-views", scorer, run, data=source)
    rep.text("The paper's appendix H scores every view of two NeRF-synthetic scenes (lego, mic) with the MachineMem "
             "predictor: the top-10 views usually show more parts of the object than the bottom-10, supporting the "
             "GANalyze trend that views giving more information are more memorable to machines.")
    k = min(cfg.top, len(views) // 2)
    order = np.argsort(-scores, kind="stable")
    rep.heading(f"Top-{k} and bottom-{k} views")
    for end, idx in (("top", order[:k]), ("bottom", order[::-1][:k])):
        rep.image(f"views_{end}", montage([files[i] for i in idx],
                                          [f"{scores[i]:.3g} ({az[i]:.0f}°, {el[i]:.0f}°)" for i in idx],
                                          ncol=5, cell=150),
                  caption=f"{end.capitalize()}-{k} views by score (label: score, camera azimuth and elevation).")
    rep.heading("Score and how much a view shows")
    rows, rhos = [], {}
    for k_measure, (n, desc) in enumerate(MEASURES.items()):
        r = spearman_row(scores, measures[n], cfg.resamples, seed=k_measure)
        rhos[n], rho = r, r["rho"]
        top_mean = float(np.nanmean(measures[n][order[:k]])) if np.isfinite(measures[n]).any() else float("nan")
        bot_mean = float(np.nanmean(measures[n][order[::-1][:k]])) if np.isfinite(measures[n]).any() else float("nan")
        rows.append({"measure": n, **r, "strength": strength(rho),
                     f"mean in top-{k}": top_mean, f"mean in bottom-{k}": bot_mean, "meaning": desc})
    no_depth = "" if any(v.depth for v in views) else (" Visible faces and orientation entropy are n/a: this scene "
                                                         "has no metric depth (`<image>_depth.npy`).")
    for r, adjusted in zip(rows, holm([r["p"] for r in rows]), strict=True):
        r["p_holm"] = adjusted
    tested = sum(np.isfinite(r["p"]) for r in rows)
    rep.table("correlations", rows, caption="Spearman's rho between each view's score and each measure "
              f"(scipy.stats.spearmanr) with its percentile bootstrap 95% interval ({cfg.resamples} resamples of the "
              f"views); p_holm is Holm-adjusted over the measures. {holm_note(tested)}{no_depth}")
    rep.text(views_verdict(rows))
    rep.figure("scatter", _scatter_grid(scores, measures, rhos, score_label(scorer)),
               caption="Score against each measure, one point per view.")
    rep.figure("sphere", _sphere_figure(az, el, scores, score_label(scorer)),
               caption="Score of each camera position on the sphere around the object.")
    rep.text("Visible faces is a proxy: surface normals from the depth map, binned to the six axis directions; it "
             "equals the number of visible faces for a box-like object (checked on a cube: 1 face-on, 2 edge-on, "
             "3 from a corner).")
    rep.save(run.path)
    return run.path
