"""Shape study (the paper's appendix H, "Shape"): are irregular shapes more memorable to machines than regular ones?

Two sets are drawn deterministically from a seed: 25 regular shapes (circle, square, equilateral triangle, regular
pentagon ... octagon) and 25 irregular ones (smooth random blobs and jagged random polygons). Image i of both sets
shares its colours, area and position, so the sets differ only in the outline. Each image is rotated by 0, 90, 180
and 270 degrees, giving 100 images per set. Both sets are scored; the report gives mean +/- 95% CI per set and a
permutation test of the difference on per-drawing means (the four rotations of a drawing are not independent), which
decides the verdict (the paper found both sets at 0.61 with the MachineMem predictor).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..errors import GanalyzeError
from ..images import find_images
from ..stats import compare_groups, mean_ci
from .common import distribution_figure, montage, new_report, open_report_dir, score_label
from .config import ShapesConfig
from .scoring import Scorer, write_scores

REGULAR = ("circle", "square", "triangle", "pentagon", "hexagon", "heptagon", "octagon")
SIDES = {"square": 4, "triangle": 3, "pentagon": 5, "hexagon": 6, "heptagon": 7, "octagon": 8}
ROTATIONS = (0, 90, 180, 270)


def _regular_points(kind: str, cx: float, cy: float, r: float, phase: float) -> list[tuple[float, float]]:
    if kind == "circle":
        n, phase = 180, 0.0
    else:
        n = SIDES[kind]
    return [(cx + r * math.cos(phase + 2 * math.pi * k / n), cy + r * math.sin(phase + 2 * math.pi * k / n))
            for k in range(n)]


def _blob_points(rng: np.random.Generator, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """A smooth random closed curve: the radius is 1 plus a few random Fourier terms."""
    t = np.linspace(0, 2 * np.pi, 240, endpoint=False)
    radius = np.ones_like(t)
    for k in range(2, 7):
        radius += rng.uniform(0.05, 0.28) / math.sqrt(k) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    radius = radius / radius.max()
    return list(zip(cx + r * radius * np.cos(t), cy + r * radius * np.sin(t), strict=True))


def _jagged_points(rng: np.random.Generator, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """A random star-shaped polygon with 7-15 vertices at uneven angles and radii."""
    n = int(rng.integers(7, 16))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radius = rng.uniform(0.45, 1.0, n)
    return list(zip(cx + r * radius * np.cos(angles), cy + r * radius * np.sin(angles), strict=True))


def _area(pts: list[tuple[float, float]]) -> float:
    x, y = np.asarray(pts).T
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))  # shoelace formula


def _match_area(pts, reference, cx: float, cy: float) -> list[tuple[float, float]]:
    """Scale `pts` about the centre so that its area equals the reference shape's (so size is no confound)."""
    k = math.sqrt(_area(reference) / max(_area(pts), 1e-9))
    return [(cx + k * (x - cx), cy + k * (y - cy)) for x, y in pts]


def draw_shape_sets(folder: str | os.PathLike, cfg: ShapesConfig) -> dict[str, list[Path]]:
    """Draw both sets into folder/regular and folder/irregular (PNG); same seed, same images."""
    rng = np.random.default_rng(cfg.seed)
    ss = 4  # supersampling for smooth edges
    s = cfg.size * ss
    out: dict[str, list[Path]] = {"regular": [], "irregular": []}
    for i in range(cfg.per_set):
        background = tuple(int(v) for v in rng.integers(150, 256, 3))
        fill = tuple(int(v) for v in rng.integers(0, 150, 3))
        r = s * rng.uniform(0.16, 0.25)
        cx, cy = s / 2 + rng.uniform(-0.05, 0.05) * s, s / 2 + rng.uniform(-0.05, 0.05) * s
        kind = REGULAR[i % len(REGULAR)]
        regular = _regular_points(kind, cx, cy, r, phase=rng.uniform(0, 2 * np.pi))
        irregular_kind = "blob" if i % 2 == 0 else "jagged"
        irregular = (_blob_points if irregular_kind == "blob" else _jagged_points)(rng, cx, cy, r)
        irregular = _match_area(irregular, regular, cx, cy)
        for set_name, pts, name in (("regular", regular, kind), ("irregular", irregular, irregular_kind)):
            im = Image.new("RGB", (s, s), background)
            ImageDraw.Draw(im).polygon(pts, fill=fill)
            im = im.resize((cfg.size, cfg.size), Image.LANCZOS)
            for rot in ROTATIONS:
                path = Path(folder) / set_name / f"{i:02d}-{name}-r{rot:03d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                im.rotate(rot, expand=False).save(path)
                out[set_name].append(path)
    return out


def run_shapes(scorer: Scorer, cfg: ShapesConfig | None = None, out: str | os.PathLike | None = None) -> Path:
    """Draw, score and report; return the report folder."""
    cfg = cfg or ShapesConfig()
    run = open_report_dir("shapes", out, cfg, scorer)
    sets = draw_shape_sets(run.path / "images", cfg)
    files = sets["regular"] + sets["irregular"]
    all_scores = scorer.score_files(files)  # one call: a measurer scores both sets in one run, on one scale
    if not np.isfinite(all_scores).all():
        raise GanalyzeError(f"Some drawn shapes could not be scored ({getattr(scorer, 'problems', ['?'])[:1]}).")
    n_reg = len(sets["regular"])
    scores = {"regular": all_scores[:n_reg], "irregular": all_scores[n_reg:]}
    write_scores(run.path / "scores.csv", files, all_scores,
                 extra={"set": ["regular"] * n_reg + ["irregular"] * len(sets["irregular"])})

    rep = new_report("Regular vs irregular shapes", "shapes", scorer, run, seed=cfg.seed,
                     images=f"{cfg.per_set} per set x {len(ROTATIONS)} rotations, {cfg.size} px")
    rep.text("The paper's appendix H asks whether objects with irregular shapes are more memorable to machines than "
             "regular shapes, a trend GANalyze suggested. Both sets below share colours, area and position image by "
             "image; only the outline differs. The paper found both sets at a mean MachineMem score of 0.61, "
             "concluding that shape alone might not determine MachineMem scores.")
    ci = {name: mean_ci(v) for name, v in scores.items()}
    rep.heading("Scores per set")
    rep.table("sets", [ci[n].row(n) for n in scores], caption="Mean score per set with a 95% t confidence interval.")
    # The 4 rotations of one drawing are not independent images: the verdict rests on the per-drawing test (each
    # drawing's mean over its rotations, n = per_set per set); the all-images test is shown only beside it.
    per_drawing = compare_groups(scores["irregular"].reshape(-1, len(ROTATIONS)).mean(axis=1),
                                 scores["regular"].reshape(-1, len(ROTATIONS)).mean(axis=1), seed=cfg.seed,
                                 resamples=cfg.resamples)
    cmp = compare_groups(scores["irregular"], scores["regular"], seed=cfg.seed, resamples=cfg.resamples)
    rows = [{**r, "quantity": f"per drawing (n = {cfg.per_set} per set): {r['quantity']}"}
            for r in per_drawing.rows("irregular", "regular", 0.95)]
    rows += [{"quantity": f"all {len(files)} images, rotations counted as independent (optimistic): "
                          "permutation test p", "value": cmp.perm_p}]
    rep.table("test", rows,
              caption=f"Difference of means with a bootstrap 95% CI and tests of no difference, on per-drawing means "
                      f"(the verdict) and, for comparison, on all images ({cfg.resamples} resamples, scipy.stats).")
    verdict = ("a difference unlikely under no effect (per-drawing permutation p < 0.05)" if per_drawing.perm_p < 0.05
               else "no evidence of a difference (per-drawing permutation p >= 0.05); the paper, with MachineMem, "
                    "found none either")
    rep.text(f"Irregular minus regular, per drawing: {per_drawing.diff:+.4g} (95% bootstrap CI "
             f"{per_drawing.ci_low:.4g} to {per_drawing.ci_high:.4g}, n = {cfg.per_set} drawings per set); "
             f"{verdict}. The verdict uses the per-drawing test (p = {per_drawing.perm_p:.3g}) because the four "
             f"rotations of one drawing are not independent images; the test over all {len(files)} images "
             f"(p = {cmp.perm_p:.3g}) counts them as if they were and is optimistic.")
    rep.figure("distributions", distribution_figure(scores, score_label(scorer), "Scores per set"),
               caption="Every image's score, box plots, and the mean with its 95% CI.")
    rep.heading("Examples")
    for name, paths in sets.items():
        picks = list(range(0, len(paths), len(ROTATIONS)))[:10]  # the unrotated version of the first 10 drawings
        rep.image(f"examples_{name}", montage([paths[i] for i in picks], [f"{scores[name][i]:.3g}" for i in picks]),
                  caption=f"{name.capitalize()} shapes (rotation 0) with their scores.")
    rep.save(run.path)
    return run.path


def shape_files(folder: str | os.PathLike) -> dict[str, list[Path]]:
    """Re-read the two sets of a finished study (folder/images/{regular,irregular})."""
    return {n: find_images([Path(folder) / "images" / n])[0] for n in ("regular", "irregular")}
